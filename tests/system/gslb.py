"""Helpers for system tests: start the real gslbd on loopback with a config the
test writes, query it with dig/kdig, and poll with deadlines (never sleep)."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("GSLBD_BINARY", os.path.join(ROOT, "build", "dnsd", "gslbd"))


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            with socket.socket(family, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def rss_kib(pid):
    """Resident memory of a process, KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds: every process a test starts ends."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class DigResult:
    def __init__(self, proc):
        self.stdout = proc.stdout
        self.returncode = proc.returncode
        m = re.search(r"status: (\w+)", proc.stdout)
        self.status = m.group(1) if m else None
        m = re.search(r"flags: ([a-z ]*);", proc.stdout)
        self.flags = set(m.group(1).split()) if m else set()
        self.sections = {}
        current = None
        for line in proc.stdout.splitlines():
            m = re.match(r";; (\w+) SECTION:", line) or re.match(r";; (\w+) PSEUDOSECTION:", line)
            if m:
                current = m.group(1)
                self.sections.setdefault(current, [])
                continue
            if current and line and not line.startswith(";"):
                self.sections[current].append(line.split())
            elif current == "OPT" and line.startswith("; "):
                self.sections[current].append(line[2:])
        m = re.search(r"CLIENT-SUBNET: (\S+)/(\d+)/(\d+)", proc.stdout)
        self.ecs = (m.group(1), int(m.group(2)), int(m.group(3))) if m else None

    def records(self, section="ANSWER"):
        return self.sections.get(section, [])

    def rdata(self, rtype=None, section="ANSWER"):
        return [" ".join(r[4:]) for r in self.records(section) if rtype is None or r[3] == rtype]

    def __repr__(self):
        return self.stdout


class Gslbd:
    """One gslbd process on 127.0.0.1 (and optionally ::1) with a free port."""

    def __init__(self, config_text, workdir=None, v6=False, http=True, extra_files=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="gslbd-test-")
        self.port = free_port()
        self.http_port = free_port() if http else None
        self.v6 = v6
        self.config_path = os.path.join(self.dir, "gslbd.yaml")
        for name, text in (extra_files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        self.write_config(config_text)
        self.log_path = os.path.join(self.dir, "gslbd.log")
        self.proc = None

    def render(self, config_text):
        listen = f'"127.0.0.1:{self.port}"' + (f', "[::1]:{self.port}"' if self.v6 else "")
        return config_text.replace("@LISTEN@", listen).replace(
            "@HTTP@", f'"127.0.0.1:{self.http_port}"' if self.http_port else '""').replace("@DIR@", self.dir).replace(
            "@PORT@", str(self.port))

    def write_config(self, config_text):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.render(config_text))
        os.replace(tmp, self.config_path)

    def start(self, expect_ready=True, nofile=None, prefix=(), env=None, args=()):
        """`nofile`: the open-files limit gslbd starts under, N for soft and hard or
        (soft, hard), as `prlimit --nofile=N` or `--nofile=SOFT:HARD` would set it;
        default: the test's own. `prefix`: a
        command gslbd runs under (it must exec it, keeping the pid); `env`: its
        environment instead of the test's; `args`: options before -c FILE."""
        self.log = open(self.log_path, "w")
        limit = None
        if nofile is not None:
            import resource
            pair = nofile if isinstance(nofile, tuple) else (nofile, nofile)
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, pair)
        self.proc = subprocess.Popen([*prefix, BINARY, *args, "-c", self.config_path], stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=limit, env=env)
        if expect_ready:
            wait_until(lambda: self.proc.poll() is not None or "serving" in self.log_text(),
                       timeout=30, what="gslbd to start")
            assert self.proc.poll() is None, f"gslbd exited at start:\n{self.log_text()}"
        return self

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def reload(self, config_text=None):
        """Sends SIGHUP and waits until the log shows the reload's outcome; returns it."""
        if config_text is not None:
            self.write_config(config_text)
        def outcomes():  # the daemon's own log lines, not paths that happen to say "reload"
            text = self.log_text()
            return text.count("info: reloaded: ") + text.count("error: reload failed")
        before = outcomes()
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: outcomes() > before, what="the reload to finish")
        tail = self.log_text().splitlines()[-5:]
        return "\n".join(tail)

    def stop(self):
        stop_process(self.proc)
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def dig(self, *args, server="127.0.0.1"):
        cmd = ["dig", f"@{server}", "-p", str(self.port), "+norec", "+time=2", "+tries=2"] + list(args)
        return DigResult(subprocess.run(cmd, capture_output=True, text=True, timeout=30))

    def kdig(self, *args, server="127.0.0.1"):
        cmd = ["kdig", f"@{server}", "-p", str(self.port), "+norec", "+time=2", "+retry=1"] + list(args)
        return DigResult(subprocess.run(cmd, capture_output=True, text=True, timeout=30))

    def http_get(self, path, timeout=10):
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()

    def http_post(self, path):
        """POSTs an empty body; returns (status, body) for error statuses too."""
        import urllib.error
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method="POST", data=b"")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def check_config(config_path):
    return subprocess.run([BINARY, "--check-config", "-c", config_path], capture_output=True, text=True, timeout=60)
