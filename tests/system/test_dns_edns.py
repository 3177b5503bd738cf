"""EDNS(0) (RFC 6891) as dig and kdig show it: the OPT echoed, the client's payload
size honoured up to server.max_udp_size, TC=1 and the whole answer over TCP,
BADVERS, unknown options ignored, NSID (RFC 5001) and the DO bit (RFC 3225)."""
import re

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.flags
import pytest

import dnswire
from dnsconfig import BIG_STRINGS, DNS_CONFIG, HUGE_STRINGS
from dnswire import ask
from gslb import Gslbd
from ingress import metric_value

TOOLS = ["dig", "kdig"]
TRANSPORTS = ["udp", "tcp"]
both = pytest.mark.parametrize("tool,transport", [(t, p) for t in TOOLS for p in TRANSPORTS])

# kdig sends no OPT unless told to (or an EDNS option implies it); dig sends one.
EDNS = {"dig": [], "kdig": ["+edns"]}

BIG = " ".join(BIG_STRINGS)
HUGE = " ".join(HUGE_STRINGS)


@pytest.fixture(scope="module")
def g():
    with Gslbd(DNS_CONFIG) as server:
        yield server


def has_opt(r):
    return "OPT" in r.sections or "EDNS" in r.sections  # dig / kdig


def udp_size(r):
    m = re.search(r"udp: (\d+)", r.stdout) or re.search(r"UDP size: (\d+) B", r.stdout)
    return int(m.group(1)) if m else None


def edns_version(r):
    m = re.search(r"EDNS: version: (\d+)", r.stdout) or re.search(r"Version: (\d+);", r.stdout)
    return int(m.group(1)) if m else None


def edns_flags(r):
    m = re.search(r"EDNS: version: \d+, flags:([a-z ]*);", r.stdout) or re.search(r"Version: \d+; flags: ([a-z ]*);", r.stdout)
    assert m, r
    return set(m.group(1).split())


def count(r, section):
    m = re.search(section + r": (\d+)", r.stdout)
    return int(m.group(1))


@both
def test_opt_is_echoed(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A", *EDNS[tool])
    assert has_opt(r), r
    assert edns_version(r) == 0
    assert udp_size(r) == 1232  # the server's own max_udp_size, advertised
    assert r.rdata("A") == ["192.0.2.80"]


@both
def test_no_opt_without_edns(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A", "+noedns")
    assert not has_opt(r), r
    assert r.rdata("A") == ["192.0.2.80"]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("edns", ["+bufsize=512", "+noedns"])
def test_big_answer_is_truncated_over_small_udp(g, tool, edns):
    r = ask(g, tool, "udp", "big.example.test", "TXT", edns, "+ignore")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert "tc" in r.flags, r
    # RFC 2181 9: no partial RRsets; the client is to retry over TCP.
    assert count(r, "ANSWER") == 0 and count(r, "AUTHORITY") == 0
    assert has_opt(r) == (edns != "+noedns")


@pytest.mark.parametrize("tool", TOOLS)
def test_truncated_answer_is_retried_over_tcp_by_the_client(g, tool):
    r = getattr(g, tool)("big.example.test", "TXT", "+bufsize=512")  # no +ignore: the tool falls back
    assert "(TCP)" in r.stdout and r.rdata("TXT") == [BIG], r


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("edns", ["+bufsize=512", "+noedns"])
def test_tcp_gets_the_whole_answer(g, tool, edns):
    for name, text in (("big", BIG), ("huge", HUGE)):
        r = ask(g, tool, "tcp", f"{name}.example.test", "TXT", edns)
        assert "tc" not in r.flags and r.rdata("TXT") == [text], r


@pytest.mark.parametrize("tool", TOOLS)
def test_client_payload_size_is_honoured_up_to_max_udp_size(g, tool):
    r = ask(g, tool, "udp", "big.example.test", "TXT", "+bufsize=4096", "+ignore")
    assert "tc" not in r.flags and r.rdata("TXT") == [BIG], r
    # ~1.5 kB fits the client's 4096 but not the server's max_udp_size of 1232.
    r = ask(g, tool, "udp", "huge.example.test", "TXT", "+bufsize=4096", "+ignore")
    assert "tc" in r.flags and count(r, "ANSWER") == 0, r
    assert udp_size(r) == 1232


@pytest.mark.parametrize("payload,name,fits", [
    (512, "big", False), (1000, "big", False), (1100, "big", True), (1232, "big", True),
    (4096, "big", True), (1232, "huge", False), (4096, "huge", False), (65535, "huge", False),
    (0, "www", True), (100, "big", False),  # below 512 counts as 512 (RFC 6891 6.2.3)
])
def test_udp_response_never_exceeds_the_payload_or_the_cap(g, payload, name, fits):
    wire = dnswire.query(f"{name}.example.test", "TXT" if name != "www" else "A", qid=77, edns=payload)
    resp = dnswire.udp_exchange(g.port, wire)
    h = dnswire.Header(resp)
    assert len(resp) <= max(512, min(payload, 1232))
    assert h.tc == (not fits), (h, len(resp))
    assert h.ar == 1  # the OPT, also on a truncated answer
    if fits:
        assert h.an >= 1
    else:
        assert h.an == 0 and h.ns == 0


def test_max_udp_size_setting_raises_the_cap():
    config = DNS_CONFIG.replace("  nsid: test-ns1\n", "  max_udp_size: 4096\n")
    assert "max_udp_size: 4096" in config
    with Gslbd(config) as g:
        r = ask(g, "dig", "udp", "huge.example.test", "TXT", "+bufsize=4096", "+ignore")
        assert "tc" not in r.flags and r.rdata("TXT") == [HUGE], r
        assert udp_size(r) == 4096
        r = ask(g, "dig", "udp", "huge.example.test", "TXT", "+bufsize=1232", "+ignore")
        assert "tc" in r.flags
        # No nsid configured: NSID requests get no NSID option.
        r = ask(g, "dig", "udp", "www.example.test", "A", "+nsid")
        assert "NSID" not in r.stdout and r.rdata("A") == ["192.0.2.80"]


@both
def test_badvers_for_edns_version_1(g, tool, transport):
    args = ["+edns=1"] + (["+noednsneg"] if tool == "dig" else [])
    r = ask(g, tool, transport, "www.example.test", "A", *args)
    assert r.status == "BADVERS", r
    assert count(r, "ANSWER") == 0
    assert has_opt(r) and edns_version(r) == 0  # RFC 6891 6.1.3: the version we do support
    assert "aa" not in r.flags


@both
def test_unknown_edns_option_is_ignored(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A", "+ednsopt=65001:abcd")
    assert r.status == "NOERROR" and r.rdata("A") == ["192.0.2.80"]
    assert has_opt(r)
    response = r.stdout.split("->>HEADER<<-")[1].split("QUESTION SECTION")[0]
    assert "65001" not in response and "abcd" not in response.lower(), r  # not echoed


@both
def test_nsid(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A", "+nsid")
    assert re.search(r'NSID: .*"test-ns1"', r.stdout), r
    assert r.rdata("A") == ["192.0.2.80"]
    r = ask(g, tool, transport, "www.example.test", "A")
    assert "NSID" not in r.stdout  # only when asked (RFC 5001 section 2.1)


@both
def test_nsid_on_negative_answers(g, tool, transport):
    r = ask(g, tool, transport, "nope.example.test", "A", "+nsid")
    assert r.status == "NXDOMAIN" and "test-ns1" in r.stdout


@both
def test_do_bit_is_echoed(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A", "+dnssec")
    assert edns_flags(r) == {"do"}, r
    r = ask(g, tool, transport, "www.example.test", "A", *EDNS[tool])
    assert edns_flags(r) == set(), r


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_edns_with_dnspython(g, transport):
    q = dns.message.make_query("www.example.test", "A", use_edns=0, payload=4096, want_dnssec=True,
                               options=[dns.edns.GenericOption(65001, b"\xab\xcd"), dns.edns.GenericOption(3, b"")])
    q.flags = 0
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    r = send(q, "127.0.0.1", port=g.port, timeout=2)
    assert r.edns == 0 and r.payload == 1232
    assert r.ednsflags & dns.flags.DO
    assert [(o.otype, o.to_wire() if hasattr(o, "to_wire") else None) for o in r.options] == [(3, b"test-ns1")]
    assert r.answer[0][0].to_text() == "192.0.2.80"


@pytest.mark.parametrize("tool", TOOLS)
def test_referral_whose_glue_does_not_fit_is_truncated(g, tool):
    # RFC 9471: glue for in-domain name servers is required; without room for it
    # the referral is truncated rather than sent without it.
    r = ask(g, tool, "udp", "host.bigd.example.test", "A", "+noedns", "+ignore")
    assert "tc" in r.flags and count(r, "AUTHORITY") == 0, r
    r = ask(g, tool, "udp", "host.bigd.example.test", "A", "+bufsize=1232", "+ignore")
    assert "tc" not in r.flags and "aa" not in r.flags, r
    assert len(r.records("AUTHORITY")) == 6
    assert len(r.records("ADDITIONAL")) == 12
    r = ask(g, tool, "tcp", "host.bigd.example.test", "A", "+noedns")
    assert len(r.records("AUTHORITY")) == 6 and len(r.records("ADDITIONAL")) == 12, r


@both
@pytest.mark.parametrize("name,subnet,status", [
    ("www.example.test", "198.51.100.0/24", "NOERROR"), ("nope.example.test", "2001:db8::/48", "NXDOMAIN"),
    ("www.example.org", "198.51.100.0/24", "REFUSED"), ("www.example.test", "0.0.0.0/0", "NOERROR")])
def test_client_subnet_on_static_data_has_scope_0(g, tool, transport, name, subnet, status):
    # RFC 7871 7.2.1: the answer does not depend on the client, so scope 0.
    r = ask(g, tool, transport, name, "A", f"+subnet={subnet}")
    assert r.status == status
    addr, prefix = subnet.split("/")
    assert re.search(r"CLIENT-SUBNET: %s/%s/0\b" % (re.escape(addr), prefix), r.stdout), r


def test_opt_options_that_do_not_fit_are_left_out_not_cut_short():
    nsid = "n" * 255
    with Gslbd(DNS_CONFIG.replace("nsid: test-ns1", f"nsid: {nsid}")) as g:
        long_label = ".".join(["a" * 60] * 3 + ["b" * 40])
        for name, rcode in ((f"{long_label}.example.org", dns.rcode.REFUSED),
                            (f"{long_label}.example.test", dns.rcode.NXDOMAIN)):
            q = dns.message.make_query(name, "A", use_edns=0, payload=512, options=[dns.edns.GenericOption(3, b"")])
            q.flags = 0
            wire = dnswire.udp_exchange(g.port, q.to_wire())
            assert len(wire) <= 512
            m = dns.message.from_wire(wire)  # well formed, whatever did not fit
            assert m.rcode() == rcode and m.edns == 0
            assert m.options == ()  # a 255-byte NSID does not fit beside this question
            r = dns.query.tcp(q, "127.0.0.1", port=g.port, timeout=2)
            assert r.rcode() == rcode and [o.otype for o in r.options] == [3]
            assert r.options[0].to_wire() == nsid.encode()
            if rcode == dns.rcode.NXDOMAIN:
                assert m.flags & dns.flags.TC and r.authority  # the SOA comes over TCP
        # A short question has room for it all.
        r = ask(g, "dig", "udp", "www.example.test", "A", "+nsid", "+bufsize=512")
        assert nsid in r.stdout and "tc" not in r.flags


WIDE = [f"10.0.{i // 256}.{i % 256}" for i in range(300)]
WIDE_CONFIG = DNS_CONFIG.replace("services: []\nclusters: {}\n", f"""services:
  - {{ name: app.example.test., policy: failover, answers: 2, clusters: [wide, small] }}
clusters:
  wide: {{ ingress: [{", ".join(WIDE)}] }}
  small: {{ ingress: [192.0.2.7] }}
""")


@pytest.mark.parametrize("tool", TOOLS)
def test_service_answer_wider_than_the_payload_carries_what_fits(tool):
    """300 addresses cannot fit a UDP payload: the answer carries as many as fit,
    the best cluster's first, without TC (issue 12 item 4); TCP carries them all."""
    with Gslbd(WIDE_CONFIG) as g:
        for edns, size in ((["+noedns"], 512), (["+bufsize=1232"], 1232), (["+bufsize=4096"], 1232)):
            r = ask(g, tool, "udp", "app.example.test", "A", "+ignore", *edns)
            got = r.rdata("A")
            assert "tc" not in r.flags and len(got) > 20 and got == WIDE[:len(got)], r
            # As many as fit: one more address (16 bytes) would not have.
            m = re.search(r"MSG SIZE +rcvd: (\d+)", r.stdout) or re.search(r"Received (\d+) B", r.stdout)
            assert m and int(m.group(1)) <= size < int(m.group(1)) + 16, r
        r = ask(g, tool, "tcp", "app.example.test", "A")
        assert "tc" not in r.flags and r.rdata("A") == WIDE + ["192.0.2.7"], r
        text = g.http_get("/metrics")[1]
        assert metric_value(text, "gslb_trimmed_answers_total") == 3
        assert metric_value(text, "gslb_truncated_responses_total") == 0
