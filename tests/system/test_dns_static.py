"""Answers from static zone data as dig and kdig show them: authority, negative
answers (RFC 2308), REFUSED and NOTIMP, CNAMEs, referrals, wildcards (RFC 4592),
ANY (RFC 8482), case preservation and name compression."""
import io

import dns.flags
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

import dnswire
from dnsconfig import DNS_CONFIG
from dnswire import ask
from gslb import Gslbd

TOOLS = ["dig", "kdig"]
TRANSPORTS = ["udp", "tcp"]
both = pytest.mark.parametrize("tool,transport", [(t, p) for t in TOOLS for p in TRANSPORTS])

SOA_RDATA = "ns1.example.test. hostmaster.example.test. 2024010101"


@pytest.fixture(scope="module")
def g():
    with Gslbd(DNS_CONFIG) as server:
        yield server


def owners(r, section="ANSWER"):
    return [rec[0] for rec in r.records(section)]


def types(r, section="ANSWER"):
    return [rec[3] for rec in r.records(section)]


@both
def test_authoritative_answer_has_aa(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A")
    assert r.status == "NOERROR"
    assert "aa" in r.flags and "qr" in r.flags
    assert r.records() == [["www.example.test.", "300", "IN", "A", "192.0.2.80"]]
    r = ask(g, tool, transport, "www.example.test", "AAAA")
    assert r.rdata("AAAA") == ["2001:db8::80"] and "aa" in r.flags


@both
def test_nxdomain_has_soa_with_negative_ttl(g, tool, transport):
    r = ask(g, tool, transport, "nope.example.test", "A")
    assert r.status == "NXDOMAIN" and "aa" in r.flags
    assert r.records("ANSWER") == []
    [soa] = r.records("AUTHORITY")
    # RFC 2308 section 5: TTL = min(SOA TTL 3600, MINIMUM 60).
    assert soa[0] == "example.test." and soa[3] == "SOA" and soa[1] == "60"
    assert " ".join(soa[4:]).startswith(SOA_RDATA)


@both
def test_negative_ttl_is_the_soa_ttl_when_that_is_smaller(g, tool, transport):
    r = ask(g, tool, transport, "nope.short.test", "A")
    assert r.status == "NXDOMAIN"
    [soa] = r.records("AUTHORITY")
    assert soa[3] == "SOA" and soa[1] == "30"  # min(SOA TTL 30, MINIMUM 600)
    assert soa[-1] == "600"                    # the MINIMUM field itself is unchanged


@both
def test_nodata_for_a_missing_type(g, tool, transport):
    r = ask(g, tool, transport, "mail.example.test", "AAAA")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert r.records("ANSWER") == []
    [soa] = r.records("AUTHORITY")
    assert soa[3] == "SOA" and soa[1] == "60"


@both
def test_empty_non_terminal_is_nodata_not_nxdomain(g, tool, transport):
    # a.b.ent exists, so b.ent and ent exist too (RFC 8020): NOERROR, no records.
    for name in ("b.ent.example.test", "ent.example.test"):
        r = ask(g, tool, transport, name, "A")
        assert r.status == "NOERROR" and "aa" in r.flags, r
        assert r.records("ANSWER") == []
        assert types(r, "AUTHORITY") == ["SOA"]
    assert ask(g, tool, transport, "a.b.ent.example.test", "A").rdata("A") == ["192.0.2.1"]
    assert ask(g, tool, transport, "c.b.ent.example.test", "A").status == "NXDOMAIN"


@both
def test_refused_outside_the_zones(g, tool, transport):
    for name in ("www.example.org", "test", "."):
        r = ask(g, tool, transport, name, "A")
        assert r.status == "REFUSED", r
        assert "aa" not in r.flags
        assert r.records("ANSWER") == [] and r.records("AUTHORITY") == []


@both
@pytest.mark.parametrize("name,qclass", [("version.bind", "CH"), ("www.example.test", "CH"),
                                         ("www.example.test", "CLASS4"), ("www.example.test", "CLASS254")])
def test_refused_for_other_classes(g, tool, transport, name, qclass):
    r = ask(g, tool, transport, name, "TXT", "-c", qclass)
    assert r.status == "REFUSED" and "aa" not in r.flags, r
    assert r.records("ANSWER") == []


@both
def test_class_any_query_is_answered(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A", "-c", "ANY")
    assert r.status == "NOERROR" and r.rdata("A") == ["192.0.2.80"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_notimp_for_status_opcode_with_dig(g, transport):
    r = ask(g, "dig", transport, "www.example.test", "A", "+opcode=status")
    assert "opcode: STATUS" in r.stdout
    assert r.status == "NOTIMP" and "aa" not in r.flags
    # RFC 6891 section 7: a query with an OPT gets an OPT back, whatever the rcode.
    assert "OPT" in r.sections, r
    assert "retry with '+noedns'" not in r.stdout


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("opcode", [dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, dns.opcode.UPDATE, 3, 15])
def test_notimp_for_every_opcode_but_query(g, transport, opcode):
    wire = dnswire.header(qid=0x4242, flags=opcode << 11) + dnswire.question("example.test", "SOA")
    h = dnswire.Header(dnswire.exchange(g.port, wire, transport))
    assert h.id == 0x4242 and h.qr and h.opcode == opcode
    assert h.rcode == "NOTIMP" and not h.aa
    assert h.an == 0 and h.ns == 0


@both
def test_cname_is_chased_inside_the_zone(g, tool, transport):
    r = ask(g, tool, transport, "alias.example.test", "A")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert r.records() == [["alias.example.test.", "300", "IN", "CNAME", "www.example.test."],
                           ["www.example.test.", "300", "IN", "A", "192.0.2.80"]]
    r = ask(g, tool, transport, "alias.example.test", "CNAME")
    assert r.records() == [["alias.example.test.", "300", "IN", "CNAME", "www.example.test."]]


@both
def test_cname_to_a_missing_in_zone_name_is_nxdomain(g, tool, transport):
    r = ask(g, tool, transport, "dangling.example.test", "A")
    # RFC 6604: the rcode is that of the last name in the chain; the CNAME stays.
    assert r.status == "NXDOMAIN" and "aa" in r.flags
    assert r.records() == [["dangling.example.test.", "300", "IN", "CNAME", "nowhere.example.test."]]
    assert types(r, "AUTHORITY") == ["SOA"]


@both
def test_cname_out_of_the_zone_gives_only_the_cname(g, tool, transport):
    r = ask(g, tool, transport, "away.example.test", "A")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert r.records() == [["away.example.test.", "300", "IN", "CNAME", "www.example.org."]]
    assert r.records("AUTHORITY") == []


@both
def test_cname_chain_is_followed(g, tool, transport):
    r = ask(g, tool, transport, "c1.example.test", "A")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert r.records() == [["c1.example.test.", "300", "IN", "CNAME", "c2.example.test."],
                           ["c2.example.test.", "300", "IN", "CNAME", "c3.example.test."],
                           ["c3.example.test.", "300", "IN", "CNAME", "www.example.test."],
                           ["www.example.test.", "300", "IN", "A", "192.0.2.80"]]


@both
@pytest.mark.parametrize("name,chain", [
    ("loop1", [("loop1", "loop2"), ("loop2", "loop1")]),
    ("loop2", [("loop2", "loop1"), ("loop1", "loop2")]),
    ("self", [("self", "self")]),
])
def test_cname_loop_gives_each_cname_once(g, tool, transport, name, chain):
    r = ask(g, tool, transport, f"{name}.example.test", "A")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert r.records() == [[f"{a}.example.test.", "300", "IN", "CNAME", f"{b}.example.test."] for a, b in chain]


@both
def test_wildcard_cname_and_cname_to_a_wildcard(g, tool, transport):
    r = ask(g, tool, transport, "x.wc.example.test", "A")
    assert r.records() == [["x.wc.example.test.", "300", "IN", "CNAME", "www.example.test."],
                           ["www.example.test.", "300", "IN", "A", "192.0.2.80"]]
    r = ask(g, tool, transport, "tow.example.test", "A")
    assert r.records() == [["tow.example.test.", "300", "IN", "CNAME", "foo.wild.example.test."],
                           ["foo.wild.example.test.", "300", "IN", "A", "192.0.2.77"]]


@both
def test_rd_is_copied_and_ra_is_not_set(g, tool, transport):
    r = ask(g, tool, transport, "www.example.test", "A", "+rec")
    assert r.flags == {"qr", "aa", "rd"}, r  # authoritative only: never recursion available
    r = ask(g, tool, transport, "www.example.org", "A", "+rec")
    assert r.status == "REFUSED" and r.flags == {"qr", "rd"}, r


@both
@pytest.mark.parametrize("name", ["sub.example.test", "host.sub.example.test", "a.b.c.sub.example.test",
                                  "ns.sub.example.test"])
def test_delegation_gives_a_referral_with_glue(g, tool, transport, name):
    r = ask(g, tool, transport, name, "A")
    assert r.status == "NOERROR"
    assert "aa" not in r.flags  # RFC 1034 4.3.2: a referral is not authoritative
    assert r.records("ANSWER") == []
    assert r.records("AUTHORITY") == [["sub.example.test.", "300", "IN", "NS", "ns.sub.example.test."]]
    assert sorted(r.records("ADDITIONAL")) == sorted([
        ["ns.sub.example.test.", "300", "IN", "A", "192.0.2.99"],
        ["ns.sub.example.test.", "300", "IN", "AAAA", "2001:db8::99"]])


def test_ds_at_a_delegation_is_answered_by_the_parent(g):
    # RFC 4035 3.1.4.1: the parent side is authoritative for DS; there is none here.
    r = ask(g, "dig", "udp", "sub.example.test", "DS")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert types(r, "AUTHORITY") == ["SOA"]


@both
@pytest.mark.parametrize("name", ["x.wild.example.test", "a.b.wild.example.test"])
def test_wildcard_synthesises_with_the_query_name_as_owner(g, tool, transport, name):
    r = ask(g, tool, transport, name, "A")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert r.records() == [[name + ".", "300", "IN", "A", "192.0.2.77"]]


@both
def test_wildcard_other_type_is_nodata(g, tool, transport):
    r = ask(g, tool, transport, "x.wild.example.test", "TXT")
    assert r.status == "NOERROR" and r.records() == [] and types(r, "AUTHORITY") == ["SOA"]


@both
def test_wildcard_does_not_answer_an_existing_name(g, tool, transport):
    # host.wild exists (TXT): the wildcard does not give it an A (RFC 4592 2.2.1).
    r = ask(g, tool, transport, "host.wild.example.test", "A")
    assert r.status == "NOERROR" and r.records() == [] and types(r, "AUTHORITY") == ["SOA"]
    assert ask(g, tool, transport, "host.wild.example.test", "TXT").rdata("TXT") == ['"exists"']


@both
def test_empty_non_terminal_blocks_the_wildcard(g, tool, transport):
    # z.ent.wild makes ent.wild an empty non-terminal: it exists, so *.wild does not
    # match it or anything below it (RFC 4592 2.2.2 and the closest-encloser rule).
    r = ask(g, tool, transport, "ent.wild.example.test", "A")
    assert r.status == "NOERROR" and r.records() == [], r
    r = ask(g, tool, transport, "other.ent.wild.example.test", "A")
    assert r.status == "NXDOMAIN" and r.records() == [], r
    assert ask(g, tool, transport, "z.ent.wild.example.test", "A").rdata("A") == ["192.0.2.78"]


@both
@pytest.mark.parametrize("name", ["www.example.test", "example.test", "ns1.example.test"])
def test_any_is_answered_with_one_rrset(g, tool, transport, name):
    r = ask(g, tool, transport, name, "ANY")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert len(r.records()) >= 1
    assert len(set(types(r))) == 1, r  # RFC 8482: one RRset, not everything at the name
    assert set(owners(r)) == {name + "."}


# dig only: kdig lower-cases the name it sends.
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_question_case_is_preserved(g, transport):
    r = ask(g, "dig", transport, "WwW.ExAmPlE.tEsT", "A")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert ";WwW.ExAmPlE.tEsT.\t" in r.stdout.split("ANSWER SECTION")[0]  # the question as sent
    assert r.records() == [["WwW.ExAmPlE.tEsT.", "300", "IN", "A", "192.0.2.80"]]
    r = ask(g, "dig", transport, "X-Y.Wild.Example.Test", "A")
    assert r.records() == [["X-Y.Wild.Example.Test.", "300", "IN", "A", "192.0.2.77"]]
    r = ask(g, "dig", transport, "NOPE.EXAMPLE.TEST", "A")
    assert r.status == "NXDOMAIN" and ";NOPE.EXAMPLE.TEST.\t" in r.stdout


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_question_case_is_preserved_on_the_wire(g, transport):
    wire = dnswire.query("WwW.ExAmPlE.tEsT", "A", qid=7)
    resp = dnswire.exchange(g.port, wire, transport)
    assert resp[12:12 + len(dnswire.name_wire("WwW.ExAmPlE.tEsT"))] == dnswire.name_wire("WwW.ExAmPlE.tEsT")
    m = dnswire.parse(resp)
    assert m.answer[0].name.to_text() == "WwW.ExAmPlE.tEsT."


def uncompressed_size(m):
    size = 12
    for q in m.question:
        size += len(q.name.to_wire()) + 4
    for section in (m.answer, m.authority, m.additional):
        for rrset in section:
            buf = io.BytesIO()
            rrset.to_wire(buf, None, dns.name.root)  # no compression table
            size += len(buf.getvalue())
    return size


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("name,qtype", [("www.example.test", "A"), ("example.test", "MX"),
                                        ("nope.example.test", "A"), ("alias.example.test", "A"),
                                        ("host.sub.example.test", "A")])
def test_names_are_compressed(g, transport, name, qtype):
    resp = dnswire.exchange(g.port, dnswire.query(name, qtype, qid=9), transport)
    m = dnswire.parse(resp)
    assert m.answer or m.authority
    # Owner names point into the question (RFC 1035 4.1.4) rather than repeat it.
    qend = 12 + len(dnswire.name_wire(name))
    rest = resp[qend + 4:]
    pointers = [(rest[i] & 0x3F) << 8 | rest[i + 1] for i in range(len(rest) - 1) if rest[i] & 0xC0 == 0xC0]
    assert any(12 <= p < qend for p in pointers), resp
    if m.answer and m.answer[0].name == dns.name.from_text(name):
        assert b"\xc0\x0c" in rest
    assert len(resp) < uncompressed_size(m)


@both
def test_mx_gets_the_mail_host_address_in_additional(g, tool, transport):
    r = ask(g, tool, transport, "example.test", "MX")
    assert r.status == "NOERROR" and "aa" in r.flags
    assert r.records() == [["example.test.", "300", "IN", "MX", "10", "mail.example.test."]]
    assert ["mail.example.test.", "300", "IN", "A", "192.0.2.25"] in r.records("ADDITIONAL")


@both
def test_txt_with_several_strings(g, tool, transport):
    r = ask(g, tool, transport, "txt.example.test", "TXT")
    assert r.rdata("TXT") == ['"hello world" "second string"']


def test_zone_transfer_is_refused(g):
    r = g.dig("example.test", "AXFR")
    assert "Transfer failed" in r.stdout and "SOA" not in r.stdout, r
    resp = dnswire.tcp_exchange(g.port, dnswire.query("example.test", "AXFR", qid=3))
    assert dnswire.Header(resp).rcode == "REFUSED"


SERVICE_CONFIG = """
server:
  listen: [@LISTEN@]
  workers: 1
  http: @HTTP@
zones:
  - origin: svc.test.
    soa: { mname: ns1.svc.test., rname: h.svc.test., serial: 5, minimum: 60, ttl: 3600 }
    ns: [ns1.svc.test.]
    records: |
      ns1  3600 IN A   192.0.2.53
      @    3600 IN MX  10 mail
      mail 3600 IN A   192.0.2.25
      app  3600 IN TXT "v=spf1 -all"
clusters:
  eu: { ingress: [192.0.2.1], initial_state: up }
services:
  - { name: svc.test., ttl: 30, clusters: [eu] }
  - { name: app.svc.test., ttl: 30, clusters: [eu] }
"""


@pytest.mark.parametrize("tool,transport", [("dig", "udp"), ("kdig", "tcp")])
def test_service_names_keep_their_other_records(tool, transport):
    # A service at the apex still has the zone's SOA and NS (without them resolvers
    # cannot use the zone), and a TXT or MX beside a service is answered.
    with Gslbd(SERVICE_CONFIG) as g:
        r = ask(g, tool, transport, "svc.test", "A")
        assert r.records() == [["svc.test.", "30", "IN", "A", "192.0.2.1"]] and "aa" in r.flags
        r = ask(g, tool, transport, "svc.test", "SOA")
        assert types(r) == ["SOA"] and r.records()[0][1] == "3600", r
        r = ask(g, tool, transport, "svc.test", "NS")
        assert r.records() == [["svc.test.", "3600", "IN", "NS", "ns1.svc.test."]], r
        assert ["ns1.svc.test.", "3600", "IN", "A", "192.0.2.53"] in r.records("ADDITIONAL")
        r = ask(g, tool, transport, "svc.test", "MX")
        assert r.rdata("MX") == ["10 mail.svc.test."]
        r = ask(g, tool, transport, "app.svc.test", "TXT")
        assert r.rdata("TXT") == ['"v=spf1 -all"'] and "aa" in r.flags
        r = ask(g, tool, transport, "app.svc.test", "A")
        assert r.rdata("A") == ["192.0.2.1"]
        for name, qtype in (("app.svc.test", "AAAA"), ("app.svc.test", "MX"), ("svc.test", "AAAA")):
            r = ask(g, tool, transport, name, qtype)  # no IPv6 ingress, no such record: NODATA
            assert r.status == "NOERROR" and r.records() == [] and types(r, "AUTHORITY") == ["SOA"], r
