#!/usr/bin/env python3
"""Zone loading: gslbd against Knot on the same large zone file.

Generates a zone of --records records (deterministic: the same file for the same
count), then for each server, in its own temp dir on 127.0.0.1:
  load     start to the first answer for the zone's last name (polled over UDP),
           wall-clock seconds
  bytes    steady VmRSS once loaded minus the VmRSS of the same server with a
           two-record zone, divided by the record count
  load peak / steady   VmHWM at that point over VmRSS
  reload peak / steady for SIGHUP with nothing changed, and for a reload after the
           zone file changed (one record added: the new name must answer). The peak
           is VmHWM after resetting it through /proc/PID/clear_refs (root).
gslbd also: --check-config on the same config, wall-clock seconds and peak RSS
(wait4 ru_maxrss). Knot's reload of a changed file is `knotc zone-reload`; its
"nothing changed" is `knotc reload` (Knot then skips the unchanged file).

Every process is stopped by PID. Run as root (clear_refs). Knot: Debian's knot.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ORIGIN = "bench.example"


def generate(path, records):
    """`records` records over mixed A/AAAA/TXT/MX/CNAME names, 1000 groups deep
    (g0..g999 are empty non-terminals), plus SOA and NS at the apex."""
    rnd = random.Random(20261203)
    with open(path, "w") as f:
        f.write(f"$ORIGIN {ORIGIN}.\n$TTL 3600\n"
                f"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                f"@ IN NS ns1\nns1 IN A 192.0.2.53\n")
        for i in range(records - 3):
            kind = i % 10
            name = f"h{i}.g{i % 1000}"
            if kind < 4:
                f.write(f"{name} 300 IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
            elif kind < 6:
                f.write(f"{name} 300 IN AAAA 2001:db8::{i >> 16:x}:{i & 0xffff:x}\n")
            elif kind < 8:
                f.write(f'{name} 300 IN TXT "v=spf1 ip4:10.{rnd.randrange(256)}.0.0/16 -all" "id {i}"\n')
            elif kind == 8:
                host = i - 8  # an A record above
                f.write(f"{name} 300 IN MX 10 h{host}.g{host % 1000}\n")
            else:
                host = i - 9 + rnd.randrange(4)  # one of the A records above
                f.write(f"{name} 300 IN CNAME h{host}.g{host % 1000}\n")


def last_name(records):
    """The last A record's name (queried with type A: other names would be NODATA)."""
    i = records - 4
    while i % 10 >= 4:
        i -= 1
    return f"h{i}.g{i % 1000}.{ORIGIN}"


def small_zone(path):
    with open(path, "w") as f:
        f.write(f"$ORIGIN {ORIGIN}.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                f"@ IN NS ns1\nns1 IN A 192.0.2.53\n")


def query(port, name, timeout=0.2):
    """The RCODE and answer count of an A query, or None when nothing came back."""
    qid = random.randrange(65536)
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(packet, ("127.0.0.1", port))
            data = s.recv(4096)
        except OSError:
            return None
    rid, flags, _, ancount = struct.unpack("!HHHH", data[:8])
    return (flags & 15, ancount) if rid == qid else None


def wait_answer(port, name, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        r = query(port, name)
        if r and r[0] == 0 and r[1] > 0:
            return time.monotonic()
        time.sleep(0.01)
    raise RuntimeError(f"{name} not answered within {timeout} s")


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def settle_rss(pid, seconds=1.0):
    """VmRSS once it stops moving (a server may still free or touch memory just
    after its first answer)."""
    last = status(pid, "VmRSS")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = status(pid, "VmRSS")
        if abs(now - last) < 256 * 1024:
            return now
        last = now
    return last


class Server:
    def __init__(self, base, name, port):
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir)
        self.port = port
        self.proc = None

    def start(self, zonefile):
        self.configure(zonefile)
        self.log = open(os.path.join(self.dir, "log"), "w+")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        return t0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Gslbd(Server):
    def __init__(self, base, port, binary):
        super().__init__(base, "gslbd", port)
        self.binary = binary

    def configure(self, zonefile):
        self.config = os.path.join(self.dir, "gslbd.yaml")
        with open(self.config, "w") as f:
            f.write(f'server:\n  listen: ["127.0.0.1:{self.port}"]\n  workers: 1\n'
                    f"zones:\n  - origin: {ORIGIN}.\n    zonefile: {zonefile}\n")

    def command(self):
        return [self.binary, "-c", self.config]

    def reloads(self):
        self.log.seek(0)
        return sum(1 for line in self.log if "reloaded" in line or "reload failed" in line)

    def reload(self, changed_name):
        before = self.reloads()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 120
        while self.reloads() == before:
            if time.monotonic() > deadline:
                raise RuntimeError("gslbd did not report the reload")
            time.sleep(0.01)
        if changed_name:
            wait_answer(self.port, changed_name, self.proc, 5)

    def check_config(self):
        t0 = time.monotonic()
        proc = subprocess.Popen([self.binary, "--check-config", "-c", self.config],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, code, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - t0
        if code != 0:
            raise RuntimeError(f"--check-config failed: {proc.stderr.read().decode()}")
        proc.returncode = 0
        return seconds, usage.ru_maxrss * 1024


class Knot(Server):
    def __init__(self, base, port):
        super().__init__(base, "knot", port)

    def configure(self, zonefile):
        self.conf = os.path.join(self.dir, "knot.conf")
        shutil.rmtree(os.path.join(self.dir, "db"), ignore_errors=True)
        with open(self.conf, "w") as f:
            f.write(f"""server:
    rundir: "{self.dir}"
    listen: 127.0.0.1@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{self.dir}/db"
log:
  - target: stderr
    any: info
zone:
  - domain: {ORIGIN}
    file: "{zonefile}"
""")

    def command(self):
        return ["knotd", "-c", self.conf]

    def reload(self, changed_name):
        args = ["zone-reload", ORIGIN] if changed_name else ["reload"]
        subprocess.run(["knotc", "-c", self.conf, "-t", "120", *args], check=True, capture_output=True)
        if changed_name:
            wait_answer(self.port, changed_name, self.proc, 120)
        else:
            time.sleep(1)  # `knotc reload` returns before the (skipped) zone work


def measure(server, zonefile, small, name, records, timeout):
    out = {}
    server.start(small)
    wait_answer(server.port, f"ns1.{ORIGIN}", server.proc, 30)
    base = settle_rss(server.proc.pid)
    server.stop()

    t0 = server.start(zonefile)
    out["load_s"] = wait_answer(server.port, name, server.proc, timeout) - t0
    pid = server.proc.pid
    steady = settle_rss(pid)
    out["load_peak"] = status(pid, "VmHWM") / steady
    out["bytes_per_record"] = (steady - base) / records
    out["steady_mib"] = steady / 2**20

    for label, change in (("reload_same", False), ("reload_changed", True)):
        steady = settle_rss(pid)
        changed_name = None
        if change:
            changed_name = f"added.{ORIGIN}"
            with open(zonefile, "a") as f:
                f.write(f"added 300 IN A 192.0.2.99\n")
        reset_peak(pid)
        t = time.monotonic()
        server.reload(changed_name)
        out[label + "_s"] = time.monotonic() - t
        out[label] = status(pid, "VmHWM") / steady
        if change:  # back to the generated file for the next server
            with open(zonefile, "r+") as f:
                f.seek(0, os.SEEK_END)
                f.truncate(f.tell() - len("added 300 IN A 192.0.2.99\n"))
    server.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gslbd", required=True, help="path of the gslbd binary")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--port", type=int, default=5350, help="gslbd answers here, Knot one above (probe_bench.py has 5340)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--zonefile", help="reuse (or write) the generated zone here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("zone_load.py needs root (/proc/PID/clear_refs)")

    base = tempfile.mkdtemp(prefix="gslb-zone-bench-")
    servers = []
    try:
        zonefile = args.zonefile or os.path.join(base, "bench.zone")
        name = last_name(args.records)
        if not os.path.exists(zonefile):
            generate(zonefile, args.records)
        small = os.path.join(base, "small.zone")
        small_zone(small)
        g = Gslbd(base, args.port, os.path.abspath(args.gslbd))
        k = Knot(base, args.port + 1)
        servers = [g, k]
        g.configure(zonefile)
        check_s, check_peak = g.check_config()
        results = {"gslbd": measure(g, zonefile, small, name, args.records, args.timeout)}
        if shutil.which("knotd"):
            results["knot"] = measure(k, zonefile, small, name, args.records, args.timeout)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)

    print(f"{args.records} records; gslbd --check-config {check_s:.2f} s, peak RSS {check_peak / 2**20:.0f} MiB")
    cols = ["load_s", "bytes_per_record", "steady_mib", "load_peak", "reload_same", "reload_same_s",
            "reload_changed", "reload_changed_s"]
    print("| server | load s | bytes/record | steady MiB | load peak/steady | reload (same) peak/steady | s "
          "| reload (changed) peak/steady | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for server, r in results.items():
        print(f"| {server} | " + " | ".join(f"{r[c]:.2f}" if c != "bytes_per_record" else f"{r[c]:.0f}" for c in cols) + " |")
    if "knot" in results:
        g, k = results["gslbd"], results["knot"]
        print(f"\ngslbd/Knot: load time {g['load_s'] / k['load_s']:.2f}x, "
              f"bytes per record {g['bytes_per_record'] / k['bytes_per_record']:.2f}x; "
              f"gslbd reload peak/steady {g['reload_same']:.2f} (same file), {g['reload_changed']:.2f} (changed)")


if __name__ == "__main__":
    main()
