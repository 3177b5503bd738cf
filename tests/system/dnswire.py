"""Raw DNS over UDP and TCP for system tests: hand-built (also malformed) packets,
header parsing that does not depend on the response being well formed, and
dnspython parsing where the response must be."""
import socket
import struct

import dns.message
import dns.rdatatype

QR, AA, TC, RD = 0x8000, 0x0400, 0x0200, 0x0100
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 9: "NOTAUTH"}


def name_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name, qtype="A"):
    t = dns.rdatatype.from_text(qtype) if isinstance(qtype, str) else qtype
    return name_wire(name) + struct.pack("!HH", t, 1)


def opt_rr(payload=1232, version=0, do=False, options=b""):
    return b"\x00" + struct.pack("!HHBBHH", 41, payload, 0, version, 0x8000 if do else 0, len(options)) + options


def query(name, qtype="A", qid=0x1234, flags=0, edns=None):
    """A well-formed query; `edns` is None (no OPT) or a payload size."""
    if edns is None:
        return header(qid, flags) + question(name, qtype)
    return header(qid, flags, ar=1) + question(name, qtype) + opt_rr(edns)


class Header:
    def __init__(self, wire):
        assert len(wire) >= 12, f"response shorter than a header: {wire!r}"
        self.id, self.flags, self.qd, self.an, self.ns, self.ar = struct.unpack("!HHHHHH", wire[:12])
        self.opcode = (self.flags >> 11) & 0xF
        self.rcode = RCODES.get(self.flags & 0xF, str(self.flags & 0xF))
        self.qr = bool(self.flags & QR)
        self.aa = bool(self.flags & AA)
        self.tc = bool(self.flags & TC)

    def __repr__(self):
        return (f"Header(id={self.id:#x}, flags={self.flags:#06x}, rcode={self.rcode}, "
                f"qd={self.qd}, an={self.an}, ns={self.ns}, ar={self.ar})")


def udp_exchange(port, wire, timeout=2.0, host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (host, port))
        data, _ = s.recvfrom(65535)
        return data


def tcp_connect(port, timeout=2.0, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def tcp_read(s):
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, n)


def closed_by_peer(s):
    """True once the server has closed `s` (EOF or reset); reads and drops data."""
    s.settimeout(0.05)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def tcp_exchange(port, wire, timeout=2.0, host="127.0.0.1"):
    with tcp_connect(port, timeout, host) as s:
        s.sendall(frame(wire))
        return tcp_read(s)


def exchange(port, wire, transport, timeout=2.0):
    return (udp_exchange if transport == "udp" else tcp_exchange)(port, wire, timeout)


def parse(wire):
    return dns.message.from_wire(wire)


def header_flags(stdout):
    """The header flags dig (";; flags: qr aa;") and kdig (";; Flags: qr aa;") print."""
    import re
    m = re.search(r";; [Ff]lags: ([a-z ]*); QUERY", stdout)
    assert m, f"no header flags in:\n{stdout}"
    return set(m.group(1).split())


def ask(g, tool, transport, *args):
    """dig or kdig against gslbd `g`, over "udp" or "tcp"; `.flags` are the header's."""
    # dig sends ANY over TCP unless told not to: "+notcp" keeps UDP UDP.
    extra = ["+tcp"] if transport == "tcp" else (["+notcp"] if tool == "dig" else [])
    r = getattr(g, tool)(*args, *extra)
    assert r.returncode == 0, f"{tool} failed:\n{r.stdout}"
    assert (f"({transport.upper()})" in r.stdout), f"{tool} did not use {transport}:\n{r.stdout}"
    r.flags = header_flags(r.stdout)
    return r
