"""gslbd's log on stderr outside journald: an RFC 3339 UTC timestamp with
milliseconds and the level on every line, server.log_level filtering, and a
reload changing the level (issue 15 item 4)."""
import datetime
import os
import re
import subprocess

from dnsconfig import DNS_CONFIG
from gslb import BINARY, Gslbd, check_config

LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (error|warning|info|debug): ")


def with_level(level):
    return DNS_CONFIG.replace("  nsid: test-ns1\n", f"  nsid: test-ns1\n  log_level: {level}\n", 1)


def ctl_reload(g):
    return subprocess.run([BINARY, "ctl", "-c", g.config_path, "reload"], capture_output=True, text=True, timeout=60)


def test_lines_carry_a_utc_timestamp_and_the_level_and_a_reload_changes_the_level():
    started = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    g = Gslbd(DNS_CONFIG)
    env = os.environ.pop("JOURNAL_STREAM", None)  # the test may itself run under systemd
    try:
        g.start()
    finally:
        if env is not None:
            os.environ["JOURNAL_STREAM"] = env
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
