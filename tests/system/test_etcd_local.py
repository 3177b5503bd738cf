"""scripts/etcd-local, the README's local three-member etcd for several instances:
it starts three members on loopback that form one cluster (a key written through one
member is read through the others), and stops them and removes its data on SIGTERM."""
import os
import random
import shutil
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "etcd-local")

pytestmark = pytest.mark.skipif(not (shutil.which("etcd") and shutil.which("etcdctl")),
                                reason="etcd and etcdctl not installed (Debian etcd-server, etcd-client)")


def ports_free(base):
    for port in (base + o for o in (0, 1, 100, 101, 200, 201)):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_base():
    for _ in range(50):
        base = random.randrange(20000, 40000)
        if ports_free(base):
            return base
    pytest.fail("no free loopback port range for three etcd members")


def etcdctl(endpoint, *args):
    return subprocess.run(["etcdctl", "--endpoints", endpoint, "--dial-timeout=1s", "--command-timeout=2s", *args],
                          capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"})


def test_three_members_form_one_cluster_and_stop(tmp_path):
    base = free_base()
    endpoints = [f"http://127.0.0.1:{base + 100 * i}" for i in range(3)]
    proc = subprocess.Popen([SCRIPT, "--base-port", str(base)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            health = [etcdctl(e, "endpoint", "health").returncode == 0 for e in endpoints]
            if all(health):
                break
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, f"members not healthy within 20 s: {health}"
            time.sleep(0.2)
        members = etcdctl(endpoints[0], "member", "list")
        assert members.returncode == 0 and len(members.stdout.strip().splitlines()) == 3, members.stdout
        assert etcdctl(endpoints[0], "put", "/gslbd/test/k", "v1").returncode == 0
        for e in endpoints[1:]:
            got = etcdctl(e, "get", "--print-value-only", "/gslbd/test/k")
            assert got.stdout.strip() == "v1", got.stdout + got.stderr
        first_line = proc.stdout.readline()
        data_dir = first_line.rsplit("logs in ", 1)[-1].strip()
        assert os.path.isdir(data_dir), first_line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert proc.returncode == 0
    assert not os.path.exists(data_dir), "the temporary data directory is left behind"
    for e in endpoints:
        assert etcdctl(e, "endpoint", "health").returncode != 0, f"{e} still answers after SIGTERM"
