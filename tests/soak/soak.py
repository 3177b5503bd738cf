#!/usr/bin/env python3
"""Soak: dnsperf at a fixed rate against gslbd while cluster ingresses are stopped
and started every few seconds and the config is reloaded (good and bad). Passes
when dnsperf saw 0 lost queries and 0 SERVFAIL, no sampled answer named a
cluster that had been down for longer than the detection bound, RSS stayed flat,
and a hanging probe target did not slow DNS answers.

  tests/soak/run [SECONDS]     (default 120; bounded: the run stops by itself)
"""
import http.server
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import dns.message  # noqa: E402

from gslb import Gslbd, free_port, rss_kib, wait_until  # noqa: E402
from ingress import cluster_status  # noqa: E402

INTERVAL, TIMEOUT, FALL, RISE = 0.5, 0.3, 2, 2
# A stopped ingress must leave the answers within fall x interval + timeout; the
# margin covers probe jitter (+-10%), the 100 ms publication bound and a busy host.
DETECTION_BOUND = FALL * INTERVAL + TIMEOUT + 1.0
RATE = 2000            # dnsperf queries per second
FLAP_EVERY = 3.0       # seconds between ingress stops/starts
RELOAD_EVERY = 7.0     # seconds between reloads (alternately good and bad)

CLUSTERS = {  # name -> (ingress address answered, health endpoint address, location)
    "eu": ("203.0.113.1", "127.0.0.21", "{ lat: 50.1, lon: 8.7 }"),
    "us": ("203.0.113.2", "127.0.0.22", "{ lat: 38.9, lon: -77.0 }"),
    "ap": ("203.0.113.3", "127.0.0.23", "{ lat: 35.7, lon: 139.7 }"),
}


class Ingress:
    """A stand-in cluster ingress that can be stopped (connection refused) and started."""

    def __init__(self, host, port, hang=False):
        self.host, self.port, self.hang = host, port, hang
        self.server = None
        self.stopped_at = None

    def start(self):
        hang = self.hang

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if hang:
                    time.sleep(30)  # a target that accepts and never answers in time
                    return
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        http.server.ThreadingHTTPServer.daemon_threads = True
        self.server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.stopped_at = None

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.server = None
        self.stopped_at = time.monotonic()


def config(ttl, ports, extra_cluster=""):
    clusters = ""
    for name, (ingress, host, loc) in CLUSTERS.items():
        clusters += f"""  {name}:
    location: {loc}
    ingress: [{ingress}]
    checks:
      - http: {{ url: "http://{host}:{ports[name]}/healthz", interval: {int(INTERVAL*1000)}ms, timeout: {int(TIMEOUT*1000)}ms, rise: {RISE}, fall: {FALL} }}
"""
    return f"""
server:
  listen: [@LISTEN@]
  http: @HTTP@
  workers: 2
geo:
  networks: networks.yaml
zones:
  - origin: example.test.
    soa: {{ mname: ns1.example.test., rname: h.example.test., minimum: 60 }}
    ns: [ns1.example.test.]
    records: |
      ns1 IN A 192.0.2.53
      www IN A 192.0.2.80
services:
  - {{ name: app.example.test., ttl: {ttl}, clusters: [{", ".join(CLUSTERS)}{", hung" if extra_cluster else ""}] }}
clusters:
{clusters}{extra_cluster}"""




def query_app(port, sock):
    q = dns.message.make_query("app.example.test", "A")
    start = time.monotonic()
    sock.sendto(q.to_wire(), ("127.0.0.1", port))
    try:
        while True:
            data, _ = sock.recvfrom(4096)
            r = dns.message.from_wire(data)
            if r.id == q.id:
                break
    except socket.timeout:
        return None, None
    took = time.monotonic() - start
    answers = [rd.address for rrset in r.answer for rd in rrset]
    return answers, took


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def latency_phase(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    took = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _, t = query_app(port, s)
        if t is not None:
            took.append(t)
    s.close()
    return percentile(took, 0.99), len(took)


def main():
    duration = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    ports = {name: free_port(host) for name, (_, host, _) in CLUSTERS.items()}
    ingresses = {name: Ingress(host, ports[name]) for name, (_, host, _) in CLUSTERS.items()}
    for i in ingresses.values():
        i.start()
    by_address = {ingress: name for name, (ingress, _, _) in CLUSTERS.items()}
    g = Gslbd(config(30, ports), extra_files={"networks.yaml": "- { cidr: 127.0.0.0/8, location: { lat: 50.1, lon: 8.7 } }\n"})
    g.start()
    pid = g.proc.pid
    failures = []
    try:
        queries = os.path.join(g.dir, "queries.txt")
        with open(queries, "w") as f:
            f.write("app.example.test A\nwww.example.test A\nnope.example.test A\napp.example.test AAAA\n")
        perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(g.port), "-d", queries, "-Q", str(RATE),
                                 "-l", str(duration), "-c", "4", "-t", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        stop = threading.Event()
        samples, rss, reloads = [], [], {"good": 0, "bad": 0}
        flaps = 0

        def sampler():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(1)
            while not stop.is_set():
                answers, _ = query_app(g.port, s)
                now = time.monotonic()
                if answers:
                    down_for = {n: now - i.stopped_at for n, i in ingresses.items() if i.stopped_at}
                    samples.append((now, answers, down_for))
                stop.wait(0.02)
            s.close()

        threading.Thread(target=sampler, daemon=True).start()
        start = time.monotonic()
        next_flap, next_reload, next_rss = start + FLAP_EVERY, start + RELOAD_EVERY, start
        good_next = True
        while time.monotonic() - start < duration:
            now = time.monotonic()
            if now >= next_flap:
                # ap never stops, so the service is never all down (fail-open would then
                # legitimately name down clusters).
                name = random.choice(["eu", "us"])
                (ingresses[name].start if ingresses[name].server is None else ingresses[name].stop)()
                flaps += 1
                next_flap = now + FLAP_EVERY
            if now >= next_reload:
                if good_next:
                    g.write_config(config(30 + reloads["good"] % 2, ports))
                    reloads["good"] += 1
                else:
                    with open(g.config_path, "a") as f:
                        f.write("bogus_key: 1\n")
                    reloads["bad"] += 1
                g.reload()  # waits for the outcome line, so the count below is complete
                good_next = not good_next
                next_reload = now + RELOAD_EVERY
            if now >= next_rss:
                rss.append(rss_kib(pid))
                next_rss = now + 1.0
            time.sleep(0.05)
        stop.set()
        out, _ = perf.communicate(timeout=duration + 60)
        for i in ingresses.values():
            if i.server is None:
                i.start()

        sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
        lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
        codes = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+) \(", out.split("Response codes:")[1].splitlines()[0]))
        print(f"dnsperf: {sent} queries sent at {RATE}/s for {duration}s, {lost} lost, response codes {codes}")
        if lost:
            failures.append(f"{lost} queries lost")
        if codes.get("SERVFAIL"):
            failures.append(f"{codes['SERVFAIL']} SERVFAIL")

        stale = [(t, a, d) for t, a, d in samples for ip in a
                 if d.get(by_address.get(ip, ""), 0) > DETECTION_BOUND]
        print(f"sampler: {len(samples)} answers checked, {flaps} ingress stops/starts, "
              f"{len(stale)} named a cluster down for longer than {DETECTION_BOUND:.1f}s")
        if stale:
            failures.append(f"stale answers: {stale[:3]}")
        if not samples:
            failures.append("the sampler got no answers to check")

        log = g.log_text()
        ok_reloads, failed_reloads = log.count("reloaded:"), log.count("reload failed")
        print(f"reloads: {ok_reloads} succeeded, {failed_reloads} refused (sent {reloads['good']} good, {reloads['bad']} bad)")
        if ok_reloads != reloads["good"] or failed_reloads != reloads["bad"]:
            failures.append("reload outcomes do not match what was sent")

        warm = rss[len(rss) // 5: len(rss) // 5 + max(1, len(rss) // 5)]
        tail = rss[-max(1, len(rss) // 5):]
        print(f"RSS: {min(warm)/1024:.1f} MiB after warm-up, {max(tail)/1024:.1f} MiB at the end")
        if max(tail) > max(warm) * 1.10 + 5 * 1024:
            failures.append("RSS grew")

        # A probe target that hangs must not slow DNS answers.
        g.write_config(config(30, ports))
        g.reload()
        wait_until(lambda: all(cluster_status(g, n)["up"] for n in ingresses), what="gslbd to see every cluster up")
        p99_before, n_before = latency_phase(g.port, 10)
        hung = Ingress("127.0.0.24", free_port("127.0.0.24"), hang=True)
        hung.start()
        extra = f"""  hung:
    location: {{ lat: 0, lon: 0 }}
    ingress: [203.0.113.4]
    checks:
      - http: {{ url: "http://127.0.0.24:{hung.port}/healthz", interval: 200ms, timeout: 150ms }}
      - tcp: {{ address: "127.0.0.24:{hung.port}", interval: 200ms, timeout: 150ms }}
"""
        g.write_config(config(30, ports, extra))
        g.reload()
        p99_hung, n_hung = latency_phase(g.port, 10)
        print(f"p99 latency: {p99_before*1000:.2f} ms without, {p99_hung*1000:.2f} ms with a hanging probe target "
              f"({n_before} and {n_hung} queries)")
        if p99_hung > max(3 * p99_before, p99_before + 0.005):
            failures.append("a hanging probe target slowed DNS answers")
    finally:
        g.stop()
    if failures:
        print("SOAK FAILED: " + "; ".join(failures))
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
