"""Malformed queries get FORMERR, non-queries get nothing at all, and the server
keeps answering good queries after each of them, over UDP and TCP."""
import socket
import struct

import pytest

import dnswire
from dnsconfig import DNS_CONFIG
from dnswire import header, name_wire, opt_rr, question
from gslb import Gslbd, wait_until

TRANSPORTS = ["udp", "tcp"]
QID = 0xBEEF
GOOD_ID = 0x600D


@pytest.fixture(scope="module")
def g():
    with Gslbd(DNS_CONFIG) as server:
        yield server


def qfixed(qtype=1):
    return struct.pack("!HH", qtype, 1)


def additional_txt(rdata):
    return b"\x00" + struct.pack("!HHIH", 16, 1, 0, len(rdata)) + rdata


FORMERR_PACKETS = {
    "qdcount 0": header(QID, qd=0),
    "qdcount 0 with edns": header(QID, qd=0, ar=1) + opt_rr(),
    "qdcount 2": header(QID, qd=2) + question("www.example.test") + question("ns1.example.test"),
    "name truncated in a label": header(QID) + b"\x03www\x07exam",
    "name without its root label": header(QID) + b"\x03www\x07example\x04test",
    "question without type and class": header(QID) + name_wire("www.example.test"),
    "question with half a type": header(QID) + name_wire("www.example.test") + b"\x00",
    "label longer than 63": header(QID) + b"\x40" + b"a" * 64 + name_wire("example.test") + qfixed(),
    "name longer than 255": header(QID) + (b"\x3f" + b"a" * 63) * 4 + name_wire("example.test") + qfixed(),
    "compression loop": header(QID) + b"\xc0\x0c" + qfixed(),
    # The question's name points forward at "www" in the additional record's RDATA
    # (offset 29): well formed but for the pointer direction.
    "forward pointer": header(QID, ar=1) + b"\xc0\x1d" + qfixed() + additional_txt(b"\x03www\x00"),
    "pointer past the end": header(QID) + b"\x03www\xc0\xff" + qfixed(),
    "trailing garbage": header(QID) + question("www.example.test") + b"\x00\x00\x01",
    "trailing garbage after opt": header(QID, ar=1) + question("www.example.test") + opt_rr() + b"\xff",
    "opt twice": header(QID, ar=2) + question("www.example.test") + opt_rr() + opt_rr(),
    "opt with a non-root owner": header(QID, ar=1) + question("www.example.test") + b"\x01x" + opt_rr()[1:],
    "opt rdata overruns the packet": header(QID, ar=1) + question("www.example.test") + opt_rr()[:-2] + b"\x00\x10",
    "opt option overruns its rdata": header(QID, ar=1) + question("www.example.test") + opt_rr(options=b"\x00\x0a\x00\x08ab"),
    "answer section in a query": header(QID, an=1) + question("www.example.test") + additional_txt(b"\x01x"),
    "authority section in a query": header(QID, ns=1) + question("www.example.test") + additional_txt(b"\x01x"),
    "additional count larger than the records": header(QID, ar=2) + question("www.example.test") + opt_rr(),
    "qtype OPT": header(QID) + question("www.example.test", 41),
}

DROPPED_PACKETS = {
    "a response (QR=1)": header(QID, flags=0x8000) + question("www.example.test"),
    "a response with answers": header(QID, flags=0x8400, an=1) + question("www.example.test")
    + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1]),
    "a NOTIMP-opcode response": header(QID, flags=0x8000 | (5 << 11)) + question("example.test", "SOA"),
    "one byte": b"\x00",
    "eleven bytes": header(QID)[:11],
    "a bare header with QR=1": header(QID, flags=0x8000, qd=0),
}


def good_query():
    return dnswire.query("www.example.test", "A", qid=GOOD_ID)


def assert_good_answer(wire):
    h = dnswire.Header(wire)
    assert h.id == GOOD_ID and h.qr and h.rcode == "NOERROR" and h.an == 1, h


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(FORMERR_PACKETS))
def test_formerr(g, transport, case):
    wire = FORMERR_PACKETS[case]
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(wire, ("127.0.0.1", g.port))
            resp = s.recv(65535)
            s.sendto(good_query(), ("127.0.0.1", g.port))
            good = s.recv(65535)
    else:
        with dnswire.tcp_connect(g.port) as s:
            s.sendall(dnswire.frame(wire))
            resp = dnswire.tcp_read(s)
            s.sendall(dnswire.frame(good_query()))  # the same connection still serves
            good = dnswire.tcp_read(s)
    h = dnswire.Header(resp)
    assert h.id == QID and h.qr, h
    assert h.rcode == "FORMERR", h
    assert not h.aa and h.an == 0 and h.ns == 0, h
    assert h.qd in (0, 1)
    assert_good_answer(good)


@pytest.mark.parametrize("case", list(DROPPED_PACKETS) + ["empty datagram"])
def test_no_answer_at_all_over_udp(g, case):
    wire = DROPPED_PACKETS.get(case, b"")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(wire, ("127.0.0.1", g.port))
        with pytest.raises(socket.timeout):
            data = s.recv(65535)
            raise AssertionError(f"got an answer to {case}: {data!r}")
        # A late answer to the bad packet would arrive before this one.
        s.settimeout(2)
        s.sendto(good_query(), ("127.0.0.1", g.port))
        assert_good_answer(s.recv(65535))


@pytest.mark.parametrize("case", list(DROPPED_PACKETS))
def test_no_answer_at_all_over_tcp(g, case):
    with dnswire.tcp_connect(g.port) as s:
        s.sendall(dnswire.frame(DROPPED_PACKETS[case]))
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            data = s.recv(65535)
            raise AssertionError(f"got an answer to {case}: {data!r}")
        s.settimeout(2)
        s.sendall(dnswire.frame(good_query()))
        assert_good_answer(dnswire.tcp_read(s))


def test_a_burst_of_garbage_does_not_stop_the_server(g):
    import random
    rng = random.Random(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(500):
            s.sendto(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80))), ("127.0.0.1", g.port))
        for packet in FORMERR_PACKETS.values():
            s.sendto(packet, ("127.0.0.1", g.port))
    assert g.proc.poll() is None

    # The burst can overflow the socket's receive buffer, and then the kernel drops
    # whatever comes next, as it would on a network: ask again, like a resolver does.
    def answered_over_udp():
        try:
            return dnswire.udp_exchange(g.port, good_query(), timeout=0.5)
        except socket.timeout:
            return None
    assert_good_answer(wait_until(answered_over_udp, timeout=10, what="an answer after the burst"))
    assert_good_answer(dnswire.tcp_exchange(g.port, good_query()))
