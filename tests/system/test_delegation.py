"""What a real deployment does: a parent zone delegates global.example.com. to
gslbd, and a recursive resolver finds gslbd by following referrals from the root.

On one random 127.a.b.0/24 (so parallel runs never collide):
  .2:53  Knot, serving a local root zone "." and the parent zone "example.com."
  .3:53  gslbd, authoritative for global.example.com. (glue can't carry a port)
  .4     unbound, iterating from root hints that point at .2 (any port)
"""
import re
import urllib.request

import pytest

from gslb import Gslbd, wait_until
from resolvers import Knot, Unbound, can_bind, random_loopback_net

NET = random_loopback_net()
KNOT, GSLBD, UNBOUND = f"{NET}.2", f"{NET}.3", f"{NET}.4"

ROOT_ZONE = f"""$ORIGIN .
$TTL 3600
.                      IN SOA  a.root-servers.test. hostmaster.root-servers.test. 1 3600 600 86400 60
.                      IN NS   a.root-servers.test.
a.root-servers.test.   IN A    {KNOT}
; the root delegates example.com. (com. is an empty non-terminal here)
example.com.           IN NS   ns.example.com.
ns.example.com.        IN A    {KNOT}
"""

PARENT_ZONE = f"""$ORIGIN example.com.
$TTL 3600
@         IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60
@         IN NS  ns.example.com.
ns        IN A   {KNOT}
www       IN A   192.0.2.80
; the delegation to gslbd, with glue
global    IN NS  ns1.global.example.com.
ns1.global IN A  {GSLBD}
"""

# The resolver's queries come from UNBOUND (outgoing-interface); the networks file
# places that address in Tokyo, so the answer differs from the written order's
# first cluster (eu-west): it must really be gslbd's geo decision for the resolver.
NETWORKS = f"""- {{ cidr: {UNBOUND}/32, location: {{ lat: 35.68, lon: 139.69 }} }}
"""

CONFIG = f"""
server:
  listen: ["{GSLBD}:53"]
  workers: 1
  http: @HTTP@
geo:
  networks: networks.yaml
zones:
  - origin: global.example.com.
    soa: {{ mname: ns1.global.example.com., rname: hostmaster.global.example.com., minimum: 60 }}
    ns: [ns1.global.example.com.]
    records: |
      ns1   3600 IN A     {GSLBD}
      www   300  IN CNAME app
services:
  - name: app.global.example.com.
    ttl: 30
    policy: nearest
    clusters: [eu-west, us-east, ap-northeast]
clusters:
  eu-west:
    location: {{ lat: 50.11, lon: 8.68 }}
    ingress: [203.0.113.10]
  us-east:
    location: {{ lat: 38.9, lon: -77.04 }}
    ingress: [203.0.113.20]
  ap-northeast:
    location: {{ lat: 35.68, lon: 139.69 }}
    ingress: [203.0.113.30]
"""


def gslbd_queries(g):
    _, text = g.http_get("/metrics")
    return sum(float(m.group(1)) for m in re.finditer(r'^gslb_queries_total\{zone="global\.example\.com\."[^}]*\} (\S+)$', text, re.M))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    for addr in (KNOT, GSLBD):
        if not can_bind(addr, 53):
            pytest.skip(f"cannot bind {addr}:53 (needs root or CAP_NET_BIND_SERVICE): "
                        "glue records carry no port, so the delegation needs port 53")
    base = tmp_path_factory.mktemp("delegation")
    (base / "knot").mkdir()
    (base / "gslbd").mkdir()
    (base / "unbound").mkdir()
    knot = Knot(KNOT, 53, {".": ROOT_ZONE, "example.com.": PARENT_ZONE}, workdir=str(base / "knot"))
    g = Gslbd(CONFIG, workdir=str(base / "gslbd"), extra_files={"networks.yaml": NETWORKS})
    g.port = 53
    hints = base / "unbound" / "root.hints"
    hints.write_text(f".  3600 IN NS a.root-servers.test.\na.root-servers.test. 3600 IN A {KNOT}\n")
    unbound = Unbound(UNBOUND, workdir=str(base / "unbound"), body=f"""    root-hints: "{hints}"
    outgoing-interface: {UNBOUND}
    module-config: "iterator"
    qname-minimisation: yes
""")
    started = []
    try:
        for p in (knot, g, unbound):
            p.start()
            started.append(p)
        yield knot, g, unbound
    finally:
        for p in reversed(started):
            p.stop()


def test_the_parent_zone_delegates_to_gslbd(world):
    knot, g, _ = world
    r = knot.dig("app.global.example.com", "A")
    assert r.status == "NOERROR" and "aa" not in r.flags, r
    assert r.rdata("NS", "AUTHORITY") == ["ns1.global.example.com."], r
    assert r.rdata("A", "ADDITIONAL") == [GSLBD], r
    # and gslbd answers at the glue address, authoritatively
    r = g.dig("app.global.example.com", "A", server=GSLBD)
    assert r.status == "NOERROR" and "aa" in r.flags, r


def test_a_resolver_finds_the_service_through_the_delegation(world):
    _, g, unbound = world
    before = gslbd_queries(g)
    r = unbound.dig("app.global.example.com", "A")
    assert r.status == "NOERROR", r
    assert "ra" in r.flags and "aa" not in r.flags, r
    # Tokyo: the resolver's own address is what gslbd located (no ECS here).
    assert r.rdata("A") == ["203.0.113.30"], r
    assert gslbd_queries(g) > before, "the answer did not come from gslbd"
    # the TTL the service sets, as cached by the resolver
    assert 0 < int(r.records()[0][1]) <= 30, r


def test_the_resolver_gets_gslbd_own_records(world):
    _, g, unbound = world
    r = unbound.dig("ns1.global.example.com", "A")
    assert r.status == "NOERROR" and r.rdata("A") == [GSLBD], r
    r = unbound.dig("global.example.com", "NS")
    assert r.status == "NOERROR" and r.rdata("NS") == ["ns1.global.example.com."], r
    r = unbound.dig("global.example.com", "SOA")
    assert r.rdata("SOA") and r.rdata("SOA")[0].startswith("ns1.global.example.com. hostmaster.global.example.com."), r
    # a CNAME in gslbd's zone to the service, chased by the resolver
    r = unbound.dig("www.global.example.com", "A")
    assert r.rdata("CNAME") == ["app.global.example.com."] and r.rdata("A") == ["203.0.113.30"], r
    # a name the parent serves itself is not sent to gslbd
    r = unbound.dig("www.example.com", "A")
    assert r.rdata("A") == ["192.0.2.80"], r


def test_negative_answers_through_the_delegation(world):
    _, g, unbound = world
    r = unbound.dig("nope.global.example.com", "A")
    assert r.status == "NXDOMAIN", r
    soa = [x for x in r.records("AUTHORITY") if x[3] == "SOA"]
    assert soa and soa[0][0] == "global.example.com.", r
    # NODATA at the service name for a type it does not serve
    r = unbound.dig("app.global.example.com", "MX")
    assert r.status == "NOERROR" and r.rdata() == [], r
    assert any(x[3] == "SOA" and x[0] == "global.example.com." for x in r.records("AUTHORITY")), r


def post(g, path):
    req = urllib.request.Request(f"http://127.0.0.1:{g.http_port}{path}", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, path


def test_the_answer_follows_health_through_the_resolver(world):
    """Drain the Tokyo cluster; the resolver's cached answer would live for the
    service TTL (30 s), so flush it from unbound's cache and ask again."""
    _, g, unbound = world

    def resolved():
        unbound.control("flush", "app.global.example.com")
        return unbound.dig("app.global.example.com", "A").rdata("A")
    post(g, "/clusters/ap-northeast/drain")
    try:
        # next nearest to Tokyo: Frankfurt (9333 km) before Washington (10905 km)
        wait_until(lambda: resolved() == ["203.0.113.10"], timeout=15,
                   what="the resolver to see the next nearest cluster")
    finally:
        post(g, "/clusters/ap-northeast/undrain")
    wait_until(lambda: resolved() == ["203.0.113.30"], timeout=15, what="Tokyo back in the resolver's answer")
