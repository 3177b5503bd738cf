"""unbound as a real ECS-speaking resolver in front of gslbd (RFC 7871 end to end):
clients in different places get different clusters through the same resolver, the
first time and again from its subnet cache, and the scope gslbd returns is what
unbound caches by.

gslbd on 127.0.0.1:<free port>, unbound (subnetcache + iterator, stub-zone for
global.example.com.) on its own 127.a.b.5 (any port)."""
import ipaddress
import re

import pytest

from gslb import Gslbd, wait_until
from resolvers import Unbound, dig, random_loopback_net
from geodata import DE4, GEOIP4, GEOIP6, JP4, US4

NET = random_loopback_net()
UNBOUND_ADDR = f"{NET}.5"
# Two clients querying from their own loopback addresses, in different /24s
# (unbound sends at most a /24 of the client's address: max-client-subnet-ipv4).
TOKYO_CLIENT, FRANKFURT_CLIENT = f"{NET}.10", "127.0.20.1"
# ... and one whose /24 no source locates: the written order.
NOWHERE_CLIENT = "127.0.30.1"

FRA4, IAD4, TYO4 = "203.0.113.10", "203.0.113.20", "203.0.113.30"

NETWORKS = f"""- {{ cidr: {NET}.0/24, location: {{ lat: 35.68, lon: 139.69 }} }}
- {{ cidr: 127.0.20.0/24, location: {{ lat: 50.11, lon: 8.68 }} }}
"""

CONFIG = f"""
server:
  listen: [@LISTEN@]
  workers: 1
  http: @HTTP@
geo:
  ranges: [{GEOIP4}, {GEOIP6}]
  networks: networks.yaml
zones:
  - origin: global.example.com.
    soa: {{ mname: ns1.global.example.com., rname: hostmaster.global.example.com., minimum: 60 }}
    ns: [ns1.global.example.com.]
    records: |
      ns1   3600 IN A     127.0.0.1
services:
  - name: app.global.example.com.
    ttl: 300
    policy: nearest
    clusters: [eu-west, us-east, ap-northeast]
  - name: fo.global.example.com.
    ttl: 300
    policy: failover
    clusters: [us-east, eu-west, ap-northeast]
clusters:
  eu-west:
    location: {{ lat: 50.11, lon: 8.68 }}
    ingress: [{FRA4}]
  us-east:
    location: {{ lat: 39.04, lon: -77.49 }}
    ingress: [{IAD4}]
  ap-northeast:
    location: {{ lat: 35.68, lon: 139.69 }}
    ingress: [{TYO4}]
"""


def gslbd_queries(g, qtype="A"):
    _, text = g.http_get("/metrics")
    return sum(float(m.group(1)) for m in re.finditer(
        r'^gslb_queries_total\{zone="global\.example\.com\.",qtype="' + qtype + r'"[^}]*\} (\S+)$', text, re.M))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("unbound-ecs")
    (base / "gslbd").mkdir()
    (base / "unbound").mkdir()
    g = Gslbd(CONFIG, workdir=str(base / "gslbd"), extra_files={"networks.yaml": NETWORKS})
    g.start()
    try:
        u = Unbound(UNBOUND_ADDR, workdir=str(base / "unbound"), body="""    module-config: "subnetcache iterator"
    send-client-subnet: 127.0.0.1
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
    max-client-subnet-ipv6: 56
    qname-minimisation: no
    extended-statistics: yes
""", tail=f"""stub-zone:
    name: "global.example.com."
    stub-addr: 127.0.0.1@{g.port}
""")
        u.start()
        try:
            yield g, u
        finally:
            u.stop()
    finally:
        g.stop()


def ask(u, name, *args, source=None):
    extra = ["-b", source] if source else []
    return dig(u.address, u.port, *extra, name, "A", *args)


def test_clients_in_different_places_by_their_address(world):
    """No ECS from the clients: unbound derives it from their source addresses."""
    g, u = world
    before = gslbd_queries(g)
    tokyo = ask(u, "app.global.example.com", source=TOKYO_CLIENT)
    frankfurt = ask(u, "app.global.example.com", source=FRANKFURT_CLIENT)
    nowhere = ask(u, "app.global.example.com", source=NOWHERE_CLIENT)
    assert tokyo.status == "NOERROR" and tokyo.rdata("A") == [TYO4], tokyo
    assert frankfurt.rdata("A") == [FRA4], frankfurt
    # unlocated: the written order, eu-west first. (That ranks like Frankfurt's
    # client, so gslbd may merge the two and unbound may answer it from cache.)
    assert nowhere.rdata("A") == [FRA4], nowhere
    after_first = gslbd_queries(g)
    assert after_first >= before + 2, "each client's first question must reach gslbd"

    # Again: from unbound's subnet cache, each client still its own cluster, and
    # gslbd is not asked.
    for _ in range(3):
        assert ask(u, "app.global.example.com", source=TOKYO_CLIENT).rdata("A") == [TYO4]
        assert ask(u, "app.global.example.com", source=FRANKFURT_CLIENT).rdata("A") == [FRA4]
    # another host of the Tokyo client's /24: the same cached answer
    other = str(ipaddress.IPv4Address(TOKYO_CLIENT) + 100)
    r = ask(u, "app.global.example.com", source=other)
    assert r.rdata("A") == [TYO4], r
    assert gslbd_queries(g) == after_first, "cached answers went back to gslbd"


def test_clients_in_different_places_by_their_ecs_option(world):
    """Clients (or a forwarder before unbound) that send ECS themselves:
    client-subnet-always-forward passes it on to gslbd."""
    g, u = world
    before = gslbd_queries(g)
    jp = ask(u, "app.global.example.com", f"+subnet={JP4}/24")
    de = ask(u, "app.global.example.com", f"+subnet={DE4}/24")
    us = ask(u, "app.global.example.com", f"+subnet={US4}/24")
    assert jp.status == "NOERROR" and jp.rdata("A") == [TYO4], jp
    assert de.rdata("A") == [FRA4], de
    assert us.rdata("A") == [IAD4], us
    first = gslbd_queries(g)
    assert first >= before + 3, "each subnet's first question must reach gslbd"
    # unbound tells the client the scope it got from gslbd (RFC 7871 7.4)
    assert jp.ecs is not None and jp.ecs[:2] == (JP4, 24) and 0 < jp.ecs[2] <= 24, jp

    # from cache, no new upstream queries
    cached_before = u.stats().get("num.query.subnet_cache", 0)
    assert ask(u, "app.global.example.com", f"+subnet={JP4}/24").rdata("A") == [TYO4]
    assert ask(u, "app.global.example.com", f"+subnet={DE4}/24").rdata("A") == [FRA4]
    assert ask(u, "app.global.example.com", f"+subnet={US4}/24").rdata("A") == [IAD4]
    assert gslbd_queries(g) == first, "cached answers went back to gslbd"

    # gslbd's scope is what unbound caches by: another /24 inside the Japanese
    # answer's scope block is answered from the cache ...
    scope = jp.ecs[2]
    block = ipaddress.ip_network(f"{JP4}/{scope}", strict=False)
    assert block.prefixlen < 24, f"scope /{scope}: no other /24 to try inside it"
    neighbour = next(n for n in block.subnets(new_prefix=24) if str(n.network_address) != JP4)
    r = ask(u, "app.global.example.com", f"+subnet={neighbour}")
    assert r.rdata("A") == [TYO4], r
    assert gslbd_queries(g) == first, f"{neighbour} is inside the scope {block} but unbound asked gslbd again"
    # and unbound's own count agrees: four answers from its subnet cache
    assert u.stats().get("num.query.subnet_cache", 0) - cached_before == 4, u.stats()
    # ... and one outside it (the German /24) was its own question above; a new
    # German /24 outside every cached block must be asked upstream.
    de_block = ipaddress.ip_network(f"{DE4}/{de.ecs[2]}", strict=False)
    outside = ipaddress.ip_network(f"{de_block.broadcast_address + 1}/24", strict=False)
    r = ask(u, "app.global.example.com", f"+subnet={outside}")
    assert r.status == "NOERROR", r
    wait_until(lambda: gslbd_queries(g) > first, timeout=5, what="a query outside the cached scopes to reach gslbd")


def test_an_answer_at_scope_zero_serves_every_client_from_cache(world):
    g, u = world
    before = gslbd_queries(g)
    r = ask(u, "fo.global.example.com", f"+subnet={JP4}/24")
    assert r.rdata("A") == [IAD4], r
    assert r.ecs is None or r.ecs[2] == 0, r
    asked = gslbd_queries(g)
    assert asked == before + 1, (before, asked)
    for client in (f"{DE4}/24", f"{US4}/24"):
        assert ask(u, "fo.global.example.com", f"+subnet={client}").rdata("A") == [IAD4]
    assert ask(u, "fo.global.example.com", source=FRANKFURT_CLIENT).rdata("A") == [IAD4]
    assert gslbd_queries(g) == asked, "a scope-0 answer must be cached for every client"


def test_unbound_sent_client_subnet_upstream(world):
    _, u = world
    stats = u.stats()
    # every upstream query for the stub zone carried ECS (num.query.subnet counts them)
    assert stats.get("num.query.subnet", 0) >= 6, stats
    assert stats.get("num.query.subnet_cache", 0) >= 4, stats
