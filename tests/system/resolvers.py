"""Real DNS servers for system tests, each in its own temp dir on loopback:
Knot (authoritative, for a local root and parent zone) and unbound (a recursive
resolver in front of gslbd). Started and stopped by PID; readiness is polled."""
import os
import random
import socket
import subprocess
import tempfile

from gslb import DigResult, free_port, stop_process, wait_until

KNOTD = "/usr/sbin/knotd"
UNBOUND = "/usr/sbin/unbound"
UNBOUND_CONTROL = "/usr/sbin/unbound-control"


def random_loopback_net():
    """A random 127.a.b.0/24 prefix, so that runs in parallel (the sanitizer build
    runs the same tests) never share a port-53 address."""
    return f"127.{random.randint(16, 250)}.{random.randint(1, 250)}"


def can_bind(address, port):
    """True when UDP and TCP `address`:`port` can be bound right now."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            u.bind((address, port))
            t.bind((address, port))
        return True
    except OSError:
        return False


def dig(server, port, *args, timeout=30):
    cmd = ["dig", f"@{server}", "-p", str(port), "+time=2", "+tries=2"] + list(args)
    return DigResult(subprocess.run(cmd, capture_output=True, text=True, timeout=timeout))


class Process:
    """A daemon run in the foreground, logging to a file, stopped by its PID."""

    def __init__(self, name, workdir):
        self.name = name
        self.dir = workdir
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc = None
        self.log = None

    def spawn(self, argv):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        assert self.alive(), f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()}"

    def stop(self):
        stop_process(self.proc)
        if self.log:
            self.log.close()
            self.log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Knot(Process):
    """knotd serving `zones` ({origin: zone file text}) on address@port, with
    `modules` ({"mod-cookies": {"secret": "0x..."}, ...}) loaded for every zone."""

    def __init__(self, address, port, zones, workdir=None, modules=None):
        super().__init__("knotd", workdir or tempfile.mkdtemp(prefix="knot-test-"))
        self.address, self.port = address, port
        self.zones = zones
        for sub in ("run", "storage"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        zone_lines = []
        for i, (origin, text) in enumerate(zones.items()):
            fname = f"zone{i}.zone"
            with open(os.path.join(self.dir, "storage", fname), "w") as f:
                f.write(text)
            zone_lines.append(f"  - domain: \"{origin}\"\n    file: \"{fname}\"\n")
        modules = modules or {}
        module_text = "".join(f"{name}:\n  - id: test\n" + "".join(f"    {k}: {v}\n" for k, v in settings.items())
                              for name, settings in modules.items())
        global_modules = (f"    global-module: [{', '.join(f'{name}/test' for name in modules)}]\n"
                          if modules else "")
        self.config_path = os.path.join(self.dir, "knot.conf")
        with open(self.config_path, "w") as f:
            f.write(f"""server:
    rundir: "{self.dir}/run"
    pidfile: "{self.dir}/run/knot.pid"
    listen: {address}@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "{self.dir}/storage"
control:
    listen: "{self.dir}/run/knot.sock"
{module_text}template:
  - id: default
    storage: "{self.dir}/storage"
    zonefile-sync: -1
    journal-content: none
    semantic-checks: on
{global_modules}zone:
""" + "".join(zone_lines))

    def start(self):
        self.spawn([KNOTD, "-c", self.config_path])
        first = next(iter(self.zones))

        def ready():
            self.check_alive()
            r = dig(self.address, self.port, "+norec", "+time=1", "+tries=1", first, "SOA")
            return r.status == "NOERROR" and "aa" in r.flags and r.rdata("SOA")
        wait_until(ready, timeout=20, what=f"knotd on {self.address}@{self.port} to serve {first}")
        return self

    def dig(self, *args):
        return dig(self.address, self.port, "+norec", *args)


class Unbound(Process):
    """unbound as a recursive resolver on address:port. `body` is extra
    server-clause text (indented by four spaces) and `tail` extra clauses
    (stub-zone ...); `remote_control` adds a unix-socket control channel."""

    def __init__(self, address, body="", tail="", port=None, workdir=None, remote_control=True):
        super().__init__("unbound", workdir or tempfile.mkdtemp(prefix="unbound-test-"))
        self.address = address
        self.port = port or free_port(address)
        self.config_path = os.path.join(self.dir, "unbound.conf")
        self.control_socket = os.path.join(self.dir, "control.sock")
        rc = f"""remote-control:
    control-enable: yes
    control-interface: "{self.control_socket}"
""" if remote_control else ""
        with open(self.config_path, "w") as f:
            f.write(f"""server:
    directory: "{self.dir}"
    username: ""
    chroot: ""
    pidfile: "{self.dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    log-time-ascii: yes
    verbosity: 1
    do-daemonize: no
    interface: {address}@{self.port}
    access-control: 127.0.0.0/8 allow
    num-threads: 1
    do-ip6: no
    do-not-query-localhost: no
    harden-referral-path: no
    prefetch: no
    minimal-responses: yes
    so-reuseport: no
    outgoing-range: 64
    num-queries-per-thread: 32
    infra-cache-min-rtt: 50
{body}
{rc}{tail}""")
        r = subprocess.run(["unbound-checkconf", self.config_path], capture_output=True, text=True)
        assert r.returncode == 0, f"unbound-checkconf {self.config_path}:\n{r.stdout}{r.stderr}"

    def start(self):
        # -d: foreground, -d -d would add the log to stderr twice; logfile "" sends it there.
        self.spawn([UNBOUND, "-d", "-c", self.config_path])

        def ready():
            self.check_alive()
            # `localhost` is a built-in local zone: answered without recursing.
            r = dig(self.address, self.port, "+time=1", "+tries=1", "localhost", "A")
            return r.status == "NOERROR" and r.rdata("A") == ["127.0.0.1"]
        wait_until(ready, timeout=20, what=f"unbound on {self.address}@{self.port}")
        return self

    def dig(self, *args):
        return dig(self.address, self.port, *args)

    def control(self, *args):
        r = subprocess.run([UNBOUND_CONTROL, "-c", self.config_path] + list(args), capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, f"unbound-control {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout

    def stats(self):
        """unbound-control stats_noreset as a dict of floats."""
        out = {}
        for line in self.control("stats_noreset").splitlines():
            k, _, v = line.partition("=")
            try:
                out[k] = float(v)
            except ValueError:
                pass
        return out
