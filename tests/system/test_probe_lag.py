"""A probe engine that falls behind says so and changes no check's state (issue 11
item 6): gslbd is stopped (SIGSTOP) for 3 s and continued, which is what a paused
VM or a starved CPU does to it: every timer of the probe thread is late at once,
and a probe in flight is read seconds after its answer came, past its timeout. The
log warns that the engine is behind with how late, gslb_probe_lag_seconds shows
it, a healthy HTTP (kept-alive, stopped while its probe waited for the answer) and
TCP check stay up without a failure counted, a
cluster that was down stays down and is still probed, and once on time again the
log says it caught up and the gauge falls back."""
import os
import re
import signal
import time

from gslb import Gslbd, wait_until
from ingress import NETWORKS, HttpIngress, TcpListener, closed_port, config, metric_value

HOSTS = {"eu-west": "127.0.0.11", "us-east": "127.0.0.12", "ap-northeast": "127.0.0.13"}
STALL = 3.0
BEHIND = r"warning: healthcheck: the probe engine is behind: (\d+) probe\(s\) started late, worst by (\d+) ms"
CAUGHT_UP = r"info: healthcheck: the probe engine caught up"


def scrape(g):
    code, text = g.http_get("/metrics")
    assert code == 200
    return text


def test_lag_is_reported_and_changes_no_state():
    # Answers after 1 s, inside its probe's timeout (1.5 s).
    http = HttpIngress(HOSTS["eu-west"], keep_alive=True, delay=1.0).start()
    tcp = TcpListener(HOSTS["us-east"]).start()
    closed = closed_port(HOSTS["ap-northeast"])
    every = "interval: 200ms, timeout: 150ms, rise: 2, fall: 2"
    checks = {"eu-west": f'[{{ http: {{ url: "{http.url()}", interval: 2s, timeout: 1500ms, rise: 2, fall: 2 }} }}]',
              "us-east": f'[{{ tcp: {{ address: "{HOSTS["us-east"]}:{tcp.port}", {every} }} }}]',
              "ap-northeast": f'[{{ tcp: {{ address: "{HOSTS["ap-northeast"]}:{closed}", {every} }} }}]'}
    g = Gslbd(config(checks), extra_files={"networks.yaml": NETWORKS})
    try:
        g.start()
        wait_until(lambda: [metric_value(scrape(g), "gslb_cluster_up", cluster=c) for c in HOSTS] == [1, 1, 0],
                   timeout=15, what="eu-west and us-east up, ap-northeast down")
        before = scrape(g)
        warned = len(re.findall(BEHIND, g.log_text()))
        assert metric_value(before, "gslb_probe_lag_seconds") < 1

        # Stopped just after a request reached the slow ingress: that probe's answer
        # comes 1 s into the stall, its timeout passes at 1.5 s, and gslbd sees both
        # only when continued.
        started = http.requests
        wait_until(lambda: http.requests > started, interval=0.01, what="an HTTP probe to start")
        g.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(STALL)   # the stall itself, not a wait for anything
        finally:
            g.proc.send_signal(signal.SIGCONT)

        wait_until(lambda: len(re.findall(BEHIND, g.log_text())) > warned, what="the engine-behind warning")
        behind = list(re.finditer(BEHIND, g.log_text()))[warned]
        assert int(behind.group(2)) >= (STALL - 0.5) * 1000, behind.group(0)
        lag = wait_until(lambda: metric_value(scrape(g), "gslb_probe_lag_seconds") >= STALL - 0.5 and scrape(g),
                         what="gslb_probe_lag_seconds to show the stall")
        # probes go on: the closed port is refused again, more than once
        wait_until(lambda: metric_value(scrape(g), "gslb_checks_total", cluster="ap-northeast", result="failure")
                   >= metric_value(before, "gslb_checks_total", cluster="ap-northeast", result="failure") + 3,
                   what="ap-northeast probed again")
        after = scrape(g)
        # The stopped probe's timeout came up before its answer was read: excused.
        assert metric_value(after, "gslb_check_local_errors_total", reason="lag") >= \
            metric_value(before, "gslb_check_local_errors_total", reason="lag") + 1
        for text in (lag, after):
            assert [metric_value(text, "gslb_cluster_up", cluster=c) for c in HOSTS] == [1, 1, 0]
            assert metric_value(text, "gslb_cluster_state_changes_total") == \
                metric_value(before, "gslb_cluster_state_changes_total")
            for c in ("eu-west", "us-east"):
                assert metric_value(text, "gslb_check_up", cluster=c) == 1
                assert metric_value(text, "gslb_checks_total", cluster=c, result="failure") == 0, c
                assert metric_value(text, "gslb_checks_total", cluster=c, result="success") >= \
                    metric_value(before, "gslb_checks_total", cluster=c, result="success")

        # On time again: said once kQuiet (5 s) passed without a late probe, and the
        # gauge (the worst of the last 10 s) falls back.
        wait_until(lambda: re.search(CAUGHT_UP, g.log_text().split(behind.group(0), 1)[1]), timeout=15,
                   what="the caught-up line")
        wait_until(lambda: metric_value(scrape(g), "gslb_probe_lag_seconds") < 0.5, timeout=15,
                   what="gslb_probe_lag_seconds back near 0")
    finally:
        if g.proc and g.proc.poll() is None:
            os.kill(g.proc.pid, signal.SIGCONT)
        g.stop()
        http.stop()
        tcp.stop()
