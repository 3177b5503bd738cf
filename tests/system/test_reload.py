"""SIGHUP reloads: a good config changes answers; a bad one is logged with
file:line:column and the old answers keep being served; listen/workers/http
changes are refused (restart needed); /metrics counts both outcomes."""
import os
import re
import signal
import threading
import time

import pytest

import dnswire
from gslb import Gslbd, wait_until
from test_ingress_hostname import cloud

CONFIG = """
server:
  listen: [@LISTEN@]
  workers: 2
  http: @HTTP@
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 1, minimum: 60 }
    ns: [ns1.example.test.]
    records: |
      ns1   3600 IN A  192.0.2.53
      www   300  IN A  192.0.2.80
  - origin: file.test.
    zonefile: file.test.zone
services: []
clusters: {}
"""

ZONEFILE = """$TTL 300
@    IN SOA ns1.file.test. h.file.test. ( %d 3600 900 86400 60 )
     IN NS  ns1
ns1  IN A   192.0.2.1
www  IN A   %s
"""


def reloads(g):
    _, text = g.http_get("/metrics")
    counts = {}
    for result in ("success", "failure"):
        m = re.search(r'^gslb_config_reloads_total\{result="%s"\} (\d+(?:\.\d+)?)$' % result, text, re.M)
        assert m, text
        counts[result] = int(float(m.group(1)))
    return counts


def www(g, zone="example.test"):
    return g.dig(f"www.{zone}", "A").rdata("A")


@pytest.fixture
def g():
    server = Gslbd(CONFIG, extra_files={"file.test.zone": ZONEFILE % (1, "192.0.2.10")})
    with server:
        yield server


def line_col(text, anchor):
    at = text.index(anchor)
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


def test_good_reload_changes_answers(g):
    assert www(g) == ["192.0.2.80"]
    assert g.dig("new.example.test", "A").status == "NXDOMAIN"
    assert reloads(g) == {"success": 0, "failure": 0}
    new = CONFIG.replace("www   300  IN A  192.0.2.80", "www   300  IN A  192.0.2.81\n      new   300  IN A  192.0.2.82")
    out = g.reload(new)
    assert re.search(r"info: reloaded: .*; built in \d+ ms", out), out
    wait_until(lambda: www(g) == ["192.0.2.81"], what="the new www address")
    r = g.dig("new.example.test", "A")
    assert r.status == "NOERROR" and r.rdata("A") == ["192.0.2.82"]
    assert g.dig("www.example.test", "A", "+tcp").rdata("A") == ["192.0.2.81"]
    assert reloads(g) == {"success": 1, "failure": 0}


def test_reload_rereads_zone_files(g):
    assert www(g, "file.test") == ["192.0.2.10"]
    with open(os.path.join(g.dir, "file.test.zone"), "w") as f:
        f.write(ZONEFILE % (2, "192.0.2.11"))
    assert "reloaded" in g.reload()
    wait_until(lambda: www(g, "file.test") == ["192.0.2.11"], what="the zone file's new address")
    assert g.dig("file.test", "SOA").rdata("SOA")[0].split()[2] == "2"


def test_reload_keeps_unchanged_zones_and_rebuilds_edited_ones(g):
    """An unchanged zone is kept as loaded (no second copy of a large zone during the
    reload); one whose records or file changed is built again, even when an edit
    keeps the file's size and modification time."""
    path = os.path.join(g.dir, "file.test.zone")
    out = g.reload(CONFIG.replace("192.0.2.80", "192.0.2.81"))
    assert "1 unchanged, kept as loaded" in out, out
    wait_until(lambda: www(g) == ["192.0.2.81"], what="the edited inline zone's address")
    assert www(g, "file.test") == ["192.0.2.10"]

    before = os.stat(path)
    with open(path, "w") as f:
        f.write(ZONEFILE % (1, "192.0.2.12"))  # same length as the original
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    out = g.reload(CONFIG.replace("192.0.2.80", "192.0.2.81"))
    assert "1 unchanged, kept as loaded" in out, out  # the inline zone this time
    wait_until(lambda: www(g, "file.test") == ["192.0.2.12"], what="the rewritten zone file's address")

    out = g.reload(CONFIG.replace("192.0.2.80", "192.0.2.81"))
    assert "2 unchanged, kept as loaded" in out, out
    assert www(g, "file.test") == ["192.0.2.12"] and www(g) == ["192.0.2.81"]


BAD = {
    "yaml error": (CONFIG.replace("zones:", "zones: [", 1), "- origin", "illegal block entry"),
    "unknown key": (CONFIG.replace("  workers: 2\n", "  workers: 2\n  wrokers: 3\n"), "wrokers",
                    "server.wrokers: unknown key"),
    "bad record": (CONFIG.replace("www   300  IN A  192.0.2.80", "www   300  IN A  192.0.2.800"), "www   300",
                   "bad record: "),
    "record outside the zone": (CONFIG.replace("www   300  IN A  192.0.2.80", "www.example.org. 300 IN A 192.0.2.81"),
                                "www.example.org.", "record for www.example.org. is outside the zone example.test."),
    "unknown cluster": (CONFIG.replace("services: []", "services:\n  - { name: app.example.test., clusters: [eu] }"),
                        "eu]", 'services[0].clusters[0]: no cluster named "eu" in clusters'),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_reload_is_logged_and_old_answers_stay(g, case):
    text, anchor, reason = BAD[case]
    rendered = g.render(text)
    if anchor == "$END":
        line, col = rendered.count("\n") + 1, 1
    else:
        line, col = line_col(rendered, anchor)
    out = g.reload(text)
    assert "reload failed, still serving the previous configuration" in out, out
    assert f"{g.config_path}:{line}:{col}: {reason}" in out, out
    assert www(g) == ["192.0.2.80"]
    assert g.dig("www.example.test", "A", "+tcp").rdata("A") == ["192.0.2.80"]
    assert g.dig("nope.example.test", "A").status == "NXDOMAIN"
    assert reloads(g) == {"success": 0, "failure": 1}
    # Fixed, the next SIGHUP loads it.
    assert "reloaded" in g.reload(CONFIG.replace("192.0.2.80", "192.0.2.90"))
    wait_until(lambda: www(g) == ["192.0.2.90"], what="the fixed config's answer")
    assert reloads(g) == {"success": 1, "failure": 1}


@pytest.mark.parametrize("key,change", [
    ("server.listen", lambda c: c.replace("listen: [@LISTEN@]", 'listen: [@LISTEN@, "127.0.0.1:1"]')),
    ("server.workers", lambda c: c.replace("workers: 2", "workers: 3")),
    ("server.http", lambda c: c.replace("http: @HTTP@", 'http: "127.0.0.1:1"')),
])
def test_reload_that_needs_a_restart_is_refused(g, key, change):
    new = change(CONFIG).replace("192.0.2.80", "192.0.2.99")
    assert new != CONFIG
    line, col = line_col(g.render(new), key.split(".")[1] + ":")
    out = g.reload(new)
    assert "reload failed" in out and f"{g.config_path}:{line}:{col}: {key} cannot change without a restart" in out, out
    assert www(g) == ["192.0.2.80"]  # the rest of the new config is not applied either
    assert reloads(g) == {"success": 0, "failure": 1}
    assert g.proc.poll() is None


def test_answers_keep_flowing_during_reloads(g):
    stop = threading.Event()
    results = []

    def query():
        qid = 0
        while not stop.is_set():
            qid = (qid + 1) & 0xFFFF
            try:
                wire = dnswire.udp_exchange(g.port, dnswire.query("www.example.test", "A", qid=qid), timeout=1)
                m = dnswire.parse(wire)
                results.append((m.rcode(), [rr.to_text() for rrset in m.answer for rr in rrset]))
            except Exception as e:  # noqa: BLE001 - a lost answer is what we count
                results.append(("error", repr(e)))

    t = threading.Thread(target=query)
    t.start()
    try:
        for i in range(5):
            assert "reloaded" in g.reload(CONFIG.replace("192.0.2.80", f"192.0.2.{100 + i}"))
        wait_until(lambda: www(g) == ["192.0.2.104"], what="the last reload's answer")
        n = len(results)
        wait_until(lambda: len(results) > n + 10, what="more answers after the reloads")
    finally:
        stop.set()
        t.join()
    assert results and all(rc == 0 and len(ans) == 1 for rc, ans in results), [r for r in results if r[0] != 0][:5]
    seen = {ans[0] for _, ans in results}
    assert seen <= {"192.0.2.80"} | {f"192.0.2.{100 + i}" for i in range(5)}
    assert reloads(g) == {"success": 5, "failure": 0}


def test_sigterm_stops_cleanly(g):
    g.proc.send_signal(signal.SIGTERM)
    assert g.proc.wait(timeout=10) == 0
    assert "stopped" in g.log_text()


def test_reload_applies_tcp_settings(g):
    # tcp_idle_timeout and tcp_max_connections are not among the settings that need
    # a restart: a reload that succeeds must apply them, not just accept them.
    new = CONFIG.replace("  workers: 2\n", "  workers: 2\n  tcp_idle_timeout: 500ms\n")
    assert "reloaded" in g.reload(new)

    with dnswire.tcp_connect(g.port) as s:
        start = time.monotonic()
        wait_until(lambda: dnswire.closed_by_peer(s), timeout=5, what="the reloaded idle timeout to close the connection")
        assert time.monotonic() - start < 3


def test_reload_with_the_config_file_gone(g):
    os.remove(g.config_path)
    out = g.reload()
    assert f"reload failed, still serving the previous configuration: {g.config_path}: cannot open" in out, out
    assert www(g) == ["192.0.2.80"]
    assert reloads(g) == {"success": 0, "failure": 1}
    assert "reloaded" in g.reload(CONFIG)
    assert reloads(g) == {"success": 1, "failure": 1}


def test_reload_with_a_bad_zone_file_names_its_line(g):
    path = os.path.join(g.dir, "file.test.zone")
    with open(path, "w") as f:
        f.write(ZONEFILE % (3, "192.0.2.300"))
    out = g.reload()
    assert f"{path}:5:1: bad record: " in out, out
    assert www(g, "file.test") == ["192.0.2.10"] and www(g) == ["192.0.2.80"]


# --- Runtime settings: each takes effect on the reload that changes it (issue 10 item 2).

RUNTIME = """
server:
  listen: [@LISTEN@]
  http: @HTTP@
  http_token: %TOKEN%
  state_file: %STATE%
  resolver: "127.0.0.1:%RESOLVER%"
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: h.example.test., minimum: 60 }
    ns: [ns1.example.test.]
services:
  - { name: app.example.test., clusters: [eu, us], policy: failover }
clusters:
  eu: { ingress: [lb.cloud.test] }
  us: { ingress: [203.0.113.2] }
"""


@pytest.fixture(scope="module")
def resolvers():
    """Two stand-in resolvers on loopback that answer lb.cloud.test differently."""
    with Gslbd(cloud("192.0.2.201", "201"), http=False) as one:
        with Gslbd(cloud("192.0.2.202", "202"), http=False) as two:
            yield one, two


def runtime_config(resolver, token="old-token", state="one.state"):
    return RUNTIME.replace("%TOKEN%", token).replace("%STATE%", state).replace("%RESOLVER%", str(resolver.port))


@pytest.fixture
def rt(resolvers):
    with Gslbd(runtime_config(resolvers[0])) as server:
        yield server


def post(g, path, token):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{g.http_port}{path}", method="POST", data=b"",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def state_file(g, name):
    path = os.path.join(g.dir, name)
    return open(path).read() if os.path.exists(path) else None


def test_reload_applies_a_new_http_token(rt, resolvers):
    assert post(rt, "/clusters/us/drain", "new-token") == 401
    assert post(rt, "/clusters/us/drain", "old-token") == 200
    assert "reloaded" in rt.reload(runtime_config(resolvers[0], token="new-token"))
    assert post(rt, "/clusters/us/undrain", "old-token") == 401
    assert post(rt, "/clusters/us/undrain", "new-token") == 200


def test_reload_applies_a_new_state_file(rt, resolvers):
    assert post(rt, "/clusters/us/drain", "old-token") == 200
    assert "us" in state_file(rt, "one.state")
    assert state_file(rt, "two.state") is None
    assert "reloaded" in rt.reload(runtime_config(resolvers[0], state="two.state"))
    # The drain in effect is written to the new file at once, and later ones go there.
    wait_until(lambda: "us" in (state_file(rt, "two.state") or ""), what="the drain in the new state file")
    assert post(rt, "/clusters/us/undrain", "old-token") == 200
    assert "us" not in state_file(rt, "two.state")
    assert "us" in state_file(rt, "one.state")  # the old file is no longer written


def test_reload_applies_a_new_resolver(rt, resolvers):
    assert rt.dig("app.example.test", "A").rdata("A") == ["192.0.2.201"]
    assert "reloaded" in rt.reload(runtime_config(resolvers[1]))
    # Only the second stand-in resolver answers .202.
    wait_until(lambda: rt.dig("app.example.test", "A").rdata("A") == ["192.0.2.202"], timeout=15, interval=0.1,
               what="the ingress name resolved through the new resolver")
