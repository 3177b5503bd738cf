"""Geo routing end to end: clusters in Frankfurt, Virginia and Tokyo; clients
simulated with EDNS Client Subnet from addresses that Debian's tor-geoipdb places in
Japan, Germany and the USA; the ECS scope in every answer checked for honesty by
asking again from other addresses inside the block it claims."""
import ipaddress
import json
import os
import random
import socket
import struct
import subprocess
import tempfile
import types
import urllib.parse

import pytest

from geodata import DE4, DE6, GEO, GEOIP4, GEOIP6, JP4, JP6, US4
from gslb import ROOT, DigResult, Gslbd, rss_kib, wait_until

MAKE_MMDB = os.path.join(ROOT, "tests", "tools", "make-test-mmdb")

FRA4, FRA6 = "203.0.113.10", "2001:db8:10::1"
IAD4, IAD6 = "203.0.113.20", "2001:db8:20::1"
TYO4, TYO6 = "203.0.113.30", "2001:db8:30::1"
TYO_V4ONLY, FRA_V4ONLY = "203.0.113.31", "203.0.113.11"


# A /24 inside Germany that the operator's networks file places in Tokyo: the sharpest
# test of an honest scope, since the neighbouring blocks are German.
DE_RANGE = max((r for r in GEO.ranges[4] if r[2] == "DE"), key=lambda r: r[1] - r[0])
DE_HOLE = str(ipaddress.IPv4Address(((DE_RANGE[0] + DE_RANGE[1]) // 2 >> 8 << 8) + (1 << 12)))
assert GEO.country(4, int(ipaddress.IPv4Address(DE_HOLE))) == "DE"

NETWORKS = f"""# operator overrides: most specific prefix wins over the tor-geoipdb ranges
- {{ cidr: 192.0.2.0/24, location: {{ lat: 35.68, lon: 139.69 }} }}
- {{ cidr: 198.51.100.0/24, clusters: [us-east, eu-west] }}
- {{ cidr: {DE_HOLE}/24, location: {{ lat: 35.68, lon: 139.69 }} }}
"""

# JP clients in general measure Virginia fastest; one Japanese /16 measures Frankfurt.
JP_LATENCY_NET = str(ipaddress.ip_network(f"{JP4}/16", strict=False))
LATENCY = f"""client,cluster,rtt_ms
JP,us-east,20
JP,ap-northeast,80
{JP_LATENCY_NET},eu-west,5
DE,eu-west,10
"""

CLUSTERS = f"""
clusters:
  eu-west:
    location: {{ lat: 50.11, lon: 8.68 }}       # Frankfurt
    ingress: [{FRA4}, "{FRA6}"]
  us-east:
    location: {{ lat: 39.04, lon: -77.49 }}     # Ashburn, Virginia
    ingress: [{IAD4}, "{IAD6}"]
  ap-northeast:
    location: {{ lat: 35.68, lon: 139.69 }}     # Tokyo
    ingress: [{TYO4}, "{TYO6}"]
  ap-v4only:
    location: {{ lat: 35.68, lon: 139.69 }}     # Tokyo, no IPv6 ingress
    ingress: [{TYO_V4ONLY}]
  eu-v4only:
    location: {{ lat: 50.11, lon: 8.68 }}       # Frankfurt, no IPv6 ingress
    ingress: [{FRA_V4ONLY}]
"""

ZONE = """
zones:
  - origin: global.example.com.
    soa: { mname: ns1.global.example.com., rname: hostmaster.global.example.com., minimum: 60 }
    ns: [ns1.global.example.com.]
    records: |
      ns1   3600 IN A     192.0.2.53
      ns1   3600 IN AAAA  2001:db8::53
"""

SERVICES = """
services:
  - name: app.global.example.com.
    ttl: 30
    policy: nearest
    clusters: [eu-west, us-east, ap-northeast]
  - name: partial.global.example.com.
    ttl: 30
    policy: nearest
    clusters: [us-east, eu-west, ap-v4only]
  - name: v4only.global.example.com.
    ttl: 30
    policy: nearest
    clusters: [ap-v4only, eu-v4only]
  - name: two.global.example.com.
    ttl: 30
    policy: nearest
    answers: 2
    clusters: [eu-west, us-east, ap-northeast]
  - name: failover.global.example.com.
    ttl: 30
    policy: failover
    clusters: [us-east, eu-west, ap-northeast]
  - name: weighted.global.example.com.
    ttl: 30
    policy: weighted
    clusters: [eu-west, us-east, ap-northeast]
    weights: { eu-west: 1, us-east: 1, ap-northeast: 0 }
  - name: latency.global.example.com.
    ttl: 30
    policy: latency
    clusters: [eu-west, us-east, ap-northeast]
"""

CONFIG = f"""
server:
  listen: [@LISTEN@]
  workers: 2
  http: @HTTP@
geo:
  ranges: [{GEOIP4}, {GEOIP6}]
  networks: networks.yaml
latency:
  table: latency.csv
""" + ZONE + SERVICES + CLUSTERS


def run_batch(g, queries):
    """Runs many queries in one dig process (`dig -f`); returns DigResults in order."""
    fd, path = tempfile.mkstemp(prefix="queries-", dir=g.dir)
    with os.fdopen(fd, "w") as f:
        for q in queries:
            f.write(" ".join(q) + "\n")
    proc = subprocess.run(["dig", "@127.0.0.1", "-p", str(g.port), "+norec", "+time=2", "+tries=2", "-f", path],
                          capture_output=True, text=True, timeout=120)
    chunks = proc.stdout.split("\n; <<>> DiG")
    chunks = [c for c in chunks if "QUESTION SECTION" in c or "status:" in c]
    assert len(chunks) == len(queries), proc.stdout + proc.stderr
    return [DigResult(types.SimpleNamespace(stdout=c, returncode=proc.returncode)) for c in chunks]


def answer_of(r, qtype):
    return (r.status, sorted(r.rdata(qtype)))


RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def raw_query(port, name, qtype, client, prefix, sock):
    """One UDP query with an ECS option, for bulk sampling (dig checks the
    headline answers; this only needs rcode, addresses and the ECS scope)."""
    ip = ipaddress.ip_address(client)
    family = 1 if ip.version == 4 else 2
    addr = ip.packed[:(prefix + 7) // 8]
    ecs = struct.pack("!HBB", family, prefix, 0) + addr
    qid = random.getrandbits(16)
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    code = {"A": 1, "AAAA": 28}[qtype]
    msg = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1) + wire + struct.pack("!HH", code, 1)
    msg += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(ecs)) + struct.pack("!HH", 8, len(ecs)) + ecs
    sock.sendto(msg, ("127.0.0.1", port))
    while True:
        resp = sock.recv(65535)
        if struct.unpack("!H", resp[:2])[0] == qid:
            break
    flags, qd, an, ns, ar = struct.unpack("!HHHHH", resp[2:12])

    def skip_name(pos):
        while True:
            n = resp[pos]
            if n >= 0xC0:
                return pos + 2
            if n == 0:
                return pos + 1
            pos += n + 1
    pos = 12
    for _ in range(qd):
        pos = skip_name(pos) + 4
    addresses, scope = [], None
    for i in range(an + ns + ar):
        pos = skip_name(pos)
        rtype, _, _, rdlen = struct.unpack("!HHIH", resp[pos:pos + 10])
        pos += 10
        rdata = resp[pos:pos + rdlen]
        pos += rdlen
        if i < an and rtype == code:
            addresses.append(str(ipaddress.ip_address(rdata)))
        if rtype == 41:
            o = 0
            while o + 4 <= len(rdata):
                ocode, olen = struct.unpack("!HH", rdata[o:o + 4])
                if ocode == 8:
                    scope = rdata[o + 7]
                o += 4 + olen
    return RCODES.get(flags & 0xF, str(flags & 0xF)), sorted(addresses), scope


def assert_honest_scope(g, name, qtype, r, samples=64, extra=()):
    """The answer `r` claims (through its ECS scope) to hold for every client in
    address/scope: ask from other addresses in that block (its ends, every tor
    range boundary inside it, random ones) and expect the same answer."""
    assert r.ecs is not None, r
    address, source, scope = r.ecs
    ip = ipaddress.ip_address(address)
    family, bits = (4, 32) if ip.version == 4 else (6, 128)
    block = ipaddress.ip_network(f"{address}/{scope}", strict=False)
    lo, hi = int(block.network_address), int(block.broadcast_address)
    rng = random.Random(f"{address}/{source}/{scope}")
    points = {lo, hi} | {rng.randint(lo, hi) for _ in range(samples // 3)}
    edges = GEO.boundaries(family, lo, hi)
    if len(edges) > samples:
        edges = rng.sample(edges, samples)
    points |= set(edges)
    points |= {int(ipaddress.ip_address(a)) for a in extra if lo <= int(ipaddress.ip_address(a)) <= hi}
    expected = answer_of(r, qtype)
    make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for p in sorted(points):
            status, addresses, _ = raw_query(g.port, name, qtype, str(make(p)), bits, sock)
            assert (status, addresses) == expected, (
                f"{name} {qtype}: the answer for {address}/{source} claims scope /{scope} "
                f"({block}), but {make(p)} gets {(status, addresses)} instead of {expected}")
    return len(points)


def test_the_sampling_client_agrees_with_dig(g):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for name, qtype, client, prefix in (("app.global.example.com", "A", JP4, 24),
                                            ("two.global.example.com", "AAAA", JP6, 48),
                                            ("v4only.global.example.com", "AAAA", DE4, 24)):
            r = g.dig(name, qtype, f"+subnet={client}/{prefix}")
            assert raw_query(g.port, name, qtype, client, prefix, sock) == (r.status, sorted(r.rdata(qtype)), r.ecs[2])


@pytest.fixture(scope="module")
def g():
    server = Gslbd(CONFIG, extra_files={"networks.yaml": NETWORKS, "latency.csv": LATENCY})
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("client,expected", [(JP4, TYO4), (DE4, FRA4), (US4, IAD4)])
def test_nearest_cluster_by_client_subnet(g, client, expected):
    assert GEO.country(4, int(ipaddress.IPv4Address(client))) in ("JP", "DE", "US")
    r = g.dig("app.global.example.com", "A", f"+subnet={client}/24")
    assert r.status == "NOERROR" and "aa" in r.flags, r
    assert r.rdata("A") == [expected], r
    address, source, scope = r.ecs
    assert (address, source) == (client, 24), r
    assert 0 < scope <= 32, r
    k = g.kdig("app.global.example.com", "A", f"+subnet={client}/24")
    assert k.rdata("A") == [expected] and k.ecs == r.ecs, k
    assert_honest_scope(g, "app.global.example.com", "A", r)


def test_ipv6_client_subnet_and_aaaa(g):
    r = g.dig("app.global.example.com", "AAAA", f"+subnet={JP6}/48")
    assert r.status == "NOERROR" and r.rdata("AAAA") == [TYO6], r
    assert r.ecs[:2] == (JP6, 48) and 0 < r.ecs[2] <= 128, r
    assert_honest_scope(g, "app.global.example.com", "AAAA", r)
    k = g.kdig("app.global.example.com", "AAAA", f"+subnet={DE6}/48")
    assert k.rdata("AAAA") == [FRA6], k
    # an IPv4 client asking AAAA gets its nearest cluster's IPv6 ingress
    r = g.dig("app.global.example.com", "AAAA", f"+subnet={US4}/24")
    assert r.rdata("AAAA") == [IAD6], r


@pytest.mark.parametrize("client", [f"{JP4[:JP4.index('.')]}.0.0.0/8", "128.0.0.0/1", "0.0.0.0/1", f"{DE4}/32",
                                    f"::ffff:{JP4}/120", f"::ffff:{DE_HOLE}/120", f"::ffff:{DE4}/104",
                                    "2400::/12", f"{JP6}/128", f"{DE6}/33", "::/1", "8000::/1"])
def test_scope_is_honest_for_coarse_fine_and_mapped_subnets(g, client):
    for name, qtype in (("app.global.example.com", "A"), ("two.global.example.com", "AAAA"),
                        ("latency.global.example.com", "A")):
        r = g.dig(name, qtype, f"+subnet={client}")
        assert r.status == "NOERROR" and r.ecs is not None, r
        assert r.ecs[2] <= (32 if "." in r.ecs[0] and ":" not in r.ecs[0] else 128), r
        assert_honest_scope(g, name, qtype, r, samples=32)


def test_no_client_subnet_option_in_the_answer_without_one_in_the_query(g):
    r = g.dig("app.global.example.com", "A")
    assert r.status == "NOERROR" and r.ecs is None and "CLIENT-SUBNET" not in r.stdout, r
    # the packet's source (127.0.0.1, located nowhere): the written order
    assert r.rdata("A") == [FRA4], r
    r = g.dig("app.global.example.com", "A", f"+subnet={JP4}/24", "+tcp")
    assert r.rdata("A") == [TYO4] and r.ecs[:2] == (JP4, 24), r


def test_two_answers_in_ranked_order(g):
    r = g.dig("two.global.example.com", "A", f"+subnet={JP4}/24")
    assert sorted(r.rdata("A")) == sorted([TYO4, FRA4]), r
    r = g.dig("two.global.example.com", "AAAA", f"+subnet={US4}/24")
    assert sorted(r.rdata("AAAA")) == sorted([IAD6, FRA6]), r
    assert_honest_scope(g, "two.global.example.com", "AAAA", r)


def post(g, path):
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{g.http_port}{path}", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, path


def test_scope_stays_honest_when_a_cluster_is_drained(g):
    """The scope must hold for the whole ranking, not just today's first choice:
    with Tokyo drained, Japanese clients fall back by their own ranking."""
    post(g, "/clusters/ap-northeast/drain")
    try:
        wait_until(lambda: g.dig("app.global.example.com", "A", f"+subnet={JP4}/24").rdata("A") == [FRA4],
                   timeout=10, what="Tokyo to leave the answers")
        for client in (f"{JP4}/24", f"{JP6}/48", "2400::/12", f"{DE_HOLE}/24", f"{US4}/24"):
            for name in ("app.global.example.com", "two.global.example.com"):
                r = g.dig(name, "A", f"+subnet={client}")
                assert TYO4 not in r.rdata("A") and r.rdata("A"), r
                assert_honest_scope(g, name, "A", r, samples=32)
    finally:
        post(g, "/clusters/ap-northeast/undrain")
    wait_until(lambda: g.dig("app.global.example.com", "A", f"+subnet={JP4}/24").rdata("A") == [TYO4],
               timeout=10, what="Tokyo back in the answers")


def test_source_prefix_zero_gets_scope_zero(g):
    for client in ("0.0.0.0/0", "::/0"):
        r = g.dig("app.global.example.com", "A", f"+subnet={client}")
        assert r.status == "NOERROR" and len(r.rdata("A")) == 1, r
        assert r.ecs is not None and r.ecs[1:] == (0, 0), r
        k = g.kdig("app.global.example.com", "A", f"+subnet={client}")
        assert k.ecs is not None and k.ecs[1:] == (0, 0), k


def test_static_name_answers_with_scope_zero(g):
    for client in (f"{JP4}/24", f"{JP6}/56"):
        r = g.dig("ns1.global.example.com", "A", f"+subnet={client}")
        assert r.rdata("A") == ["192.0.2.53"], r
        assert r.ecs is not None and r.ecs[2] == 0, r


def test_cluster_without_ipv6_is_skipped_for_aaaa(g):
    # Tokyo (v4 only) is nearest for A; for AAAA the next nearest with IPv6 ingress:
    # Frankfurt (9,300 km from Tokyo) before Virginia (10,900 km).
    r = g.dig("partial.global.example.com", "A", f"+subnet={JP4}/24")
    assert r.rdata("A") == [TYO_V4ONLY], r
    r = g.dig("partial.global.example.com", "AAAA", f"+subnet={JP4}/24")
    assert r.status == "NOERROR" and r.rdata("AAAA") == [FRA6], r
    assert_honest_scope(g, "partial.global.example.com", "AAAA", r)
    r = g.dig("partial.global.example.com", "AAAA", f"+subnet={JP6}/48")
    assert r.rdata("AAAA") == [FRA6], r


def test_no_cluster_with_ipv6_is_nodata(g):
    r = g.dig("v4only.global.example.com", "A", f"+subnet={DE4}/24")
    assert r.rdata("A") == [FRA_V4ONLY], r
    r = g.dig("v4only.global.example.com", "AAAA", f"+subnet={DE4}/24")
    assert r.status == "NOERROR" and "aa" in r.flags and r.rdata() == [], r
    assert [x[3] for x in r.records("AUTHORITY")] == ["SOA"], r


@pytest.mark.parametrize("option", [
    "0001180001020304",      # IPv4 /24 with 4 address bytes (must be 3)
    "000118000102",          # IPv4 /24 with 2 address bytes
    "000120000102030405",    # IPv4 /32 with 5 address bytes
    "0002300020010db8",      # IPv6 /48 with 4 address bytes
    "0001210001020304",      # IPv4 source prefix 33
    "00011400010203",        # IPv4 /20 with bits set beyond the prefix
    "000118",                # truncated before the address
])
def test_malformed_client_subnet_is_formerr(g, option):
    r = g.dig("app.global.example.com", "A", f"+ednsopt=8:{option}")
    assert r.status == "FORMERR", r
    # and a well-formed option written the same raw way works
    r = g.dig("app.global.example.com", "A", f"+ednsopt=8:00011800{''.join(f'{int(x):02x}' for x in JP4.split('.')[:3])}")
    assert r.status == "NOERROR" and r.rdata("A") == [TYO4], r


def test_networks_file_overrides_the_ranges(g):
    # a location override for documentation space no tor range covers
    r = g.dig("app.global.example.com", "A", "+subnet=192.0.2.0/24")
    assert r.rdata("A") == [TYO4], r
    assert_honest_scope(g, "app.global.example.com", "A", r)
    # pinned clusters, in the pinned order, even for a nearest service
    r = g.dig("app.global.example.com", "A", "+subnet=198.51.100.77/32")
    assert r.rdata("A") == [IAD4], r
    # a hole in a German range: Tokyo inside it, Frankfurt on both sides, and the
    # neighbours' scopes must not claim the hole
    hole = ipaddress.ip_network(f"{DE_HOLE}/24")
    r = g.dig("app.global.example.com", "A", f"+subnet={DE_HOLE}/24")
    assert r.rdata("A") == [TYO4] and r.ecs[2] >= 24, r
    for neighbour in (hole.network_address - 256, hole.network_address + 256, hole.network_address - 4096):
        r = g.dig("app.global.example.com", "A", f"+subnet={neighbour}/24")
        assert r.rdata("A") == [FRA4], r
        claimed = ipaddress.ip_network(f"{r.ecs[0]}/{r.ecs[2]}", strict=False)
        assert not claimed.overlaps(hole), f"scope {claimed} covers the Tokyo override {hole}:\n{r}"
        assert_honest_scope(g, "app.global.example.com", "A", r, extra=[DE_HOLE])


def test_failover_is_written_order_with_scope_zero(g):
    for client in (f"{JP4}/24", f"{DE4}/24", f"{JP6}/48"):
        r = g.dig("failover.global.example.com", "A", f"+subnet={client}")
        assert r.rdata("A") == [IAD4], r
        assert r.ecs[2] == 0, r


def test_weighted_is_deterministic_per_subnet(g):
    rng = random.Random(7)
    subnets = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}" for _ in range(40)]
    first = run_batch(g, [["weighted.global.example.com", "A", f"+subnet={s}.0/24"] for s in subnets])
    again = run_batch(g, [["weighted.global.example.com", "A", f"+subnet={s}.{rng.randint(1, 254)}/32"] for s in subnets])
    seen = set()
    for s, a, b in zip(subnets, first, again):
        assert a.status == "NOERROR" and len(a.rdata("A")) == 1, a
        assert a.rdata("A") == b.rdata("A"), f"{s}.0/24 answered {a.rdata('A')} then {b.rdata('A')} from inside it"
        assert a.ecs[2] == 24, a  # the answer depends on the /24 and nothing finer
        seen.add(a.rdata("A")[0])
    # equal weights for Frankfurt and Virginia, zero for Tokyo
    assert seen == {FRA4, IAD4}, seen


def test_latency_table(g):
    # Japan measures Virginia fastest ...
    other_jp = GEO.address_in("JP", avoid=[int(ipaddress.ip_network(JP_LATENCY_NET).network_address)])
    assert not ipaddress.ip_address(other_jp) in ipaddress.ip_network(JP_LATENCY_NET)
    r = g.dig("latency.global.example.com", "A", f"+subnet={other_jp}/24")
    assert r.rdata("A") == [IAD4], r
    assert_honest_scope(g, "latency.global.example.com", "A", r, extra=[JP4])
    # ... except one /16, which measures Frankfurt
    r = g.dig("latency.global.example.com", "A", f"+subnet={JP4}/24")
    assert r.rdata("A") == [FRA4], r
    claimed = ipaddress.ip_network(f"{r.ecs[0]}/{r.ecs[2]}", strict=False)
    assert claimed.subnet_of(ipaddress.ip_network(JP_LATENCY_NET)), r
    assert_honest_scope(g, "latency.global.example.com", "A", r)
    # Germany is measured; the USA is not in the table and is ranked nearest
    assert g.dig("latency.global.example.com", "A", f"+subnet={DE4}/24").rdata("A") == [FRA4]
    assert g.dig("latency.global.example.com", "A", f"+subnet={US4}/24").rdata("A") == [IAD4]
    # the nearest service ignores the table
    assert g.dig("app.global.example.com", "A", f"+subnet={JP4}/24").rdata("A") == [TYO4]


def explain(g, name, client):
    status, body = g.http_get("/explain?" + urllib.parse.urlencode({"name": name, "client": client}))
    assert status == 200, body
    return json.loads(body)


def test_explain_names_the_ranking_and_the_answer(g):
    e = explain(g, "app.global.example.com", JP4)
    assert [c["cluster"] for c in e["geo"]["ranked"]] == ["ap-northeast", "eu-west", "us-east"], e
    assert e["answer"]["A"]["addresses"] == [TYO4] and e["answer"]["AAAA"]["addresses"] == [TYO6], e
    assert e["geo"]["location"]["country"] == "JP", e
    # the same answer and scope as a /32 ECS query
    r = g.dig("app.global.example.com", "A", f"+subnet={JP4}/32")
    assert e["answer"]["A"]["scope"] == r.ecs[2], (e, r)
    e = explain(g, "latency.global.example.com", JP4)
    assert [c["cluster"] for c in e["geo"]["ranked"]][0] == "eu-west", e
    assert e["answer"]["A"]["addresses"] == [FRA4], e
    e = explain(g, "partial.global.example.com", JP6)
    assert e["geo"]["ranked"][0]["cluster"] == "ap-v4only", e
    assert e["answer"]["A"]["addresses"] == [TYO_V4ONLY] and e["answer"]["AAAA"]["addresses"] == [FRA6], e
    e = explain(g, "app.global.example.com", "198.51.100.9")
    assert [c["cluster"] for c in e["geo"]["ranked"]][:2] == ["us-east", "eu-west"], e


def test_explain_rejects_bad_requests(g):
    import urllib.error
    for q in ("name=app.global.example.com", "name=app.global.example.com&client=nope",
              "name=nosuch.global.example.com&client=192.0.2.1"):
        with pytest.raises(urllib.error.HTTPError) as err:
            g.http_get("/explain?" + q)
        assert err.value.code == 400


MMDB_CONFIG = """
server:
  listen: [@LISTEN@]
  workers: 1
  http: @HTTP@
geo:
  mmdb: test.mmdb
""" + ZONE + SERVICES + CLUSTERS


def test_mmdb_as_the_location_source(tmp_path):
    subprocess.run([MAKE_MMDB, str(tmp_path / "test.mmdb")], check=True, timeout=60)
    with Gslbd(MMDB_CONFIG, workdir=str(tmp_path)) as m:
        # Tokyo and Yokohama halves of 192.0.2.0/24: both Tokyo's cluster
        for client in ("192.0.2.1/32", "192.0.2.200/32", "192.0.2.0/24"):
            r = m.dig("app.global.example.com", "A", f"+subnet={client}")
            assert r.rdata("A") == [TYO4], r
        # ... and the scope claimed for them holds (random points and the block's ends)
        assert_honest_scope(m, "app.global.example.com", "A", r)
        assert_honest_scope(m, "two.global.example.com", "A", m.dig("two.global.example.com", "A", "+subnet=192.0.2.128/25"))
        # a country-only record (DE)
        r = m.dig("app.global.example.com", "A", "+subnet=198.51.100.0/24")
        assert r.rdata("A") == [FRA4], r
        # a city in IPv6
        r = m.dig("app.global.example.com", "AAAA", "+subnet=2001:db8:1::/48")
        assert r.rdata("AAAA") == [FRA6], r
        assert_honest_scope(m, "two.global.example.com", "AAAA", m.dig("two.global.example.com", "AAAA", "+subnet=2001:db8::/32"))
        # a continent-only record (NA): Virginia
        assert m.dig("app.global.example.com", "A", "+subnet=203.0.113.0/24").rdata("A") == [IAD4]
        r = m.dig("two.global.example.com", "A", "+subnet=203.0.113.0/24")
        assert sorted(r.rdata("A")) == sorted([IAD4, FRA4]), r
        assert_honest_scope(m, "two.global.example.com", "A", r)
        e = explain(m, "app.global.example.com", "192.0.2.1")
        assert e["geo"]["source"] == "mmdb", e


@pytest.mark.skipif(os.environ.get("GSLBD_SANITIZED") == "1",
                    reason="ASan's allocator holds freed memory in quarantine: RSS tells nothing there")
def test_reloads_of_the_tor_geoipdb_ranges_give_the_replaced_table_back():
    """A reload builds a second table beside the serving one; once every serving
    thread has moved to the new one, the old one's memory must go back to the system,
    or each reload of a large GeoIP source leaves the process bigger."""
    with Gslbd(CONFIG, extra_files={"networks.yaml": NETWORKS, "latency.csv": LATENCY}) as g:
        start = rss_kib(g.proc.pid)
        for _ in range(3):
            g.reload(CONFIG)
            # Every reload holds two tables for a moment; one must remain.
            wait_until(lambda: rss_kib(g.proc.pid) < start * 1.15, timeout=10,
                       what=f"RSS back near {start} KiB (now {rss_kib(g.proc.pid)} KiB)")
        assert g.dig("app.global.example.com", "A", f"+subnet={JP4}/24").rdata("A") == [TYO4]
