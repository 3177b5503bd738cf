"""`gslbd ctl` over the control socket, a second instance refused, systemd's notify
protocol (read from a stand-in NOTIFY_SOCKET), and `gslbd --replace` / `ctl
replace` under UDP (dnsperf) and pipelined TCP load: no query lost, no SERVFAIL,
never a drained or down cluster, drains and health kept across every replacement."""
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from gslb import BINARY, Gslbd, free_port, stop_process, wait_until
from ingress import FRA, IAD, NETWORKS, SERVICE, TYO, HttpIngress, answer, closed_port, config
import dnswire

CTL_OK, CTL_FAILED, CTL_USAGE, CTL_NO_DAEMON = 0, 1, 2, 3


def ctl(g, *args, timeout=120):
    return subprocess.run([BINARY, "ctl", "-c", g.config_path, *args], capture_output=True, text=True, timeout=timeout)


class World:
    """eu-west is drained, us-east's check fails (down), ap-northeast is up: every
    answer for a client near FRA must be TYO."""

    def __init__(self):
        self.tyo = HttpIngress("127.0.0.13").start()
        checks = {"us-east": f'[{{ tcp: {{ address: "127.0.0.12:{closed_port("127.0.0.12")}", interval: 300ms, timeout: 200ms, rise: 2, fall: 1 }} }}]',
                  "ap-northeast": f'[{{ http: {{ url: "{self.tyo.url()}", interval: 300ms, timeout: 200ms }} }}]'}
        self.config = config(checks, server_extra='  state_file: "drain.state"')
        self.g = Gslbd(self.config, extra_files={"networks.yaml": NETWORKS})

    def close(self):
        self.g.stop()
        self.tyo.stop()
        shutil.rmtree(self.g.dir, ignore_errors=True)


@pytest.fixture
def world():
    w = World()
    w.g.start()
    yield w
    # A replacement is not w.g.proc: stop whoever holds the control socket now.
    for pid in serving_pids(w.g):
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    w.close()


def serving_pids(g):
    r = ctl(g, "pid")
    return [int(r.stdout)] if r.returncode == CTL_OK else []


def test_ctl_every_command_and_its_errors(world):
    g = world.g
    r = ctl(g, "status")
    assert r.returncode == CTL_OK, r
    clusters = {c["name"]: c for c in json.loads(r.stdout)["clusters"]}
    assert set(clusters) == {"eu-west", "us-east", "ap-northeast"}
    r = ctl(g, "drain", "eu-west")
    assert r.returncode == CTL_OK and "drained" in r.stdout, r
    assert {c["name"]: c for c in json.loads(ctl(g, "status").stdout)["clusters"]}["eu-west"]["drained"]
    assert "cluster eu-west drained, now down (health up); requested by gslbd ctl on the control socket (pid " in \
        g.log_text(), g.log_text()
    r = ctl(g, "drain", "no-such")
    assert r.returncode == CTL_FAILED and "no cluster named no-such" in r.stderr, r
    r = ctl(g, "undrain", "eu-west")
    assert r.returncode == CTL_OK, r
    assert wait_until(lambda: answer(g)[0] == [FRA], what="eu-west back in answers")
    r = ctl(g, "explain", SERVICE, "127.0.0.1")
    assert r.returncode == CTL_OK and json.loads(r.stdout)["name"] == SERVICE, r
    r = ctl(g, "explain", "not-a-service.example.", "127.0.0.1")
    assert r.returncode == CTL_FAILED, r
    r = ctl(g, "reload")
    assert r.returncode == CTL_OK and r.stdout.startswith("reloaded: "), r
    good = open(g.config_path).read()
    with open(g.config_path, "w") as f:
        f.write(good.replace("services:", "services: [", 1))
    r = ctl(g, "reload")
    assert r.returncode == CTL_FAILED and "reload refused" in r.stderr and "gslbd.yaml:" in r.stderr, r
    assert answer(g)[0] == [FRA]  # the running configuration keeps serving
    with open(g.config_path, "w") as f:
        f.write(good)
    assert ctl(g, "status", "extra").returncode == CTL_USAGE
    assert ctl(g, "frobnicate").returncode == CTL_USAGE
    r = subprocess.run([BINARY, "ctl", "-s", os.path.join(g.dir, "nobody.sock"), "status"], capture_output=True, text=True)
    assert r.returncode == CTL_NO_DAEMON and "no gslbd" in r.stderr, r


def test_second_instance_is_refused(world):
    g = world.g
    r = subprocess.run([BINARY, "-c", g.config_path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and f"(pid {g.proc.pid})" in r.stderr and "--replace" in r.stderr, r
    # Another config (its own control socket) on the same DNS port: the port says no.
    other = os.path.join(g.dir, "other.yaml")
    with open(other, "w") as f:
        f.write(open(g.config_path).read().replace(f"127.0.0.1:{g.http_port}", f"127.0.0.1:{free_port()}"))
    r = subprocess.run([BINARY, "-c", other], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and f"127.0.0.1:{g.port}" in r.stderr and "another process" in r.stderr, r
    assert answer(g)[0] == [FRA]


def test_replace_with_broken_config_is_refused_and_old_serves(world):
    g = world.g
    good = open(g.config_path).read()
    with open(g.config_path, "w") as f:
        f.write(good.replace("ttl: 30", "ttl: thirty", 1))
    r = subprocess.run([BINARY, "--replace", "-c", g.config_path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "replacement refused" in r.stderr and "ttl" in r.stderr, r
    r = ctl(g, "replace")
    assert r.returncode == CTL_FAILED and "keeps serving" in r.stderr, r
    assert g.proc.poll() is None and answer(g)[0] == [FRA]
    assert serving_pids(g) == [g.proc.pid]


def test_second_instance_after_a_replacement_names_the_replacement(world):
    g = world.g
    r = ctl(g, "replace")
    assert r.returncode == CTL_OK, r
    new_pid = int(r.stdout.split("pid ")[1])
    assert serving_pids(g) == [new_pid]
    r = subprocess.run([BINARY, "-c", g.config_path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and f"(pid {new_pid})" in r.stderr, r


class NotifySocket:
    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def wait_for(self, key, timeout=30):
        def seen():
            try:
                data, _ = self.sock.recvfrom(4096)
                self.messages.append((time.monotonic(), dict(l.split("=", 1) for l in data.decode().splitlines())))
            except socket.timeout:
                pass
            return next((m for m in self.messages if key in m[1]), None)
        found = wait_until(seen, timeout=timeout, interval=0, what=f"{key} on NOTIFY_SOCKET")
        self.messages.remove(found)
        return found[1]


def test_notify_protocol(world, monkeypatch):
    g = world.g
    g.stop()
    notify = NotifySocket(g.dir)
    monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
    g.start(expect_ready=False)
    ready = notify.wait_for("READY")
    # The first health round is done by now: the answer is right at once.
    assert answer(g)[0] == [TYO] or answer(g)[0] == [FRA]
    assert ready["STATUS"].startswith("serving ")
    assert ctl(g, "reload").returncode == CTL_OK
    reloading = notify.wait_for("RELOADING")
    assert int(reloading["MONOTONIC_USEC"]) > 0
    done = notify.wait_for("READY")
    assert done["STATUS"].startswith("reloaded: ")
    good = open(g.config_path).read()
    with open(g.config_path, "w") as f:
        f.write(good.replace("services:", "services: [", 1))
    assert ctl(g, "reload").returncode == CTL_FAILED
    notify.wait_for("RELOADING")
    assert notify.wait_for("READY")["STATUS"].startswith("reload refused")
    with open(g.config_path, "w") as f:
        f.write(good)
    r = ctl(g, "replace")
    assert r.returncode == CTL_OK, r
    new_pid = int(r.stdout.split("pid ")[1])
    assert int(notify.wait_for("MAINPID")["MAINPID"]) == new_pid
    assert notify.wait_for("READY")["STATUS"].startswith("serving ")
    assert g.proc.wait(timeout=10) == 0


def a_records(wire):
    msg = dnswire.parse(wire)
    return msg.rcode(), sorted(rr.address for rrset in msg.answer for rr in rrset)


class UdpChecker(threading.Thread):
    """One query every 5 ms, no retries: every answer checked, every latency kept."""

    def __init__(self, port, until):
        super().__init__(daemon=True)
        self.port, self.until = port, until
        self.sent, self.lost, self.wrong, self.samples = 0, 0, [], []

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2.0)
        qid = 0
        while time.monotonic() < self.until:
            qid = (qid + 1) & 0xFFFF
            start = time.monotonic()
            s.sendto(dnswire.query(SERVICE, "A", qid=qid), ("127.0.0.1", self.port))
            self.sent += 1
            try:
                while True:
                    data, _ = s.recvfrom(4096)
                    if struct.unpack("!H", data[:2])[0] == qid:
                        break
            except socket.timeout:
                self.lost += 1
                continue
            self.samples.append((start, time.monotonic() - start))
            rcode, addrs = a_records(data)
            if rcode != 0 or addrs != [TYO]:
                self.wrong.append((rcode, addrs))
            time.sleep(max(0.0, start + 0.005 - time.monotonic()))  # pacing the load, not synchronising


class TcpPipeliner(threading.Thread):
    """Long-lived connections with 20 queries in flight each. A query is lost only if
    it never gets its answer: RFC 7766 clients resend on a new connection what a
    closed one left unanswered (what the replaced process does on its way out)."""

    def __init__(self, port, until, window=20):
        super().__init__(daemon=True)
        self.port, self.until, self.window = port, until, window
        self.answered, self.wrong, self.reconnects, self.errors = 0, [], 0, []

    def run(self):
        qid = 0
        pending = {}
        s = None
        while time.monotonic() < self.until or pending:
            try:
                if s is None:
                    s = dnswire.tcp_connect(self.port, timeout=5)
                    for q, wire in pending.items():
                        s.sendall(dnswire.frame(wire))
                while len(pending) < self.window and time.monotonic() < self.until:
                    qid = (qid + 1) & 0xFFFF
                    pending[qid] = dnswire.query(SERVICE, "A", qid=qid)
                    s.sendall(dnswire.frame(pending[qid]))
                data = dnswire.tcp_read(s)
            except (OSError, AssertionError, EOFError) as e:
                if s is not None:
                    s.close()
                s = None
                self.reconnects += 1
                if self.reconnects > 100:
                    self.errors.append(repr(e))
                    return
                continue
            q = struct.unpack("!H", data[:2])[0]
            if pending.pop(q, None) is None:
                continue
            self.answered += 1
            rcode, addrs = a_records(data)
            if rcode != 0 or addrs != [TYO]:
                self.wrong.append((rcode, addrs))
        if s is not None:
            s.close()


def p99(values):
    values = sorted(values)
    return values[int(len(values) * 0.99)] if values else 0.0


def test_replace_five_times_under_load(world, tmp_path, monkeypatch):
    """The same binary twice, then an upgraded one: a new file at the path gslbd was
    started from, as a package upgrade leaves it; each replacement runs that path."""
    import gslb
    g = world.g
    g.stop()
    installed = str(tmp_path / "gslbd")
    shutil.copy2(BINARY, installed)
    monkeypatch.setattr(gslb, "BINARY", installed)
    g.start()
    assert ctl(g, "drain", "eu-west").returncode == CTL_OK
    wait_until(lambda: answer(g)[0] == [TYO], what="only ap-northeast answered")
    qfile = tmp_path / "queries"
    qfile.write_text(f"{SERVICE} A\n")
    duration = 20
    start = time.monotonic()
    until = start + duration
    perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(g.port), "-d", str(qfile), "-l", str(duration),
                             "-Q", "10000", "-c", "4", "-t", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    udp = UdpChecker(g.port, until)
    tcp = TcpPipeliner(g.port, until)
    udp.start()
    tcp.start()
    windows = []
    pids = [g.proc.pid]
    try:
        for i in range(5):
            if i == 2:
                shutil.copy2(BINARY, installed + ".new")
                os.replace(installed + ".new", installed)
            wait_until(lambda: time.monotonic() >= start + 2 + 3 * i, timeout=30, what="the next replacement's time")
            t0 = time.monotonic()
            r = ctl(g, "replace")
            assert r.returncode == CTL_OK, r
            windows.append((t0, time.monotonic() + 1.5))
            pids.append(int(r.stdout.split("pid ")[1]))
            assert os.stat(f"/proc/{pids[-1]}/exe").st_ino == os.stat(installed).st_ino
            status = {c["name"]: c for c in json.loads(ctl(g, "status").stdout)["clusters"]}
            assert status["eu-west"]["drained"] and status["us-east"]["health"] == "down", status
            assert status["ap-northeast"]["health"] == "up", status
        out, _ = perf.communicate(timeout=duration + 30)
    finally:
        stop_process(perf)
    udp.join(timeout=30)
    tcp.join(timeout=30)
    assert g.proc.wait(timeout=10) == 0
    assert "Queries lost:         0 " in out, out
    completed = int(out.split("Queries completed:")[1].split()[0])
    noerror = int(out.split("NOERROR")[1].split()[0])
    assert completed == noerror and completed > 100000, out
    assert udp.lost == 0 and not udp.wrong and udp.sent > 1000, (udp.lost, udp.wrong[:5])
    assert not tcp.errors and not tcp.wrong and tcp.answered > 1000, (tcp.errors, tcp.wrong[:5])
    during = [lat for t, lat in udp.samples if any(a <= t <= b for a, b in windows)]
    outside = [lat for t, lat in udp.samples if not any(a <= t <= b for a, b in windows)]
    report = (f"replaced 5 times ({' -> '.join(map(str, pids))}); dnsperf: {completed} completed, 0 lost; "
              f"UDP checker: {udp.sent} sent, {udp.lost} lost, p99 {p99(during) * 1000:.2f} ms during replacements "
              f"vs {p99(outside) * 1000:.2f} ms outside; TCP: {tcp.answered} answered, {tcp.reconnects} reconnects")
    print(report)
    with open(os.environ.get("GSLBD_REPLACE_REPORT", os.devnull), "w") as f:
        f.write(report + "\n")
