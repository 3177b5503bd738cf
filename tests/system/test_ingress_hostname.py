"""A cluster whose ingress is a host name (a cloud load balancer's) answers with
the addresses that name resolves to, and follows them when they change, at the
record's TTL. A second gslbd plays the cloud's DNS."""
from gslb import Gslbd, wait_until

CLOUD = """
server: { listen: [@LISTEN@] }
zones:
  - origin: cloud.test.
    soa: { mname: ns.cloud.test., rname: h.cloud.test., minimum: 5 }
    ns: [ns.cloud.test.]
    records: |
      ns  5 IN A    192.0.2.1
      lb  5 IN A    %V4%
      lb  5 IN AAAA 2001:db8::%V6%
"""

GSLB = """
server:
  listen: [@LISTEN@]
  resolver: "127.0.0.1:%CLOUD_PORT%"
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: h.example.test., minimum: 60 }
    ns: [ns1.example.test.]
    records: |
      ns1 IN A 192.0.2.53
services:
  - { name: app.example.test., clusters: [eu], ttl: 30 }
clusters:
  eu: { ingress: [lb.cloud.test, 203.0.113.9] }
"""


def cloud(v4, v6):
    return CLOUD.replace("%V4%", v4).replace("%V6%", v6)


def test_host_name_ingress_is_resolved_before_answering_and_followed_at_its_ttl():
    with Gslbd(cloud("192.0.2.200", "200"), http=False) as dns_of_cloud:
        with Gslbd(GSLB.replace("%CLOUD_PORT%", str(dns_of_cloud.port)), http=False) as g:
            # Resolved before the first answer: never an answer without the name's address.
            assert sorted(g.dig("app.example.test", "A").rdata("A")) == ["192.0.2.200", "203.0.113.9"]
            assert g.dig("app.example.test", "AAAA").rdata("AAAA") == ["2001:db8::200"]

            dns_of_cloud.reload(cloud("192.0.2.201", "201"))
            assert dns_of_cloud.dig("lb.cloud.test", "A").rdata("A") == ["192.0.2.201"]
            # TTL 5 s: re-resolved within that and a margin for a busy machine.
            wait_until(lambda: sorted(g.dig("app.example.test", "A").rdata("A")) == ["192.0.2.201", "203.0.113.9"],
                       timeout=15, interval=0.25, what="the new load balancer address")
            assert "ingress resolved" in g.log_text()


def test_a_name_that_does_not_resolve_leaves_the_cluster_without_those_addresses():
    with Gslbd(cloud("192.0.2.200", "200"), http=False) as dns_of_cloud:
        config = GSLB.replace("%CLOUD_PORT%", str(dns_of_cloud.port)).replace("lb.cloud.test", "missing.cloud.test")
        with Gslbd(config, http=False) as g:
            assert g.dig("app.example.test", "A").rdata("A") == ["203.0.113.9"]
            r = g.dig("app.example.test", "AAAA")
            assert r.status == "NOERROR" and r.rdata("AAAA") == []
            assert "missing.cloud.test.: no such name" in g.log_text()
