"""The HTTP API as a client sees it on the wire: methods (405 with Allow, HEAD
without a body), limits (431, 413, the connection cap with least-recently-active
eviction, the idle timeout), keep-alive, JSON errors, routing on the raw path,
the Origin rule for state-changing requests, and the bearer token (constant-time
check, failures counted and rate-limited per client address, replaced on reload)."""
import http.client
import json
import os
import shutil
import signal
import socket
import tempfile
import time

import pytest

from gslb import Gslbd, wait_until
from ingress import NETWORKS, cluster_status, metric_value

TOKEN = "s3cret-token"
SERVICE = "app.api.example.test."
CONFIG = """
server:
  listen: [@LISTEN@]
  http: @HTTP@
  http_token: @TOKEN@
  http_max_connections: 4
  http_idle_timeout: 3s
geo:
  networks: networks.yaml
zones:
  - origin: api.example.test.
    soa: { mname: ns1.api.example.test., rname: hostmaster.api.example.test. }
    ns: [ns1.api.example.test.]
    records: |
      ns1 3600 IN A 192.0.2.53
services:
  - name: app.api.example.test.
    clusters: ["eu/west", eu-west]
clusters:
  "eu/west": { location: { lat: 50.11, lon: 8.68 }, ingress: [203.0.113.10] }
  eu-west: { location: { lat: 48.86, lon: 2.35 }, ingress: [203.0.113.20] }
"""


@pytest.fixture(scope="module")
def g():
    workdir = tempfile.mkdtemp(prefix="gslbd-http-")
    d = Gslbd(CONFIG.replace("@TOKEN@", TOKEN), workdir=workdir, extra_files={"networks.yaml": NETWORKS})
    d.start()
    yield d
    d.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def connect(g, source="127.0.0.1"):
    return http.client.HTTPConnection("127.0.0.1", g.http_port, timeout=5, source_address=(source, 0))


def request(g, method, path, headers=None, source="127.0.0.1", token=None):
    """One request on a fresh connection: (status, headers as a dict, body)."""
    c = connect(g, source)
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        c.request(method, path, headers=hdrs)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def metrics(g):
    return request(g, "GET", "/metrics")[2]


def first_a(g):
    return g.dig(SERVICE, "A").rdata("A")[:1]


def closed_by_server(sock, timeout=5.0):
    """True once the server has closed `sock` (recv sees EOF or a reset)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/healthz", "GET, HEAD"),
    ("POST", "/status", "GET, HEAD"),
    ("PUT", "/metrics", "GET, HEAD"),
    ("POST", "/explain?name=app.api.example.test.&client=127.0.0.1", "GET, HEAD"),
    ("GET", "/clusters/eu-west/drain", "POST"),
    ("DELETE", "/clusters/eu-west/undrain", "POST"),
])
def test_wrong_method_is_405_with_allow_and_a_json_error(g, method, path, allow):
    status, headers, body = request(g, method, path, token=TOKEN)
    assert status == 405, body
    assert headers["allow"] == allow
    assert headers["content-type"] == "application/json"
    assert "error" in json.loads(body)
    assert cluster_status(g, "eu-west")["drained"] is False


def test_json_content_type_and_json_errors(g):
    status, headers, body = request(g, "GET", "/status")
    assert status == 200 and headers["content-type"] == "application/json"
    assert {c["name"] for c in json.loads(body)["clusters"]} == {"eu/west", "eu-west"}
    status, headers, body = request(g, "GET", "/explain?name=app.api.example.test.&client=127.0.0.1")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["answer"]["A"]["addresses"] == ["203.0.113.10"], body
    for path, code in (("/nowhere", 404), ("/explain?name=app.api.example.test.", 400),
                       ("/explain?name=app.api.example.test.&client=not-an-ip", 400), ("/status%zz", 400)):
        status, headers, body = request(g, "GET", path)
        assert status == code and headers["content-type"] == "application/json", (path, body)
        assert isinstance(json.loads(body)["error"], str), body


def test_head_has_headers_but_no_body_and_keep_alive_reuses_the_connection(g):
    c = connect(g)
    try:
        c.request("GET", "/status")
        r = c.getresponse()
        full = r.read()
        sock = c.sock
        # http.client reads no body after HEAD: a body sent anyway would be taken
        # for the next response's status line and fail the GET after it.
        c.request("HEAD", "/status")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b""
        assert int(r.getheader("Content-Length")) > 0 and r.getheader("Content-Type") == "application/json"
        for path in ("/healthz", "/metrics", "/status"):
            c.request("GET", path)
            r = c.getresponse()
            assert r.status == 200 and r.read(), path
        assert c.sock is sock, "the server closed a keep-alive connection"
        assert len(full) > 0
    finally:
        c.close()


def raw_exchange(g, data):
    """Sends raw bytes, returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")


def test_oversized_headers_are_431_and_bodies_413(g):
    big = raw_exchange(g, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 10000 + b"\r\n\r\n")
    assert big.startswith("HTTP/1.1 431 "), big
    assert '"error"' in big
    # refused on the Content-Length alone, before the body is sent
    body = raw_exchange(g, b"POST /clusters/eu-west/drain HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
    assert body.startswith("HTTP/1.1 413 "), body
    assert '"error"' in body
    garbage = raw_exchange(g, b"NOT HTTP AT ALL\r\n\r\n")
    assert garbage.startswith("HTTP/1.1 400 "), garbage
    assert request(g, "GET", "/healthz")[0] == 200


def test_routing_on_the_raw_path_before_decoding_segments(g):
    # "%2F" inside a segment is part of the name, not a path separator
    status, _, body = request(g, "POST", "/clusters/eu-west%2Fdrain", token=TOKEN)
    assert status == 404, body
    assert cluster_status(g, "eu-west")["drained"] is False
    assert first_a(g) == ["203.0.113.10"]
    status, _, body = request(g, "POST", "/clusters/eu%2Fwest/drain", token=TOKEN)
    assert status == 200 and json.loads(body) == {"cluster": "eu/west", "drained": True}, body
    try:
        assert cluster_status(g, "eu/west")["drained"] is True
        wait_until(lambda: first_a(g) == ["203.0.113.20"], timeout=3, what="eu/west to leave the answers")
        # /explain decides as the DNS path does, from the same snapshot
        status, _, body = request(g, "GET", "/explain?name=app.api.example.test.&client=127.0.0.1")
        e = json.loads(body)
        assert e["health"] == [{"cluster": "eu/west", "up": False, "transitioning": False},
                               {"cluster": "eu-west", "up": True, "transitioning": False}], e
        assert e["answer"]["A"] == {"rcode": "NOERROR", "scope": 0, "addresses": ["203.0.113.20"], "ttl": 30}, e
        assert e["answer"]["AAAA"] == {"rcode": "NOERROR", "scope": 0, "addresses": []}, e
    finally:
        assert request(g, "POST", "/clusters/eu%2Fwest/undrain", token=TOKEN)[0] == 200
    wait_until(lambda: first_a(g) == ["203.0.113.10"], timeout=3, what="eu/west to return")


def test_foreign_browser_origin_cannot_change_state(g):
    before = metric_value(metrics(g), "gslb_http_auth_failures_total", reason="origin")
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{g.http_port}.evil.example",
                   f"http://localhost:{g.http_port}"):
        status, _, body = request(g, "POST", "/clusters/eu-west/drain", headers={"Origin": origin}, token=TOKEN)
        assert status == 403 and "error" in json.loads(body), (origin, body)
    assert cluster_status(g, "eu-west")["drained"] is False
    assert metric_value(metrics(g), "gslb_http_auth_failures_total", reason="origin") == before + 4
    # reading is not state-changing: a page may read /status
    assert request(g, "GET", "/status", headers={"Origin": "http://evil.example"})[0] == 200
    # the listener's own origin is fine
    own = f"http://127.0.0.1:{g.http_port}"
    assert request(g, "POST", "/clusters/eu-west/drain", headers={"Origin": own}, token=TOKEN)[0] == 200
    assert request(g, "POST", "/clusters/eu-west/undrain", headers={"Origin": own}, token=TOKEN)[0] == 200


def test_failed_tokens_are_counted_and_rate_limited_per_address(g):
    # a source address of its own, so other tests' requests share no allowance with it
    src = "127.0.0.77"
    before = metric_value(metrics(g), "gslb_http_auth_failures_total", reason="token")
    limited_before = metric_value(metrics(g), "gslb_http_auth_failures_total", reason="rate_limited")
    # ten in a row are allowed; a slow run may earn back one or two meanwhile
    refused = []
    for i in range(15):
        status, headers, _ = request(g, "POST", "/clusters/eu-west/drain", source=src, token=f"guess{i}")
        if status == 429:
            break
        assert status == 401 and headers["www-authenticate"] == "Bearer", i
        refused.append(i)
    assert status == 429 and 10 <= len(refused) <= 13, refused
    assert int(headers["retry-after"]) >= 1
    # the allowance is spent: even the right token is not looked at now
    status, headers, body = request(g, "POST", "/clusters/eu-west/drain", source=src, token=TOKEN)
    assert status == 429, body
    assert cluster_status(g, "eu-west")["drained"] is False
    text = metrics(g)
    assert metric_value(text, "gslb_http_auth_failures_total", reason="token") == before + len(refused)
    assert metric_value(text, "gslb_http_auth_failures_total", reason="rate_limited") == limited_before + 2
    # another address is not locked out
    assert request(g, "POST", "/clusters/eu-west/undrain", token=TOKEN)[0] == 200
    # one attempt a second comes back
    wait_until(lambda: request(g, "POST", "/clusters/eu-west/undrain", source=src, token=TOKEN)[0] == 200,
               timeout=3, interval=0.2, what="the allowance to refill")


def test_connection_cap_evicts_the_least_recently_active(g):
    before = metric_value(metrics(g), "gslb_http_connections_evicted_total")
    a = connect(g)
    try:
        idle = [socket.create_connection(("127.0.0.1", g.http_port), timeout=5) for _ in range(2)]
        a.request("GET", "/healthz")  # opened first, but active since the two idle ones
        assert a.getresponse().read() == b"ok\n"
        newest = socket.create_connection(("127.0.0.1", g.http_port), timeout=5)
        # the cap is 4: this fifth connection pushes out idle[0] (the idle timeout
        # is 3 s, far from here), and idle[1] is next in line but still open
        assert request(g, "GET", "/healthz")[0] == 200
        assert closed_by_server(idle[0], timeout=1)
        assert not closed_by_server(idle[1], timeout=0.1)
        a.request("GET", "/healthz")
        assert a.getresponse().read() == b"ok\n"
        assert metric_value(metrics(g), "gslb_http_connections_evicted_total") >= before + 1
        for s in idle + [newest]:
            s.close()
    finally:
        a.close()


def test_idle_connection_is_closed_after_the_idle_timeout(g):
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # an unfinished request counts as idle
        assert closed_by_server(s, timeout=6)
    assert 2.5 <= time.monotonic() - t0 < 5.5


def test_reload_replaces_the_token(g):
    try:
        assert "reloaded" in g.reload(CONFIG.replace("@TOKEN@", "new-token"))
        status, _, _ = request(g, "POST", "/clusters/eu-west/drain", token=TOKEN)
        assert status == 401
        assert request(g, "POST", "/clusters/eu-west/drain", token="new-token")[0] == 200
        assert request(g, "POST", "/clusters/eu-west/undrain", token="new-token")[0] == 200
    finally:
        assert "reloaded" in g.reload(CONFIG.replace("@TOKEN@", TOKEN))
    assert request(g, "POST", "/clusters/eu-west/undrain", token=TOKEN)[0] == 200


# --- reloads are built off the HTTP thread -----------------------------------
GEOIP = ("/usr/share/tor/geoip", "/usr/share/tor/geoip6")
TOR_CONFIG = CONFIG.replace("geo:\n  networks: networks.yaml", f"geo:\n  ranges: [{GEOIP[0]}, {GEOIP[1]}]")


@pytest.fixture(scope="module")
def tor():
    """gslbd compiling Debian's tor-geoipdb on each reload: a build of ~0.5 s."""
    missing = [p for p in GEOIP if not os.path.exists(p)]
    if missing:
        pytest.skip(f"tor-geoipdb not installed ({', '.join(missing)}; scripts/install-deps installs it)")
    workdir = tempfile.mkdtemp(prefix="gslbd-http-tor-")
    d = Gslbd(TOR_CONFIG.replace("@TOKEN@", TOKEN), workdir=workdir)
    d.start()
    yield d
    d.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def reload_counts(g):
    text = g.log_text()
    return text.count("info: reloading "), text.count("info: reloaded: ") + text.count("error: reload failed")


@pytest.mark.skipif(os.environ.get("GSLBD_SANITIZED") == "1",
                    reason="a latency bound: ASan alone makes a /metrics scrape take about 50 ms")
def test_healthz_and_metrics_answer_within_50ms_during_a_rebuild(tor):
    c = connect(tor)
    try:
        started, _ = reload_counts(tor)
        _, done = reload_counts(tor)
        tor.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: reload_counts(tor)[0] > started, timeout=5, interval=0.005, what="the build to start")
        during = []
        deadline = time.monotonic() + 30
        while reload_counts(tor)[1] == done and time.monotonic() < deadline:
            for path in ("/healthz", "/metrics"):
                t0 = time.monotonic()
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                during.append((path, time.monotonic() - t0))
                assert r.status == 200 and body, path
        assert "info: reloaded: " in tor.log_text()
        # enough requests fell inside the build to mean something
        assert len(during) >= 6, during
        slow = [(p, round(t * 1000, 1)) for p, t in during if t >= 0.050]
        assert not slow, f"{len(slow)} of {len(during)} requests took 50 ms or more during the build: {slow}"
    finally:
        c.close()


def test_sighups_during_a_build_coalesce_into_one_more(tor):
    def successes():
        return metric_value(metrics(tor), "gslb_config_reloads_total", result="success")
    before = successes()
    t0 = time.monotonic()
    for _ in range(50):
        tor.proc.send_signal(signal.SIGHUP)
        time.sleep(0.02)  # spreads the 50 signals over about a second: pacing, not synchronisation
    assert time.monotonic() - t0 < 2.0
    # settled: every build that started has finished
    wait_until(lambda: (lambda s, d: s == d)(*reload_counts(tor)), timeout=30, what="the last build to finish")
    wait_until(lambda: successes() > before, timeout=5, what="the reloads to be counted")
    builds = successes() - before
    assert 2 <= builds <= 3, f"50 SIGHUPs in {time.monotonic() - t0:.1f}s made {builds} builds"
    assert first_a(tor) == ["203.0.113.10"]
