"""Stand-in cluster ingresses for the health system tests: real HTTP(S) and TCP
servers on loopback addresses (127.0.0.11, .12, ...) that a test starts, stops,
hangs and restarts, and a config for three clusters (Frankfurt, Virginia, Tokyo)
whose networks file places the test's own queries (from 127.0.0.1) in Frankfurt."""
import http.server
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

from gslb import ROOT, free_port, wait_until

DEMO_INGRESS = os.path.join(ROOT, "scripts", "demo-ingress")

FRA, IAD, TYO = "203.0.113.10", "203.0.113.20", "203.0.113.30"
CLUSTER_ADDRESS = {"eu-west": FRA, "us-east": IAD, "ap-northeast": TYO}
LOCATIONS = {
    "eu-west": "{ lat: 50.11, lon: 8.68 }",      # Frankfurt
    "us-east": "{ lat: 38.9, lon: -77.04 }",      # Virginia / Washington
    "ap-northeast": "{ lat: 35.68, lon: 139.69 }",  # Tokyo
}
# The test's queries come from 127.0.0.1: place it in Frankfurt, so the ranking is
# eu-west, us-east, ap-northeast (Frankfurt-Washington 6500 km, Frankfurt-Tokyo 9300 km).
NETWORKS = "- { cidr: 127.0.0.0/8, location: { lat: 50.1, lon: 8.7 } }\n"
SERVICE = "app.global.example.test."


def listening(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def config(checks, service_extra="", server_extra="", clusters=("eu-west", "us-east", "ap-northeast"),
           extra_services="", answers=1):
    """A gslbd config with one service over `clusters`; `checks` maps a cluster name
    to the YAML flow text of its check list (e.g. '[{ http: {...} }]') or None."""
    out = f"""
server:
  listen: [@LISTEN@]
  workers: 2
  http: @HTTP@
{server_extra}
geo:
  networks: networks.yaml
zones:
  - origin: global.example.test.
    soa: {{ mname: ns1.global.example.test., rname: hostmaster.global.example.test., minimum: 60 }}
    ns: [ns1.global.example.test.]
    records: |
      ns1 3600 IN A 192.0.2.53
services:
  - name: {SERVICE}
    ttl: 30
    policy: nearest
    answers: {answers}
    clusters: [{", ".join(clusters)}]
{service_extra}
{extra_services}
clusters:
"""
    for name in clusters:
        out += f"  {name}:\n    location: {LOCATIONS[name]}\n    ingress: [{CLUSTER_ADDRESS[name]}]\n"
        if checks.get(name):
            out += f"    checks: {checks[name]}\n"
    return out


def answer(g, *args):
    """The A addresses gslbd gives for the service (dig), as a list, and the result."""
    r = g.dig(SERVICE, "A", *args)
    assert r.status == "NOERROR", r
    return r.rdata("A"), r


class HttpIngress:
    """An in-process ThreadingHTTPServer answering /healthz with `status`; optional TLS.
    With keep_alive it speaks HTTP/1.1 and keeps connections open between requests
    (HTTP/1.0 and a close after each response otherwise); `connections` counts the
    connections it accepted. `delay`: seconds each response waits (a slow health
    endpoint), settable while it runs."""

    def __init__(self, host, port=None, status=200, tls=None, body=b"ok\n", keep_alive=False, delay=0.0):
        self.host, self.port = host, port or free_port(host)
        self.status = status
        self.body = body
        self.tls = tls  # an ssl.SSLContext (server side) or None
        self.keep_alive = keep_alive
        self.delay = delay
        self.server = None
        self.requests = 0
        self.connections = 0
        self.accepted = []  # the connections' sockets, for close_connections()
        self.errors = []  # requests the client abandoned before the response was written

    def start(self):
        ingress = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if ingress.keep_alive else "HTTP/1.0"

            def do_GET(self):
                ingress.requests += 1
                if ingress.delay:
                    time.sleep(ingress.delay)  # the slow endpoint itself, not a wait in the test
                body = ingress.body
                self.send_response(ingress.status if self.path == "/healthz" else 200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in ingress.host else socket.AF_INET

            def handle_error(self, request, client_address):
                ingress.errors.append(repr(sys.exc_info()[1]))

            def get_request(self):
                conn, addr = self.socket.accept()
                ingress.connections += 1
                ingress.accepted.append(conn)
                if ingress.tls is not None:
                    # the handshake happens on the first read, in the request's own
                    # thread: one slow or refused handshake does not hold up the others
                    conn.settimeout(5)
                    conn = ingress.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                return conn, addr

        self.server = Server((self.host, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def close_connections(self):
        """Closes every open connection from the server's side (an idle timeout, say)
        and goes on listening."""
        for conn in self.accepted:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
        self.accepted = []

    def url(self, scheme="http"):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/healthz"

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class DemoIngress:
    """scripts/demo-ingress as a subprocess: the stand-in ingress operators use."""

    def __init__(self, host, port=None, status=200, name="ingress"):
        self.host, self.port, self.status, self.name = host, port or free_port(host), status, name
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, DEMO_INGRESS, str(self.port), "--bind", self.host,
                                      "--status", str(self.status), "--name", self.name])
        wait_until(lambda: self.proc.poll() is not None or listening(self.host, self.port),
                   timeout=10, interval=0.02, what=f"demo-ingress on {self.host}:{self.port}")
        assert self.proc.poll() is None, "demo-ingress exited at start"
        return self

    def url(self):
        return f"http://{self.host}:{self.port}/healthz"

    def stop(self):
        """Stops it (SIGTERM to its PID) and returns once its port is closed."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None


class HangingServer:
    """Accepts TCP connections and never answers (holds them until stopped)."""

    def __init__(self, host, port=None):
        self.host, self.port = host, port or free_port(host)
        self.sock = None
        self.held = []
        self.accepted = 0

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        sock = self.sock
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def stop(self):
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        for c in self.held:
            c.close()
        self.held = []


class SilentListener:
    """A listener whose accept queue is full (backlog 0, one connection held): the
    kernel drops every new SYN, so connecting never completes, as to a host that
    went away."""

    def __init__(self, host, port=None):
        self.host, self.port = host, port or free_port(host)
        self.sock = self.filler = None

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(0)
        self.filler = socket.create_connection((self.host, self.port), timeout=2)
        assert not listening(self.host, self.port), "a connect to the silent listener completed"
        return self

    def stop(self):
        for s in (self.filler, self.sock):
            if s:
                s.close()
        self.sock = self.filler = None


class TcpListener(HangingServer):
    """A listening socket for TCP checks (accepts and closes nothing until stopped)."""


def closed_port(host):
    """A port on `host` that nothing listens on (free right now)."""
    return free_port(host)


def make_tls(directory, ip):
    """A CA and a server certificate for `ip` (subjectAltName IP) signed by it, made
    with openssl; returns (ca_path, cert_path, key_path)."""
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr, cert = (os.path.join(directory, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(directory, "san.cnf")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=gslbd test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={ip}")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
        "-extfile", ext)
    return ca, cert, key


def server_tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def status_json(g):
    import json
    code, body = g.http_get("/status")
    assert code == 200
    return json.loads(body)


def cluster_status(g, name):
    for c in status_json(g)["clusters"]:
        if c["name"] == name:
            return c
    raise AssertionError(f"no cluster {name} in /status")


def metric_value(text, name, **labels):
    """The value of the sample `name{labels}` (all given labels must match) in a
    Prometheus text exposition; sums when several samples match; 0 when none."""
    total, found = 0.0, False
    for m in re.finditer(r"^" + re.escape(name) + r"(\{([^}]*)\})? (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    return total if found else 0.0


def wait_log(g, pattern, timeout=10.0):
    return wait_until(lambda: re.search(pattern, g.log_text()), timeout=timeout, interval=0.05,
                      what=f"log line matching {pattern!r}")


def timed(predicate, timeout, interval=0.02, what="condition"):
    """Polls like wait_until and returns the seconds it took."""
    t0 = time.monotonic()
    wait_until(predicate, timeout=timeout, interval=interval, what=what)
    return time.monotonic() - t0
