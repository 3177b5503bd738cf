"""Response rate limiting: a flooding client prefix is limited with slip (some
answers truncated so real clients retry over TCP), trusted prefixes are exempt,
other clients are unaffected, and the metrics count it."""
import re
import socket

import dns.flags
import dns.message

from dnsconfig import DNS_CONFIG
from gslb import Gslbd

RRL = DNS_CONFIG.replace("  nsid: test-ns1\n", """  nsid: test-ns1
  rrl: { responses_per_second: 20, slip: 2, exempt: ["127.0.0.3/32"] }
""")

# Queries sent back to back: far above 20/s, yet below the ~256 datagrams that
# default socket buffers hold, so that no loss comes from the buffers themselves.
FLOOD = 200


def flood(port, source, servers=("127.0.0.1",)):
    """Sends FLOOD queries from `source`, spread over `servers`, and counts full,
    truncated and missing answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(1.0)
    full = truncated = 0
    for i in range(FLOOD):
        q = dns.message.make_query("www.example.test", "A")
        q.id = i
        s.sendto(q.to_wire(), (servers[i % len(servers)], port))
    try:
        while True:
            data, _ = s.recvfrom(4096)
            r = dns.message.from_wire(data)
            if r.flags & dns.flags.TC:
                assert not r.answer
                truncated += 1
            else:
                assert r.answer
                full += 1
    except socket.timeout:
        pass
    s.close()
    return full, truncated


def metric(text, name):
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_flood_is_limited_with_slip_and_trusted_prefixes_are_exempt():
    with Gslbd(RRL) as g:
        full, truncated = flood(g.port, "127.0.0.2")
        # The burst allowance is one second's worth (20) split over 2 workers, plus
        # what accrues during the flood; everything else is dropped or slipped.
        assert full < FLOOD // 4, (full, truncated)
        assert truncated > 0, (full, truncated)
        assert full + truncated < FLOOD, (full, truncated)

        # A trusted client floods just the same and gets every answer whole.
        full_t, truncated_t = flood(g.port, "127.0.0.3")
        assert truncated_t == 0 and full_t >= FLOOD * 0.95, (full_t, truncated_t)

        # The limited client's retry over TCP, as slip intends, is answered: TCP
        # proves the source address, so it is never rate limited.
        r = g.dig("www.example.test", "+tcp")
        assert r.rdata("A") == ["192.0.2.80"]

        _, text = g.http_get("/metrics")
        assert metric(text, "gslb_rrl_dropped_total") > 0
        assert metric(text, "gslb_rrl_slipped_total") == truncated


def test_a_client_spreading_over_listen_addresses_gets_no_more():
    """Each UDP socket limits on its own; with two listen addresses each takes half
    of the worker's share, so a flood over both gets the burst of one address."""
    two = RRL.replace("  listen: [@LISTEN@]\n", '  listen: [@LISTEN@, "127.0.0.2:@PORT@"]\n')
    assert two != RRL
    with Gslbd(two) as g:
        full, truncated = flood(g.port, "127.0.0.4", servers=("127.0.0.1", "127.0.0.2"))
        # Burst: 20 responses/s split over 2 workers x 2 addresses = 5 per socket; the
        # client's one source port reaches one socket per address: 10, plus what
        # accrues during the flood. Each address on its own would allow 20.
        assert 0 < full <= 13, (full, truncated)
        assert truncated > 0, (full, truncated)
