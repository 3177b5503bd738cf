"""A zone read from an RFC 1035 master file (`zonefile:`, relative to the config's
directory): $TTL, $ORIGIN, relative names, and every common type answered as
kdig and dig print it."""
import pytest

from dnswire import ask
from gslb import Gslbd

LONG = "x" * 255
ZONEFILE = """\
; A master file as operators write them.
$TTL 1h
$ORIGIN zf.test.
@       IN SOA  ns1 hostmaster (
                2024020201 ; serial
                7200       ; refresh
                900        ; retry
                1209600    ; expire
                300 )      ; minimum
        IN NS   ns1
        IN NS   ns2.example.net.
        IN MX   10 mail
        IN MX   20 mail2.example.net.
        IN CAA  0 issue "letsencrypt.org"
ns1     IN A    192.0.2.1
ns1     IN AAAA 2001:db8::1
www 600 IN A    192.0.2.10
www     IN AAAA 2001:db8::10
alias   IN CNAME www
mail    IN A    192.0.2.25
long    IN TXT  "first string" "second string with spaces" "%s"
_sip._tcp IN SRV 10 60 5060 sip
sip     IN A    192.0.2.50
$TTL 120
10.rev  IN PTR  www.zf.test.
$ORIGIN sub2.zf.test.
deep    IN A    192.0.2.60
""" % LONG

CONFIG = """
server:
  listen: [@LISTEN@]
  workers: 1
  http: @HTTP@
zones:
  - origin: zf.test.
    zonefile: zones/zf.test.zone
services: []
clusters: {}
"""

# name, type: the records kdig prints, as [owner, ttl, class, type, rdata...].
EXPECTED = [
    ("zf.test", "SOA", [["zf.test.", "3600", "IN", "SOA", "ns1.zf.test.", "hostmaster.zf.test.", "2024020201",
                         "7200", "900", "1209600", "300"]]),
    ("zf.test", "NS", [["zf.test.", "3600", "IN", "NS", "ns1.zf.test."],
                       ["zf.test.", "3600", "IN", "NS", "ns2.example.net."]]),
    ("zf.test", "MX", [["zf.test.", "3600", "IN", "MX", "10", "mail.zf.test."],
                       ["zf.test.", "3600", "IN", "MX", "20", "mail2.example.net."]]),
    ("zf.test", "CAA", [["zf.test.", "3600", "IN", "CAA", "0", "issue", '"letsencrypt.org"']]),
    ("ns1.zf.test", "A", [["ns1.zf.test.", "3600", "IN", "A", "192.0.2.1"]]),
    ("ns1.zf.test", "AAAA", [["ns1.zf.test.", "3600", "IN", "AAAA", "2001:db8::1"]]),
    ("www.zf.test", "A", [["www.zf.test.", "600", "IN", "A", "192.0.2.10"]]),
    ("www.zf.test", "AAAA", [["www.zf.test.", "3600", "IN", "AAAA", "2001:db8::10"]]),
    ("alias.zf.test", "CNAME", [["alias.zf.test.", "3600", "IN", "CNAME", "www.zf.test."]]),
    ("alias.zf.test", "A", [["alias.zf.test.", "3600", "IN", "CNAME", "www.zf.test."],
                            ["www.zf.test.", "600", "IN", "A", "192.0.2.10"]]),
    ("long.zf.test", "TXT", [["long.zf.test.", "3600", "IN", "TXT", '"first', 'string"', '"second', "string",
                              "with", 'spaces"', '"%s"' % LONG]]),
    ("_sip._tcp.zf.test", "SRV", [["_sip._tcp.zf.test.", "3600", "IN", "SRV", "10", "60", "5060", "sip.zf.test."]]),
    ("10.rev.zf.test", "PTR", [["10.rev.zf.test.", "120", "IN", "PTR", "www.zf.test."]]),
    ("deep.sub2.zf.test", "A", [["deep.sub2.zf.test.", "120", "IN", "A", "192.0.2.60"]]),
]


@pytest.fixture(scope="module")
def g():
    server = Gslbd(CONFIG, extra_files={})
    import os
    os.makedirs(os.path.join(server.dir, "zones"))
    with open(os.path.join(server.dir, "zones", "zf.test.zone"), "w") as f:
        f.write(ZONEFILE)
    with server:
        yield server


@pytest.mark.parametrize("tool", ["kdig", "dig"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("name,qtype,records", EXPECTED, ids=[f"{n}-{t}" for n, t, _ in EXPECTED])
def test_zonefile_record(g, tool, transport, name, qtype, records):
    r = ask(g, tool, transport, name, qtype)
    assert r.status == "NOERROR" and "aa" in r.flags, r
    assert sorted(r.records()) == sorted(records), r


@pytest.mark.parametrize("tool", ["kdig", "dig"])
def test_zonefile_additional_addresses(g, tool):
    r = ask(g, tool, "udp", "zf.test", "MX")
    assert ["mail.zf.test.", "3600", "IN", "A", "192.0.2.25"] in r.records("ADDITIONAL")
    r = ask(g, tool, "udp", "_sip._tcp.zf.test", "SRV")
    assert ["sip.zf.test.", "3600", "IN", "A", "192.0.2.50"] in r.records("ADDITIONAL")
    r = ask(g, tool, "udp", "zf.test", "NS")
    assert ["ns1.zf.test.", "3600", "IN", "A", "192.0.2.1"] in r.records("ADDITIONAL")


@pytest.mark.parametrize("tool", ["kdig", "dig"])
def test_zonefile_negative_answers(g, tool):
    r = ask(g, tool, "udp", "nope.zf.test", "A")
    assert r.status == "NXDOMAIN" and "aa" in r.flags
    [soa] = r.records("AUTHORITY")
    assert soa[3] == "SOA" and soa[1] == "300"  # min(3600, 300)
    r = ask(g, tool, "udp", "sub2.zf.test", "A")  # empty non-terminal above deep.sub2
    assert r.status == "NOERROR" and r.records() == []


def test_check_config_counts_the_zonefile_records(g):
    from gslb import check_config
    p = check_config(g.config_path)
    assert p.returncode == 0, p.stderr
    assert "zone zf.test.: 17 record(s)" in p.stdout, p.stdout


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_only_rfc1035_types_have_compressed_rdata_names(g, transport):
    import dnswire
    # RFC 3597 4: SRV's target is sent whole; MX's exchange may point into the question.
    srv = dnswire.exchange(g.port, dnswire.query("_sip._tcp.zf.test", "SRV", qid=5), transport)
    assert dnswire.name_wire("sip.zf.test") in srv
    mx = dnswire.exchange(g.port, dnswire.query("zf.test", "MX", qid=6), transport)
    assert dnswire.name_wire("mail.zf.test") not in mx and b"\x04mail\xc0\x0c" in mx
