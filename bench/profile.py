#!/usr/bin/env python3
"""Where a server's CPU goes while it answers the geo+ECS query at a fixed rate.

  bench/profile.py [--gslbd PATH] [--rate 20000] [--seconds 3] gslbd gdnsd knot ...

For each server (set up exactly as bench/bench.py does, pinned to CPU 1, dnsperf
on CPU 0): server CPU per query (user/sys), system calls per query and per wakeup
(`strace -c -f`, a separate run since strace slows the server), and when `perf`
works, the top symbols of a `perf record -g` (kernel and user) over the run.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402


def strace_counts(pid, run):
    out = tempfile.mktemp(prefix="strace-")
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", out], stderr=subprocess.DEVNULL)
    B.children.append(st)
    time.sleep(0.5)
    r = run()
    time.sleep(0.2)
    st.send_signal(2)
    st.wait()
    B.children.remove(st)
    calls = {}
    for line in open(out):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    os.unlink(out)
    return r, calls


EVENTS = ["raw_syscalls:sys_enter", "context-switches"] + [
    f"syscalls:sys_enter_{c}" for c in ("epoll_wait", "epoll_pwait", "epoll_ctl", "recvmmsg", "sendmmsg", "recvmsg",
                                         "sendmsg", "recvfrom", "sendto", "poll", "ppoll")]


def perf_counts(pid, run):
    """Exact per-run counts of system calls and context switches (perf stat on tracepoints)."""
    out = tempfile.mktemp(prefix="perfstat-")
    p = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-p", str(pid), "-e", ",".join(EVENTS)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    B.children.append(p)
    time.sleep(0.3)
    r = run()
    p.send_signal(2)
    p.wait()
    B.children.remove(p)
    counts = {}
    for line in open(out):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].isdigit():
            counts[f[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "all syscalls")] = int(f[0])
    os.unlink(out)
    return r, counts


def perf_top(pid, run, n=25):
    if not shutil.which("perf"):
        return None
    data = tempfile.mktemp(prefix="perf-")
    p = subprocess.Popen(["perf", "record", "-g", "-p", str(pid), "-o", data], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    B.children.append(p)
    time.sleep(0.3)
    run()
    p.send_signal(2)
    p.wait()
    B.children.remove(p)
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none"],
                         capture_output=True, text=True)
    os.unlink(data)
    lines = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
    return lines[:n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gslbd", default=os.path.join(B.ROOT, "build", "dnsd", "gslbd"))
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("servers", nargs="+")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="gslbd-profile-")
    qf = os.path.join(base, "geo")
    B.write(qf, f"{B.GEO_NAME} A\n" * 1000)
    listeners = B.TcpListeners(B.HC_ADDRS, B.HC_PORT)
    make = {"gslbd": lambda: B.Gslbd(base, 5360, args.gslbd),
            # A second gslbd binary to compare with (an experimental build, say).
            "gslbd-b": lambda: B.Gslbd(base, 5365, os.environ.get("GSLBD_B", args.gslbd), label="gslbd-b"), "gdnsd": lambda: B.Gdnsd(base, 5361),
            "knot": lambda: B.Knot(base, 5362), "pdns": lambda: B.Pdns(base, 5364)}
    try:
        for name in args.servers:
            s = make[name]()
            s.start()
            run = lambda: B.dnsperf(s.port, qf, args.seconds, qps=args.rate, ecs=B.GEO_SUBNET)  # noqa: E731
            c0 = B.cpu_sample(s.pid)
            r = run()
            c1 = B.cpu_sample(s.pid)
            total, user, system = B.per_query(c0, c1, max(1, r["completed"]))
            print(f"== {name}: geo+ECS at {args.rate} q/s: CPU {total:.2f} us/query (user {user:.2f}, sys {system:.2f})")
            if shutil.which("perf"):
                r, counts = perf_counts(s.pid, run)
                n = max(1, r["completed"])
                print("   per query (perf stat): " + ", ".join(
                    f"{k} {v / n:.2f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v))
            else:
                r, calls = strace_counts(s.pid, run)
                n = max(1, r["completed"])
                print("   per query (strace -c, slows the server): " + ", ".join(
                    f"{k} {v / n:.2f}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:6]))
            top = perf_top(s.pid, run)
            if top:
                print("   perf (self, by dso/symbol):")
                for l in top:
                    print("     " + l.strip())
            s.stop()
    finally:
        B.stop_all()
        listeners.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
