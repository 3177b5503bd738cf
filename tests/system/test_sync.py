"""Several gslbd instances as one through etcd (issue 11): three instances on
loopback with `sync:` against a real three-member etcd (scripts/etcd-local), real
HTTP ingresses, answers checked with dig. Votes and the quorum (partition, outage,
a killed instance), drains through any instance and by hand, and etcd's faults
(a member lost, all lost under load, compaction, garbage). The convergence times
are measured and printed (pytest -s shows them)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from gslb import BINARY, ROOT, Gslbd, free_port, stop_process, wait_until
from ingress import (FRA, IAD, NETWORKS, SERVICE, HttpIngress, answer, config, metric_value, status_json, timed,
                     wait_log)
from dnswire import parse, query, udp_exchange
from test_etcd_local import etcdctl, free_base

pytestmark = pytest.mark.skipif(not (shutil.which("etcd") and shutil.which("etcdctl")),
                                reason="etcd and etcdctl not installed (Debian etcd-server, etcd-client)")

SCRIPT = os.path.join(ROOT, "scripts", "etcd-local")
INTERVAL, TIMEOUT, RISE, FALL = 0.5, 0.3, 2, 2
LEASE_TTL = 2.0
FAILOVER = FALL * INTERVAL + TIMEOUT   # the local detection bound: 1.3 s
CHECK = "{{ http: {{ url: \"{url}\", interval: 500ms, timeout: 300ms, rise: 2, fall: 2 }} }}"
MEASURED = {}


class Etcd:
    """scripts/etcd-local on free ports, with its data in `dir` (kept, so that a
    second run restarts the same cluster)."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.base = free_base()
        self.endpoints = [f"http://127.0.0.1:{self.base + 100 * i}" for i in range(3)]
        self.proc = None
        self.pids = []

    def start(self):
        self.proc = subprocess.Popen([SCRIPT, "--base-port", str(self.base), self.dir], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        for _ in range(2):
            line = self.proc.stdout.readline()
            if "member pids" in line:
                self.pids = [int(p) for p in line.split("member pids ")[1].split()]
        assert len(self.pids) == 3, "etcd-local did not name its members"
        wait_until(lambda: all(self.healthy(i) for i in range(3)), timeout=30, interval=0.2,
                   what="three healthy etcd members")
        return self

    def healthy(self, i):
        return etcdctl(self.endpoints[i], "endpoint", "health").returncode == 0

    def kill(self, i):
        os.kill(self.pids[i], signal.SIGKILL)
        wait_until(lambda: not self.healthy(i), timeout=10, what=f"etcd member {i} gone")

    def kill_all(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # killed before
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def ctl(self, *args):
        r = etcdctl(",".join(self.endpoints), *args)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def revision(self):
        return int(json.loads(self.ctl("get", "/", "--write-out=json"))["header"]["revision"])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    e = Etcd(tmp_path_factory.mktemp("etcd")).start()
    yield e
    e.stop()
    print("\nconvergence (s): " + ", ".join(f"{k} {v:.2f}" for k, v in MEASURED.items()))


def measured(what, seconds):
    MEASURED[what] = seconds
    print(f"{what}: {seconds:.2f} s")


class Forwarder:
    """A TCP stand-in on A's path to cluster X: forwards to X while running; stopped,
    A cannot reach X while the others still do (a partition between A and X)."""

    def __init__(self, host, target):
        self.host, self.port, self.target = host, free_port(host), target
        self.sock = None
        self.conns = []

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()
        return self

    def _accept(self, sock):
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=1)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # a watch stream is idle for long stretches
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def url(self):
        return f"http://{self.host}:{self.port}/healthz"

    def stop(self):
        """Closes the listener and every connection through it (kept-alive ones too)."""
        if self.sock:
            self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.conns = []


def sync_section(endpoints, prefix, instance, down_when, lease_ttl="2s"):
    return (f"sync:\n  etcd:\n    endpoints: [{', '.join(endpoints)}]\n    prefix: {prefix}\n"
            f"    instance: {instance}\n    lease_ttl: {lease_ttl}\n  down_when: {down_when}\n")


class Trio:
    """Instances a, b, c over clusters eu-west (X, answered while up: the test's
    queries come from Frankfurt) and us-east (IAD). A reaches X through a Forwarder."""

    def __init__(self, etcd, tmp_path, name, down_when="majority", a_endpoints=None):
        self.etcd, self.prefix, self.down_when = etcd, f"/gslbd-test/{name}/", down_when
        self.a_endpoints = a_endpoints
        self.x = HttpIngress("127.0.0.11").start()
        self.y = HttpIngress("127.0.0.12").start()
        self.path_a = Forwarder("127.0.0.13", (self.x.host, self.x.port)).start()
        self.instances = []
        for instance in "abc":
            directory = tmp_path / instance
            directory.mkdir()
            self.instances.append(Gslbd(self.config(instance), workdir=str(directory),
                                        extra_files={"networks.yaml": NETWORKS}))
        self.a, self.b, self.c = self.instances

    def config(self, instance):
        x_url = self.path_a.url() if instance == "a" else self.x.url()
        checks = {"eu-west": "[" + CHECK.format(url=x_url) + "]", "us-east": "[" + CHECK.format(url=self.y.url()) + "]"}
        endpoints = self.a_endpoints if instance == "a" and self.a_endpoints else self.etcd.endpoints
        return config(checks, clusters=("eu-west", "us-east")) + sync_section(endpoints, self.prefix, instance,
                                                                               self.down_when)

    def start(self):
        for g in self.instances:
            g.start()
        self.wait_synced()
        assert [answer(g)[0] for g in self.instances] == [[FRA]] * 3  # dig agrees with a_records()
        return self

    def wait_synced(self, instances=None, live=3):
        for g in instances or self.instances:
            wait_until(lambda: sync_of(g)["connected"] and sync_of(g)["live_instances"] == live, timeout=15,
                       what=f"{g.dir} connected to etcd with {live} live instances")

    def answers(self, instances=None):
        return [a_records(g) for g in instances or self.instances]

    def reload_all(self, down_when):
        self.down_when = down_when
        for instance, g in zip("abc", self.instances):
            assert "reloaded" in g.reload(self.config(instance))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        for g in self.instances:
            g.stop()
        self.x.stop()
        self.y.stop()
        self.path_a.stop()


def a_records(g):
    """The service's A addresses from `g`, asked in-process: dig's start-up costs
    seconds on a loaded machine, which would blur the convergence times measured."""
    r = parse(udp_exchange(g.port, query(SERVICE, "A"), timeout=1.0))
    assert r.rcode() == 0, r
    return sorted(rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1)


def sync_of(g):
    return status_json(g)["sync"]


def cluster_sync(g, name="eu-west"):
    return next(c for c in status_json(g)["clusters"] if c["name"] == name)["sync"]


def metrics(g):
    return g.http_get("/metrics")[1]


def holds(predicate, seconds):
    """`predicate` stays true for `seconds` (checked all along): a bounded check that
    something does not happen."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        assert predicate()


def test_partition_majority_keeps_the_cluster_and_any_drops_it(etcd, tmp_path):
    with Trio(etcd, tmp_path, "partition") as t:
        assert t.answers() == [[FRA]] * 3
        t.path_a.stop()
        wait_until(lambda: cluster_sync(t.a)["local"] == "down", timeout=FAILOVER + 2, what="A's own verdict down")
        # B and C outvote A: nobody drops X, A included, for longer than a failover.
        holds(lambda: t.answers() == [[FRA]] * 3, FAILOVER + 1)
        s = cluster_sync(t.a)
        assert s["agreed"] is True and s["local"] == "down", s
        votes = {v["instance"]: v["up"] for v in s["votes"]}
        assert votes == {"a": False, "b": True, "c": True}, s
        t.path_a.start()
        wait_until(lambda: cluster_sync(t.a)["local"] == "up", timeout=FAILOVER + 2, what="A's own verdict up again")

        t.reload_all("any")
        t.path_a.stop()
        took = timed(lambda: t.answers() == [[IAD]] * 3, timeout=FAILOVER + 1, what="all three drop X (any)")
        measured("partition (down_when any, all three drop X)", took)


def test_outage_moves_all_three_and_back(etcd, tmp_path):
    with Trio(etcd, tmp_path, "outage") as t:
        assert t.answers() == [[FRA]] * 3
        t.x.stop()
        took = timed(lambda: t.answers() == [[IAD]] * 3, timeout=FAILOVER + 1, what="all three move off X")
        measured("outage (all three move)", took)
        t.x = HttpIngress(t.x.host, t.x.port).start()
        took = timed(lambda: t.answers() == [[FRA]] * 3, timeout=RISE * INTERVAL + TIMEOUT + 2, what="X back on all three")
        measured("outage recovery (X back on all three)", took)


def test_drain_through_one_instance_applies_everywhere_and_survives_restarts(etcd, tmp_path):
    with Trio(etcd, tmp_path, "drain") as t:
        assert t.a.http_post("/clusters/eu-west/drain")[0] == 200
        took = timed(lambda: t.answers([t.b, t.c]) == [[IAD]] * 2, timeout=1, what="B and C drop the drained X")
        measured("drain on A -> B and C", took)
        assert a_records(t.a) == [IAD]
        assert json.loads(etcd.ctl("get", "--print-value-only", t.prefix + "drain/eu-west")) == {"drained": True}
        assert t.b.http_post("/clusters/eu-west/undrain")[0] == 200
        took = timed(lambda: t.answers() == [[FRA]] * 3, timeout=1, what="X back after the undrain")
        measured("undrain on B -> all", took)

        # By hand, in the README's format.
        etcd.ctl("put", t.prefix + "drain/eu-west", '{"drained":true}')
        wait_until(lambda: t.answers() == [[IAD]] * 3, timeout=1, what="a drain put with etcdctl to apply")
        for g in t.instances:
            g.stop()
        for g in t.instances:
            g.start()
            # From the first answer on: the state file holds the drain until etcd is read.
            assert a_records(g) == [IAD]
        t.wait_synced()
        assert t.answers() == [[IAD]] * 3
        etcd.ctl("del", t.prefix + "drain/eu-west")
        wait_until(lambda: t.answers() == [[FRA]] * 3, timeout=1, what="an etcdctl del to undrain")


def test_killed_instance_votes_expire_with_its_lease(etcd, tmp_path):
    with Trio(etcd, tmp_path, "kill") as t:
        assert {v["instance"] for v in cluster_sync(t.a)["votes"]} == {"a", "b", "c"}
        t.b.proc.kill()
        t.b.proc.wait()
        t0 = time.monotonic()

        def gone():
            return all(sync_of(g)["live_instances"] == 2 and
                       {v["instance"] for v in cluster_sync(g)["votes"]} == {"a", "c"} for g in (t.a, t.c))
        wait_until(gone, timeout=LEASE_TTL + 2, interval=0.05, what="B's votes gone")
        measured("kill -9 of B -> its votes gone (lease_ttl 2 s)", time.monotonic() - t0)
        assert t.answers([t.a, t.c]) == [[FRA]] * 2
        assert all(cluster_sync(g)["agreed"] is True for g in (t.a, t.c))


def test_garbage_under_the_prefix_is_logged_and_ignored(etcd, tmp_path):
    with Trio(etcd, tmp_path, "garbage") as t:
        etcd.ctl("put", t.prefix + "votes/eu-west/mallory", "not json")
        etcd.ctl("put", t.prefix + "drain/us-east", "{oops")
        etcd.ctl("put", t.prefix + "elsewhere", "x")
        for g in t.instances:
            wait_until(lambda: metric_value(metrics(g), "gslb_sync_errors_total", kind="garbage") >= 3,
                       what="three garbage values counted")
            for key in ("votes/eu-west/mallory", "drain/us-east", "elsewhere"):
                assert re.search(r"warning: sync: ignoring " + re.escape(t.prefix + key), g.log_text()), key
        etcd.ctl("put", t.prefix + "votes/eu-west/mallory", "still not json")
        wait_until(lambda: metric_value(metrics(t.a), "gslb_sync_errors_total", kind="garbage") >= 4,
                   what="the second bad value counted")
        assert t.a.log_text().count("ignoring " + t.prefix + "votes/eu-west/mallory") == 1, "logged once per key"
        assert t.answers() == [[FRA]] * 3
        assert {v["instance"] for v in cluster_sync(t.a)["votes"]} == {"a", "b", "c"}
        assert all(g.proc.poll() is None for g in t.instances)


def test_sync_metrics_pass_promtool_and_explain_shows_the_votes(etcd, tmp_path):
    with Trio(etcd, tmp_path, "metrics") as t:
        text = metrics(t.a)
        if shutil.which("promtool"):
            out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
            assert out.returncode == 0 and out.stdout.strip() == "" and out.stderr.strip() == "", out
        assert metric_value(text, "gslb_sync_connected") == 1
        assert metric_value(text, "gslb_sync_live_instances") == 3
        assert metric_value(text, "gslb_sync_votes", cluster="eu-west", verdict="up") == 3
        assert metric_value(text, "gslb_sync_votes", cluster="eu-west", verdict="down") == 0
        assert metric_value(text, "gslb_sync_writes_total") >= 3  # its instance key and two votes
        s = status_json(t.a)["sync"]
        assert s["instance"] == "a" and s["revision"] > 0, s
        code, body = t.b.http_get(f"/explain?name={SERVICE}&client=127.0.0.1")
        health = {c["cluster"]: c for c in json.loads(body)["health"]}
        x = health["eu-west"]["sync"]
        assert x["local"] == "up" and x["agreed"] is True, x
        assert sorted(v["instance"] for v in x["votes"]) == ["a", "b", "c"], x
        assert all(v["age_s"] >= 0 and v["reason"] for v in x["votes"]), x


def test_watch_resumes_and_survives_compaction_past_its_revision(etcd, tmp_path):
    # A reaches etcd only through a stand-in the test stops: A alone loses etcd.
    member = etcd.endpoints[1].rsplit(":", 1)
    path = Forwarder("127.0.0.14", ("127.0.0.1", int(member[1]))).start()
    try:
        with Trio(etcd, tmp_path, "compact", a_endpoints=[f"http://{path.host}:{path.port}"]) as t:
            path.stop()
            wait_until(lambda: not sync_of(t.a)["connected"], timeout=LEASE_TTL + 1, what="A to lose etcd")
            assert a_records(t.a) == [FRA]
            # While A is away: a drain, and a compaction past the revision A's watch saw.
            etcd.ctl("put", t.prefix + "drain/eu-west", '{"drained":true}')
            wait_until(lambda: t.answers([t.b, t.c]) == [[IAD]] * 2, timeout=1, what="B and C drained")
            # Compacting at the latest revision keeps that one: written twice, so that
            # the drain's first revision (where A's watch would resume) goes too.
            etcd.ctl("put", t.prefix + "drain/eu-west", '{"drained":true}')
            etcd.ctl("compact", str(etcd.revision()))
            assert a_records(t.a) == [FRA], "A, cut off, cannot know of the drain"
            path.start()
            took = timed(lambda: a_records(t.a) == [IAD], timeout=LEASE_TTL + 2, what="A to re-list and apply the drain")
            measured("etcd back for A -> compacted watch re-listed, drain applied", took)
            wait_log(t.a, r"compacted past revision")
            t.wait_synced()
            assert metric_value(metrics(t.a), "gslb_sync_errors_total", kind="compacted") >= 1
    finally:
        path.stop()


def test_start_with_etcd_down_answers_on_local_verdicts(tmp_path):
    x = HttpIngress("127.0.0.11").start()
    y = HttpIngress("127.0.0.12").start()
    down = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    checks = {"eu-west": "[" + CHECK.format(url=x.url()) + "]", "us-east": "[" + CHECK.format(url=y.url()) + "]"}
    g = Gslbd(config(checks, clusters=("eu-west", "us-east")) + sync_section(down, "/gslbd-test/down/", "a", "majority"),
              workdir=str(tmp_path), extra_files={"networks.yaml": NETWORKS})
    try:
        g.start()
        assert answer(g)[0] == [FRA]
        wait_until(lambda: metric_value(metrics(g), "gslb_sync_errors_total", kind="connect") >= 3,
                   what="a few connection attempts")
        assert g.log_text().count("sync: etcd not reachable") == 1, g.log_text()
        assert metric_value(metrics(g), "gslb_sync_connected") == 0
        code, body = g.http_post("/clusters/eu-west/drain")
        assert code == 503 and "etcd" in json.loads(body)["error"], (code, body)
        assert a_records(g) == [FRA]
        x.stop()
        wait_until(lambda: a_records(g) == [IAD], timeout=FAILOVER + 1, what="the local verdict to apply")
        # Only down_when may change on a reload; the rest is refused by name.
        base = config(checks, clusters=("eu-west", "us-east"))
        out = g.reload(base + sync_section(down, "/gslbd-test/other/", "a", "majority"))
        assert "sync.etcd.prefix cannot change without a restart" in out, out
        out = g.reload(base)
        assert "sync cannot change without a restart" in out, out
        assert "reloaded" in g.reload(base + sync_section(down, "/gslbd-test/down/", "a", "any"))
        wait_log(g, r"sync: down_when is now any")
    finally:
        g.stop()
        x.stop()
        y.stop()


def etcd_kv(etcd, key):
    """The key's value (parsed) and lease id in etcd; (None, None) when absent."""
    kvs = json.loads(etcd.ctl("get", key, "--write-out=json")).get("kvs", [])
    if not kvs:
        return None, None
    import base64
    return json.loads(base64.b64decode(kvs[0]["value"])), kvs[0].get("lease", 0)


def ctl(g, *args):
    return subprocess.run([BINARY, "ctl", "-c", g.config_path, *args], capture_output=True, text=True, timeout=60)


def votes_of(g, name="eu-west"):
    return {v["instance"]: v["up"] for v in cluster_sync(g, name)["votes"]}


def test_replaced_instance_keeps_its_keys_and_votes_in_etcd(etcd, tmp_path):
    """gslbd ctl replace of B: the old B's stop (its lease revoked) and any late write
    of its own must not take the new B's keys from etcd: they hold the same names."""
    with Trio(etcd, tmp_path, "replace") as t:
        old = t.b.proc.pid
        r = ctl(t.b, "replace")
        assert r.returncode == 0, r
        t.b.proc.wait(timeout=30)
        new = int(ctl(t.b, "pid").stdout)
        assert new != old
        try:
            def present():
                instance, lease = etcd_kv(etcd, t.prefix + "instances/b")
                vote, vote_lease = etcd_kv(etcd, t.prefix + "votes/eu-west/b")
                return instance is not None and vote is not None and vote["up"] is True and vote_lease == lease
            wait_until(present, timeout=LEASE_TTL, what="B's keys in etcd under one lease")
            assert etcd_kv(etcd, t.prefix + "instances/b")[0].get("pid") == new, "held by the new process"
            # Longer than a lease: a key left on the old process's lease would be gone by now.
            holds(lambda: present() and all(votes_of(g) == {"a": True, "b": True, "c": True} and
                                            sync_of(g)["live_instances"] == 3 for g in (t.a, t.c)), LEASE_TTL + 1)

            # The replaced process's last vote reaching etcd after the new one's, then
            # its lease revoked at its exit: the holder of the name puts its vote back.
            stale = etcd.ctl("lease", "grant", "30").split()[1]
            etcd.ctl("put", "--lease=" + stale, t.prefix + "votes/eu-west/b",
                     '{"up":false,"reason":"old process","since":1,"latency_ms":0}')
            etcd.ctl("lease", "revoke", stale)
            took = timed(present, timeout=1, what="the new B's vote put back")
            measured("stale predecessor write on B's vote -> put back", took)
            wait_until(lambda: all(votes_of(g) == {"a": True, "b": True, "c": True} for g in (t.a, t.c)), timeout=1,
                       what="A and C counting B's up vote again")
            # Its keys deleted by hand: put back (the instance key claimed again).
            for key in ("votes/eu-west/b", "instances/b"):
                etcd.ctl("del", t.prefix + key)
                wait_until(present, timeout=1, what=f"B's {key} back")
            assert "held in etcd by another gslbd" not in t.b.log_text()
        finally:
            os.kill(new, signal.SIGTERM)
            wait_until(lambda: ctl(t.b, "pid").returncode != 0, timeout=15, what="the new B to stop")


def test_second_gslbd_with_the_same_instance_name_is_refused(etcd, tmp_path):
    """D is configured as instance b while B runs: D does not join (it would vote as
    B), says so (log, /status, metrics), answers on its own verdicts, and joins once
    B is gone."""
    with Trio(etcd, tmp_path, "duplicate") as t:
        directory = tmp_path / "d"
        directory.mkdir()
        d = Gslbd(t.config("b"), workdir=str(directory), extra_files={"networks.yaml": NETWORKS})
        try:
            d.start()
            wait_log(d, r"error: sync: instance name b is held in etcd by another gslbd \(host \S+, pid %d\)"
                     % t.b.proc.pid)
            s = sync_of(d)
            assert s["connected"] is False and f"pid {t.b.proc.pid}" in s["conflict"], s
            wait_until(lambda: metric_value(metrics(d), "gslb_sync_errors_total", kind="duplicate") >= 2,
                       what="the refused attempts counted")
            assert metric_value(metrics(d), "gslb_sync_connected") == 0
            assert a_records(d) == [FRA]
            code, body = d.http_post("/clusters/eu-west/drain")
            assert code == 503 and "another gslbd holds its instance name" in json.loads(body)["error"], (code, body)
            # B's keys are B's, and the others see three instances, not four.
            assert etcd_kv(etcd, t.prefix + "instances/b")[0]["pid"] == t.b.proc.pid
            assert all(sync_of(g)["live_instances"] == 3 and votes_of(g) == {"a": True, "b": True, "c": True}
                       for g in (t.a, t.c))
            assert d.log_text().count("is held in etcd by another gslbd") == 1, "said once"

            t.b.stop()  # its lease revoked: the name is free
            wait_until(lambda: sync_of(d)["connected"] and sync_of(d)["conflict"] is None, timeout=LEASE_TTL + 2,
                       what="D to join as b once B is gone")
            assert etcd_kv(etcd, t.prefix + "instances/b")[0]["pid"] == d.proc.pid
            wait_until(lambda: all(sync_of(g)["live_instances"] == 3 and "b" in votes_of(g) for g in (t.a, t.c)),
                       what="A and C counting D as b")
        finally:
            d.stop()


def test_a_drain_waiting_on_a_stalled_etcd_blocks_no_other_request(etcd, tmp_path):
    """etcd's members stopped (SIGSTOP): a drain waits for etcd's answer, up to its
    bound, while /metrics and /status go on answering at once."""
    x = HttpIngress("127.0.0.11").start()
    y = HttpIngress("127.0.0.12").start()
    checks = {"eu-west": "[" + CHECK.format(url=x.url()) + "]", "us-east": "[" + CHECK.format(url=y.url()) + "]"}
    # lease_ttl 6s: etcd calls time out after 2 s, the longest a drain waits.
    g = Gslbd(config(checks, clusters=("eu-west", "us-east")) +
              sync_section(etcd.endpoints, "/gslbd-test/stalled/", "a", "majority", lease_ttl="6s"),
              workdir=str(tmp_path), extra_files={"networks.yaml": NETWORKS})
    stopped = []
    try:
        g.start()
        wait_until(lambda: sync_of(g)["connected"], timeout=15, what="connected to etcd")
        for pid in etcd.pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        outcome = {}

        def drain():
            t0 = time.monotonic()
            outcome["code"], outcome["body"] = g.http_post("/clusters/eu-west/drain")
            outcome["seconds"] = time.monotonic() - t0
        waiter = threading.Thread(target=drain)
        waiter.start()
        answered = []
        while waiter.is_alive() and len(answered) < 1000:
            t0 = time.monotonic()
            code, body = g.http_get("/metrics", timeout=5)
            assert code == 200 and "gslb_sync_connected" in body
            answered.append(time.monotonic() - t0)
            time.sleep(0.05)  # pacing the scrapes, not synchronisation
        waiter.join(timeout=10)
        assert outcome["code"] == 503 and "etcd did not store it" in json.loads(outcome["body"])["error"], outcome
        assert outcome["seconds"] < 2.5, outcome
        assert len(answered) >= 5 and max(answered) < 0.5, answered
        measured("drain on a stalled etcd -> 503", outcome["seconds"])
        print(f"/metrics while the drain waited: {len(answered)} answers, slowest {max(answered) * 1000:.0f} ms")
        assert a_records(g) == [FRA], "nothing drained"
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        g.stop()
        x.stop()
        y.stop()
    wait_until(lambda: all(etcd.healthy(i) for i in range(3)), timeout=15, what="etcd healthy after SIGCONT")


class Dnsperf:
    """dnsperf at `rate` queries/s to one instance for `seconds`."""

    def __init__(self, g, tmp_path, rate, seconds):
        qfile = tmp_path / f"queries-{g.port}"  # one each: a rewrite would race another's read
        qfile.write_text(f"{SERVICE} A\n")
        self.proc = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(g.port), "-d", str(qfile), "-l",
                                      str(seconds), "-Q", str(rate), "-c", "2", "-t", "2"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self, timeout):
        out, _ = self.proc.communicate(timeout=timeout)
        assert "Queries completed:" in out, out
        completed = int(out.split("Queries completed:")[1].split()[0])
        noerror = int(out.split("NOERROR")[1].split()[0]) if "NOERROR" in out else 0
        return out, completed, noerror


# Last in the file: it kills the module's etcd (and brings it back).
def test_etcd_member_loss_total_loss_under_load_and_return(etcd, tmp_path):
    if not shutil.which("dnsperf"):
        pytest.skip("dnsperf not installed")
    with Trio(etcd, tmp_path, "faults") as t:
        etcd.kill(0)
        # Nothing changes: the instances on member 0 move to another; answers stay.
        holds(lambda: t.answers() == [[FRA]] * 3, 1.0)
        t.wait_synced()

        seconds = 12
        perf = [Dnsperf(g, tmp_path, 2000, seconds) for g in t.instances]
        try:
            etcd.kill_all()
            t0 = time.monotonic()
            for g in t.instances:
                wait_until(lambda: metric_value(metrics(g), "gslb_sync_connected") == 0, timeout=LEASE_TTL + 1,
                           what="gslb_sync_connected 0")
            measured("etcd lost -> every instance local-only", time.monotonic() - t0)
            for g in t.instances:
                wait_log(g, r"warning: sync: lost etcd .*answering on local verdicts")
                assert sync_of(g)["connected"] is False
            assert t.answers() == [[FRA]] * 3
            code, body = t.b.http_post("/clusters/eu-west/drain")
            assert code == 503, (code, body)
            # Local-only: a cluster whose own verdict changes follows it.
            t.x.stop()
            wait_until(lambda: t.answers() == [[IAD]] * 3, timeout=FAILOVER + 1, what="local verdicts while etcd is gone")
            t.x = HttpIngress(t.x.host, t.x.port).start()
            wait_until(lambda: t.answers() == [[FRA]] * 3, timeout=RISE * INTERVAL + TIMEOUT + 2, what="X back locally")

            t0 = time.monotonic()
            etcd.start()
            healthy = time.monotonic() - t0
            took = timed(lambda: all(sync_of(g)["connected"] and sync_of(g)["live_instances"] == 3
                                     for g in t.instances), timeout=LEASE_TTL + 1, what="sync back on all three")
            measured("etcd restarted -> its members healthy", healthy)
            measured("etcd healthy -> sync resumed on all three", took)
            results = [p.result(timeout=seconds + 30) for p in perf]
        finally:
            for p in perf:
                stop_process(p.proc)
        for out, completed, noerror in results:
            assert "Queries lost:         0 " in out, out
            assert completed == noerror and completed > 1000, out
        def events(g):
            return re.findall(r"sync: (lost|connected to) etcd", g.log_text())

        for g in t.instances:
            # A keep-alive that a just-restarted etcd answers late under this load may
            # end the session once more; the instance must come back all the same.
            wait_until(lambda: events(g)[-1] == "connected to", timeout=LEASE_TTL + 2, what="sync connected at the end")
            # Said once per loss: between two "lost" lines the session came back.
            assert all(a != b for a, b in zip(events(g), events(g)[1:])), events(g)
        assert t.answers() == [[FRA]] * 3
