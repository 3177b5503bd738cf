"""Bad packets sent to a real gslbd over UDP and TCP: each kind gets exactly the
answer the RFCs ask for (FORMERR, NOTIMP, REFUSED, BADVERS) or no answer at all,
and the server answers a good query right after every one of them.

Expected responses (read from dnsd/query.cpp and dnsd/answer.cpp):
  - no answer: packets shorter than a header (RFC 1035 4.1.1 needs 12 bytes) and
    responses (QR=1): answering those invites reflection loops;
  - FORMERR without OPT: a message that cannot be parsed as one query (RFC 1035
    4.1.1), including OPT misuse (RFC 6891 6.1.1: one OPT, in the additional
    section, owned by the root);
  - FORMERR with OPT: a malformed EDNS Client Subnet option (RFC 7871 7.1.1, 6);
  - BADVERS with OPT: EDNS version > 0 (RFC 6891 6.1.3);
  - NOTIMP: opcodes other than QUERY (RFC 1035 4.1.1), echoing the OPT when the
    request had one (RFC 6891 7), and the obsolete MAILA/MAILB meta types;
  - REFUSED: classes other than IN/ANY, and zone transfers (none served).
"""
import socket
import struct

import dns.message
import dns.rcode
import pytest

from dnswire import Header, frame, header, name_wire, opt_rr, tcp_connect, tcp_read, udp_exchange
from dnsconfig import DNS_CONFIG
from gslb import Gslbd

QID = 0xBAD1
GOOD_ID = 0x600D
SILENCE = 0.5  # seconds a "no answer" case waits for a stray response after the good one

A, NS, TXT, OPT, AXFR, IXFR, MAILA = 1, 2, 16, 41, 252, 251, 254
IN, CHAOS, HESIOD, NONE = 1, 3, 4, 254


@pytest.fixture(scope="module")
def g():
    with Gslbd(DNS_CONFIG) as server:
        yield server


def q(name="www.example.test", qtype=A, qclass=IN):
    return name_wire(name) + struct.pack("!HH", qtype, qclass)


def rr(owner=b"\x00", rtype=TXT, rdata=b"\x01x", ttl=0):
    return owner + struct.pack("!HHIH", rtype, IN, ttl, len(rdata)) + rdata


def ecs(family, source, scope, address):
    body = struct.pack("!HBB", family, source, scope) + address
    return struct.pack("!HH", 8, len(body)) + body


def with_opt(options, qid=QID):
    return header(qid, ar=1) + q() + opt_rr(options=options)


LONG_NAME = (b"\x3f" + b"a" * 63) * 4 + name_wire("example.test")  # 4*64 + 14 = 270 bytes

# name -> (packet, expected): expected is None (no answer) or (rcode, OPT in the reply).
CASES = {
    # Too short to be a DNS message, or not a query at all: no answer.
    "empty datagram": (b"", None),
    "one byte": (b"\x00", None),
    "eleven bytes": (header(QID)[:11], None),
    "response (QR=1)": (header(QID, flags=0x8000) + q(), None),
    "response with an answer record": (header(QID, flags=0x8400, an=1) + q() + rr(b"\xc0\x0c", A, bytes([192, 0, 2, 1])), None),
    "UPDATE response (QR=1, opcode 5)": (header(QID, flags=0x8000 | 5 << 11) + q("example.test", 6), None),
    "bare header with QR=1": (header(QID, flags=0x8000, qd=0), None),
    # Header counts.
    "qdcount 0": (header(QID, qd=0), ("FORMERR", False)),
    "qdcount 2": (header(QID, qd=2) + q() + q("ns1.example.test"), ("FORMERR", False)),
    "qdcount 1 but no question": (header(QID), ("FORMERR", False)),
    # Names.
    "label longer than 63": (header(QID) + b"\x40" + b"a" * 64 + name_wire("example.test") + struct.pack("!HH", A, IN), ("FORMERR", False)),
    "label type 0x80": (header(QID) + b"\x80" + name_wire("example.test") + struct.pack("!HH", A, IN), ("FORMERR", False)),
    "name longer than 255": (header(QID) + LONG_NAME + struct.pack("!HH", A, IN), ("FORMERR", False)),
    "name truncated inside a label": (header(QID) + b"\x03www\x07exa", ("FORMERR", False)),
    "name without its root label": (header(QID) + b"\x03www\x07example\x04test", ("FORMERR", False)),
    "compression loop (pointer to itself)": (header(QID) + b"\xc0\x0c" + struct.pack("!HH", A, IN), ("FORMERR", False)),
    "compression loop through a label": (header(QID) + b"\x01a\xc0\x0c" + struct.pack("!HH", A, IN), ("FORMERR", False)),
    # The question's name points forward at "www" inside the additional record (offset 29).
    "forward pointer": (header(QID, ar=1) + b"\xc0\x1d" + struct.pack("!HH", A, IN) + rr(rdata=b"\x03www\x00"), ("FORMERR", False)),
    # ID 0 makes offset 0 read as the root label: a pointer into the header names nothing.
    "pointer into the header": (header(0x0000) + b"\xc0\x00" + struct.pack("!HH", NS, IN), ("FORMERR", False)),
    "pointer into the header (offset 11)": (header(QID) + b"\xc0\x0b" + struct.pack("!HH", A, IN), ("FORMERR", False)),
    "pointer past the end": (header(QID) + b"\x03www\xc0\xff" + struct.pack("!HH", A, IN), ("FORMERR", False)),
    # The question's fixed part.
    "question without type and class": (header(QID) + name_wire("www.example.test"), ("FORMERR", False)),
    "question missing its class": (header(QID) + name_wire("www.example.test") + struct.pack("!H", A), ("FORMERR", False)),
    "qtype OPT": (header(QID) + q(qtype=OPT), ("FORMERR", False)),
    "trailing garbage after the question": (header(QID) + q() + b"\x00\x00\x01", ("FORMERR", False)),
    # Sections a query does not have, and OPT misuse (RFC 6891 6.1.1).
    "record in the answer section": (header(QID, an=1) + q() + rr(b"\xc0\x0c", A, bytes([192, 0, 2, 1])), ("FORMERR", False)),
    "record in the authority section": (header(QID, ns=1) + q() + rr(), ("FORMERR", False)),
    "OPT in the answer section": (header(QID, an=1) + q() + opt_rr(), ("FORMERR", False)),
    "OPT in the authority section": (header(QID, ns=1) + q() + opt_rr(), ("FORMERR", False)),
    "OPT twice": (header(QID, ar=2) + q() + opt_rr() + opt_rr(), ("FORMERR", False)),
    "OPT with a non-root owner": (header(QID, ar=1) + q() + b"\x01x" + opt_rr(), ("FORMERR", False)),
    "OPT owner a pointer to the root": (header(QID, ar=1) + q() + b"\xc0\x1e" + opt_rr()[1:], ("FORMERR", False)),
    "OPT fixed part truncated": (header(QID, ar=1) + q() + opt_rr()[:6], ("FORMERR", False)),
    "OPT rdata truncated": (header(QID, ar=1) + q() + opt_rr(options=ecs(1, 24, 0, bytes([192, 0, 2])))[:-2], ("FORMERR", False)),
    "OPT option overruns its rdata": (with_opt(b"\x00\x0a\x00\x08ab"), ("FORMERR", False)),
    "OPT option header cut short": (with_opt(b"\x00\x0a\x00"), ("FORMERR", False)),
    "additional count larger than the records": (header(QID, ar=2) + q() + opt_rr(), ("FORMERR", False)),
    "trailing garbage after OPT": (header(QID, ar=1) + q() + opt_rr() + b"\xff", ("FORMERR", False)),
    # EDNS Client Subnet (RFC 7871 6 and 7.1.1): FORMERR, with an OPT.
    "ECS address longer than the prefix needs": (with_opt(ecs(1, 24, 0, bytes([192, 0, 2, 0]))), ("FORMERR", True)),
    "ECS address shorter than the prefix needs": (with_opt(ecs(1, 24, 0, bytes([192, 0]))), ("FORMERR", True)),
    "ECS family 3": (with_opt(ecs(3, 24, 0, bytes([192, 0, 2]))), ("FORMERR", True)),
    "ECS source prefix 33 for IPv4": (with_opt(ecs(1, 33, 0, bytes([192, 0, 2, 1, 0]))), ("FORMERR", True)),
    "ECS source prefix 129 for IPv6": (with_opt(ecs(2, 129, 0, bytes(17))), ("FORMERR", True)),
    "ECS non-zero scope in a query": (with_opt(ecs(1, 24, 24, bytes([192, 0, 2]))), ("FORMERR", True)),
    "ECS bits set beyond the prefix": (with_opt(ecs(1, 23, 0, bytes([192, 0, 3]))), ("FORMERR", True)),
    "ECS option shorter than its fixed part": (with_opt(struct.pack("!HHHB", 8, 3, 1, 24)), ("FORMERR", True)),
    "ECS twice": (with_opt(ecs(1, 24, 0, bytes([192, 0, 2])) * 2), ("FORMERR", True)),
    # EDNS version (RFC 6891 6.1.3).
    "EDNS version 1": (header(QID, ar=1) + q() + opt_rr(version=1), ("BADVERS", True)),
    # Opcodes other than QUERY (RFC 1035 4.1.1; RFC 3425 for IQUERY).
    "opcode 1 IQUERY": (header(QID, flags=1 << 11) + q(), ("NOTIMP", False)),
    "opcode 2 STATUS": (header(QID, flags=2 << 11) + q(), ("NOTIMP", False)),
    "opcode 4 NOTIFY": (header(QID, flags=4 << 11 | 0x0400) + q("example.test", 6), ("NOTIMP", False)),
    "opcode 5 UPDATE": (header(QID, flags=5 << 11, ns=1) + q("example.test", 6) + rr(b"\x03new\xc0\x0c", A, bytes([192, 0, 2, 9])), ("NOTIMP", False)),
    "opcode 5 UPDATE with OPT": (header(QID, flags=5 << 11, ar=1) + q("example.test", 6) + opt_rr(), ("NOTIMP", True)),
    "opcode 5 UPDATE with qdcount 0": (header(QID, flags=5 << 11, qd=0), ("NOTIMP", False)),
    "opcode 6 DSO (RFC 8490 5.1)": (header(QID, flags=6 << 11, qd=0), ("NOTIMP", False)),
    "opcode 15": (header(QID, flags=15 << 11) + q(), ("NOTIMP", False)),
    "qtype MAILA": (header(QID) + q(qtype=MAILA), ("NOTIMP", False)),
    # Classes and zone transfers.
    "class CHAOS": (header(QID) + q("version.bind", TXT, CHAOS), ("REFUSED", False)),
    "class HESIOD": (header(QID) + q(qclass=HESIOD), ("REFUSED", False)),
    "class NONE": (header(QID) + q(qclass=NONE), ("REFUSED", False)),
    "class 0": (header(QID) + q(qclass=0), ("REFUSED", False)),
    "AXFR over UDP": (header(QID) + q("example.test", AXFR), ("REFUSED", False)),
    "AXFR over UDP with OPT": (header(QID, ar=1) + q("example.test", AXFR) + opt_rr(), ("REFUSED", True)),
    "IXFR over UDP": (header(QID) + q("example.test", IXFR), ("REFUSED", False)),
}


def good_query():
    return header(GOOD_ID) + q()


def assert_good_answer(wire):
    h = Header(wire)
    assert h.id == GOOD_ID and h.qr and h.aa and h.rcode == "NOERROR" and h.an == 1, h
    assert dns.message.from_wire(wire).answer[0].to_text() == "www.example.test. 300 IN A 192.0.2.80"


def opt_of(wire):
    """The response's OPT as dnspython reads it: (full rcode, has OPT). The opcode
    (checked from the raw header) is cleared first: dnspython refuses unassigned ones."""
    m = dns.message.from_wire(wire[:2] + bytes([wire[2] & 0x87]) + wire[3:])
    return m.rcode(), m.edns >= 0


def check_response(packet, wire, rcode, has_opt):
    h = Header(wire)
    assert h.qr and not h.tc and not h.aa, h
    if len(packet) >= 2:
        assert h.id == struct.unpack("!H", packet[:2])[0], h
    assert h.opcode == (packet[2] >> 3) & 0xF, h
    full_rcode, opt = opt_of(wire)  # also: the response is well formed
    assert dns.rcode.to_text(full_rcode) == rcode, h
    assert opt == has_opt, f"OPT in the reply: {opt}, expected {has_opt}"
    assert h.an == 0 and h.ns == 0, h


@pytest.mark.parametrize("case", list(CASES))
def test_udp(g, case):
    packet, expected = CASES[case]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.connect(("127.0.0.1", g.port))
        s.send(packet)
        if expected is not None:
            check_response(packet, s.recv(65535), *expected)
        # The good query goes out on the same socket after the bad packet: whatever
        # came back for the bad one arrives first, so no answer means the next
        # datagram is the good query's answer.
        s.send(good_query())
        assert_good_answer(s.recv(65535))
        s.settimeout(SILENCE)
        with pytest.raises(socket.timeout):
            stray = s.recv(65535)
            raise AssertionError(f"unexpected extra datagram: {stray!r}")
    assert g.proc.poll() is None, g.log_text()


# --- TCP (RFC 7766) ------------------------------------------------------------------

def assert_closed_without_answer(s):
    """The server closes the connection having sent nothing."""
    data = s.recv(65535)
    assert data == b"", f"expected the server to close, got {data!r}"


def good_after(g):
    with tcp_connect(g.port) as s:
        s.sendall(frame(good_query()))
        assert_good_answer(tcp_read(s))


def tcp_length_larger_than_data(g):
    with tcp_connect(g.port) as s:
        s.sendall(struct.pack("!H", 200) + good_query())  # 200 announced, 34 sent
        s.shutdown(socket.SHUT_WR)                        # then the client is done
        assert_closed_without_answer(s)


def tcp_length_larger_than_data_abort(g):
    with tcp_connect(g.port) as s:
        s.sendall(struct.pack("!H", 65535) + b"\x00" * 100)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    good_after(g)


def tcp_zero_length_frame(g):
    with tcp_connect(g.port) as s:
        s.sendall(b"\x00\x00" + frame(good_query()))
        assert_closed_without_answer(s)  # a zero-length frame carries no query


def tcp_length_prefix_split(g):
    with tcp_connect(g.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wire = frame(good_query())
        s.sendall(wire[:1])
        s.sendall(wire[1:])
        assert_good_answer(tcp_read(s))


def tcp_query_split_byte_by_byte(g):
    with tcp_connect(g.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in frame(good_query()):
            s.sendall(bytes([b]))
        assert_good_answer(tcp_read(s))


def tcp_short_garbage_then_good(g):
    with tcp_connect(g.port) as s:
        s.sendall(frame(b"\xff" * 7) + frame(good_query()))  # shorter than a header: no answer
        assert_good_answer(tcp_read(s))


def tcp_formerr_garbage_then_good(g):
    garbage = header(QID) + b"\x3f" + b"\xee" * 40  # a label running off the end
    with tcp_connect(g.port) as s:
        s.sendall(frame(garbage) + frame(good_query()))
        check_response(garbage, tcp_read(s), "FORMERR", False)
        assert_good_answer(tcp_read(s))


def tcp_response_then_good(g):
    with tcp_connect(g.port) as s:
        s.sendall(frame(header(QID, flags=0x8000) + q()) + frame(good_query()))  # QR=1: no answer
        assert_good_answer(tcp_read(s))


def tcp_axfr_refused(g):
    packet = header(QID) + q("example.test", AXFR)
    with tcp_connect(g.port) as s:
        s.sendall(frame(packet) + frame(good_query()))
        check_response(packet, tcp_read(s), "REFUSED", False)
        assert_good_answer(tcp_read(s))


TCP_CASES = {
    "length prefix larger than the data, then close": tcp_length_larger_than_data,
    "length prefix larger than the data, then reset": tcp_length_larger_than_data_abort,
    "zero-length frame": tcp_zero_length_frame,
    "length prefix split across two sends": tcp_length_prefix_split,
    "query sent one byte at a time": tcp_query_split_byte_by_byte,
    "short garbage frame, then a good one": tcp_short_garbage_then_good,
    "FORMERR garbage frame, then a good one": tcp_formerr_garbage_then_good,
    "a response frame, then a good query": tcp_response_then_good,
    "AXFR over TCP, then a good query": tcp_axfr_refused,
}


@pytest.mark.parametrize("case", list(TCP_CASES))
def test_tcp(g, case):
    TCP_CASES[case](g)
    good_after(g)
    assert_good_answer(udp_exchange(g.port, good_query()))  # and UDP still answers
    assert g.proc.poll() is None, g.log_text()
