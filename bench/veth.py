#!/usr/bin/env python3
"""gslbd's XDP path against Knot's XDP mode and against the socket servers, over a
veth pair between two network namespaces, driven by kxdpgun at fixed offered rates.

bench/run --veth calls this (as root). The server namespace holds 198.18.0.1 on its
end of the veth, the client namespace 198.18.0.2 and kxdpgun. Servers: gslbd with
server.xdp, Knot with `xdp: listen`, and gslbd, Knot and gdnsd on sockets, each
configured by bench.py's classes (same zone, same geo data) with the veth address.

Cases:
  static  www.global.example.com A from 198.18.0.2
  geo     app.global.example.com A from sources spread over 198.18.128.0/17
          (kxdpgun -l), which every server maps to ap-northeast -> 203.0.113.30;
          the server namespace routes that prefix to 198.18.0.2 so that the socket
          servers' replies need no ARP per source.

Per server, case and offered rate, one kxdpgun run of SECONDS: the answered rate,
the reply ratio, and the server's CPU per answered query (schedstat of every thread
of its process tree, as bench.py). The server is pinned to CPU 1, kxdpgun to CPU 0.
On a veth the kernel work of a hop runs where the sender is: the server is charged
for delivering its replies into the client namespace, kxdpgun for delivering the
queries (for the socket servers that includes the server namespace's UDP receive).
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import bench

SRV, CLI = "gslbbench-s", "gslbbench-c"
SIF, CIF = "gbench-s", "gbench-c"
SERVER, CLIENT, GEO_PREFIX = "198.18.0.1", "198.18.0.2", "198.18.128.0/17"
GEO_EXPECT = "203.0.113.30"
CASES = {"static": (bench.STATIC_NAME, None, "192.0.2.80"), "geo": (bench.GEO_NAME, GEO_PREFIX, GEO_EXPECT)}


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=60)


def netns_up(queues):
    netns_down()
    sh("ip", "netns", "add", SRV)
    sh("ip", "netns", "add", CLI)
    q = ("numtxqueues", str(queues), "numrxqueues", str(queues))
    sh("ip", "link", "add", SIF, "netns", SRV, *q, "type", "veth", "peer", "name", CIF, "netns", CLI, *q)
    for ns, dev, addr in ((SRV, SIF, SERVER), (CLI, CIF, CLIENT)):
        sh("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", SRV, "route", "add", GEO_PREFIX, "via", CLIENT)


def netns_down():
    for ns in (SRV, CLI):
        sh("ip", "netns", "del", ns, check=False)


def dig(name):
    r = sh("ip", "netns", "exec", CLI, "dig", f"@{SERVER}", name, "A", "+short", "+time=1", "+tries=1", check=False)
    return r.stdout.split()


def start(server):
    server.host, server.port = SERVER, 53
    server.configure()
    log = open(os.path.join(server.dir, "server.log"), "w")
    server.proc = subprocess.Popen(["ip", "netns", "exec", SRV, "taskset", "-c", bench.SERVER_CPU] + server.command(),
                                   stdout=log, stderr=subprocess.STDOUT, cwd=server.dir, start_new_session=True)
    bench.children.append(server.proc)
    deadline = time.time() + 20
    while time.time() < deadline and dig(bench.STATIC_NAME) != ["192.0.2.80"]:
        if server.proc.poll() is not None:
            break
        time.sleep(0.2)
    if dig(bench.STATIC_NAME) != ["192.0.2.80"]:
        raise RuntimeError(f"{server.name} does not answer over the veth; see {log.name}:\n" + open(log.name).read()[-2000:])
    bench.pin_threads(server.pid, int(bench.SERVER_CPU))


def kxdpgun(qfile, rate, seconds, prefix):
    # kxdpgun runs a thread per queue of its interface; step 0 keeps them all on
    # the load generator's CPU, off the server's.
    cmd = ["ip", "netns", "exec", CLI, "kxdpgun", "-F", bench.DNSPERF_CPU + "s0", "-t", str(seconds), "-Q", str(rate),
           "-i", qfile]
    if prefix:
        cmd += ["-l", prefix]
    out = sh(*cmd, SERVER, check=False).stdout
    m = {k: re.search(rf"total {k}:\s+(\d+)", out) for k in ("queries", "replies")}
    if not all(m.values()):
        raise RuntimeError("kxdpgun: " + out)
    return int(m["queries"].group(1)), int(m["replies"].group(1)), out


def socket_drops():
    """UDP datagrams the server namespace's kernel dropped for a full receive buffer."""
    snmp = sh("ip", "netns", "exec", SRV, "cat", "/proc/net/snmp").stdout
    head, values = [l.split() for l in snmp.splitlines() if l.startswith("Udp:")][:2]
    return int(values[head.index("RcvbufErrors")])


def measure(server, case, rate, seconds, base):
    name, prefix, _ = CASES[case]
    qfile = os.path.join(base, f"{case}.queries")
    with open(qfile, "w") as f:
        f.write(f"{name} A\n")
    bench.settle()
    d0, c0 = socket_drops(), bench.cpu_sample(server.pid)
    sent, replies, out = kxdpgun(qfile, rate, seconds, prefix)
    c1, d1 = bench.cpu_sample(server.pid), socket_drops()
    total, user, system = bench.per_query(c0, c1, replies) if replies else (float("nan"),) * 3
    return {"server": server.name, "case": case, "offered": rate, "sent": sent, "replies": replies,
            "answered_qps": replies / seconds, "ratio": replies / sent if sent else 0.0, "rcvbuf_drops": d1 - d0,
            "us_per_query": total, "us_user": user, "us_sys": system}


def servers(base, gslbd):
    xdp = f"  xdp: {{ interface: {SIF}, queues: all }}\n"
    g_xdp = bench.Gslbd(base, 53, gslbd, label="gslbd XDP")
    g_xdp.extra = xdp
    k_xdp = bench.Knot(base, 53)
    k_xdp.name = "knot XDP"
    k_xdp.dir = os.path.join(base, "knot-xdp")
    os.makedirs(k_xdp.dir, exist_ok=True)
    k_xdp.extra = f"xdp:\n    listen: {SIF}\n"
    return [g_xdp, k_xdp, bench.Gslbd(base, 53, gslbd, label="gslbd sockets"), bench.Knot(base, 53), bench.Gdnsd(base, 53)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gslbd", default=os.path.join(bench.ROOT, "build", "dnsd", "gslbd"))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "3")))
    ap.add_argument("--rates", default=os.environ.get("BENCH_RATES", "50000,100000,200000"))
    ap.add_argument("--only", default="", help="comma-separated server names")
    ap.add_argument("--queues", type=int, default=int(os.environ.get("BENCH_QUEUES", "1")),
                    help="receive and transmit queues of each veth end (the XDP servers use them all)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/veth.py needs root (network namespaces, XDP)")
    # The geo prefix replaces the loopback bench's third ECS network: same clusters.
    bench.NETS = bench.NETS[:2] + [(GEO_PREFIX, "ap-northeast", GEO_EXPECT)]
    signal.signal(signal.SIGINT, bench.on_signal)
    signal.signal(signal.SIGTERM, bench.on_signal)
    base = tempfile.mkdtemp(prefix="gslbd-bench-veth-")
    rates = [int(r) for r in args.rates.split(",")]
    results = []
    netns_up(args.queues)
    try:
        for server in servers(base, args.gslbd):
            if args.only and server.name not in args.only.split(","):
                continue
            start(server)
            try:
                for case, (name, prefix, want) in CASES.items():
                    for rate in rates:
                        r = measure(server, case, rate, args.seconds, base)
                        results.append(r)
                        print(f"{r['server']:14} {case:6} offered {rate:>7}: answered {r['answered_qps']:>9.0f} q/s"
                              f" ({r['ratio'] * 100:5.1f} %), {r['us_per_query']:5.2f} µs server CPU/answer"
                              f" ({r['us_user']:.2f} user + {r['us_sys']:.2f} sys),"
                              f" {r['rcvbuf_drops']} dropped at a full socket buffer",
                              flush=True)
            finally:
                server.stop()
    finally:
        bench.stop_all()
        netns_down()
    print()
    print("| server | case | queues | offered q/s | answered q/s | replies | server CPU µs/answer (user + sys) | socket buffer drops |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['server']} | {r['case']} | {args.queues} | {r['offered']} | {r['answered_qps']:.0f} | {r['ratio'] * 100:.1f} % |"
              f" {r['us_per_query']:.2f} ({r['us_user']:.2f} + {r['us_sys']:.2f}) | {r['rcvbuf_drops']} |")


if __name__ == "__main__":
    main()
