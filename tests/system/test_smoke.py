from dnsconfig import DNS_CONFIG
from gslb import Gslbd


def test_answers_a_static_name_over_udp_and_tcp():
    with Gslbd(DNS_CONFIG) as g:
        r = g.dig("www.example.test", "A")
        assert r.status == "NOERROR" and "aa" in r.flags
        assert r.rdata("A") == ["192.0.2.80"]
        r = g.dig("www.example.test", "AAAA", "+tcp")
        assert r.rdata("AAAA") == ["2001:db8::80"]
