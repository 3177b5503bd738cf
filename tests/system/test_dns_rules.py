"""Answers where RFC 1034, 4035, 6672 and 4892 settle what an authoritative server
says: ANY at a CNAME, DS at a cut whose both sides gslbd serves, a CNAME into a
delegation, DNAME, NOTIMP's flags and CHAOS identity. Where Knot serves the same
zones, the answer sections are compared with its own."""
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

import dnswire
from dnswire import ask
from gslb import Gslbd, free_port
from resolvers import Knot

SOA = {"mname": "ns1.{o}", "rname": "hostmaster.{o}", "serial": 7, "refresh": 3600, "retry": 900,
       "expire": 1209600, "minimum": 60}
DS_RDATA = "12345 13 2 " + "AB" * 32
# 205 octets: with the 85 octets kept from LONG_QNAME, the synthesized name is 290.
LONG_TARGET = ".".join(c * 63 for c in "abc") + ".target.test."
LONG_QNAME = "x" * 63 + "." + "y" * 20 + ".long.example.test."

ZONES = {
    "example.test.": """
ns1      3600 IN A     192.0.2.53
www      300  IN A     192.0.2.80
alias    300  IN CNAME www
dangling 300  IN CNAME nowhere
away     300  IN CNAME www.example.org.
sub      300  IN NS    ns.sub
ns.sub   300  IN A     192.0.2.99
into     300  IN CNAME host.sub
tocut    300  IN CNAME sub
sd       300  IN DNAME hosts.example.test.
www.hosts 300 IN A     192.0.2.91
od       300  IN DNAME Target.Test.
xd       300  IN DNAME example.org.
long     300  IN DNAME {LONG_TARGET}
tosd     300  IN CNAME www.sd
tonosd   300  IN CNAME nope.sd
""".replace("{LONG_TARGET}", LONG_TARGET),
    "target.test.": """
ns1      3600 IN A     192.0.2.63
www      300  IN A     192.0.2.90
alias    300  IN CNAME www
sub      300  IN NS    ns1.sub
ns1.sub  300  IN A     192.0.2.64
""",
    "apexd.test.": """
@        300  IN DNAME target.test.
""",
    "parent.test.": f"""
ns1      3600 IN A     192.0.2.53
child    300  IN NS    ns1.child
child    300  IN DS    {DS_RDATA}
ns1.child 300 IN A     192.0.2.60
nods     300  IN NS    ns1.nods
ns1.nods 300  IN A     192.0.2.61
""",
    "child.parent.test.": """
ns1      3600 IN A     192.0.2.60
www      300  IN A     192.0.2.81
""",
    "nods.parent.test.": """
ns1      3600 IN A     192.0.2.61
""",
    "lonely.test.": """
ns1      3600 IN A     192.0.2.62
""",
}
# A DNAME at the apex leaves no name below it for a name server.
NS = {origin: f"ns1.{origin}" for origin in ZONES} | {"apexd.test.": "ns1.target.test."}


def gslbd_config(server_extra=""):
    zones = ""
    for origin, records in ZONES.items():
        soa = ", ".join(f"{k}: {v.format(o=origin) if isinstance(v, str) else v}" for k, v in SOA.items())
        body = "".join(f"      {line}\n" for line in records.strip().splitlines())
        zones += f"""  - origin: {origin}
    soa: {{ {soa}, ttl: 3600 }}
    ns: [{NS[origin]}]
    records: |
{body}"""
    return f"""
server:
  listen: [@LISTEN@]
  workers: 1
  http: @HTTP@
{server_extra}zones:
{zones}services: []
clusters: {{}}
"""


def knot_zone(origin):
    s = {k: v.format(o=origin) if isinstance(v, str) else v for k, v in SOA.items()}
    return (f"$ORIGIN {origin}\n@ 3600 IN SOA {s['mname']} {s['rname']} {s['serial']} {s['refresh']} "
            f"{s['retry']} {s['expire']} {s['minimum']}\n@ 3600 IN NS {NS[origin]}\n" + ZONES[origin])


@pytest.fixture(scope="module")
def g():
    with Gslbd(gslbd_config('  nsid: ns1-fra\n  version: "gslbd 2.0"\n')) as server:
        yield server


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    with Knot("127.0.0.1", free_port(), {o: knot_zone(o) for o in ZONES},
              workdir=str(tmp_path_factory.mktemp("knot"))) as k:
        yield k


def sections(r, additional=True):
    names = ("ANSWER", "AUTHORITY", "ADDITIONAL") if additional else ("ANSWER", "AUTHORITY")
    return {s: sorted(r.records(s)) for s in names}


def like_knot(g, knot, name, qtype, additional=True):
    """gslbd's answer, after checking that Knot gives the same rcode, header flags and sections."""
    ours, theirs = g.dig(name, qtype), knot.dig(name, qtype)
    assert (ours.status, ours.flags) == (theirs.status, theirs.flags), (ours, theirs)
    assert sections(ours, additional) == sections(theirs, additional), (ours, theirs)
    return ours


# 1. RFC 1034 4.3.2 step 3a: the CNAME itself matches ANY.
@pytest.mark.parametrize("tool,transport", [("dig", "udp"), ("dig", "tcp"), ("kdig", "udp"), ("kdig", "tcp")])
@pytest.mark.parametrize("name,target", [("alias", "www.example.test."), ("dangling", "nowhere.example.test."),
                                         ("away", "www.example.org.")])
def test_any_at_a_cname_is_the_cname_alone(g, tool, transport, name, target):
    r = ask(g, tool, transport, f"{name}.example.test", "ANY")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [[f"{name}.example.test.", "300", "IN", "CNAME", target]], r
    assert r.records("AUTHORITY") == [] and r.records("ADDITIONAL") == [], r


@pytest.mark.parametrize("name", ["alias.example.test", "dangling.example.test"])
def test_any_at_a_cname_like_knot(g, knot, name):
    like_knot(g, knot, name, "ANY")


# 2. RFC 4035 3.1.4.1: DS belongs to the parent side of the cut.
def test_ds_at_a_child_apex_comes_from_the_parent(g, knot):
    r = like_knot(g, knot, "child.parent.test", "DS")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    [ds] = r.records()
    assert ds[:7] == ["child.parent.test.", "300", "IN", "DS", "12345", "13", "2"], r
    assert "".join(ds[7:]) == "AB" * 32, r
    assert r.records("AUTHORITY") == [], r


def test_no_ds_at_a_child_apex_is_the_parents_nodata(g, knot):
    r = like_knot(g, knot, "nods.parent.test", "DS")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"} and r.records() == [], r
    [soa] = r.records("AUTHORITY")
    assert soa[:4] == ["parent.test.", "60", "IN", "SOA"], r


def test_other_types_at_a_child_apex_come_from_the_child(g, knot):
    r = like_knot(g, knot, "child.parent.test", "SOA", additional=False)
    assert r.rdata("SOA")[0].startswith("ns1.child.parent.test."), r


def test_ds_at_an_apex_without_a_served_parent_is_the_zones_own_nodata(g, knot):
    r = like_knot(g, knot, "lonely.test", "DS")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"} and r.records() == [], r
    assert r.records("AUTHORITY")[0][:4] == ["lonely.test.", "60", "IN", "SOA"], r


# 4. RFC 1034 4.3.2 step 3b: a CNAME into a delegation goes on to the referral.
@pytest.mark.parametrize("tool,transport", [("dig", "udp"), ("kdig", "tcp")])
def test_cname_into_a_delegation_gives_the_referral(g, tool, transport):
    r = ask(g, tool, transport, "into.example.test", "A")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["into.example.test.", "300", "IN", "CNAME", "host.sub.example.test."]], r
    assert r.records("AUTHORITY") == [["sub.example.test.", "300", "IN", "NS", "ns.sub.example.test."]], r
    assert r.records("ADDITIONAL") == [["ns.sub.example.test.", "300", "IN", "A", "192.0.2.99"]], r


@pytest.mark.parametrize("name", ["into.example.test", "tocut.example.test"])
def test_cname_into_a_delegation_like_knot(g, knot, name):
    like_knot(g, knot, name, "A")


# 3. RFC 6672: DNAME redirects the names below its owner.
@pytest.mark.parametrize("tool,transport", [("dig", "udp"), ("dig", "tcp"), ("kdig", "udp"), ("kdig", "tcp")])
def test_dname_synthesizes_a_cname_and_chases_it_in_the_zone(g, tool, transport):
    www = "WWW" if tool == "dig" else "www"  # the case sent is kept (kdig sends lower case)
    r = ask(g, tool, transport, f"{www}.sd.example.test", "A")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["sd.example.test.", "300", "IN", "DNAME", "hosts.example.test."],
                           [f"{www}.sd.example.test.", "300", "IN", "CNAME", f"{www}.hosts.example.test."],
                           [f"{www}.hosts.example.test.", "300", "IN", "A", "192.0.2.91"]], r
    assert r.records("AUTHORITY") == [], r


@pytest.mark.parametrize("name,qtype", [("www.sd.example.test", "A"), ("a.b.sd.example.test", "A"),
                                        ("sd.example.test", "DNAME"), ("sd.example.test", "A"),
                                        ("www.xd.example.test", "A"), ("www.sd.example.test", "DNAME")])
def test_dname_like_knot(g, knot, name, qtype):
    like_knot(g, knot, name, qtype)


# RFC 1034 4.3.2 step 3a starts over with a CNAME's target, which may lie below a DNAME.
@pytest.mark.parametrize("tool,transport", [("dig", "udp"), ("kdig", "tcp")])
def test_a_cname_to_a_name_below_a_dname_is_chased_through_it(g, tool, transport):
    r = ask(g, tool, transport, "tosd.example.test", "A")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["tosd.example.test.", "300", "IN", "CNAME", "www.sd.example.test."],
                           ["sd.example.test.", "300", "IN", "DNAME", "hosts.example.test."],
                           ["www.sd.example.test.", "300", "IN", "CNAME", "www.hosts.example.test."],
                           ["www.hosts.example.test.", "300", "IN", "A", "192.0.2.91"]], r
    assert r.records("AUTHORITY") == [] and r.records("ADDITIONAL") == [], r
    r = ask(g, tool, transport, "tonosd.example.test", "A")
    assert r.status == "NXDOMAIN" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["tonosd.example.test.", "300", "IN", "CNAME", "nope.sd.example.test."],
                           ["sd.example.test.", "300", "IN", "DNAME", "hosts.example.test."],
                           ["nope.sd.example.test.", "300", "IN", "CNAME", "nope.hosts.example.test."]], r
    assert [rr[:4] for rr in r.records("AUTHORITY")] == [["example.test.", "60", "IN", "SOA"]], r


@pytest.mark.parametrize("name", ["tosd.example.test", "tonosd.example.test"])
def test_a_cname_to_a_name_below_a_dname_like_knot(g, knot, name):
    like_knot(g, knot, name, "A")


def test_dname_into_another_served_zone_is_chased(g):
    r = ask(g, "dig", "udp", "alias.od.example.test", "A")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["od.example.test.", "300", "IN", "DNAME", "Target.Test."],
                           ["alias.od.example.test.", "300", "IN", "CNAME", "alias.Target.Test."],
                           # names in target.test. point at the synthesized copy of its origin
                           # (as they point into the question otherwise), so they keep its case
                           ["alias.Target.Test.", "300", "IN", "CNAME", "www.Target.Test."],
                           ["www.Target.Test.", "300", "IN", "A", "192.0.2.90"]], r


def test_dname_into_another_zone_ends_like_that_zone_answers(g):
    def lower(records):  # the DNAME's target is written "Target.Test."
        return [[field.lower() for field in rr] for rr in records]
    r = ask(g, "kdig", "udp", "nope.od.example.test", "A")
    assert r.status == "NXDOMAIN" and r.flags == {"qr", "aa"}, r
    assert [x[3] for x in r.records()] == ["DNAME", "CNAME"], r
    assert lower(r.records("AUTHORITY"))[0][:4] == ["target.test.", "60", "in", "soa"], r
    r = ask(g, "kdig", "tcp", "host.sub.od.example.test", "A")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert lower(r.records("AUTHORITY")) == [["sub.target.test.", "300", "in", "ns", "ns1.sub.target.test."]], r
    assert lower(r.records("ADDITIONAL")) == [["ns1.sub.target.test.", "300", "in", "a", "192.0.2.64"]], r


def test_dname_at_an_apex(g):
    r = ask(g, "dig", "tcp", "www.apexd.test", "A")
    assert r.records() == [["apexd.test.", "300", "IN", "DNAME", "target.test."],
                           ["www.apexd.test.", "300", "IN", "CNAME", "www.target.test."],
                           ["www.target.test.", "300", "IN", "A", "192.0.2.90"]], r
    assert ask(g, "dig", "udp", "apexd.test", "SOA").rdata("SOA"), "the apex itself is not redirected"


def test_dname_out_of_the_served_zones_gives_dname_and_cname(g):
    r = ask(g, "dig", "udp", "www.xd.example.test", "A")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["xd.example.test.", "300", "IN", "DNAME", "example.org."],
                           ["www.xd.example.test.", "300", "IN", "CNAME", "www.example.org."]], r


def test_dname_whose_result_is_too_long_is_yxdomain(g, knot):
    r = like_knot(g, knot, LONG_QNAME, "A")
    assert r.status == "YXDOMAIN" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["long.example.test.", "300", "IN", "DNAME", LONG_TARGET]], r
    r = ask(g, "dig", "udp", "www.long.example.test", "A")
    assert r.status == "NXDOMAIN" and r.rdata("CNAME") == ["www." + LONG_TARGET], r


# 6. RD and CD are query flags: NOTIMP for another opcode carries neither.
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("opcode", [dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, dns.opcode.UPDATE, 15])
def test_notimp_copies_neither_rd_nor_cd(g, transport, opcode):
    wire = dnswire.header(qid=0x5151, flags=(opcode << 11) | 0x0100 | 0x0010) + dnswire.question("example.test", "SOA")
    r = dnswire.exchange(g.port, wire, transport)
    h = dnswire.Header(r)
    assert h.id == 0x5151 and h.qr and h.opcode == opcode and h.rcode == "NOTIMP", h
    flags = int.from_bytes(r[2:4], "big")
    assert flags & 0x0100 == 0 and flags & 0x0010 == 0 and flags & 0x0400 == 0, hex(flags)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_query_keeps_rd_and_cd(g, transport):
    wire = dnswire.header(qid=0x5252, flags=0x0100 | 0x0010) + dnswire.question("www.example.test", "A")
    r = dnswire.exchange(g.port, wire, transport)
    assert int.from_bytes(r[2:4], "big") == 0x8000 | 0x0400 | 0x0100 | 0x0010


def test_notimp_flags_with_dig(g):
    r = ask(g, "dig", "udp", "example.test", "SOA", "+opcode=notify", "+rec", "+cdflag")
    assert r.status == "NOTIMP" and r.flags == {"qr"}, r


# 8. RFC 4892: CHAOS identity.
@pytest.mark.parametrize("tool,transport", [("dig", "udp"), ("dig", "tcp"), ("kdig", "udp"), ("kdig", "tcp")])
@pytest.mark.parametrize("name,text", [("id.server", "ns1-fra"), ("hostname.bind", "ns1-fra"),
                                       ("version.server", "gslbd 2.0"), ("version.bind", "gslbd 2.0")])
def test_chaos_identity_and_version(g, tool, transport, name, text):
    r = ask(g, tool, transport, name, "TXT", "-c", "CH")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [[f"{name}.", "0", "CH", "TXT"] + f'"{text}"'.split()], r
    assert r.records("AUTHORITY") == [], r


@pytest.mark.parametrize("name,qtype", [("id.server", "A"), ("authors.bind", "TXT"), ("id.server.example", "TXT")])
def test_chaos_other_questions_are_refused(g, name, qtype):
    r = ask(g, "dig", "udp", name, qtype, "-c", "CH")
    assert r.status == "REFUSED" and r.records() == [], r


def test_chaos_answers_only_what_is_set_and_follows_reloads():
    with Gslbd(gslbd_config()) as plain:
        for name in ("id.server", "hostname.bind", "version.server", "version.bind"):
            r = ask(plain, "dig", "udp", name, "TXT", "-c", "CH")
            assert r.status == "REFUSED" and r.records() == [], r
        assert "reloaded" in plain.reload(gslbd_config('  version: "v2"\n'))
        assert ask(plain, "dig", "udp", "version.bind", "TXT", "-c", "CH").rdata("TXT") == ['"v2"']
        assert ask(plain, "dig", "udp", "id.server", "TXT", "-c", "CH").status == "REFUSED"
