"""Health checking end to end: real ingress health endpoints on loopback addresses
(127.0.0.11-.13, one per cluster), clusters in Frankfurt, Virginia and Tokyo, the
test's own queries placed in Frankfurt by the networks file. A cluster whose
endpoint stops leaves the answers within fall x interval + timeout (plus a margin
for a busy two-core machine) and comes back within rise x interval; hanging
endpoints fail by timeout; HTTPS verifies certificates; TCP checks; all-down
behaviour; health-aware TTL; health known before the first answer."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import dns.message
import pytest

from gslb import Gslbd, wait_until
from ingress import (FRA, IAD, NETWORKS, SERVICE, TYO, DemoIngress, HangingServer, HttpIngress, SilentListener,
                     TcpListener,
                     answer, closed_port, cluster_status, config, make_tls, metric_value, server_tls_context,
                     status_json, timed)

INTERVAL, TIMEOUT, FALL, RISE = 0.5, 0.3, 2, 2
# A probe's schedule has +-10% jitter and a view is published within 100 ms; the
# margin covers those and a busy two-core machine (dig itself takes tens of ms).
MARGIN = 1.5
FAIL_BOUND = FALL * INTERVAL + TIMEOUT + MARGIN
RISE_BOUND = RISE * INTERVAL + MARGIN
HOSTS = {"eu-west": "127.0.0.11", "us-east": "127.0.0.12", "ap-northeast": "127.0.0.13"}


def http_check(url, interval="500ms", timeout="300ms", fall=FALL, rise=RISE, extra=""):
    return (f'[{{ http: {{ url: "{url}", interval: {interval}, timeout: {timeout}, '
            f'fall: {fall}, rise: {rise}{extra} }} }}]')


def first_a(g):
    addrs, _ = answer(g)
    return addrs[0] if addrs else None


def test_failover_and_recovery_times():
    """Stop the nearest cluster's ingress (demo-ingress, SIGTERM to its PID): the
    answer moves to the next-nearest within the bound; bring it back and it returns
    within the rise bound. Three rounds, measured times printed."""
    ingresses = {name: DemoIngress(host, name=name).start() for name, host in HOSTS.items()}
    g = Gslbd(config({name: http_check(i.url()) for name, i in ingresses.items()}),
              extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            assert first_a(g) == FRA
            fails, rises = [], []
            for round_ in range(3):
                port = ingresses["eu-west"].port
                ingresses["eu-west"].stop()
                fails.append(timed(lambda: first_a(g) == IAD, timeout=FAIL_BOUND + 5,
                                   what="the answer to move from eu-west to us-east"))
                ingresses["eu-west"] = DemoIngress(HOSTS["eu-west"], port=port, name="eu-west").start()
                rises.append(timed(lambda: first_a(g) == FRA, timeout=RISE_BOUND + 5,
                                   what="the answer to return to eu-west"))
            print(f"\nfailover times (s): {[round(t, 3) for t in fails]}, bound {FAIL_BOUND}")
            print(f"recovery times (s): {[round(t, 3) for t in rises]}, bound {RISE_BOUND}")
            assert max(fails) <= FAIL_BOUND, fails
            assert max(rises) <= RISE_BOUND, rises
            # the log names the cluster, the check and why, with the threshold reached
            log = g.log_text()
            assert re.search(r"cluster eu-west down: http http://127\.0\.0\.11:\d+/healthz: connection refused "
                             r"\(2/2 failures\)", log), log
            assert re.search(r"cluster eu-west up: http http://127\.0\.0\.11:\d+/healthz: ok \(2/2 successes\)", log), log
            assert "us-east down" not in log and "ap-northeast down" not in log, log

            # Frankfurt and Virginia both gone: Tokyo; Virginia back: Virginia.
            ingresses["eu-west"].stop()
            ingresses["us-east"].stop()
            wait_until(lambda: first_a(g) == TYO, timeout=FAIL_BOUND + 5, what="the answer to move to ap-northeast")
            ingresses["us-east"] = DemoIngress(HOSTS["us-east"], port=ingresses["us-east"].port).start()
            wait_until(lambda: first_a(g) == IAD, timeout=RISE_BOUND + 5, what="the answer to return to us-east")
    finally:
        for i in ingresses.values():
            i.stop()


def test_hanging_endpoint_fails_by_timeout():
    """An endpoint that accepts the connection and never answers is down after
    `fall` probes that each time out; the log says timeout."""
    good = {name: HttpIngress(host).start() for name, host in HOSTS.items() if name != "eu-west"}
    eu = HttpIngress(HOSTS["eu-west"]).start()
    hang = HangingServer(HOSTS["eu-west"], port=eu.port)
    checks = {name: http_check(i.url()) for name, i in good.items()}
    checks["eu-west"] = http_check(eu.url())
    g = Gslbd(config(checks), extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            assert first_a(g) == FRA
            eu.stop()
            hang = HangingServer(HOSTS["eu-west"], port=eu.port).start()
            took = timed(lambda: first_a(g) == IAD, timeout=FAIL_BOUND + 5, what="the answer to move to us-east")
            print(f"\nhanging endpoint: failover after {took:.3f}s, bound {FAIL_BOUND}")
            assert took <= FAIL_BOUND
            assert hang.accepted >= FALL, "the probes did connect to the hanging endpoint"
            assert re.search(r"cluster eu-west down: http \S+: timeout after 300ms \(2/2 failures\)", g.log_text()), \
                g.log_text()
            st = cluster_status(g, "eu-west")
            assert st["up"] is False and st["checks"][0]["last_result"] == "timeout after 300ms", st
            # a timed-out probe took about the timeout, not the interval or forever
            assert 0.25 <= st["checks"][0]["latency_ms"] / 1000 <= TIMEOUT + 0.4, st
    finally:
        hang.stop()
        eu.stop()
        for i in good.values():
            i.stop()


def test_endpoint_dropping_connects_comes_back():
    """An endpoint that drops connection attempts (its host went away) is down by
    connect timeouts, and up again once it answers, however many connects were
    abandoned meanwhile: libcurl 7.88 closes such a socket without telling gslbd's
    probe engine, which counted each one against its descriptor budget until no
    probe could open a socket and the cluster stayed down for good."""
    good = {name: HttpIngress(host).start() for name, host in HOSTS.items() if name != "eu-west"}
    eu = HttpIngress(HOSTS["eu-west"]).start()
    silent = SilentListener(HOSTS["eu-west"], port=eu.port)
    checks = {name: http_check(i.url()) for name, i in good.items()}
    checks["eu-west"] = http_check(eu.url(), interval="100ms", timeout="100ms")
    g = Gslbd(config(checks), extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            assert first_a(g) == FRA
            eu.stop()
            silent.start()
            timed(lambda: first_a(g) == IAD, timeout=FAIL_BOUND + 5, what="the answer to move to us-east")
            # Twice the probe engine's budget for this config (8 + 3 checks).
            wait_until(lambda: metric_value(g.http_get("/metrics")[1], "gslb_checks_total", cluster="eu-west",
                                            result="failure") >= 25,
                       timeout=20, what="25 connects to the silent endpoint abandoned")
            assert re.search(r"cluster eu-west down: http \S+: timeout after 100ms", g.log_text()), g.log_text()
            silent.stop()
            eu = HttpIngress(HOSTS["eu-west"], port=eu.port).start()
            took = timed(lambda: first_a(g) == FRA, timeout=RISE_BOUND + 5, what="eu-west back in the answers")
            print(f"\nendpoint back after dropped connects: recovery after {took:.3f}s, bound {RISE_BOUND}")
            assert took <= RISE_BOUND
            assert metric_value(g.http_get("/metrics")[1], "gslb_check_local_errors_total") == 0
    finally:
        silent.stop()
        eu.stop()
        for i in good.values():
            i.stop()


def test_https_self_signed(tmp_path):
    """An HTTPS endpoint with a certificate for 127.0.0.11 from the test's own CA:
    the check fails with verification on (the default), passes with ca_file naming
    that CA, fails with that CA when the address does not match the certificate
    (the same certificate served on 127.0.0.12), and passes with tls_verify: false
    (after a reload)."""
    ca, cert, key = make_tls(str(tmp_path), HOSTS["eu-west"])
    tls = HttpIngress(HOSTS["eu-west"], tls=server_tls_context(cert, key)).start()
    wrong_name = HttpIngress(HOSTS["us-east"], tls=server_tls_context(cert, key)).start()
    try:
        # prove the server really serves TLS with that certificate
        out = subprocess.run(["curl", "-sS", "--noproxy", "*", "--cacert", ca, tls.url("https")],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and out.stdout == "ok\n", out
        # eu-west verifies with the system CAs (default), us-east with the test CA,
        # both against the same server; ap-northeast with the test CA against the
        # server whose address is not the certificate's.
        # (interval and timeout 1s: this test is about verification, not timing, and
        # a TLS handshake with a Python server on a busy machine may take a while)
        https = lambda url, extra="": http_check(url, interval="1s", timeout="1s", extra=extra)  # noqa: E731
        checks = {"eu-west": https(tls.url("https")),
                  "us-east": https(tls.url("https"), extra=f', ca_file: "{ca}"'),
                  "ap-northeast": https(wrong_name.url("https"), extra=f', ca_file: "{ca}"')}
        g = Gslbd(config(checks, answers=3), extra_files={"networks.yaml": NETWORKS})
        with g:
            assert answer(g)[0] == [IAD]
            eu = cluster_status(g, "eu-west")
            assert eu["up"] is False and eu["health"] == "down", eu
            assert eu["checks"][0]["last_result"].startswith("TLS verification failed"), eu
            us = cluster_status(g, "us-east")
            assert us["up"] is True and us["checks"][0]["last_result"] == "ok", us
            ap = cluster_status(g, "ap-northeast")
            assert ap["up"] is False and ap["checks"][0]["last_result"].startswith("TLS verification failed"), ap
            assert re.search(r"cluster eu-west down: http https://127\.0\.0\.11:\d+/healthz: TLS verification failed",
                             g.log_text()), g.log_text()
            # the verification failure is lasting, not a first-probe accident
            n = tls.requests
            wait_until(lambda: cluster_status(g, "us-east")["checks"][0]["consecutive"] >= 2, what="more probes")
            assert cluster_status(g, "eu-west")["checks"][0]["last_result"].startswith("TLS verification failed")
            assert cluster_status(g, "ap-northeast")["checks"][0]["last_result"].startswith("TLS verification failed")
            assert tls.requests > n, "us-east's probes reached the server over verified TLS"
            assert wrong_name.requests == 0, "no request was sent over the unverified connection"
            assert answer(g)[0] == [IAD]
            # verification off: eu-west comes up (state kept across the reload, then rise)
            checks["eu-west"] = https(tls.url("https"), extra=", tls_verify: false")
            assert "reloaded" in g.reload(config(checks, answers=3))
            wait_until(lambda: answer(g)[0] == [FRA, IAD], timeout=2 * 1.0 + MARGIN + 5,
                       what="eu-west up without verification")
    finally:
        tls.stop()
        wrong_name.stop()


def test_relative_ca_file_is_relative_to_the_config():
    """README: relative paths in the config are relative to the config file's
    directory. `ca_file: ca.pem` next to the config must verify the server."""
    workdir = tempfile.mkdtemp(prefix="gslbd-ca-")
    ca, cert, key = make_tls(workdir, HOSTS["eu-west"])
    tls = HttpIngress(HOSTS["eu-west"], tls=server_tls_context(cert, key)).start()
    checks = {"eu-west": http_check(tls.url("https"), extra=', ca_file: "ca.pem"'), "us-east": None, "ap-northeast": None}
    g = Gslbd(config(checks), workdir=workdir, extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            # gslbd's working directory is not the config's (as under systemd: /)
            assert os.path.realpath(f"/proc/{g.proc.pid}/cwd") != os.path.realpath(workdir)
            eu = cluster_status(g, "eu-west")
            assert eu["checks"][0]["last_result"] == "ok", eu
            assert first_a(g) == FRA
    finally:
        tls.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_body_expect_require_dns_and_ipv6_checks():
    """expect lists and body substrings; `require: any`; a DNS check against a real
    name server (another gslbd) with an expected address; an HTTP and a TCP check
    on [::1]."""
    ns = Gslbd(config({}), extra_files={"networks.yaml": NETWORKS}).start()
    eu = HttpIngress(HOSTS["eu-west"], status=204, body=b"").start()
    us = HttpIngress(HOSTS["us-east"], body=b"status: healthy\n").start()
    ap = HttpIngress(HOSTS["ap-northeast"], body=b"status: starting\n").start()
    v6 = HttpIngress("::1")
    g = None
    try:
        v6.start()
        t = "interval: 500ms, timeout: 300ms"
        dns = f'dns: {{ server: "127.0.0.1:{ns.port}", name: ns1.global.example.test., {t}'
        checks = {
            # 204 accepted; [::1] HTTP and TCP; a DNS answer with the expected address
            "eu-west": f'[{{ http: {{ url: "{eu.url()}", expect: [200, 204], {t} }} }}, '
                       f'{{ http: {{ url: "{v6.url()}", body: "ok", {t} }} }}, '
                       f'{{ tcp: {{ address: "[::1]:{v6.port}", {t} }} }}, {{ {dns}, address: 192.0.2.53 }} }}]',
            # body present; but the DNS answer lacks 192.0.2.99: all required -> down
            "us-east": f'[{{ http: {{ url: "{us.url()}", body: "healthy", {t} }} }}, {{ {dns}, address: 192.0.2.99 }} }}]',
            # body missing, DNS fine, require any -> up
            "ap-northeast": f'[{{ http: {{ url: "{ap.url()}", body: "healthy", {t} }} }}, {{ {dns} }} }}]\n'
                            '    require: any',
        }
        g = Gslbd(config(checks, answers=3), extra_files={"networks.yaml": NETWORKS}).start()
        assert answer(g)[0] == [FRA, TYO]
        st = {c["name"]: c for c in status_json(g)["clusters"]}
        assert [k["last_result"] for k in st["eu-west"]["checks"]] == ["ok"] * 4, st["eu-west"]
        assert st["eu-west"]["checks"][3]["check"] == f"dns 127.0.0.1:{ns.port} ns1.global.example.test. A"
        us_results = [k["last_result"] for k in st["us-east"]["checks"]]
        assert us_results[0] == "ok" and "192.0.2.99" in us_results[1], us_results
        assert st["us-east"]["up"] is False
        ap_results = [k["last_result"] for k in st["ap-northeast"]["checks"]]
        assert ap_results == ["body missing 'healthy'", "ok"], ap_results
        assert st["ap-northeast"]["up"] is True
        # the name server goes away: eu-west (all required) and ap-northeast (any:
        # the body check still fails) both go down; all down fails open (nearest first)
        ns.stop()
        wait_until(lambda: not cluster_status(g, "eu-west")["up"] and not cluster_status(g, "ap-northeast")["up"],
                   timeout=FAIL_BOUND + 5, what="the DNS checks to fail")
        # /status reads the state itself; the answers follow within 100 ms (publish)
        wait_until(lambda: answer(g)[0] == [FRA, IAD, TYO], timeout=1, what="the all-down answer")
    finally:
        if g:
            g.stop()
        ns.stop()
        for i in (eu, us, ap, v6):
            i.stop()


def test_tcp_check_listening_vs_closed():
    """A TCP check is up against a listening socket and down against a closed port."""
    listener = TcpListener(HOSTS["eu-west"]).start()
    closed = closed_port(HOSTS["us-east"])
    checks = {"eu-west": f'[{{ tcp: {{ address: "{HOSTS["eu-west"]}:{listener.port}", interval: 500ms, timeout: 300ms }} }}]',
              "us-east": f'[{{ tcp: {{ address: "{HOSTS["us-east"]}:{closed}", interval: 500ms, timeout: 300ms }} }}]',
              "ap-northeast": None}
    g = Gslbd(config(checks, answers=3), extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            addrs, _ = answer(g)
            assert addrs == [FRA, TYO], addrs
            eu, us = cluster_status(g, "eu-west"), cluster_status(g, "us-east")
            assert eu["up"] and eu["checks"][0]["check"] == f"tcp {HOSTS['eu-west']}:{listener.port}", eu
            assert not us["up"] and us["checks"][0]["last_result"] == "connection refused", us
            assert listener.accepted >= 1
            # the listener goes away: eu-west leaves too
            listener.stop()
            wait_until(lambda: answer(g)[0] == [TYO], timeout=FAIL_BOUND + 5, what="eu-west to leave the answer")
    finally:
        listener.stop()


def test_keep_alive_by_default_fresh_connection_on_request():
    """Against HTTP/1.1 servers that keep connections open: the default check reuses
    one connection for every probe, `fresh_connection: true` opens one per probe
    (the servers count what they accepted). A server that closes the kept
    connection between two probes costs the check nothing: the next probe
    connects anew."""
    kept = HttpIngress(HOSTS["eu-west"], keep_alive=True).start()
    fresh = HttpIngress(HOSTS["us-east"], keep_alive=True).start()
    checks = {"eu-west": http_check(kept.url()),
              "us-east": http_check(fresh.url(), extra=", fresh_connection: true"),
              "ap-northeast": None}
    g = Gslbd(config(checks, answers=3), extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            wait_until(lambda: kept.requests >= 6 and fresh.requests >= 6, timeout=15,
                       what="six probes of each check")
            print(f"\nkept-alive: {kept.requests} requests over {kept.connections} connection(s); "
                  f"fresh: {fresh.requests} requests over {fresh.connections}")
            assert kept.connections == 1, (kept.requests, kept.connections)
            # a probe may have connected but not yet sent its request between the reads
            assert fresh.requests <= fresh.connections <= fresh.requests + 1, (fresh.requests, fresh.connections)
            seen = kept.requests
            kept.close_connections()
            wait_until(lambda: kept.requests >= seen + 3, timeout=15, what="probes after the server closed")
            assert kept.connections == 2
            assert cluster_status(g, "eu-west")["up"], cluster_status(g, "eu-west")
            addrs, _ = answer(g)
            assert addrs == [FRA, IAD, TYO], addrs
            text = g.http_get("/metrics")[1]
            assert metric_value(text, "gslb_checks_total", cluster="eu-west", result="failure") == 0
    finally:
        kept.stop()
        fresh.stop()


def all_down_config(when_all_down):
    checks = {name: http_check(f"http://{host}:{closed_port(host)}/healthz") for name, host in HOSTS.items()}
    extra = f"    when_all_down: {when_all_down}" if when_all_down else ""
    return config(checks, service_extra=extra)


@pytest.mark.parametrize("when_all_down", [None, "fail_open", "servfail"])
def test_when_all_down(when_all_down):
    """Every cluster down: by default (fail_open) the answer names the nearest
    cluster anyway; with `when_all_down: servfail`, SERVFAIL."""
    g = Gslbd(all_down_config(when_all_down), extra_files={"networks.yaml": NETWORKS})
    with g:
        for name in HOSTS:
            assert cluster_status(g, name)["up"] is False
        r = g.dig(SERVICE, "A")
        if when_all_down == "servfail":
            assert r.status == "SERVFAIL" and not r.records(), r
        else:
            assert r.status == "NOERROR" and r.rdata("A") == [FRA], r


def ttl_and_address(g):
    addrs, r = answer(g)
    rec = r.records()
    return (int(rec[0][1]), addrs[0]) if rec else (None, None)


def test_transition_ttl_while_failing_and_recovering():
    """fall 5 at 500 ms: for about 2 s the nearest cluster is failing but not down;
    its answers then carry transition_ttl (2) instead of ttl (30). Once down the next
    cluster is answered with the full TTL; while the first recovers (rise 5), the TTL
    shrinks again, then the first is back with the full TTL."""
    ingresses = {name: HttpIngress(host).start() for name, host in HOSTS.items()}
    checks = {name: http_check(i.url(), fall=5, rise=5) for name, i in ingresses.items()}
    g = Gslbd(config(checks, service_extra="    transition_ttl: 2"), extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            assert ttl_and_address(g) == (30, FRA)
            ingresses["eu-west"].status = 503
            seen = []

            def observe(want):
                seen.append(ttl_and_address(g))
                return seen[-1] == want

            wait_until(lambda: observe((2, FRA)), timeout=5, interval=0.02, what="the transition TTL on eu-west")
            wait_until(lambda: observe((30, IAD)), timeout=8, interval=0.02, what="us-east with the full TTL")
            # the order of what the client saw: 30 FRA..., 2 FRA..., then IAD
            assert all(s in ((30, FRA), (2, FRA)) for s in seen[:-1]) and (2, FRA) in seen, seen
            assert re.search(r"cluster eu-west down: http \S+: HTTP 503 \(5/5 failures\)", g.log_text())
            ingresses["eu-west"].status = 200
            seen.clear()
            wait_until(lambda: observe((2, IAD)), timeout=5, interval=0.02, what="the transition TTL while eu-west recovers")
            wait_until(lambda: observe((30, FRA)), timeout=8, interval=0.02, what="eu-west back with the full TTL")
            assert all(s in ((30, IAD), (2, IAD)) for s in seen[:-1]), seen
    finally:
        for i in ingresses.values():
            i.stop()


def test_health_known_before_first_answer():
    """With the nearest cluster's ingress down at start, the very first answer gslbd
    gives is the next-nearest: queries sent from the moment the process starts
    never see eu-west."""
    good = {name: HttpIngress(host).start() for name, host in HOSTS.items() if name != "eu-west"}
    checks = {name: http_check(i.url(), interval="1s", timeout="500ms", fall=3) for name, i in good.items()}
    checks["eu-west"] = http_check(f"http://{HOSTS['eu-west']}:{closed_port(HOSTS['eu-west'])}/healthz",
                                   interval="1s", timeout="500ms", fall=3)
    g = Gslbd(config(checks), extra_files={"networks.yaml": NETWORKS})
    answers, stop = [], threading.Event()

    def hammer():
        q = dns.message.make_query(SERVICE, "A")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.02)
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                q.id = (q.id + 1) & 0xFFFF
                try:
                    s.sendto(q.to_wire(), ("127.0.0.1", g.port))
                    while True:
                        wire, _ = s.recvfrom(4096)
                        r = dns.message.from_wire(wire)
                        answers.append([rr.address for rrset in r.answer for rr in rrset])
                except (socket.timeout, ConnectionRefusedError):
                    pass

    t = threading.Thread(target=hammer, daemon=True)
    try:
        t.start()
        g.start()
        wait_until(lambda: len(answers) >= 20, timeout=10, what="answers to the queries sent from the start")
        stop.set()
        t.join(timeout=5)
        assert answers[0] == [IAD], answers[:5]
        assert all(a == [IAD] for a in answers), [a for a in answers if a != [IAD]][:5]
        assert re.search(r"cluster eu-west down: .*connection refused \(first probe\)", g.log_text()), g.log_text()
    finally:
        stop.set()
        g.stop()
        for i in good.values():
            i.stop()


def test_reload_keeps_health_state():
    """A SIGHUP reload with the same checks (or only their thresholds changed) keeps
    each check's state: a down cluster never reappears in answers polled during
    and after the reloads; a check with a new target is probed before it counts."""
    ingresses = {name: HttpIngress(host).start() for name, host in HOSTS.items()}
    checks = {name: http_check(i.url()) for name, i in ingresses.items()}
    text = config(checks)
    g = Gslbd(text, extra_files={"networks.yaml": NETWORKS})
    seen, stop = [], threading.Event()

    def poll():
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            seen.append(first_a(g))

    t = threading.Thread(target=poll, daemon=True)
    try:
        with g:
            ingresses["eu-west"].status = 503
            wait_until(lambda: first_a(g) == IAD, timeout=FAIL_BOUND + 5, what="eu-west down")
            t.start()
            assert "reloaded" in g.reload(text)
            assert "reloaded" in g.reload(config({**checks, "eu-west": http_check(ingresses["eu-west"].url(), fall=3,
                                                                                  rise=3)}))
            # more answers after the reloads, across at least two probe intervals
            n = len(seen)
            wait_until(lambda: len(seen) >= n + 5 and cluster_status(g, "eu-west")["checks"][0]["consecutive"] >= 4,
                       timeout=10, what="answers and probes after the reloads")
            stop.set()
            t.join(timeout=10)
            assert set(seen) == {IAD}, seen
            assert cluster_status(g, "eu-west")["health"] == "down"
            # a new target for us-east's check (nothing listens there): us-east stays
            # in the answers until that check's first probe, then leaves
            ingresses["eu-west"].status = 200
            wait_until(lambda: first_a(g) == FRA, timeout=RISE_BOUND + 5, what="eu-west back")
            ingresses["eu-west"].status = 503
            dead = f"http://{HOSTS['us-east']}:{closed_port(HOSTS['us-east'])}/healthz"
            assert "reloaded" in g.reload(config({**checks, "us-east": http_check(dead)}))
            wait_until(lambda: first_a(g) == TYO, timeout=FAIL_BOUND + 5, what="eu-west and us-east down")
            assert re.search(r"cluster us-east down: http " + re.escape(dead) + r": connection refused \(first probe\)",
                             g.log_text()), g.log_text()
    finally:
        stop.set()
        for i in ingresses.values():
            i.stop()


@pytest.mark.parametrize("initial", ["up", "down"])
def test_initial_state_up_or_down(initial):
    """`initial_state: up|down` serves at once with that state (no first probe
    awaited) and then follows the probes through fall/rise: a healthy eu-west that
    starts down is answered after `rise` successes; an eu-west with nothing
    listening that starts up leaves after `fall` failures."""
    good = {name: HttpIngress(host).start() for name, host in HOSTS.items()}
    url = good["eu-west"].url() if initial == "down" else f"http://{HOSTS['eu-west']}:{closed_port(HOSTS['eu-west'])}/healthz"
    checks = {name: http_check(i.url()) for name, i in good.items()}
    # interval 1s: the first answer comes well before the earliest possible change
    checks["eu-west"] = http_check(url, interval="1s") + f"\n    initial_state: {initial}"
    bound = 2 * 1.0 + TIMEOUT + MARGIN
    g = Gslbd(config(checks), extra_files={"networks.yaml": NETWORKS})
    try:
        with g:
            first, then = (IAD, FRA) if initial == "down" else (FRA, IAD)
            assert first_a(g) == first
            took = timed(lambda: first_a(g) == then, timeout=bound + 5, what=f"eu-west to leave its initial {initial}")
            assert took <= bound, took
            log = g.log_text()
            if initial == "down":
                assert re.search(r"cluster eu-west up: \S+ \S+: ok \(2/2 successes\)", log), log
            else:
                assert re.search(r"cluster eu-west down: \S+ \S+: connection refused \(2/2 failures\)", log), log
    finally:
        for i in good.values():
            i.stop()
