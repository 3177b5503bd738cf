"""`gslbd ctl` over the control socket, a second instance refused, systemd's notify
protocol (read from a stand-in NOTIFY_SOCKET), and `gslbd --replace` / `ctl
replace` under UDP (dnsperf) and pipelined TCP load: no query lost, no SERVFAIL,
never a drained or down cluster, drains and health kept across every replacement."""
import json
import multiprocessing
import os
import shutil
import socket
import struct
import subprocess
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
    assert ctl(g, "drain").returncode == CTL_USAGE
    assert ctl(g, "explain", SERVICE).returncode == CTL_USAGE
    r = ctl(g, "undrain", "no-such")
    assert r.returncode == CTL_FAILED and "no cluster named no-such" in r.stderr, r
    r = ctl(g, "pid")
    assert r.returncode == CTL_OK and int(r.stdout) == g.proc.pid, r
    # -s names the socket itself (the config's default: the file's path + .sock).
    r = subprocess.run([BINARY, "ctl", "-s", g.config_path + ".sock", "status"], capture_output=True, text=True, timeout=60)
    assert r.returncode == CTL_OK and json.loads(r.stdout)["clusters"], r
    for command in (["status"], ["pid"], ["drain", "eu-west"], ["undrain", "eu-west"], ["reload"],
                    ["explain", SERVICE, "127.0.0.1"], ["replace"]):
        r = subprocess.run([BINARY, "ctl", "-s", os.path.join(g.dir, "nobody.sock"), *command], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == CTL_NO_DAEMON and "no gslbd" in r.stderr, (command, r)


def test_a_crashed_daemons_socket_file_is_no_daemon_and_no_obstacle(world):
    """SIGKILL leaves the socket file behind: ctl says no daemon (3); a start, and a
    --replace with nothing to replace, take it over."""
    g = world.g
    for options in ((), ("--replace",)):
        g.proc.kill()
        g.proc.wait(timeout=10)
        assert os.path.exists(g.config_path + ".sock")
        r = ctl(g, "status")
        assert r.returncode == CTL_NO_DAEMON and "no gslbd" in r.stderr, r
        g.log.close()
        g.start(args=options)
        r = ctl(g, "pid")
        assert r.returncode == CTL_OK and int(r.stdout) == g.proc.pid, r
        assert answer(g)[0] == [FRA]
    assert "to replace: starting afresh" in g.log_text()


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


def test_replace_that_fails_to_start_is_refused_and_old_serves(world):
    """A config that loads but cannot start (a DNS address another process holds):
    the replacement has the old process's sockets in hand when it fails."""
    g = world.g
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEPORT: gslbd cannot join it
    busy.bind(("127.0.0.2", 0))
    try:
        good = open(g.config_path).read()
        with open(g.config_path, "w") as f:
            f.write(good.replace(f'listen: ["127.0.0.1:{g.port}"]',
                                 f'listen: ["127.0.0.1:{g.port}", "127.0.0.2:{busy.getsockname()[1]}"]', 1))
        assert open(g.config_path).read() != good
        r = subprocess.run([BINARY, "--replace", "-c", g.config_path], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "replacement failed, the running gslbd keeps serving" in r.stderr, r
        assert f"127.0.0.2:{busy.getsockname()[1]}" in r.stderr, r
        assert g.proc.poll() is None and serving_pids(g) == [g.proc.pid]
        assert wait_until(lambda: "went away before taking over; still serving" in g.log_text(), what="old notices")
        assert answer(g)[0] == [FRA]
        with open(g.config_path, "w") as f:
            f.write(good)
        r = ctl(g, "replace")  # and a good one still takes over afterwards
        assert r.returncode == CTL_OK, r
    finally:
        busy.close()


def check_states(g):
    """Per cluster, the state of each of its checks, as `gslbd ctl status` gives them."""
    return {c["name"]: [k["state"] for k in c["checks"]] for c in json.loads(ctl(g, "status").stdout)["clusters"]}


def test_replacement_answers_at_once_with_the_old_processes_health(tmp_path):
    """No cluster is unknown to the replacement at its first answer, and it does not
    wait for its own first probes: here each takes 8.5 s (a slow health endpoint), a
    fresh start would wait for them, the replacement answers within 7 s (a loaded CI
    machine's margin) with the health the old process saw (us-east down,
    ap-northeast up) and its drain. Each check keeps its own state: us-east is down
    for its TCP check alone, its HTTP check stays up (not its cluster's down)."""
    tyo = HttpIngress("127.0.0.13").start()
    slow = f'{{ http: {{ url: "{tyo.url()}", interval: 10s, timeout: 9s }} }}'
    checks = {"us-east": f'[{{ tcp: {{ address: "127.0.0.12:{closed_port("127.0.0.12")}", interval: 300ms, timeout: 200ms, fall: 1 }} }}, {slow}]',
              "ap-northeast": f'[{slow}]'}
    g = Gslbd(config(checks, server_extra='  state_file: "drain.state"'), workdir=str(tmp_path),
              extra_files={"networks.yaml": NETWORKS})
    g.start()
    try:
        assert ctl(g, "drain", "eu-west").returncode == CTL_OK
        wait_until(lambda: answer(g)[0] == [TYO], what="only ap-northeast answered")
        checks_before = check_states(g)
        assert checks_before["us-east"] == ["down", "up"], checks_before
        tyo.delay = 8.5
        t0 = time.monotonic()
        r = ctl(g, "replace")
        took = time.monotonic() - t0
        assert r.returncode == CTL_OK, r
        new_pid = int(r.stdout.split("pid ")[1])
        assert serving_pids(g) == [new_pid]
        # The old process has stopped reading: this is the replacement's answer.
        rcode, addrs = a_records(dnswire.udp_exchange(g.port, dnswire.query(SERVICE, "A", qid=7), timeout=1.0))
        assert (rcode, addrs) == (0, [TYO]) and took < 7, (rcode, addrs, took)
        status = {c["name"]: c for c in json.loads(ctl(g, "status").stdout)["clusters"]}
        assert status["eu-west"]["drained"] and status["us-east"]["health"] == "down", status
        assert status["ap-northeast"]["health"] == "up", status
        assert check_states(g) == checks_before
        assert g.proc.wait(timeout=10) == 0
    finally:
        for pid in serving_pids(g):
            os.kill(pid, 15)
        tyo.delay = 0
        g.stop()
        tyo.stop()


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


def first_answer(g):
    """One UDP query, no retry: what a client gets at this very moment."""
    return a_records(dnswire.udp_exchange(g.port, dnswire.query(SERVICE, "A", qid=0x4242), timeout=1.0))


def test_notify_protocol(world, monkeypatch):
    g = world.g
    assert ctl(g, "drain", "eu-west").returncode == CTL_OK  # kept in the state file across the restart
    g.stop()
    notify = NotifySocket(g.dir)
    monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
    g.start(expect_ready=False)
    ready = notify.wait_for("READY")
    # At READY the port answers at once, with the first health round done: us-east's
    # check has failed and ap-northeast's has passed (unknown would be neither).
    assert first_answer(g) == (0, [TYO])
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
    assert first_answer(g) == (0, [TYO])
    assert g.proc.wait(timeout=10) == 0
    os.kill(new_pid, 15)
    assert notify.wait_for("STOPPING")["STOPPING"] == "1"


def a_records(wire):
    msg = dnswire.parse(wire)
    return msg.rcode(), sorted(rr.address for rrset in msg.answer for rr in rrset)


class InProcess:
    """Runs client.run() in a child process: each client has its own interpreter lock,
    so the latencies it measures are gslbd's and not the time it waited for the other
    client's thread. join() brings the client's results (its attributes) back."""

    def __init__(self, client):
        self.client = client
        ctx = multiprocessing.get_context("fork")
        self.results, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=lambda: (client.run(), send.send(vars(client))), daemon=True)

    def start(self):
        self.proc.start()

    def join(self, timeout):
        assert self.results.poll(timeout), f"{type(self.client).__name__} sent no results within {timeout} s"
        vars(self.client).update(self.results.recv())
        self.proc.join(timeout=10)
        return self.client


class UdpChecker:
    """One query every 5 ms, no retries: every answer checked, every latency kept
    with the time its query was sent and the time its answer came."""

    def __init__(self, port, until):
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
            now = time.monotonic()
            self.samples.append((start, now - start, now))
            rcode, addrs = a_records(data)
            if rcode != 0 or addrs != [TYO]:
                self.wrong.append((rcode, addrs))
            time.sleep(max(0.0, start + 0.005 - time.monotonic()))  # pacing the load, not synchronising


class TcpPipeliner:
    """Long-lived connections with 20 queries in flight each. A query is lost only if
    it never gets its answer: RFC 7766 clients resend on a new connection what a
    closed one left unanswered (what the replaced process does on its way out). A
    query's latency runs from its first sending to its answer, resends included."""

    def __init__(self, port, until, window=20):
        self.port, self.until, self.window = port, until, window
        self.answered, self.wrong, self.reconnects, self.errors = 0, [], 0, []
        self.samples = []  # (first sent, latency, answered at)

    def run(self):
        qid = 0
        pending = {}  # qid -> (wire, first sent)
        s = None
        while time.monotonic() < self.until or pending:
            try:
                if s is None:
                    s = dnswire.tcp_connect(self.port, timeout=5)
                    for wire, _ in pending.values():
                        s.sendall(dnswire.frame(wire))
                while len(pending) < self.window and time.monotonic() < self.until:
                    qid = (qid + 1) & 0xFFFF
                    pending[qid] = (dnswire.query(SERVICE, "A", qid=qid), time.monotonic())
                    s.sendall(dnswire.frame(pending[qid][0]))
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
            query = pending.pop(q, None)
            if query is None:
                continue
            now = time.monotonic()
            self.samples.append((query[1], now - query[1], now))
            self.answered += 1
            rcode, addrs = a_records(data)
            if rcode != 0 or addrs != [TYO]:
                self.wrong.append((rcode, addrs))
        if s is not None:
            s.close()


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else 0.0


def by_window(samples, windows):
    """The latencies of the queries sent during a replacement window, and of the others."""
    during, outside = [], []
    for sent, latency, _ in samples:
        (during if any(a <= sent <= b for a, b in windows) else outside).append(latency)
    return during, outside


def longest_silence(samples, windows):
    """The longest time between two answers that falls in a replacement window."""
    answered = sorted(t for _, _, t in samples)
    return max((b - a for a, b in zip(answered, answered[1:]) if any(w0 <= b and a <= w1 for w0, w1 in windows)),
               default=0.0)


def dnsperf_results(path):
    """dnsperf -v: one line '> RCODE NAME TYPE SECONDS' per answered query ('> T ...'
    when it timed out), then the statistics."""
    rcodes, latencies = {}, []
    with open(path) as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith("> "):
            fields = line.split()
            rcodes[fields[1]] = rcodes.get(fields[1], 0) + 1
            if fields[1] != "T":
                latencies.append(float(fields[-1]))
    return text, rcodes, latencies


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def test_replace_five_times_under_load(world, tmp_path, monkeypatch):
    """The same binary twice, then an upgraded one: a new file at the path gslbd was
    started from, as a package upgrade leaves it; each replacement runs that path.
    The upgrade is GSLBD_UPGRADE_BINARY when set (another build, of another commit,
    say), else a copy of GSLBD_BINARY. Reports the latency percentiles and the
    longest silence around the replacements (GSLBD_REPLACE_REPORT: a file for it)."""
    import gslb
    g = world.g
    g.stop()
    installed = str(tmp_path / "gslbd")
    shutil.copy2(BINARY, installed)
    upgrade = os.environ.get("GSLBD_UPGRADE_BINARY", BINARY)
    monkeypatch.setattr(gslb, "BINARY", installed)
    g.start()
    assert ctl(g, "drain", "eu-west").returncode == CTL_OK
    wait_until(lambda: answer(g)[0] == [TYO], what="only ap-northeast answered")
    qfile = tmp_path / "queries"
    qfile.write_text(f"{SERVICE} A\n")
    duration = 20
    start = time.monotonic()
    until = start + duration
    perf_out = tmp_path / "dnsperf.out"  # a file: -v writes a line a query, more than a pipe holds
    with open(perf_out, "w") as out:
        perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(g.port), "-d", str(qfile), "-l", str(duration),
                                 "-Q", "10000", "-c", "4", "-t", "2", "-v"], stdout=out, stderr=subprocess.STDOUT)
    udp_client = InProcess(UdpChecker(g.port, until))
    tcp_client = InProcess(TcpPipeliner(g.port, until))
    udp_client.start()
    tcp_client.start()
    windows = []
    pids = [g.proc.pid]
    try:
        for i in range(5):
            if i == 2:
                shutil.copy2(upgrade, installed + ".new")
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
        perf.wait(timeout=duration + 30)
    finally:
        stop_process(perf)
    udp = udp_client.join(timeout=30)
    tcp = tcp_client.join(timeout=30)
    assert g.proc.wait(timeout=10) == 0
    out, rcodes, perf_latencies = dnsperf_results(perf_out)
    assert "Queries lost:         0 " in out, out[-2000:]
    completed = int(out.split("Queries completed:")[1].split()[0])
    assert completed > 100000 and rcodes == {"NOERROR": completed}, (completed, rcodes)  # no SERVFAIL, no timeout
    assert udp.lost == 0 and not udp.wrong and udp.sent > 1000, (udp.lost, udp.wrong[:5])
    assert not tcp.errors and not tcp.wrong and tcp.answered > 1000, (tcp.errors, tcp.wrong[:5])
    during, outside = by_window(udp.samples, windows)
    tcp_during, tcp_outside = by_window(tcp.samples, windows)
    report = (f"replaced 5 times ({' -> '.join(map(str, pids))}; the last 3 from {upgrade}); "
              f"dnsperf UDP 10,000 q/s: {completed} completed, 0 lost, 0 SERVFAIL, latency p50 "
              f"{ms(percentile(perf_latencies, 0.5))} p99 {ms(percentile(perf_latencies, 0.99))} p99.9 "
              f"{ms(percentile(perf_latencies, 0.999))} max {ms(max(perf_latencies))}; "
              f"UDP checker: {udp.sent} sent, {udp.lost} lost, p99 {ms(percentile(during, 0.99))} during replacements "
              f"(max {ms(max(during, default=0))}) vs {ms(percentile(outside, 0.99))} outside, longest silence "
              f"{ms(longest_silence(udp.samples, windows))} (one query every 5 ms); "
              f"TCP pipelined: {tcp.answered} answered, {tcp.reconnects} reconnects, p99 {ms(percentile(tcp_during, 0.99))}"
              f" during replacements (max {ms(max(tcp_during, default=0))}) vs {ms(percentile(tcp_outside, 0.99))}"
              f" outside, longest silence "
              f"{ms(longest_silence(tcp.samples, windows))}")
    print(report)
    with open(os.environ.get("GSLBD_REPLACE_REPORT", os.devnull), "a") as f:
        f.write(report + "\n")
