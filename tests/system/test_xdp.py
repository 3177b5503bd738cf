"""server.xdp end to end: two network namespaces joined by a veth pair (198.18.0.0/30,
fd00:198:18::/64), gslbd in the server namespace answering UDP on its end of the veth
through AF_XDP, dig and kxdpgun in the client namespace. The server namespace's own
UDP counters (/proc/net/snmp) prove which path answered: they stay still while XDP
answers. Root only (namespaces, XDP); SKIPPED with the reason elsewhere."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from dnsconfig import BIG_STRINGS, HUGE_STRINGS
from gslb import BINARY, DigResult, check_config, stop_process, wait_until

BIG = " ".join(BIG_STRINGS)    # ~1 kB: TC without EDNS, fits 1232
HUGE = " ".join(HUGE_STRINGS)  # ~1.5 kB: more than a 1500-byte MTU carries in one frame

SERVER4, CLIENT4, OTHER4 = "198.18.0.1", "198.18.0.2", "198.18.1.2"
SERVER6, CLIENT6 = "fd00:198:18::1", "fd00:198:18::2"
EU4, US4, SOLO4 = "203.0.113.1", "203.0.113.2", "203.0.113.3"

CONFIG = """
server:
  listen: ["198.18.0.1:53", "[fd00:198:18::1]:53", "127.0.0.1:53"]
  workers: 1
  http: "127.0.0.1:9153"
  nsid: xdp-test
  xdp: { interface: @IFACE@, queues: @QUEUES@ }
geo:
  networks: networks.yaml
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60 }
    ns: [ns1.example.test.]
    records: |
      ns1   3600 IN A    192.0.2.53
      www   300  IN A    192.0.2.80
      www   300  IN AAAA 2001:db8::80
      big   300  IN TXT  """ + BIG + """
      huge  300  IN TXT  """ + HUGE + """
@GONE@
services:
  - { name: app.example.test., policy: nearest, clusters: [eu, us] }
  - { name: solo.example.test., policy: nearest, clusters: [solo], when_all_down: servfail }
clusters:
  eu: { location: { lat: 50.1, lon: 8.7 }, ingress: [203.0.113.1, "2001:db8::1"] }
  us: { location: { lat: 38.9, lon: -77.0 }, ingress: [203.0.113.2, "2001:db8::2"] }
  solo: { location: { lat: 38.9, lon: -77.0 }, ingress: [203.0.113.3] }
"""
GONE = "      gone  300  IN A    192.0.2.99"

NETWORKS = """
- { cidr: 198.18.0.0/30, clusters: [eu, us] }
- { cidr: 198.18.1.0/24, clusters: [us, eu] }
- { cidr: 192.0.2.0/24, clusters: [us, eu] }
- { cidr: "fd00:198:18::/64", clusters: [us, eu] }
"""


def _skip_reason():
    if os.geteuid() != 0:
        return "needs root: network namespaces and XDP"
    for tool in ("ip", "dig", "ping", "curl", "ethtool"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


class Net:
    """The two namespaces and the veth; removed by close() whatever happened."""

    def __init__(self, queues=1):
        tag = str(os.getpid() % 100000) + ("" if queues == 1 else f"q{queues}")
        self.srv, self.cli = f"gslbx{tag}s", f"gslbx{tag}c"
        self.siface, self.ciface = f"gx{tag}s", f"gx{tag}c"
        self.queues = queues
        self.created = []

    def sh(self, *args, check=True, timeout=30):
        return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)

    def in_ns(self, ns, *args, check=False, timeout=30):
        return self.sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)

    def build(self):
        for ns in (self.srv, self.cli):
            self.sh("ip", "netns", "add", ns)
            self.created.append(ns)
        q = ("numtxqueues", str(self.queues), "numrxqueues", str(self.queues))
        self.sh("ip", "link", "add", self.siface, "netns", self.srv, *q, "type", "veth", "peer", "name", self.ciface,
                "netns", self.cli, *q)
        s, c = self.srv, self.cli
        for cmd in (
            [s, "addr", "add", f"{SERVER4}/30", "dev", self.siface],
            [s, "addr", "add", f"{SERVER6}/64", "dev", self.siface, "nodad"],
            [c, "addr", "add", f"{CLIENT4}/30", "dev", self.ciface],
            [c, "addr", "add", f"{OTHER4}/32", "dev", self.ciface],
            [c, "addr", "add", f"{CLIENT6}/64", "dev", self.ciface, "nodad"],
            [s, "link", "set", self.siface, "up"], [c, "link", "set", self.ciface, "up"],
            [s, "link", "set", "lo", "up"], [c, "link", "set", "lo", "up"],
            # The second client address: TCP answers from the kernel need a way back.
            [s, "route", "add", "198.18.1.0/24", "via", CLIENT4],
        ):
            self.sh("ip", "-n", *cmd)

    def close(self):
        for ns in self.created:
            self.sh("ip", "netns", "del", ns, check=False)

    def udp_received(self):
        """The server namespace's kernel UDP datagrams received, IPv4 and IPv6."""
        snmp = self.in_ns(self.srv, "cat", "/proc/net/snmp", "/proc/net/snmp6").stdout
        lines = [l.split() for l in snmp.splitlines() if l.startswith("Udp:")]
        v4 = int(lines[1][lines[0].index("InDatagrams")])
        v6 = int(re.search(r"^Udp6InDatagrams\s+(\d+)", snmp, re.M).group(1))
        return v4, v6

    def xdp_redirected(self):
        """Frames the server end's XDP program redirected to AF_XDP, per receive queue."""
        stats = self.in_ns(self.srv, "ethtool", "-S", self.siface, check=True).stdout
        return [int(n) for n in re.findall(r"rx_queue_\d+_xdp_redirect: (\d+)", stats)]

    def dig(self, *args, server=SERVER4):
        r = self.in_ns(self.cli, "dig", f"@{server}", "+norec", "+time=2", "+tries=2", *args)
        return DigResult(r)

    def http(self, method, path):
        return self.in_ns(self.srv, "curl", "-s", "-X", method, f"http://127.0.0.1:9153{path}").stdout


class Server:
    """gslbd inside the server namespace."""

    def __init__(self, net, queues="all", gone=True):
        self.net = net
        self.dir = tempfile.mkdtemp(prefix="gslbd-xdp-")
        self.config_path = os.path.join(self.dir, "gslbd.yaml")
        with open(os.path.join(self.dir, "networks.yaml"), "w") as f:
            f.write(NETWORKS)
        self.write(queues=queues, gone=gone)
        self.log_path = os.path.join(self.dir, "gslbd.log")
        self.proc = None

    def write(self, queues="all", gone=True):
        text = CONFIG.replace("@IFACE@", self.net.siface).replace("@QUEUES@", queues).replace("@GONE@",
                                                                                               GONE if gone else "")
        with open(self.config_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".tmp", self.config_path)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def start(self, *prefix):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.net.srv, *prefix, BINARY, "-c", self.config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or "serving" in self.log_text(), timeout=30,
                   what="gslbd to start")
        return self

    def reload(self):
        """SIGHUP; waits for the daemon's outcome line and returns it."""
        def outcomes():
            # Lines carry a timestamp before the level outside journald.
            return re.findall(r"(?:info: reloaded: |error: reload failed).*$", self.log_text(), re.M)
        before = len(outcomes())
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: len(outcomes()) > before, what="the reload's outcome")
        return outcomes()[-1]

    def udp_queries(self):
        m = re.search(r'^gslb_transport_queries_total\{transport="udp"\} (\d+)', self.net.http("GET", "/metrics"), re.M)
        return int(m.group(1)) if m else 0

    def stop(self):
        stop_process(self.proc)
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def net():
    n = Net()
    try:
        n.build()
        yield n
    finally:
        n.close()


@pytest.fixture(scope="module")
def server(net):
    s = Server(net).start()
    if s.proc.poll() is not None:
        log = s.log_text()
        if "attaching the XDP program" in log:
            pytest.skip("the kernel refuses XDP on a veth here: " + log.strip())
        raise AssertionError("gslbd did not start:\n" + log)
    yield s
    assert s.stop() == 0, s.log_text()


def test_startup_log_names_the_xdp_mode(server):
    line = next(l for l in server.log_text().splitlines() if "serving" in l)
    assert f"UDP on {server.net.siface} via AF_XDP (native XDP, copy mode" in line, line


def test_static_nxdomain_and_ipv6_are_answered_on_the_xdp_path(net, server):
    before = net.udp_received()
    r = net.dig("www.example.test", "A")
    assert r.status == "NOERROR" and "aa" in r.flags and r.rdata("A") == ["192.0.2.80"], r
    r = net.dig("nope.example.test", "A")
    assert r.status == "NXDOMAIN" and r.records("AUTHORITY")[0][3] == "SOA", r
    r = net.dig("www.example.test", "AAAA", server=SERVER6)
    assert r.status == "NOERROR" and r.rdata("AAAA") == ["2001:db8::80"], r
    r = net.dig("nope.example.test", "AAAA", server=SERVER6)
    assert r.status == "NXDOMAIN", r
    # The kernel's UDP stack in the server namespace saw none of these queries.
    assert net.udp_received() == before


def test_geo_by_source_address_and_by_ecs(net, server):
    r = net.dig("app.example.test", "A", "-b", CLIENT4)
    assert r.rdata("A") == [EU4], r
    r = net.dig("app.example.test", "A", "-b", OTHER4)
    assert r.rdata("A") == [US4], r
    r = net.dig("app.example.test", "A", "-b", CLIENT4, "+subnet=192.0.2.0/24")
    assert r.rdata("A") == [US4] and r.ecs == ("192.0.2.0", 24, 24), r
    r = net.dig("app.example.test", "AAAA", server=SERVER6)
    assert r.rdata("AAAA") == ["2001:db8::2"], r


def test_edns_nsid_and_badvers(net, server):
    r = net.dig("www.example.test", "A", "+nsid")
    assert r.status == "NOERROR" and "udp: 1232" in r.stdout and 'NSID: 78 64 70 2d 74 65 73 74 ("xdp-test")' in r.stdout, r
    r = net.dig("www.example.test", "A", "+edns=1", "+noednsnegotiation")
    assert r.status == "BADVERS", r


def test_truncated_over_xdp_then_the_full_answer_over_tcp(net, server):
    before = net.udp_received()
    r = net.dig("big.example.test", "TXT", "+noedns", "+ignore")
    assert "tc" in r.flags and r.records() == [], r
    # Larger than the veth's MTU: no fragments on the XDP path, so TC even though the
    # client offers 4096 bytes.
    r = net.dig("huge.example.test", "TXT", "+bufsize=4096", "+ignore")
    assert "tc" in r.flags and r.records() == [], r
    assert net.udp_received() == before
    for name, text in (("big", BIG), ("huge", HUGE)):
        r = net.dig(f"{name}.example.test", "TXT", "+tcp")
        assert "tc" not in r.flags and r.rdata("TXT") == [text], r


MALFORMED_SCRIPT = r"""
import socket, sys
packets = [bytes.fromhex(h) for h in sys.argv[2:]]
socks = []
for p in packets:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(p, (sys.argv[1], 53))
    socks.append(s)
for s in socks:
    try:
        print(s.recv(4096).hex())
    except socket.timeout:
        print("silence")
"""

MALFORMED = {
    "shorter than a header": "1234010000",
    "a response": "1234810000010000000000000377777707657861" "6d706c6504746573740000010001",
    "no question": "123401000000000000000000",
    "two questions": "1234010000020000000000000377777707657861" "6d706c6504746573740000010001",
    "name cut short": "12340100000100000000000003777777076578",
    "label past the end": "1234010000010000000000003f77777700000100",
    "pointer loop": "123401000001000000000000c00c00010001",
}


def test_malformed_packets_get_what_the_socket_path_gives(net, server):
    """The same packets to the veth address (XDP) and to 127.0.0.1 in the server
    namespace (the kernel's sockets): the same FORMERR bytes or the same silence."""
    hexes = list(MALFORMED.values())
    xdp = net.in_ns(net.cli, "python3", "-c", MALFORMED_SCRIPT, SERVER4, *hexes).stdout.split()
    sockets = net.in_ns(net.srv, "python3", "-c", MALFORMED_SCRIPT, "127.0.0.1", *hexes).stdout.split()
    assert len(xdp) == len(hexes) and xdp == sockets, list(zip(MALFORMED, xdp, sockets))
    assert xdp[0] == "silence" and xdp[1] == "silence"
    assert any(h != "silence" and (int(h[6:8], 16) & 0xF) == 1 for h in xdp), xdp  # some FORMERR


def test_arp_nd_ping_and_tcp_still_reach_the_kernel(net, server):
    for ns in (net.srv, net.cli):
        net.in_ns(ns, "ip", "neigh", "flush", "all", check=True)
    assert net.in_ns(net.cli, "ping", "-c", "1", "-W", "2", SERVER4).returncode == 0
    assert net.in_ns(net.cli, "ping", "-6", "-c", "1", "-W", "2", SERVER6).returncode == 0
    assert net.in_ns(net.srv, "ping", "-c", "1", "-W", "2", CLIENT4).returncode == 0
    r = net.dig("www.example.test", "A", "+tcp")
    assert r.rdata("A") == ["192.0.2.80"] and "(TCP)" in r.stdout, r
    r = net.dig("www.example.test", "AAAA", "+tcp", server=SERVER6)
    assert r.rdata("AAAA") == ["2001:db8::80"], r
    # UDP to another port is the kernel's: no listener there, so ICMP unreachable.
    r = net.in_ns(net.cli, "dig", f"@{SERVER4}", "-p", "5353", "+time=1", "+tries=1", "www.example.test")
    assert "connection refused" in r.stdout or "communications error" in r.stdout, r.stdout


KXDPGUN_RUN = ["-t", "4", "-Q", "5000"]


def kxdpgun(net, server, name, qtype, during):
    """Runs kxdpgun against the XDP path; calls `during` once it has seen a second's
    worth of answers; returns kxdpgun's summary {"queries", "replies", rcode: n}."""
    queries = os.path.join(server.dir, "kxdpgun-queries")
    with open(queries, "w") as f:
        f.write(f"{name} {qtype}\n")
    base = server.udp_queries()
    proc = subprocess.Popen(["ip", "netns", "exec", net.cli, "kxdpgun", *KXDPGUN_RUN, "-i", queries, SERVER4],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: server.udp_queries() > base + 5000 or proc.poll() is not None, timeout=10,
                   what="kxdpgun's first answers")
        assert proc.poll() is None, proc.stdout.read()
        during()
        out, _ = proc.communicate(timeout=30)
    finally:
        stop_process(proc)
    summary = {"queries": int(re.search(r"total queries:\s+(\d+)", out).group(1)),
               "replies": int(re.search(r"total replies:\s+(\d+)", out).group(1))}
    for rcode, n in re.findall(r"responded (\w+):\s+(\d+)", out):
        summary[rcode] = int(n)
    return summary, out


needs_kxdpgun = pytest.mark.skipif(shutil.which("kxdpgun") is None, reason="kxdpgun (knot-dnsutils) is not installed")


@needs_kxdpgun
def test_reload_under_load_switches_answers_and_loses_nothing(net, server):
    def reload_without_the_name():
        server.write(gone=False)
        assert "info: reloaded: " in server.reload()
    try:
        summary, out = kxdpgun(net, server, "gone.example.test", "A", reload_without_the_name)
    finally:
        server.write(gone=True)
        server.reload()
    assert summary["replies"] == summary["queries"], out
    assert summary.get("NOERROR", 0) > 0 and summary.get("NXDOMAIN", 0) > 0, out


@needs_kxdpgun
def test_health_change_under_load_switches_answers_and_loses_nothing(net, server):
    def drain():
        assert '"drained":true' in net.http("POST", "/clusters/solo/drain")
    try:
        summary, out = kxdpgun(net, server, "solo.example.test", "A", drain)
    finally:
        net.http("POST", "/clusters/solo/undrain")
    assert summary["replies"] == summary["queries"], out
    assert summary.get("NOERROR", 0) > 0 and summary.get("SERVFAIL", 0) > 0, out
    wait_until(lambda: net.dig("solo.example.test", "A").rdata("A") == [SOLO4], what="the undrained answer")


def test_reload_refuses_a_changed_xdp_setting(net, server):
    server.write(queues="[0]")
    try:
        line = server.reload()
        assert "reload failed" in line and "server.xdp cannot change without a restart" in line, line
    finally:
        server.write()
    assert net.dig("www.example.test", "A").rdata("A") == ["192.0.2.80"]


def start_error(net, config_text, *prefix):
    """Runs gslbd in the server namespace with `config_text`; returns (exit code, log)."""
    d = tempfile.mkdtemp(prefix="gslbd-xdp-bad-")
    with open(os.path.join(d, "networks.yaml"), "w") as f:
        f.write(NETWORKS)
    path = os.path.join(d, "gslbd.yaml")
    with open(path, "w") as f:
        # Another DNS port and HTTP port than the running server's: a second gslbd on
        # its ports is refused before the XDP checks these cases are about.
        f.write(config_text.replace("127.0.0.1:9153", "127.0.0.1:9154").replace(":53\"", ":54\""))
    r = net.in_ns(net.srv, *prefix, BINARY, "-c", path, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_start_fails_with_the_reason(net, server):
    base = CONFIG.replace("@GONE@", "").replace("@QUEUES@", "all")
    cases = [
        (base.replace("@IFACE@", "nosuch0"), (), 'server.xdp.interface: no network interface named "nosuch0"'),
        (base.replace("@IFACE@", net.siface).replace("queues: all", "queues: [0, 7]"), (),
         f"server.xdp.queues: {net.siface} has 1 receive queue(s) (0 to 0), not queue 7"),
        # The running server holds queue 0: a second one must not half-start.
        (base.replace("@IFACE@", net.siface), (), "queue 0 already has an AF_XDP socket"),
    ]
    if shutil.which("setpriv"):
        cases.append((base.replace("@IFACE@", net.siface),
                      ("setpriv", "--bounding-set=-net_admin,-net_raw,-bpf,-sys_admin", "--inh-caps=-all", "--"),
                      "missing CAP_NET_ADMIN (attach the XDP program), CAP_NET_RAW (open AF_XDP sockets), CAP_BPF"))
    for text, prefix, message in cases:
        code, log = start_error(net, text, *prefix)
        assert code == 1 and message in log and "serving" not in log, log
    # The running server still answers on the XDP path.
    assert net.dig("www.example.test", "A").rdata("A") == ["192.0.2.80"]


def test_replace_is_refused_and_the_old_process_keeps_xdp(net, server):
    """The AF_XDP queues are not handed over: `gslbd --replace` fails naming the queue,
    the running server answers on, through XDP still (the kernel counts nothing)."""
    r = net.in_ns(net.srv, BINARY, "--replace", "-c", server.config_path, timeout=60)
    assert r.returncode == 1 and "replacement failed, the running gslbd keeps serving" in r.stderr, r
    assert "queue 0 already has an AF_XDP socket" in r.stderr, r
    assert server.proc.poll() is None
    before = net.udp_received()
    assert net.dig("www.example.test", "A").rdata("A") == ["192.0.2.80"]
    assert net.udp_received()[0] == before[0]


@pytest.mark.parametrize("xdp, message", [
    ("{ queues: all }", "server.xdp: missing required key 'interface'"),
    ("{ interface: eth0, queues: [0, 0] }", "server.xdp.queues[1]: listed twice"),
    ("{ interface: eth0, queues: some }", "server.xdp.queues: expected \"all\" or a list of queue numbers"),
    ("{ interface: eth0, queues: [300] }", "server.xdp.queues[0]"),
    ("{ interface: eth0, mode: fast }", "server.xdp.mode: unknown key"),
])
def test_config_errors_point_at_the_key(tmp_path, xdp, message):
    text = CONFIG.replace("@GONE@", "").replace("xdp: { interface: @IFACE@, queues: @QUEUES@ }", "xdp: " + xdp)
    (tmp_path / "networks.yaml").write_text(NETWORKS)
    path = tmp_path / "gslbd.yaml"
    path.write_text(text)
    r = check_config(str(path))
    assert r.returncode == 1 and message in r.stderr and "gslbd.yaml:7:" in r.stderr, r.stderr


def test_every_queue_of_a_multi_queue_interface_answers():
    """`queues: all` on a two-queue veth: one AF_XDP socket a queue, and queries that
    the client's flows hash onto either queue are all answered there, none by the
    kernel."""
    net = Net(queues=2)
    try:
        net.build()
        server = Server(net).start()
        if server.proc.poll() is not None:
            log = server.log_text()
            server.stop()
            if "attaching the XDP program" in log:
                pytest.skip("the kernel refuses XDP on a two-queue veth here: " + log.strip())
            raise AssertionError("gslbd did not start:\n" + log)
        try:
            assert "queue(s) 0,1" in server.log_text(), server.log_text()
            kernel_before = net.udp_received()
            # Each dig is a new flow (a new source port): the client end picks a
            # transmit queue by flow hash, and a veth delivers into the peer's
            # receive queue of the same number.
            answers = [net.dig("www.example.test", "A", "+short").stdout.split() for _ in range(40)]
            assert answers == [["192.0.2.80"]] * 40
            redirected = net.xdp_redirected()
            assert len(redirected) == 2 and all(n > 0 for n in redirected), redirected
            assert sum(redirected) >= 40
            assert net.udp_received() == kernel_before
        finally:
            assert server.stop() == 0, server.log_text()
    finally:
        net.close()
