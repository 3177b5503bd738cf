"""Drain and undrain through the local HTTP listener (curl, as operators do): a
drained cluster leaves the answers while its probes keep running, comes back on
undrain, stays drained across a restart (state file); /status shows every
cluster and check; a bearer token guards the drain API; unknown clusters 404."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from gslb import Gslbd, wait_until
from ingress import (FRA, IAD, NETWORKS, TYO, HttpIngress, TcpListener, answer, cluster_status, config, status_json)

HOSTS = {"eu-west": "127.0.0.11", "us-east": "127.0.0.12", "ap-northeast": "127.0.0.13"}


def curl(g, method, path, token=None, scheme="Bearer"):
    cmd = ["curl", "-sS", "--noproxy", "*", "-X", method, "-o", "-", "-w", "\n%{http_code}",
           f"http://127.0.0.1:{g.http_port}{path}"]
    if token is not None:
        cmd += ["-H", f"Authorization: {scheme} {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def first_a(g):
    addrs, _ = answer(g)
    return addrs[0] if addrs else None


class World:
    def __init__(self, tmp_path, server_extra=""):
        self.ingresses = {name: HttpIngress(host).start() for name, host in HOSTS.items()}
        self.tcp = TcpListener(HOSTS["eu-west"]).start()
        checks = {name: f'[{{ http: {{ url: "{i.url()}", interval: 500ms, timeout: 300ms, rise: 2, fall: 2 }} }}]'
                  for name, i in self.ingresses.items()}
        # eu-west has two checks: HTTP and TCP
        checks["eu-west"] = (checks["eu-west"][:-1] +
                             f', {{ tcp: {{ address: "{HOSTS["eu-west"]}:{self.tcp.port}", interval: 500ms, timeout: 300ms }} }}]')
        self.config = config(checks, server_extra=server_extra)
        # not tmp_path: Gslbd.reload() counts "reload" in the log, and a test named
        # *reload* would put that word in every logged path
        self.dir = tempfile.mkdtemp(prefix="gslbd-drain-")

    def gslbd(self):
        return Gslbd(self.config, workdir=self.dir, extra_files={"networks.yaml": NETWORKS})

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        for i in self.ingresses.values():
            i.stop()
        self.tcp.stop()


def test_drain_undrain_and_restart(tmp_path):
    w = World(tmp_path, server_extra='  state_file: "drain.state"')
    g = w.gslbd()
    try:
        g.start()
        assert first_a(g) == FRA
        code, body = curl(g, "POST", "/clusters/eu-west/drain")
        assert code == 200 and json.loads(body) == {"cluster": "eu-west", "drained": True}, body
        wait_until(lambda: first_a(g) == IAD, timeout=3, what="eu-west to leave the answers")
        st = cluster_status(g, "eu-west")
        assert st["drained"] is True and st["up"] is False and st["health"] == "up", st
        # the log line names who asked: the API client's address, and that it had no token
        assert re.search(r"cluster eu-west drained, now down \(health up\); requested by HTTP client "
                         r"127\.0\.0\.1:\d+ \(no token\)$", g.log_text(), re.M), g.log_text()
        # probes keep running while drained
        before = w.ingresses["eu-west"].requests
        wait_until(lambda: w.ingresses["eu-west"].requests >= before + 2, timeout=5, what="probes of the drained cluster")
        # draining again is harmless
        assert curl(g, "POST", "/clusters/eu-west/drain")[0] == 200
        assert os.path.exists(os.path.join(w.dir, "drain.state"))
        # the drain is counted as such, not as the cluster's health going down
        _, metrics = g.http_get("/metrics")
        assert 'gslb_cluster_state_changes_total{cluster="eu-west",state="drained"} 1' in metrics, metrics
        assert 'gslb_cluster_state_changes_total{cluster="eu-west",state="down"} 0' in metrics, metrics

        # a restart keeps the drain: the very first answer is us-east
        g.stop()
        g = w.gslbd()
        g.start()
        assert first_a(g) == IAD
        assert "cluster eu-west drained (state file)" in g.log_text(), g.log_text()
        assert cluster_status(g, "eu-west")["drained"] is True

        code, body = curl(g, "POST", "/clusters/eu-west/undrain")
        assert code == 200 and json.loads(body) == {"cluster": "eu-west", "drained": False}, body
        wait_until(lambda: first_a(g) == FRA, timeout=3, what="eu-west to return")
        assert cluster_status(g, "eu-west")["drained"] is False
        # and the undrain is kept too
        g.stop()
        g = w.gslbd()
        g.start()
        assert first_a(g) == FRA
        assert cluster_status(g, "eu-west")["drained"] is False
    finally:
        g.stop()
        w.close()


def test_status_shows_every_cluster_and_check(tmp_path):
    w = World(tmp_path)
    w.ingresses["ap-northeast"].status = 503
    g = w.gslbd()
    try:
        g.start()
        doc = status_json(g)
        clusters = {c["name"]: c for c in doc["clusters"]}
        assert set(clusters) == set(HOSTS), doc
        eu = clusters["eu-west"]
        assert eu["up"] is True and eu["drained"] is False and eu["health"] == "up", eu
        assert [c["check"] for c in eu["checks"]] == [f"http {w.ingresses['eu-west'].url()}",
                                                     f"tcp {HOSTS['eu-west']}:{w.tcp.port}"], eu
        for c in clusters.values():
            for k in c["checks"]:
                assert set(k) >= {"check", "up", "state", "last_result", "latency_ms", "consecutive"}, k
                assert isinstance(k["latency_ms"], (int, float)) and 0 <= k["latency_ms"] < 300, k
        assert all(k["last_result"] == "ok" and k["up"] for k in eu["checks"]), eu
        ap = clusters["ap-northeast"]
        assert ap["up"] is False and ap["health"] == "down", ap
        assert ap["checks"][0]["last_result"] == "HTTP 503" and ap["checks"][0]["state"] == "down", ap
    finally:
        g.stop()
        w.close()


def test_token_guards_drain(tmp_path):
    w = World(tmp_path, server_extra="  http_token: s3cret")
    g = w.gslbd()
    try:
        g.start()
        for token in (None, "wrong", "s3cret2", ""):
            code, _ = curl(g, "POST", "/clusters/eu-west/drain", token=token)
            assert code == 401, token
        code, _ = curl(g, "POST", "/clusters/eu-west/undrain")
        assert code == 401
        # nothing changed
        assert cluster_status(g, "eu-west")["drained"] is False
        assert first_a(g) == FRA
        assert "drained" not in g.log_text()

        code, body = curl(g, "POST", "/clusters/eu-west/drain", token="s3cret")
        assert code == 200, body
        wait_until(lambda: first_a(g) == IAD, timeout=3, what="eu-west to leave the answers")
        # that a token came is logged, never the token
        assert re.search(r"cluster eu-west drained, .*; requested by HTTP client 127\.0\.0\.1:\d+ "
                         r"\(token presented\)$", g.log_text(), re.M), g.log_text()
        assert "s3cret" not in g.log_text()
        code, body = curl(g, "POST", "/clusters/no-such/drain", token="s3cret")
        assert code == 404 and "no-such" in body, body
        # reading stays open
        assert curl(g, "GET", "/status")[0] == 200
        # RFC 9110: the scheme name is case-insensitive.
        code, _ = curl(g, "POST", "/clusters/eu-west/undrain", token="s3cret", scheme="bearer")
        assert code == 200
        wait_until(lambda: first_a(g) == FRA, timeout=3, what="eu-west to return")
    finally:
        g.stop()
        w.close()


def test_unknown_cluster_and_method(tmp_path):
    w = World(tmp_path)
    g = w.gslbd()
    try:
        g.start()
        code, body = curl(g, "POST", "/clusters/no-such/drain")
        assert code == 404 and "no-such" in body, body
        code, _ = curl(g, "POST", "/clusters/eu-west/explode")
        assert code == 404
        code, _ = curl(g, "GET", "/clusters/eu-west/drain")
        assert code == 405
        assert cluster_status(g, "eu-west")["drained"] is False
        assert first_a(g) == FRA
    finally:
        g.stop()
        w.close()


def test_drain_survives_reload(tmp_path):
    w = World(tmp_path)
    g = w.gslbd()
    try:
        g.start()
        assert curl(g, "POST", "/clusters/eu-west/drain")[0] == 200
        wait_until(lambda: first_a(g) == IAD, timeout=3, what="eu-west to leave the answers")
        assert "reloaded" in g.reload()
        assert first_a(g) == IAD and cluster_status(g, "eu-west")["drained"] is True
        # a cluster removed by a reload and added back keeps its drain too
        assert "reloaded" in g.reload(w.config.replace("clusters: [eu-west, us-east, ap-northeast]",
                                                       "clusters: [us-east, ap-northeast]")
                                      .replace("  eu-west:\n", "  unused-eu-west:\n"))
        assert "reloaded" in g.reload(w.config)
        assert first_a(g) == IAD and cluster_status(g, "eu-west")["drained"] is True
        assert curl(g, "POST", "/clusters/eu-west/undrain")[0] == 200
        wait_until(lambda: first_a(g) == FRA, timeout=3, what="eu-west to return")
    finally:
        g.stop()
        w.close()


def test_drain_of_a_name_with_a_space_survives_restart(tmp_path):
    """Cluster names are YAML keys and may hold spaces; a drained "eu west" (drained
    as /clusters/eu%20west/drain) must not make the state file unreadable, which
    would lose every drain at the next start."""
    w = World(tmp_path, server_extra='  state_file: "drain.state"')
    w.config = w.config.replace("eu-west", '"eu west"')
    g = w.gslbd()
    try:
        g.start()
        assert first_a(g) == FRA
        assert curl(g, "POST", "/clusters/eu%20west/drain")[0] == 200
        assert curl(g, "POST", "/clusters/us-east/drain")[0] == 200
        wait_until(lambda: first_a(g) == TYO, timeout=3, what="both drained clusters to leave the answers")
        g.stop()
        g = w.gslbd()
        g.start()
        assert first_a(g) == TYO
        assert "ignoring drain state file" not in g.log_text(), g.log_text()
        assert cluster_status(g, "eu west")["drained"] is True
        assert cluster_status(g, "us-east")["drained"] is True
    finally:
        g.stop()
        w.close()
