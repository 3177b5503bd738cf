#!/usr/bin/env python3
"""The probe engine at scale (issue 11 item 6): N HTTP or TCP checks at a 1 s
interval against a stand-in target that is never the bottleneck, with gslbd's CPU,
RSS, how many checks kept their interval, /metrics size and DNS latency.

    bench/probe_bench.py [--gslbd build/dnsd/gslbd] [--counts 100,1000,10000]
                         [--kinds http,http-fresh,tcp] [--seconds 20] [--warmup 10]
                         [--health-metrics full|compact]

Per kind and count, a fresh gslbd (1 DNS worker) with N clusters of one check each
(interval 1s, timeout 500ms; `http` keeps its connection, `http-fresh` has
fresh_connection: true, `tcp` connects) against bench/probe_target.c (compiled
here; one epoll thread on 127.0.0.1 ports 19000-19099, keep-alive HTTP/1.1).
After --warmup seconds, over --seconds:
  cores      gslbd's user+system CPU seconds / wall seconds (/proc/PID/stat)
  RSS        VmRSS at the end
  on time    share of checks whose probes over the window average an interval of at
             most 1.1 s (probe count from gslb_checks_total before and after; blank
             with --health-metrics compact, which has no per-check count)
  up         clusters up at the end (all are healthy)
  lag        gslb_probe_lag_seconds at the end
  metrics    /metrics body size, and gslbd's CPU for one scrape
  start      seconds from exec to the "serving" line
  DNS p99    dnsperf -Q 2000 (-v per-query latencies) over the window, against a
             static name; the row with N = 0 is the same without any check
Every process is stopped by PID at the end or on a signal. The target's own CPU is
printed, to show it stayed far from a core.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402  (dnsperf runner and parser, percentiles)

DNS_PORT, HTTP_PORT, TARGET_BASE, TARGET_PORTS = 5340, 9340, 19000, 100
INTERVAL = 1.0
ZONE = "probe.example.com"

def cores_used(pid):
    return sum(bench.cpu_seconds(pid))


def scrape():
    with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/metrics", timeout=60) as r:
        return r.read().decode()


def probes_per_check(text):
    counts = {}
    for m in re.finditer(r'^gslb_checks_total\{check="[^"]*",cluster="(p\d+)",result="\w+"\} (\S+)$', text, re.M):
        counts[m.group(1)] = counts.get(m.group(1), 0) + float(m.group(2))
    return counts


def gauge(text, name):
    m = re.search(r"^" + name + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def config(kind, count, health_metrics="full"):
    checks = ""
    for i in range(count):
        port = TARGET_BASE + i % TARGET_PORTS
        if kind == "tcp":
            check = f'tcp: {{ address: "127.0.0.1:{port}", interval: 1s, timeout: 500ms }}'
        else:
            fresh = ", fresh_connection: true" if kind == "http-fresh" else ""
            check = f'http: {{ url: "http://127.0.0.1:{port}/p{i}", interval: 1s, timeout: 500ms{fresh} }}'
        checks += f"  p{i}:\n    ingress: [192.0.2.{1 + i % 250}]\n    checks:\n      - {check}\n"
    # Left out at the default, so that the config also loads in gslbd builds before the key.
    detail = f"  health_metrics: {health_metrics}\n" if health_metrics != "full" else ""
    return f"""server:
  listen: ["127.0.0.1:{DNS_PORT}"]
  http: "127.0.0.1:{HTTP_PORT}"
  workers: 1
  tcp_max_connections: 100
{detail}{bench.gslbd_zone(ZONE)}clusters:
  static: {{ ingress: [192.0.2.1] }}
{checks}services:
  - {{ name: app.{ZONE}., policy: failover, clusters: [static] }}
"""


def run(args, work, kind, count):
    target = subprocess.Popen([os.path.join(work, "probe_target"), str(TARGET_BASE), str(TARGET_PORTS)],
                              stdout=subprocess.PIPE, text=True)
    bench.children.append(target)
    assert target.stdout.readline().strip() == "ready"
    cfg = os.path.join(work, f"{kind}-{count}.yaml")
    with open(cfg, "w") as f:
        f.write(config(kind, count, args.health_metrics))
    log_path = cfg + ".log"
    log = open(log_path, "w")
    started = time.monotonic()
    g = subprocess.Popen([args.gslbd, "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    bench.children.append(g)
    try:
        while "serving" not in open(log_path).read():
            if g.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError(f"gslbd did not start:\n{open(log_path).read()[-3000:]}")
            time.sleep(0.02)
        start_s = time.monotonic() - started
        time.sleep(args.warmup)
        before = probes_per_check(scrape())
        cpu0, t0 = cores_used(g.pid), time.monotonic()
        perf = bench.dnsperf(DNS_PORT, args.qfile, args.seconds, qps=2000, verbose=True, pin=False)
        remaining = args.seconds - (time.monotonic() - t0)
        if remaining > 0:
            time.sleep(remaining)
        cpu1, t1 = cores_used(g.pid), time.monotonic()
        text = scrape()
        scrape_cpu = cores_used(g.pid) - cpu1
        after = probes_per_check(text)
        window = t1 - t0
        on_time = sum(1 for c, n in after.items() if n - before.get(c, 0) >= window / (1.1 * INTERVAL) - 1)
        ups = len(re.findall(r'^gslb_cluster_up\{cluster="p\d+"\} 1$', text, re.M))
        warnings = open(log_path).read().count("probe engine is behind")
        return {
            "kind": kind, "count": count, "cores": (cpu1 - cpu0) / window, "rss": bench.rss_kib(g.pid) / 1024,
            "on_time": on_time / count if count and after else float("nan"), "up": ups, "lag": gauge(text, "gslb_probe_lag_seconds"),
            "metrics_mb": len(text.encode()) / 1e6, "scrape_cpu": scrape_cpu, "start": start_s,
            "p50": bench.pct(perf["latencies"], 50) * 1e3, "p99": bench.pct(perf["latencies"], 99) * 1e3,
            "lost": perf.get("lost", 0), "behind_warnings": warnings,
        }
    finally:
        for p in (g, target):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
            bench.children.remove(p)
        log.close()
        tail = target.stdout.read().strip()
        print(f"  target ({kind} {count}): {tail}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gslbd", default=os.path.join(ROOT, "build", "dnsd", "gslbd"))
    parser.add_argument("--counts", default="100,1000,10000")
    parser.add_argument("--kinds", default="http,http-fresh,tcp")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--health-metrics", default="full", choices=("full", "compact"),
                        help="server.health_metrics (compact: a check's up gauge alone)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, bench.on_signal)
    signal.signal(signal.SIGINT, bench.on_signal)
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as work:
        subprocess.run(["cc", "-O2", "-o", os.path.join(work, "probe_target"), os.path.join(HERE, "probe_target.c")],
                       check=True)
        args.qfile = os.path.join(work, "queries")
        with open(args.qfile, "w") as f:
            f.write(f"www.{ZONE} A\n")
        rows = [run(args, work, "none", 0)]
        for kind in args.kinds.split(","):
            for count in (int(c) for c in args.counts.split(",")):
                rows.append(run(args, work, kind, count))
                print(rows[-1], file=sys.stderr)
    base = rows[0]["p99"]
    print("| checks | kind | cores | RSS MB | on time | up | lag s | /metrics MB | scrape CPU s | start s "
          "| DNS p50 ms | DNS p99 ms (x no checks) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        on_time = f"{100 * r['on_time']:.1f} %" if r["count"] and r["on_time"] == r["on_time"] else ""
        print(f"| {r['count']:,} | {r['kind']} | {r['cores']:.3f} | {r['rss']:.0f} | {on_time} | {r['up']:,} "
              f"| {r['lag']:.3f} | {r['metrics_mb']:.2f} | {r['scrape_cpu']:.2f} | {r['start']:.1f} "
              f"| {r['p50']:.3f} | {r['p99']:.3f} ({r['p99'] / base:.2f}) |")


if __name__ == "__main__":
    try:
        main()
    finally:
        bench.stop_all()
