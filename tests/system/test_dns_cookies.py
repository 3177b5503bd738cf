"""DNS cookies (RFC 7873) with RFC 9018 server cookies: a client cookie gets a
fresh server cookie back, a bad length is FORMERR, a valid server cookie exempts
its client from RRL (a spoofed flood has none), the random secret survives a
reload, a secret file is shared between instances and with Knot holding the same
secret (RFC 9018), and `cookies: off` turns it off."""
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from dnsconfig import DNS_CONFIG
from gslb import Gslbd, check_config, free_port
from resolvers import Knot

CLIENT_COOKIE = bytes.fromhex("0123456789abcdef")
SECRET = "00112233445566778899aabbccddeeff"
FLOOD = 200  # as in test_rrl: far above the rate, below what socket buffers hold


def config(cookies=None, rrl=True):
    extra = '  rrl: { responses_per_second: 20, slip: 0 }\n' if rrl else ""
    if cookies:
        extra += f"  cookies: {cookies}\n"
    return DNS_CONFIG.replace("  nsid: test-ns1\n", "  nsid: test-ns1\n" + extra)


def query(cookie=CLIENT_COOKIE, qid=0x4444):
    q = dns.message.make_query("www.example.test", "A", use_edns=0,
                               options=[dns.edns.GenericOption(10, cookie)] if cookie is not None else [])
    q.id = qid
    q.flags &= ~dns.flags.RD
    return q


def ask(g, q, transport="udp", source="127.0.0.1"):
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    return send(q, "127.0.0.1", port=g.port, timeout=2, source=source)


def cookie_of(r):
    options = [o for o in r.options if o.otype == 10]
    return options[0].to_wire() if options else None


def server_cookie(g, source="127.0.0.1"):
    c = cookie_of(ask(g, query(), source=source))
    assert c and c[:8] == CLIENT_COOKIE
    return c[8:]


def assert_www_answered(r):
    """The whole answer to query(): www's A alone, AA, no RD, the OPT with one COOKIE."""
    assert r.rcode() == dns.rcode.NOERROR and dns.flags.to_text(r.flags) == "QR AA", r
    assert [rrset.to_text() for rrset in r.answer] == ["www.example.test. 300 IN A 192.0.2.80"], r
    assert r.authority == [] and r.additional == [], r
    assert r.edns == 0 and [o.otype for o in r.options] == [10], r


def flood(g, source, cookie):
    """FLOOD queries from `source` carrying `cookie`; how many were answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(1.0)
    for i in range(FLOOD):
        s.sendto(query(cookie, qid=i).to_wire(), ("127.0.0.1", g.port))
    answered = 0
    try:
        while True:
            s.recvfrom(4096)
            answered += 1
    except socket.timeout:
        pass
    s.close()
    return answered


@pytest.fixture(scope="module")
def g():
    with Gslbd(config()) as server:
        yield server


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_client_cookie_gets_a_server_cookie(g, transport):
    before = int(time.time())
    r = ask(g, query(), transport)
    after = int(time.time())
    assert_www_answered(r)
    c = cookie_of(r)
    assert c is not None and len(c) == 24, r
    assert c[:8] == CLIENT_COOKIE
    version, reserved, timestamp = c[8], c[9:12], struct.unpack("!I", c[12:16])[0]
    assert version == 1 and reserved == b"\0\0\0"  # RFC 9018 section 4.2
    assert before - 1 <= timestamp <= after + 1
    # Sent back, the server cookie is valid: the next answer carries a fresh one.
    r = ask(g, query(c), transport)
    assert_www_answered(r)
    assert cookie_of(r)[:8] == CLIENT_COOKIE and len(cookie_of(r)) == 24


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("size", [0, 7, 9, 15, 41])
def test_a_bad_cookie_length_is_formerr(g, transport, size):
    r = ask(g, query(bytes(range(size))), transport)
    assert r.rcode() == dns.rcode.FORMERR and dns.flags.to_text(r.flags) == "QR", r
    assert r.answer == [] and r.authority == [] and r.additional == [], r
    assert r.edns == 0 and not r.options, r


def test_an_unknown_server_cookie_is_answered_with_a_fresh_one(g):
    r = ask(g, query(CLIENT_COOKIE + bytes(16)))
    assert_www_answered(r)
    assert len(cookie_of(r)) == 24 and cookie_of(r)[8:] != bytes(16)


def test_dig_sees_the_server_cookie(g):
    r = g.dig("www.example.test", "A", "+cookie")
    assert r.status == "NOERROR" and r.flags == {"qr", "aa"}, r
    assert r.records() == [["www.example.test.", "300", "IN", "A", "192.0.2.80"]], r
    assert r.records("AUTHORITY") == [] and "ADDITIONAL: 1" in r.stdout, r  # the OPT
    assert "COOKIE:" in r.stdout and "(good)" in r.stdout, r
    r = g.kdig("www.example.test", "A", "+cookie")
    assert r.status == "NOERROR" and r.records() == [["www.example.test.", "300", "IN", "A", "192.0.2.80"]], r
    assert "COOKIE:" in r.stdout, r


def test_a_valid_server_cookie_exempts_its_client_from_rrl(g):
    good = server_cookie(g, source="127.0.0.2")
    assert flood(g, "127.0.0.2", CLIENT_COOKIE + good) == FLOOD
    # No cookie, a client cookie alone, or another address's server cookie: limited.
    assert flood(g, "127.0.0.4", None) < FLOOD // 4
    assert flood(g, "127.0.0.5", CLIENT_COOKIE) < FLOOD // 4
    assert flood(g, "127.0.0.6", CLIENT_COOKIE + good) < FLOOD // 4


def test_the_secret_survives_a_reload(g):
    good = server_cookie(g, source="127.0.0.7")
    assert "reloaded" in g.reload()
    assert flood(g, "127.0.0.7", CLIENT_COOKIE + good) == FLOOD


def test_instances_sharing_a_secret_file_accept_each_others_cookies(g):
    shared = config("{ secret_file: cookie.secret }")
    files = {"cookie.secret": SECRET + "\n"}
    with Gslbd(shared, extra_files=files) as a, Gslbd(shared, extra_files=files) as b:
        from_a = server_cookie(a, source="127.0.0.8")
        assert flood(b, "127.0.0.8", CLIENT_COOKIE + from_a) == FLOOD
        # The instance with its own random secret does not know it.
        assert flood(g, "127.0.0.8", CLIENT_COOKIE + from_a) < FLOOD // 4


def test_a_reload_applies_a_change_of_cookie_settings():
    shared = config("{ secret_file: cookie.secret }")
    files = {"cookie.secret": SECRET + "\n"}
    with Gslbd(config(), extra_files=files) as a, Gslbd(shared, extra_files=files) as b:
        from_b = CLIENT_COOKIE + server_cookie(b, source="127.0.0.12")
        assert flood(a, "127.0.0.12", from_b) < FLOOD // 4
        assert "reloaded" in a.reload(shared)
        assert flood(a, "127.0.0.12", from_b) == FLOOD
        assert "reloaded" in a.reload(config("off"))
        r = ask(a, query(from_b), source="127.0.0.13")
        assert r.rcode() == dns.rcode.NOERROR and r.answer and cookie_of(r) is None, r


KNOT_ZONE = """$ORIGIN example.test.
@ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 60
@ 3600 IN NS ns1
ns1 3600 IN A 192.0.2.53
www 300 IN A 192.0.2.80
"""


def test_a_shared_secret_interoperates_with_knot(g, tmp_path):
    """RFC 9018: the secret file's secret is the SipHash key, as in Knot's mod-cookies
    `secret`, so gslbd accepts Knot's server cookies and Knot gslbd's (Knot's RRL
    exempts a valid cookie as gslbd's does)."""
    modules = {"mod-cookies": {"secret": "0x" + SECRET}, "mod-rrl": {"rate-limit": 5, "slip": 0}}
    files = {"cookie.secret": SECRET + "\n"}
    with Knot("127.0.0.1", free_port(), {"example.test.": KNOT_ZONE}, workdir=str(tmp_path / "knot"),
              modules=modules) as knot, Gslbd(config("{ secret_file: cookie.secret }"), extra_files=files) as shared:
        # Knot answers a client cookie alone with BADCOOKIE and its server cookie.
        from_knot = cookie_of(ask(knot, query(), source="127.0.0.9"))
        assert from_knot and from_knot[:8] == CLIENT_COOKIE and len(from_knot) == 24
        assert flood(shared, "127.0.0.9", from_knot) == FLOOD
        assert flood(g, "127.0.0.9", from_knot) < FLOOD // 4  # a gslbd with its own random secret
        from_gslbd = CLIENT_COOKIE + server_cookie(shared, source="127.0.0.10")
        assert flood(knot, "127.0.0.10", from_gslbd) == FLOOD
        assert flood(knot, "127.0.0.11", CLIENT_COOKIE + server_cookie(g, source="127.0.0.11")) < FLOOD // 4


def test_cookies_off():
    with Gslbd(config("off", rrl=False)) as off:
        r = ask(off, query())
        assert r.rcode() == dns.rcode.NOERROR and r.answer and cookie_of(r) is None, r
        r = ask(off, query(bytes(3)))  # an option gslbd does not implement is ignored
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r


@pytest.mark.parametrize("cookies,secret,message", [
    ("{ secret_file: cookie.secret }", "0011", "server.cookies.secret_file: @DIR@/cookie.secret: expected 32 hex digits "
                                                "(a 128-bit secret, as from `openssl rand -hex 16`)"),
    ("{ secret_file: missing.secret }", None, "server.cookies.secret_file: cannot read @DIR@/missing.secret: "
                                              "No such file or directory"),
    ("maybe", None, "server.cookies: expected off, on or { secret_file: FILE }"),
    ("{ secret: x }", None, "server.cookies.secret: unknown key (expected one of: secret_file)"),
])
def test_bad_cookie_settings_are_refused(tmp_path, cookies, secret, message):
    if secret is not None:
        (tmp_path / "cookie.secret").write_text(secret)
    path = tmp_path / "gslbd.yaml"
    text = config(cookies, rrl=False).replace("@LISTEN@", '"127.0.0.1:5300"').replace("  http: @HTTP@\n", "")
    path.write_text(text)
    p = check_config(str(path))
    assert p.returncode == 1, p.stdout
    line = text[:text.index("  cookies:")].count("\n") + 1
    assert p.stderr.startswith(f"{path}:{line}:"), p.stderr
    assert p.stderr.strip().endswith(message.replace("@DIR@", str(tmp_path))), p.stderr
