"""TSIG (RFC 8945): gslbd holds no keys, so a signed query gets NOTAUTH with an
unsigned TSIG RR carrying BADKEY, over UDP and TCP; a TSIG that is not the last
record, or whose RDATA does not parse, is FORMERR."""
import re
import struct
import subprocess

import dns.message
import dns.query
import dns.tsig
import dns.tsigkeyring
import pytest

import dnswire
from dnsconfig import DNS_CONFIG
from gslb import DigResult, Gslbd, free_port
from resolvers import Knot

KEY_NAME, SECRET = "Transfer-Key.", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
KEYRING = dns.tsigkeyring.from_text({KEY_NAME: SECRET})
TRANSPORTS = ["udp", "tcp"]


@pytest.fixture(scope="module")
def g():
    with Gslbd(DNS_CONFIG) as server:
        yield server


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    """Knot without keys: the reference for a query signed with a key it does not have."""
    zone = ("$ORIGIN example.test.\n@ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 60\n@ 3600 IN NS ns1\n"
            "ns1 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.80\n")
    with Knot("127.0.0.1", free_port(), {"example.test.": zone}, workdir=str(tmp_path_factory.mktemp("knot"))) as k:
        yield k


def signed(name="www.example.test", qid=0x7a7a, edns=False):
    q = dns.message.make_query(name, "A", use_edns=0 if edns else False)
    q.id = qid
    q.use_tsig(KEYRING, KEY_NAME, algorithm=dns.tsig.HMAC_SHA256)
    return q


def tool(g, name, transport, *options):
    cmd = [name, "@127.0.0.1", "-p", str(g.port), "+norec", "-y", f"hmac-sha256:{KEY_NAME}:{SECRET}",
           "www.example.test", "A", *options] + (["+tcp"] if transport == "tcp" else [])
    return DigResult(subprocess.run(cmd, capture_output=True, text=True, timeout=30))


def tsig_line(stdout):
    m = re.search(r"^(\S+)\s+0\s+ANY\s+TSIG\s+(.*)$", stdout, re.M)
    assert m, stdout
    return m.group(1), m.group(2).split()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_key_is_notauth_badkey_with_dig(g, transport):
    r = tool(g, "dig", transport)
    assert r.status == "NOTAUTH" and r.flags == {"qr"}, r
    assert "ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 2" in r.stdout, r  # OPT and TSIG
    owner, (algorithm, _time, fudge, mac_size, original_id, error, other_len) = tsig_line(r.stdout)
    assert owner.lower() == KEY_NAME.lower() and algorithm == "hmac-sha256.", r
    assert (fudge, mac_size, error, other_len) == ("300", "0", "BADKEY", "0"), r
    assert int(original_id) == int(re.search(r"id: (\d+)", r.stdout).group(1)), r


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("edns", ["+edns", "+noedns"])
def test_unknown_key_like_knot(g, knot, transport, edns):
    def seen(server):
        r = tool(server, "dig", transport, edns, "+nocookie")
        owner, fields = tsig_line(r.stdout)
        counts = re.search(r"QUERY: \d+, ANSWER: \d+, AUTHORITY: \d+, ADDITIONAL: \d+", r.stdout).group(0)
        assert int(fields[4]) == int(re.search(r"id: (\d+)", r.stdout).group(1)), r  # the original ID
        # The time is the server's clock; the rest of the TSIG, header and sections must agree.
        return r.status, r.flags, counts, r.records(), r.records("AUTHORITY"), owner.lower(), fields[:1] + fields[2:4] + fields[5:]
    assert seen(g) == seen(knot)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_key_is_badkey_with_kdig(g, transport):
    r = tool(g, "kdig", transport)
    assert r.status == "BADKEY" and "qr" in r.stdout, r  # kdig shows the TSIG error as the status
    owner, fields = tsig_line(r.stdout)
    assert owner.lower() == KEY_NAME.lower() and fields[3] == "0" and fields[5] == "BADKEY", r


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("edns", [False, True])
def test_dnspython_sees_the_peer_refuse_its_key(g, transport, edns):
    q = signed(edns=edns)
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    with pytest.raises(dns.tsig.PeerBadKey):  # verified as BADKEY, the TSIG being the last record
        send(q, "127.0.0.1", port=g.port, timeout=2)
    # Unverified: the header and sections themselves.
    wire = dnswire.exchange(g.port, q.to_wire(), transport)
    h = dnswire.Header(wire)
    assert (h.id, h.rcode, h.aa, h.an, h.ns) == (0x7a7a, "NOTAUTH", False, 0, 0), h
    assert h.ar == (2 if edns else 1), h


def question_end(wire):
    return 12 + len(dnswire.name_wire("www.example.test")) + 4


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_tsig_that_is_not_last_is_formerr(g, transport):
    wire = signed().to_wire()
    tsig = wire[question_end(wire):]
    body = wire[12:question_end(wire)]
    for records in (tsig + dnswire.opt_rr(), tsig + tsig):
        query = dnswire.header(qid=0x1111, ar=2) + body + records
        h = dnswire.Header(dnswire.exchange(g.port, query, transport))
        assert h.id == 0x1111 and h.rcode == "FORMERR", h


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_tsig_whose_rdata_does_not_parse_is_formerr(g, transport):
    wire = signed().to_wire()
    head, tsig = wire[:question_end(wire)], wire[question_end(wire):]
    rdlen_at = len(dnswire.name_wire(KEY_NAME)) + 8
    (rdlen,) = struct.unpack("!H", tsig[rdlen_at:rdlen_at + 2])
    for bad in (tsig[:rdlen_at] + struct.pack("!H", rdlen - 1) + tsig[rdlen_at + 2:-1],  # other data cut short
                tsig[:rdlen_at] + struct.pack("!H", 3) + tsig[rdlen_at + 2:rdlen_at + 5]):  # no fixed fields
        h = dnswire.Header(dnswire.exchange(g.port, head + bad, transport))
        assert h.rcode == "FORMERR", h


def test_unsigned_queries_are_unaffected(g):
    r = dns.query.udp(dns.message.make_query("www.example.test", "A"), "127.0.0.1", port=g.port, timeout=2)
    assert r.rcode() == 0 and r.answer and r.tsig is None
