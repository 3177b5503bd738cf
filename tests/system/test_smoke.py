import re

from dnsconfig import DNS_CONFIG
from gslb import Gslbd


def test_answers_a_static_name_over_udp_and_tcp():
    with Gslbd(DNS_CONFIG) as g:
        r = g.dig("www.example.test", "A")
        assert r.status == "NOERROR" and "aa" in r.flags
        assert r.rdata("A") == ["192.0.2.80"]
        r = g.dig("www.example.test", "AAAA", "+tcp")
        assert r.rdata("AAAA") == ["2001:db8::80"]


def test_start_line_says_what_is_served_and_how_long_the_build_took():
    with Gslbd(DNS_CONFIG) as g:
        line = next(l for l in g.log_text().splitlines() if " serving " in l)
        assert re.search(r"info: gslbd \S+ serving 2 zone\(s\) with \d+ record\(s\), .* \(built in \d+ ms\); "
                        r"DNS on 127\.0\.0\.1:\d+ \(udp\+tcp, 2 worker\(s\)\)", line), line
