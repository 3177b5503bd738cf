"""gslbd's log (issue 15 item 4). On stderr outside journald: an RFC 3339 UTC
timestamp with milliseconds and the level on every line, server.log_level
filtering, and a reload changing the level. Under journald: each event through
sd_journal_send with PRIORITY and its CLUSTER=, CHECK=, REASON= fields, received by
a stand-in journal socket."""
import datetime
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import urllib.request

import pytest

from dnsconfig import DNS_CONFIG
from gslb import BINARY, Gslbd, check_config, wait_until
from ingress import NETWORKS, SERVICE, HttpIngress, config

LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (error|warning|info|debug): ")


def with_level(level):
    return DNS_CONFIG.replace("  nsid: test-ns1\n", f"  nsid: test-ns1\n  log_level: {level}\n", 1)


def ctl_reload(g):
    return subprocess.run([BINARY, "ctl", "-c", g.config_path, "reload"], capture_output=True, text=True, timeout=60)


def test_lines_carry_a_utc_timestamp_and_the_level_and_a_reload_changes_the_level():
    started = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    g = Gslbd(DNS_CONFIG)
    # A JOURNAL_STREAM that is not stderr's (inherited by a shell in a terminal that a
    # user service started, or by this test under systemd): the lines stay on stderr.
    g.start(env=dict(os.environ, JOURNAL_STREAM="8:1234"))
    try:
        lines = g.log_text().splitlines()
        assert lines and all(LINE.match(l) for l in lines), lines
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        for l in lines:
            stamp = datetime.datetime.strptime(LINE.match(l).group(1), "%Y-%m-%dT%H:%M:%S.%f")
            assert started - datetime.timedelta(seconds=1) <= stamp <= now + datetime.timedelta(seconds=1), l

        g.write_config(with_level("warning"))
        assert ctl_reload(g).returncode == 0
        mark = len(g.log_text())
        g.write_config(with_level("warning").replace("workers: 2", "workers: nine"))
        assert ctl_reload(g).returncode != 0
        after = g.log_text()[mark:]
        assert "error: reload failed" in after and "info: " not in after, after

        g.write_config(with_level("info"))
        mark = len(g.log_text())
        assert ctl_reload(g).returncode == 0
        after = g.log_text()[mark:]
        assert "info: reloaded: " in after, after
        assert all(LINE.match(l) for l in after.splitlines()), after
    finally:
        g.stop()


def test_an_unknown_level_is_refused_with_file_line_and_reason(tmp_path):
    g = Gslbd(with_level("verbose"), workdir=str(tmp_path))
    r = check_config(g.config_path)
    assert r.returncode == 1
    assert re.search(r"gslbd\.yaml:\d+:\d+: server\.log_level: expected error, warning, info or debug, got \"verbose\"",
                     r.stderr), r.stderr


class JournalStandIn:
    """journald's native socket in a temp dir (DIR/journal/socket): a SOCK_DGRAM
    server that parses each datagram as systemd's native journal protocol
    (systemd.journal-fields(7), "Native Journal Protocol"): KEY=value lines, or for
    values with a newline KEY\\n<little-endian 64-bit length><value>\\n. A datagram
    too large for the socket comes as a sealed memfd passed with SCM_RIGHTS."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gslbd-journal-")
        os.mkdir(os.path.join(self.dir, "journal"))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(self.dir, "journal", "socket"))
        self.entries = []
        self.errors = []
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def parse(data):
        fields, i = {}, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                key, value = line.split(b"=", 1)
                i = nl + 1
            else:
                key, (size,) = line, struct.unpack_from("<Q", data, nl + 1)
                value = data[nl + 9:nl + 9 + size]
                assert data[nl + 9 + size:nl + 10 + size] == b"\n", data
                i = nl + 10 + size
            fields[key.decode()] = value.decode()
        return fields

    def _serve(self):
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(4))
            except OSError:
                return  # closed
            try:
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fd = struct.unpack("i", payload[:4])[0]
                        data = os.pread(fd, os.fstat(fd).st_size, 0)
                        os.close(fd)
                self.entries.append(self.parse(data))
            except Exception as e:  # a malformed datagram fails the test, not the thread
                self.errors.append(f"{e!r}: {data!r}")

    def find(self, **want):
        return [e for e in self.entries if all(e.get(k) == v for k, v in want.items())]

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# gslbd's libsystemd writes to /run/systemd/journal/socket: in a private mount
# namespace the stand-in's directory is laid over /run/systemd, for gslbd alone.
UNDER_JOURNAL = 'mount --bind "$1" /run/systemd && shift && exec "$@"'
# As systemd sets it (systemd.exec(5)): the device and inode of stderr, here the log file.
UNDER_JOURNAL_STREAM = 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) && ' + UNDER_JOURNAL


def private_journal_or_skip(journal):
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", UNDER_JOURNAL, "sh",
                        journal.dir, "test", "-S", "/run/systemd/journal/socket"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip("needs a private mount namespace to lay a stand-in journal socket over /run/systemd "
                    f"(unshare --mount as root): {r.stderr.strip() or r.returncode}")


class JournaledGslbd(Gslbd):
    """gslbd as systemd runs it: JOURNAL_STREAM set, its journal the stand-in."""

    def __init__(self, config_text, journal, **kwargs):
        super().__init__(config_text, **kwargs)
        self.journal = journal

    def start(self, **kwargs):
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", UNDER_JOURNAL_STREAM, "sh",
                  self.journal.dir]
        return super().start(prefix=prefix, **kwargs)

    def log_text(self):  # what waits for "serving" reads: the journal's messages, then stderr
        return "\n".join(e.get("MESSAGE", "") for e in self.journal.entries) + "\n" + super().log_text()


TOKEN = "journal-s3cret"


def test_under_journald_events_carry_cluster_check_and_reason_fields():
    journal = JournalStandIn()
    ingress = {name: HttpIngress(host).start() for name, host in (("eu-west", "127.0.0.11"), ("us-east", "127.0.0.12"))}
    checks = {name: f'[{{ http: {{ url: "{i.url()}", interval: 300ms, timeout: 250ms, rise: 1, fall: 2 }} }}]'
              for name, i in ingress.items()}
    g = JournaledGslbd(config(checks, clusters=("eu-west", "us-east"), server_extra=f"  http_token: {TOKEN}"),
                       journal, extra_files={"networks.yaml": NETWORKS})
    try:
        private_journal_or_skip(journal)
        g.start()
        serving = [e for e in journal.entries if "serving" in e.get("MESSAGE", "")]
        assert serving and serving[0]["PRIORITY"] == "6" and serving[0]["SYSLOG_IDENTIFIER"] == "gslbd", serving
        # Everything went to the journal: nothing on stderr, no timestamps there.
        assert Gslbd.log_text(g) == "", Gslbd.log_text(g)

        ingress["eu-west"].status = 503
        down = wait_until(lambda: journal.find(CLUSTER="eu-west", REASON="status"), what="eu-west's down event")[0]
        assert down["PRIORITY"] == "4" and down["CHECK"] == "http0", down
        assert down["MESSAGE"].startswith("cluster eu-west down: http ") and "HTTP 503" in down["MESSAGE"], down
        assert "SERVICE" not in down, down

        # us-east drained as well: the service has no cluster left and fails open

        status, _ = post_with_token(g, "/clusters/us-east/drain")
        assert status == 200
        drain = wait_until(lambda: journal.find(CLUSTER="us-east", REASON="drained"), what="us-east's drain event")[0]
        assert drain["PRIORITY"] == "6" and "CHECK" not in drain, drain
        assert re.search(r"requested by HTTP client 127\.0\.0\.1:\d+ \(token presented\)$", drain["MESSAGE"]), drain
        outage = wait_until(lambda: journal.find(SERVICE=SERVICE, REASON="all_down"), what="the service's outage")[0]
        assert outage["PRIORITY"] == "4" and "fail open" in outage["MESSAGE"], outage
        assert not any(TOKEN in v for e in journal.entries for v in e.values()), journal.entries
        assert not journal.errors, journal.errors
    finally:
        g.stop()
        journal.close()
        for i in ingress.values():
            i.stop()


def post_with_token(g, path):
    req = urllib.request.Request(f"http://127.0.0.1:{g.http_port}{path}", method="POST", data=b"",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()
