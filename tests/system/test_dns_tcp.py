"""DNS over TCP per RFC 7766: pipelining, partial reads, the idle timeout, the
connection cap, and a slow reader that must not hold up other clients."""
import socket
import time

import pytest

import dnswire
from dnsconfig import DNS_CONFIG
from gslb import Gslbd, wait_until


def config(**server):
    text = DNS_CONFIG.replace("  workers: 2\n", "  workers: 1\n")
    extra = "".join(f"  {k}: {v}\n" for k, v in server.items())
    return text.replace("  nsid: test-ns1\n", "  nsid: test-ns1\n" + extra)


@pytest.fixture(scope="module")
def g():
    with Gslbd(config(tcp_idle_timeout="500ms")) as server:
        yield server


def expect_answer(wire, qid, rdata):
    m = dnswire.parse(wire)
    assert m.id == qid, m
    assert [rr.to_text() for rrset in m.answer for rr in rrset] == rdata, m


TCP_ESTABLISHED = 1


def tcp_state(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]  # struct tcp_info.tcpi_state (Linux)


QUERIES = [(0x0101, "www.example.test", "A", ["192.0.2.80"]),
           (0x0202, "ns1.example.test", "AAAA", ["2001:db8::53"]),
           (0x0303, "mail.example.test", "A", ["192.0.2.25"])]


def test_pipelined_queries_on_one_connection(g):
    with dnswire.tcp_connect(g.port) as s:
        s.sendall(b"".join(dnswire.frame(dnswire.query(n, t, qid=i)) for i, n, t, _ in QUERIES))  # one send
        answers = {}
        for _ in QUERIES:
            wire = dnswire.tcp_read(s)
            answers[dnswire.Header(wire).id] = wire
        assert sorted(answers) == sorted(q[0] for q in QUERIES)
        for qid, _, _, rdata in QUERIES:
            expect_answer(answers[qid], qid, rdata)
        # The connection stays open for more (RFC 7766 6.2.1).
        s.sendall(dnswire.frame(dnswire.query("www.example.test", "A", qid=0x0404)))
        expect_answer(dnswire.tcp_read(s), 0x0404, ["192.0.2.80"])


def test_answers_still_come_after_the_client_half_closes(g):
    with dnswire.tcp_connect(g.port) as s:
        s.sendall(b"".join(dnswire.frame(dnswire.query(n, t, qid=i)) for i, n, t, _ in QUERIES))
        s.shutdown(socket.SHUT_WR)  # done sending; RFC 7766 6.2.4: answers are still owed
        got = {}
        for _ in QUERIES:
            wire = dnswire.tcp_read(s)
            got[dnswire.Header(wire).id] = wire
        for qid, _, _, rdata in QUERIES:
            expect_answer(got[qid], qid, rdata)
        assert s.recv(1) == b""  # then the server closes its side too


def test_many_pipelined_queries_including_a_big_answer(g):
    n = 200
    with dnswire.tcp_connect(g.port, timeout=5) as s:
        wire = b"".join(dnswire.frame(dnswire.query("big.example.test" if i % 10 == 0 else "www.example.test",
                                                    "TXT" if i % 10 == 0 else "A", qid=i)) for i in range(n))
        s.sendall(wire)
        seen = set()
        for _ in range(n):
            m = dnswire.parse(dnswire.tcp_read(s))
            assert not (m.flags & 0x0200), "TC over TCP"
            assert m.answer, m
            seen.add(m.id)
        assert seen == set(range(n))


def test_query_split_across_segments(g):
    wire = dnswire.frame(dnswire.query("www.example.test", "A", qid=0x5151))
    with dnswire.tcp_connect(g.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(wire)):  # one byte at a time, the length prefix too
            s.send(wire[i:i + 1])
        expect_answer(dnswire.tcp_read(s), 0x5151, ["192.0.2.80"])


def test_idle_connection_is_closed_after_the_idle_timeout(g):
    with dnswire.tcp_connect(g.port) as s:
        start = time.monotonic()
        wait_until(lambda: dnswire.closed_by_peer(s), timeout=5, what="the server to close an idle connection")
        elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 3, elapsed  # tcp_idle_timeout: 500ms


def test_connection_is_closed_when_idle_after_answers(g):
    with dnswire.tcp_connect(g.port) as s:
        s.sendall(dnswire.frame(dnswire.query("www.example.test", "A", qid=1)))
        expect_answer(dnswire.tcp_read(s), 1, ["192.0.2.80"])
        answered = time.monotonic()
        wait_until(lambda: dnswire.closed_by_peer(s), timeout=5, what="the server to close an idle connection")
        assert time.monotonic() - answered >= 0.4


def test_active_connection_is_not_closed(g):
    with dnswire.tcp_connect(g.port) as s:
        start = time.monotonic()
        qid = 0
        while time.monotonic() - start < 1.5:  # three idle timeouts, never idle for one
            qid += 1
            s.sendall(dnswire.frame(dnswire.query("www.example.test", "A", qid=qid)))
            expect_answer(dnswire.tcp_read(s), qid, ["192.0.2.80"])
            time.sleep(0.2)  # pacing, not synchronisation: the client's think time
        assert qid >= 5


def test_queries_before_a_zero_length_frame_are_answered_before_the_close(g):
    with dnswire.tcp_connect(g.port) as s:
        s.sendall(dnswire.frame(dnswire.query("www.example.test", "A", qid=77)) + b"\x00\x00")
        expect_answer(dnswire.tcp_read(s), 77, ["192.0.2.80"])
        wait_until(lambda: dnswire.closed_by_peer(s), timeout=2, what="the connection to close")


def test_zero_length_frame_closes_the_connection(g):
    with dnswire.tcp_connect(g.port) as s:
        s.sendall(b"\x00\x00")
        wait_until(lambda: dnswire.closed_by_peer(s), timeout=2, what="the connection to close")


def test_at_the_cap_the_least_recently_active_connection_makes_room():
    with Gslbd(config(tcp_max_connections=2)) as g:
        c1, c2 = dnswire.tcp_connect(g.port), dnswire.tcp_connect(g.port)
        try:
            for i, c in enumerate((c1, c2)):  # c1 answered first, so it is the less recently active
                c.sendall(dnswire.frame(dnswire.query("www.example.test", "A", qid=10 + i)))
                expect_answer(dnswire.tcp_read(c), 10 + i, ["192.0.2.80"])
            with dnswire.tcp_connect(g.port) as c3:
                c3.sendall(dnswire.frame(dnswire.query("www.example.test", "A", qid=12)))
                expect_answer(dnswire.tcp_read(c3), 12, ["192.0.2.80"])  # the newcomer is served
                start = time.monotonic()
                wait_until(lambda: dnswire.closed_by_peer(c1), timeout=2, what="the least recently active to be closed")
                assert time.monotonic() - start < 1.5  # at once, not after the 10s idle timeout
                c2.sendall(dnswire.frame(dnswire.query("mail.example.test", "A", qid=21)))
                expect_answer(dnswire.tcp_read(c2), 21, ["192.0.2.25"])  # the active one keeps its connection
            # UDP is not affected by the TCP cap.
            expect_answer(dnswire.udp_exchange(g.port, dnswire.query("www.example.test", "A", qid=30)), 30,
                          ["192.0.2.80"])
        finally:
            c1.close()
            c2.close()
        _, metrics = g.http_get("/metrics")
        assert "gslb_tcp_connections_evicted_total 1" in metrics


def test_a_thousand_idle_or_slow_clients_do_not_stop_service_for_others():
    with Gslbd(config(tcp_max_connections=200, tcp_idle_timeout="10s")) as g:
        hogs = []
        try:
            for i in range(1000):
                c = dnswire.tcp_connect(g.port)
                if i % 2:
                    c.sendall(b"\x00\x40\x12")  # slow: a length prefix and one byte of 64
                hogs.append(c)
            # Every hog is connected (the kernel completed the handshakes); fresh
            # clients still get answers over TCP and UDP, at once.
            for qid in range(5):
                start = time.monotonic()
                wire = dnswire.tcp_exchange(g.port, dnswire.query("www.example.test", "A", qid=qid), timeout=2)
                expect_answer(wire, qid, ["192.0.2.80"])
                assert time.monotonic() - start < 1.5
                expect_answer(dnswire.udp_exchange(g.port, dnswire.query("mail.example.test", "A", qid=100 + qid)),
                              100 + qid, ["192.0.2.25"])
        finally:
            for c in hogs:
                c.close()


def test_slow_reader_does_not_stop_other_clients():
    with Gslbd(config(tcp_idle_timeout="3s")) as g:  # workers: 1, so everyone shares its thread
        slow = dnswire.tcp_connect(g.port)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.setblocking(False)
        query = dnswire.frame(dnswire.query("big.example.test", "TXT", qid=0x5105))
        batch = query * 200
        sent = 0

        def server_stopped_reading():
            # Queries whose ~1 kB answers are never read: the server must stop reading
            # this connection (its queue is bounded) and our send buffer fills up.
            nonlocal sent
            try:
                while True:
                    sent += slow.send(batch)
            except BlockingIOError:
                return sent > 256 * 1024 // 1000 * len(query)
        wait_until(server_stopped_reading, timeout=20, interval=0.2, what="the slow reader's backlog to fill")

        for i in range(20):
            expect_answer(dnswire.udp_exchange(g.port, dnswire.query("www.example.test", "A", qid=i), timeout=1),
                          i, ["192.0.2.80"])
            expect_answer(dnswire.tcp_exchange(g.port, dnswire.query("mail.example.test", "A", qid=100 + i), timeout=1),
                          100 + i, ["192.0.2.25"])
        with dnswire.tcp_connect(g.port) as other:
            other.sendall(b"".join(dnswire.frame(dnswire.query(n, t, qid=i)) for i, n, t, _ in QUERIES))
            assert {dnswire.Header(dnswire.tcp_read(other)).id for _ in QUERIES} == {q[0] for q in QUERIES}

        # The stalled connection makes no progress and is dropped at the idle timeout;
        # watched through the socket's TCP state, since reading would unstall it.
        wait_until(lambda: tcp_state(slow) not in (TCP_ESTABLISHED,), timeout=15, interval=0.1,
                   what="the slow reader to be closed")
        slow.close()
        assert g.proc.poll() is None


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no ::1 here")
def test_ipv6_listener_udp_and_tcp():
    with Gslbd(DNS_CONFIG, v6=True) as g:
        for transport in ("udp", "tcp"):
            r = g.dig("www.example.test", "AAAA", "+tcp" if transport == "tcp" else "+notcp", server="::1")
            assert r.status == "NOERROR" and r.rdata("AAAA") == ["2001:db8::80"], r
            assert f"({transport.upper()})" in r.stdout
        r = g.kdig("www.example.test", "A", "+tcp", server="::1")
        assert r.rdata("A") == ["192.0.2.80"]


def test_sigterm_with_open_connections_exits_cleanly():
    with Gslbd(config()) as g:
        answered, partial, silent = (dnswire.tcp_connect(g.port) for _ in range(3))
        try:
            answered.sendall(dnswire.frame(dnswire.query("www.example.test", "A", qid=40)))
            expect_answer(dnswire.tcp_read(answered), 40, ["192.0.2.80"])
            partial.sendall(b"\x00")  # half a length prefix: the server is mid-read
            assert g.stop() == 0, g.log_text()[-2000:]
            assert g.log_text().rstrip().endswith("info: stopped")
        finally:
            for c in (answered, partial, silent):
                c.close()
