#!/usr/bin/env python3
"""gslbd against gdnsd, Knot, NSD and PowerDNS on loopback, driven by dnsperf.

bench/run calls this after installing the peers and building gslbd. Every server
gets its own config and run directory in one temp dir, listens on 127.0.0.1 at its
own port, and is stopped by PID on exit. The server is pinned to CPU 1 and dnsperf
to CPU 0 (`taskset`), so that "server CPU per query" is the server's own cost even
though dnsperf saturates its core.

Cases (the same data everywhere):
  static  www.global.example.com A                        -> 192.0.2.80
  geo     app.global.example.com A with ECS 198.51.100.0/24 -> 203.0.113.20
          (192.0.2.0/24 -> .10, 198.51.100.0/24 -> .20, 203.0.113.0/24 -> .30)
  health  hc.global.example.com A, TCP-checked 127.0.0.10 / 127.0.0.11 port 18080

Per server and case, three runs of each:
  throughput  dnsperf -l SECONDS, unlimited rate: QPS, and server CPU / queries answered
              (CPU: every thread of the server's process tree, from the scheduler's
              schedstat; split into user/sys in the ratio of /proc/PID/stat utime/stime)
  latency     dnsperf -Q 20000 -l SECONDS -v: per-query latencies -> p50 / p99
and the medians are reported. RSS is VmRSS (summed over the process tree) at the end.
"""

import argparse
import json
import random
import re
import resource
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")

ZONE = "global.example.com"
PLACES = {"eu-west": (50.11, 8.68), "us-east": (38.9, -77.04), "ap-northeast": (35.68, 139.69)}
STATIC_NAME, GEO_NAME, HC_NAME = f"www.{ZONE}", f"app.{ZONE}", f"hc.{ZONE}"
NETS = [("192.0.2.0/24", "eu-west", "203.0.113.10"),
        ("198.51.100.0/24", "us-east", "203.0.113.20"),
        ("203.0.113.0/24", "ap-northeast", "203.0.113.30")]
DEFAULT_GEO = "203.0.113.10"
GEO_SUBNET, GEO_EXPECT = "198.51.100.0/24", "203.0.113.20"
HC_PORT, HC_ADDRS = 18080, ["127.0.0.10", "127.0.0.11"]

SERVER_CPU, DNSPERF_CPU = "1", "0"

children = []  # every Popen we started; stopped by PID at exit


def ecs_hex(subnet):
    addr, prefix = subnet.split("/")
    prefix = int(prefix)
    raw = socket.inet_aton(addr)[: (prefix + 7) // 8]
    return "0001" + f"{prefix:02x}" + "00" + raw.hex()


def stop_all():
    for p in reversed(children):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 5
    for p in reversed(children):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    children.clear()


def on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


# --- /proc -----------------------------------------------------------------

def tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def exec_seconds(pid):
    """CPU seconds that every thread of the process tree has run: the scheduler's own
    sum_exec_runtime (/proc/PID/task/TID/schedstat, in ns). utime/stime in
    /proc/PID/stat are sampled at the timer tick, which a timer-paced load (dnsperf -Q)
    and a server that runs in short bursts skew badly; schedstat is exact."""
    total = 0
    for p in tree(pid):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def threads(pid):
    out = []
    for p in tree(pid):
        try:
            out += [int(t) for t in os.listdir(f"/proc/{p}/task")]
        except OSError:
            pass
    return out


def pin_threads(pid, cpu):
    """Pin every thread of the process tree to one CPU. taskset at exec is not enough:
    Knot pins UDP worker N to CPU N % ncpus itself (udp-handler.c), which puts its only
    UDP thread on dnsperf's CPU, where waking dnsperf costs no cross-CPU interrupt."""
    for tid in threads(pid):
        try:
            os.sched_setaffinity(tid, {cpu})
        except OSError:
            pass


def unpinned_threads(pid, cpu):
    """Threads of the tree allowed anywhere but `cpu` (a server re-pinning itself)."""
    bad = []
    for tid in threads(pid):
        try:
            if os.sched_getaffinity(tid) != {cpu}:
                bad.append(tid)
        except OSError:
            pass
    return bad


def cpu_sample(pid):
    return exec_seconds(pid), cpu_seconds(pid)


def per_query(c0, c1, n):
    """(total, user, sys) µs per query: total from schedstat, split in the ratio of
    the tick-sampled utime/stime."""
    total = (c1[0] - c0[0]) * 1e6 / n
    u, sy = c1[1][0] - c0[1][0], c1[1][1] - c0[1][1]
    share = u / (u + sy) if u + sy > 0 else 0.0
    return total, total * share, total * (1 - share)


def cpu_seconds(pid):
    """(user, system) CPU seconds of the process tree (tick-sampled)."""
    user = system = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])    # utime (field 14)
            system += int(fields[12])  # stime (field 15)
        except OSError:
            pass
    return user / CLK_TCK, system / CLK_TCK


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# --- helpers ------------------------------------------------------------------

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def gslbd_zone(zone):
    """gslbd's zones: section for `zone` with its static names (ns1, www)."""
    return f"""zones:
  - origin: {zone}.
    soa: {{ mname: ns1.{zone}., rname: hostmaster.{zone}., serial: 1, minimum: 60 }}
    ns: [ns1.{zone}.]
    records: |
      ns1  3600 IN A 192.0.2.53
      www  300  IN A 192.0.2.80
"""


def dig(port, name, subnet=None):
    cmd = ["dig", "@127.0.0.1", "-p", str(port), name, "A", "+short", "+time=1", "+tries=1", "+norec"]
    if subnet:
        cmd.append(f"+subnet={subnet}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    out = []
    for line in r.stdout.split():
        try:
            socket.inet_aton(line)
            out.append(line)
        except OSError:
            pass
    return sorted(out)


def wait_answer(port, name, want, subnet=None, timeout=15.0):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = dig(port, name, subnet)
        if got and (want is None or set(got) <= set(want)):
            return got
        time.sleep(0.2)
    return got


class TcpListeners:
    """Stand-in ingresses for the health-checked name: accept and close, on loopback."""

    def __init__(self, addrs, port):
        self.socks = []
        for a in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
            s.listen(128)
            self.socks.append(s)
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    @staticmethod
    def serve(s):
        while True:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                return

    def close(self):
        for s in self.socks:
            s.close()


# --- servers ----------------------------------------------------------------------

ZONE_HEAD = f"""$ORIGIN {ZONE}.
$TTL 300
@    3600 IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 900 1209600 60
@    3600 IN NS  ns1.{ZONE}.
ns1  3600 IN A   192.0.2.53
www  300  IN A   192.0.2.80
"""


class Server:
    name = "?"
    geo = True       # answers the geo name by client subnet
    health = True    # answers the health-checked name
    note = ""
    host = "127.0.0.1"  # listen address (bench/veth.py: the server end of a veth)
    extra = ""          # appended to the config's server section (gslbd) or file (Knot)

    def __init__(self, base, port):
        self.dir = os.path.join(base, self.name.replace(" ", "-"))
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.proc = None

    def command(self):
        raise NotImplementedError

    def start(self, pin=True):
        self.configure()
        cmd = (["taskset", "-c", SERVER_CPU] if pin else []) + self.command()
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)
        children.append(self.proc)
        got = wait_answer(self.port, STATIC_NAME, ["192.0.2.80"])
        if got != ["192.0.2.80"]:
            raise RuntimeError(f"{self.name} did not answer {STATIC_NAME} (got {got}); see {self.log.name}:\n"
                               + open(self.log.name).read()[-2000:])
        if pin:
            pin_threads(self.pid, int(SERVER_CPU))

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc in children:
            children.remove(self.proc)


class Gslbd(Server):
    name = "gslbd"

    def __init__(self, base, port, binary, workers=1, label=None, ranges=()):
        self.workers = workers
        self.ranges = list(ranges)  # geo.ranges files, on top of the networks pinning
        if label:
            self.name = label
        super().__init__(base, port)
        self.binary = binary

    def configure(self):
        nets = "".join(f"- {{ cidr: {c}, clusters: [{dc}] }}\n" for c, dc, _ in NETS)
        write(os.path.join(self.dir, "networks.yaml"), nets)
        # With country ranges the clusters need places, or every country ranks alike.
        place = {dc: f"location: {{ lat: {lat}, lon: {lon} }}, " for dc, (lat, lon) in PLACES.items()} if self.ranges else {}
        clusters = "".join(f"  {dc}: {{ {place.get(dc, '')}ingress: [{ip}] }}\n" for _, dc, ip in NETS)
        checks = "".join(
            f"  hc-{i}:\n    ingress: [{a}]\n    checks:\n"
            f"      - tcp: {{ address: \"{a}:{HC_PORT}\", interval: 1s, timeout: 500ms, rise: 1, fall: 2 }}\n"
            for i, a in enumerate(HC_ADDRS))
        self.config = os.path.join(self.dir, "gslbd.yaml")
        write(self.config, f"""server:
  listen: ["{self.host}:{self.port}"]
  workers: {self.workers}
{self.extra}geo:
  networks: networks.yaml
{f"  ranges: [{', '.join(self.ranges)}]" + chr(10) if self.ranges else ""}{gslbd_zone(ZONE)}services:
  - name: {GEO_NAME}.
    ttl: 30
    policy: nearest
    clusters: [{", ".join(dc for _, dc, _ in NETS)}]
  - name: {HC_NAME}.
    ttl: 30
    policy: failover
    clusters: [hc-0, hc-1]
clusters:
{clusters}{checks}""")

    def command(self):
        return [self.binary, "-c", self.config]


class Gdnsd(Server):
    name = "gdnsd"

    def configure(self):
        dcs = ", ".join(dc for _, dc, _ in NETS)
        nets = "".join(f"          {c} => [ {dc} ]\n" for c, dc, _ in NETS)
        dcmap = ", ".join(f"{dc} => {ip}" for _, dc, ip in NETS)
        write(os.path.join(self.dir, "config"), f"""options => {{
  listen => [ "{self.host}:{self.port}" ]
  udp_threads => 1
  tcp_threads => 1
  run_dir => {self.dir}/run
  state_dir => {self.dir}/state
}}
service_types => {{
  tcp{HC_PORT} => {{ plugin => tcp_connect, port => {HC_PORT}, interval => 2, timeout => 1, up_thresh => 1, ok_thresh => 1, down_thresh => 2 }}
}}
plugins => {{
  geoip => {{
    maps => {{
      bench => {{
        datacenters => [ {dcs} ]
        nets => {{
{nets}        }}
      }}
    }}
    resources => {{
      app => {{
        map => bench
        service_types => up
        dcmap => {{ {dcmap} }}
      }}
    }}
  }}
  simplefo => {{
    hc => {{ service_types => tcp{HC_PORT}, primary => {HC_ADDRS[0]}, secondary => {HC_ADDRS[1]} }}
  }}
}}
""")
        write(os.path.join(self.dir, "zones", ZONE), ZONE_HEAD + "app  30 IN DYNA geoip!app\nhc   30 IN DYNA simplefo!hc\n")
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)

    def command(self):
        return ["gdnsd", "-c", self.dir, "start"]


class Knot(Server):
    name = "knot"
    health = False
    note = "no health checks"

    def configure(self):
        geo = f"{GEO_NAME}:\n" + "".join(f"  - net: {c}\n    A: {ip}\n" for c, _, ip in NETS)
        write(os.path.join(self.dir, "geo.conf"), geo)
        write(os.path.join(self.dir, f"{ZONE}.zone"), ZONE_HEAD + f"app  30 IN A {DEFAULT_GEO}\n")
        self.conf = os.path.join(self.dir, "knot.conf")
        write(self.conf, f"""server:
    rundir: "{self.dir}"
    listen: {self.host}@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    edns-client-subnet: on
database:
    storage: "{self.dir}/db"
log:
  - target: stderr
    any: warning
mod-geoip:
  - id: geo
    config-file: "{self.dir}/geo.conf"
    mode: subnet
    ttl: 30
zone:
  - domain: {ZONE}
    file: "{self.dir}/{ZONE}.zone"
    module: mod-geoip/geo
{self.extra}""")

    def command(self):
        return ["knotd", "-c", self.conf]


class Floor(Server):
    """bench/null_responder: gslbd's UDP I/O with no DNS logic, the kernel's share."""
    name = "floor"
    geo = False
    health = False
    note = "null responder: no DNS logic (the kernel's share per query)"

    def __init__(self, base, port, binary):
        super().__init__(base, port)
        self.binary = binary

    def configure(self):
        pass

    def command(self):
        return [self.binary, str(self.port)]


class Nsd(Server):
    name = "nsd"
    geo = False
    health = False
    note = "static only (no geo, no health checks)"

    def configure(self):
        write(os.path.join(self.dir, f"{ZONE}.zone"), ZONE_HEAD)
        self.conf = os.path.join(self.dir, "nsd.conf")
        write(self.conf, f"""server:
    ip-address: 127.0.0.1@{self.port}
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{self.dir}"
    pidfile: "{self.dir}/nsd.pid"
    database: ""
    xfrdfile: "{self.dir}/xfrd.state"
    zonelistfile: "{self.dir}/zone.list"
    xfrdir: "{self.dir}"
    verbosity: 0
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {ZONE}
    zonefile: "{self.dir}/{ZONE}.zone"
""")

    def command(self):
        return ["nsd", "-d", "-c", self.conf]


class Pdns(Server):
    name = "pdns"
    note = "LUA records (view, ifportup); packet cache on (default)"

    def configure(self):
        view = ", ".join(f"{{{{'{c}'}}, {{'{ip}'}}}}" for c, _, ip in NETS) + f", {{{{'0.0.0.0/0'}}, {{'{DEFAULT_GEO}'}}}}"
        hc = ", ".join(f"'{a}'" for a in HC_ADDRS)
        write(os.path.join(self.dir, f"{ZONE}.zone"), ZONE_HEAD
              + f"app  30 IN LUA A \"view({{{view}}})\"\n"
              + f"hc   30 IN LUA A \"ifportup({HC_PORT}, {{{hc}}}, {{selector='random'}})\"\n")
        write(os.path.join(self.dir, "named.conf"),
              f'zone "{ZONE}" {{ type master; file "{self.dir}/{ZONE}.zone"; }};\n')
        write(os.path.join(self.dir, "pdns.conf"), f"""launch=bind
bind-config={self.dir}/named.conf
local-address=127.0.0.1:{self.port}
socket-dir={self.dir}
guardian=no
daemon=no
disable-syslog=yes
loglevel=3
enable-lua-records=yes
edns-subnet-processing=yes
receiver-threads=1
distributor-threads=1
webserver=no
api=no
""")

    def command(self):
        return ["pdns_server", f"--config-dir={self.dir}"]


# --- dnsperf ----------------------------------------------------------------------

def dnsperf(port, qfile, seconds, qps=None, ecs=None, verbose=False, pin=True):
    cmd = (["taskset", "-c", DNSPERF_CPU] if pin else []) + [
        "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(seconds), "-t", "2",
        "-c", "4", "-q", "500" if qps is None else "200"]
    if qps:
        cmd += ["-Q", str(qps)]
    if ecs:
        cmd += ["-E", f"8:{ecs_hex(ecs)}"]
    if verbose:
        cmd.append("-v")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    children.append(p)
    try:
        out, err = p.communicate(timeout=seconds + 30)
    finally:
        if p in children:
            children.remove(p)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = parse_dnsperf(out, err)
    # dnsperf's own CPU (the only child reaped meanwhile; Linux scales utime+stime
    # of a reaped child to its exact runtime).
    r["client_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return r


def parse_dnsperf(out, err):
    r = {"latencies": []}
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("Queries sent:"):
            r["sent"] = int(s.split()[2])
        elif s.startswith("Queries completed:"):
            r["completed"] = int(s.split()[2])
        elif s.startswith("Queries lost:"):
            r["lost"] = int(s.split()[2])
        elif s.startswith("Queries per second:"):
            r["qps"] = float(s.split()[3])
        elif s.startswith("Average Latency (s):"):
            parts = s.split(":", 1)[1].replace("(", " ").replace(")", " ").replace(",", " ").split()
            r["avg"] = float(parts[0])
            r["max"] = float(parts[parts.index("max") + 1])
        elif s.startswith("Response codes:"):
            r["rcodes"] = s.split(":", 1)[1].strip()
        elif s.startswith(">"):
            # -v: "> NOERROR www.global.example.com A 0.000123"
            try:
                r["latencies"].append(float(s.split()[-1]))
            except ValueError:
                pass
    if "completed" not in r:
        raise RuntimeError("dnsperf output not understood:\n" + out[-2000:] + err[-2000:])
    return r


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class ThreadMoved(RuntimeError):
    pass


def settle(timeout=5.0):
    """Waits until the previous run has drained: no server may still be answering a
    backlog (PowerDNS's LUA records leave hundreds of queries queued) while the next
    one is measured on the same CPU. Quiet = every process we started, together, used
    under 2 ms of CPU in 200 ms."""
    deadline = time.time() + timeout
    last = sum(exec_seconds(c.pid) for c in children if c.poll() is None)
    while time.time() < deadline:
        time.sleep(0.2)
        now = sum(exec_seconds(c.pid) for c in children if c.poll() is None)
        if now - last < 0.002:
            return
        last = now


def measure_once(server, case, qfile, args, pin=True):
    """One unlimited-rate run (QPS, CPU per query) and one fixed-rate run (latency)."""
    ecs = GEO_SUBNET if case == "geo" else None
    c0 = cpu_sample(server.pid)
    t = dnsperf(server.port, qfile, args.seconds, ecs=ecs, pin=pin)
    c1 = cpu_sample(server.pid)
    t["cpu_us_per_q"], t["user_us"], t["sys_us"] = per_query(c0, c1, max(1, t["completed"]))
    t["client_us"] = t["client_cpu"] * 1e6 / max(1, t["completed"])
    t["busy"] = t["cpu_us_per_q"] * t["qps"] / 1e6  # share of one core the server used
    c0 = cpu_sample(server.pid)
    lat = dnsperf(server.port, qfile, args.seconds, qps=args.rate, ecs=ecs, verbose=True, pin=pin)
    c1 = cpu_sample(server.pid)
    fixed_us = per_query(c0, c1, max(1, lat["completed"]))[0]
    if pin and unpinned_threads(server.pid, int(SERVER_CPU)):
        raise ThreadMoved(f"{server.name} moved threads off CPU {SERVER_CPU} during a run: not measured")
    return {"qps": t["qps"], "cpu_us": t["cpu_us_per_q"], "user_us": t["user_us"], "sys_us": t["sys_us"],
            "busy": t["busy"], "fixed_us": fixed_us, "client_us": t["client_us"],
            "fixed_client_us": lat["client_cpu"] * 1e6 / max(1, lat["completed"]), "lost": t.get("lost", 0),
            "rcodes": t.get("rcodes", ""),
            "p50_us": pct(lat["latencies"], 50) * 1e6, "p99_us": pct(lat["latencies"], 99) * 1e6,
            "avg_us": lat["avg"] * 1e6, "max_us": lat["max"] * 1e6,
            "lat_n": len(lat["latencies"]), "lat_lost": lat.get("lost", 0)}


def summarize(server, runs):
    med = {k: statistics.median(r[k] for r in runs) for k in ("qps", "cpu_us", "user_us", "sys_us", "busy", "fixed_us", "client_us", "fixed_client_us", "p50_us", "p99_us", "avg_us", "max_us")}
    # Lost at the fixed rate only: an unlimited run always ends with its in-flight
    # queries counted as lost.
    med["lost"] = sum(r["lat_lost"] for r in runs)
    med["rcodes"] = runs[-1]["rcodes"]
    med["rss_kib"] = rss_kib(server.pid)
    med["runs"] = runs
    return med


def measure(server, case, qfile, args, pin=True):
    return summarize(server, [measure_once(server, case, qfile, args, pin) for _ in range(args.runs)])


def check_answers(server):
    """Every server must give the same answers before it is measured."""
    problems = []
    if server.geo:
        for c, _, ip in NETS:
            got = dig(server.port, GEO_NAME, c)
            if got != [ip]:
                problems.append(f"{GEO_NAME} from {c}: {got}, want {ip}")
    if server.health:
        got = wait_answer(server.port, HC_NAME, HC_ADDRS, timeout=10)
        if not got or not set(got) <= set(HC_ADDRS):
            problems.append(f"{HC_NAME}: {got}, want one of {HC_ADDRS}")
    return problems


TOR_RANGES = ["/usr/share/tor/geoip", "/usr/share/tor/geoip6"]


def built_ms(log_path):
    """Build times gslbd logged: '(built in N ms)' at start, '; built in N ms' per reload."""
    return [int(m) for m in re.findall(r"built in (\d+) ms", open(log_path).read())]


def reload_under_load(server, qfile, args):
    """SIGHUP gslbd halfway through a rate-limited dnsperf run; count lost queries."""
    result = {}

    def hup():
        time.sleep(args.seconds / 2.0)
        os.kill(server.pid, signal.SIGHUP)
        result["hup_at"] = time.time()

    th = threading.Thread(target=hup)
    th.start()
    r = dnsperf(server.port, qfile, args.seconds, qps=args.rate, ecs=GEO_SUBNET)
    th.join()
    return r


def fmt(v, unit=""):
    if v != v:  # nan
        return "-"
    if v >= 1000:
        return f"{v:,.0f}{unit}"
    if v >= 10:
        return f"{v:.0f}{unit}"
    return f"{v:.2f}{unit}"


def ratio(v, ref):
    if not ref or v != v or ref != ref:
        return "-"
    return f"{v / ref:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gslbd", default=os.path.join(ROOT, "build", "dnsd", "gslbd"))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "4")))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--only", default="", help="comma-separated server names")
    ap.add_argument("--json", default="")
    ap.add_argument("--seed", type=int, default=1, help="seed of the shuffled run order")
    args = ap.parse_args()
    args.gslbd = os.path.abspath(args.gslbd)  # servers run with their own directory as cwd

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    base = tempfile.mkdtemp(prefix="gslbd-bench-")
    qdir = os.path.join(base, "queries")
    os.makedirs(qdir)
    qfiles = {"static": f"{STATIC_NAME} A\n", "geo": f"{GEO_NAME} A\n", "health": f"{HC_NAME} A\n"}
    for case, line in qfiles.items():
        write(os.path.join(qdir, case), line * 1000)
    listeners = TcpListeners(HC_ADDRS, HC_PORT)

    floor = os.path.join(os.path.dirname(os.path.dirname(args.gslbd)), "bench", "null_responder")
    servers = [Gslbd(base, 5310, args.gslbd), Gdnsd(base, 5311), Knot(base, 5312), Nsd(base, 5313), Pdns(base, 5314),
               Floor(base, 5315, floor)]
    if args.only:
        keep = args.only.split(",")
        servers = [s for s in servers if s.name in keep or s.name == "gslbd"]
    results, notes = {}, {}
    started = time.time()
    try:
        # Every server runs for the whole measurement (idle ones cost little: the
        # health-checking ones probe once a second) and the runs go round-robin, in a
        # new shuffled order each round: run 1 of every server and case, then run 2,
        # ... so that a change in what else the machine is doing moves all of them,
        # and no server always follows the same neighbour.
        running = []
        for s in servers:
            print(f"== {s.name}", flush=True)
            try:
                s.start()
            except Exception as e:  # a peer that cannot start is reported, not fatal
                print(f"   cannot start: {e}", flush=True)
                if isinstance(s, Gslbd):
                    raise
                notes[s.name] = "did not start"
                s.stop()
                continue
            problems = check_answers(s)
            for p in problems:
                print(f"   WRONG ANSWER: {p}", flush=True)
            if problems:
                notes[s.name] = "; ".join(problems)
            running.append(s)
        runs = {}
        order = random.Random(args.seed)
        jobs = [(s, case) for s in running
                for case in ["static"] + (["geo"] if s.geo else []) + (["health"] if s.health else [])]
        for r in range(args.runs):
            print(f"== run {r + 1} of {args.runs}", flush=True)
            order.shuffle(jobs)
            for s, case in jobs:
                if s not in running:  # dropped in an earlier round
                    continue
                settle()
                try:
                    m = measure_once(s, case, os.path.join(qdir, case), args)
                except ThreadMoved as e:
                    print(f"   {e}", flush=True)
                    notes[s.name] = str(e)
                    running.remove(s)
                    for key in [k for k in runs if k[0] == s.name]:
                        del runs[key]
                    continue
                runs.setdefault((s.name, case), []).append(m)
                print(f"   {s.name:6s} {case:7s} qps {fmt(m['qps'])}  cpu/q {m['cpu_us']:.2f} us  "
                      f"at rate {m['fixed_us']:.2f} us", flush=True)
        for s in running:
            for (name, case), rs in runs.items():
                if name == s.name:
                    m = results[(name, case)] = summarize(s, rs)
                    print(f"   {name} {case:7s} qps {fmt(m['qps'])}  cpu/q {m['cpu_us']:.2f} us (user {m['user_us']:.2f} sys {m['sys_us']:.2f}, busy {m['busy']:.0%}; at rate {m['fixed_us']:.2f} us; dnsperf {m['client_us']:.2f} / {m['fixed_client_us']:.2f} us)  p50 {fmt(m['p50_us'])} us  "
                          f"p99 {fmt(m['p99_us'])} us  rss {m['rss_kib']} KiB  lost {m['lost']}  [{m['rcodes']}]",
                          flush=True)
            s.stop()

        # 1 vs 2 workers, unpinned (both cores shared with dnsperf).
        scaling = {}
        if any(s.name == "gslbd" for s in servers):
            for w in (1, 2):
                g = Gslbd(base, 5320 + w, args.gslbd, workers=w, label=f"gslbd-{w}w")
                g.start(pin=False)
                scaling[w] = measure(g, "geo", os.path.join(qdir, "geo"), args, pin=False)
                print(f"== gslbd {w} worker(s), unpinned: geo qps {fmt(scaling[w]['qps'])}  "
                      f"cpu/q {scaling[w]['cpu_us']:.2f} us", flush=True)
                g.stop()

            # tor-geoipdb: build time and memory, then a reload of it under load.
            g = Gslbd(base, 5330, args.gslbd, workers=1, label="gslbd-tor", ranges=TOR_RANGES)
            g.start()
            tor = {"lines": sum(1 for f in TOR_RANGES for _ in open(f)), "rss_kib": rss_kib(g.pid),
                   "start_ms": built_ms(g.log.name)[0]}
            rl = reload_under_load(g, os.path.join(qdir, "geo"), args)
            deadline = time.time() + 30
            while len(built_ms(g.log.name)) < 2 and time.time() < deadline:
                time.sleep(0.1)
            tor["reload_ms"] = built_ms(g.log.name)[-1] if len(built_ms(g.log.name)) > 1 else "(no reload logged)"
            # Serving threads let go of the old table within a second, the control
            # thread frees it and trims: poll for that rather than guess how long.
            deadline = time.time() + 10
            while rss_kib(g.pid) > tor["rss_kib"] * 1.1 and time.time() < deadline:
                time.sleep(0.2)
            tor["rss_after_kib"] = rss_kib(g.pid)
            g.stop()
            print(f"== tor-geoipdb: {tor['lines']} lines built in {tor['start_ms']} ms at start, RSS "
                  f"{tor['rss_kib'] / 1024:.1f} MiB; reload under load built in {tor['reload_ms']} ms: "
                  f"sent {rl['sent']} completed {rl['completed']} lost {rl.get('lost', 0)}", flush=True)
    finally:
        stop_all()
        listeners.close()
        if sys.exc_info()[0] is not None and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(base, ignore_errors=True)

    # --- the table ---
    print()
    print(f"Machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs, "
          + subprocess.run("lscpu | grep 'Model name' | sed 's/Model name: *//'", shell=True, capture_output=True,
                           text=True).stdout.strip())
    print(f"gslbd: {args.gslbd} (source {ROOT}, commit "
          + subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                           text=True).stdout.strip() + ")")
    print(f"dnsperf -l {args.seconds}, {args.runs} runs each, medians; server on CPU {SERVER_CPU}, dnsperf on CPU "
          f"{DNSPERF_CPU}; latency at -Q {args.rate} (-v per-query).")
    print()
    hdr = ("| case | server | QPS | server CPU µs/query (user+sys) | server busy | CPU µs/query at fixed rate "
           "| dnsperf CPU µs/query (full / fixed rate) "
           "| p50 µs | p99 µs | RSS MiB | QPS ×gslbd | CPU/q ×gslbd | CPU/q at rate ×gslbd | p99 ×gslbd | RSS ×gslbd | note |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for case in ("static", "geo", "health"):
        ref = results.get(("gslbd", case))
        for s in servers:
            m = results.get((s.name, case))
            if not m and isinstance(s, Floor) and s.name not in notes:
                continue  # the floor answers only the static name
            if not m:
                why = notes.get(s.name) or ("no geo by client subnet" if case == "geo" else "no health checks")
                print(f"| {case} | {s.name} |" + " - |" * 14 + f" skipped: {why} |")
                continue
            note = notes.get(s.name, s.note if case != "static" or isinstance(s, Floor) else "")
            if m["lost"]:
                note = (note + "; " if note else "") + f"{m['lost']} lost"
            print(f"| {case} | {s.name} | {fmt(m['qps'])} | {m['cpu_us']:.2f} ({m['user_us']:.2f}+{m['sys_us']:.2f}) "
                  f"| {m['busy']:.0%} | {m['fixed_us']:.2f} | {m['client_us']:.2f} / {m['fixed_client_us']:.2f} "
                  f"| {fmt(m['p50_us'])} | {fmt(m['p99_us'])} "
                  f"| {m['rss_kib'] / 1024:.1f} | {ratio(m['qps'], ref and ref['qps'])} "
                  f"| {ratio(m['cpu_us'], ref and ref['cpu_us'])} | {ratio(m['fixed_us'], ref and ref['fixed_us'])} "
                  f"| {ratio(m['p99_us'], ref and ref['p99_us'])} "
                  f"| {ratio(m['rss_kib'], ref and ref['rss_kib'])} | {note} |")
    if scaling:
        print()
        print("| gslbd geo, unpinned | QPS | server CPU µs/query (user+sys) | server busy (cores) | CPU µs/query at fixed rate | p50 µs | p99 µs |")
        print("|---|---|---|---|---|---|---|")
        for w, m in scaling.items():
            print(f"| {w} worker{'s' if w > 1 else ''} | {fmt(m['qps'])} | {m['cpu_us']:.2f} ({m['user_us']:.2f}+{m['sys_us']:.2f}) "
                  f"| {m['busy']:.2f} | {m['fixed_us']:.2f} | {fmt(m['p50_us'])} | {fmt(m['p99_us'])} |")
        print(f"\ntor-geoipdb ({', '.join(TOR_RANGES)}, {tor['lines']:,} lines) as geo.ranges under the "
              f"networks pinning: built in {tor['start_ms']} ms at start; RSS {tor['rss_kib'] / 1024:.1f} MiB "
              f"(gslbd without it: {results[('gslbd', 'static')]['rss_kib'] / 1024:.1f} MiB).")
        print(f"Reload of it under load (SIGHUP mid-run, geo at -Q {args.rate}): built in {tor['reload_ms']} ms "
              f"beside the worker; sent {rl['sent']}, completed {rl['completed']}, lost {rl.get('lost', 0)}; "
              f"RSS after it {tor['rss_after_kib'] / 1024:.1f} MiB.")
    print(f"\nbench/run took {time.time() - started:.0f} s")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": {f"{k[0]}/{k[1]}": v for k, v in results.items()},
                       "scaling": scaling, "notes": notes}, f, indent=1)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
