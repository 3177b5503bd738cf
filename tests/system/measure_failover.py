#!/usr/bin/python3
"""Measures how long the answer takes to move off a cluster whose ingress stops,
and to come back when it returns, with demo-ingress stand-ins on 127.0.0.11-.13
and dig. Not a CTest test (test_health_failover.py asserts the bounds); run:

  GSLBD_BINARY=build/dnsd/gslbd tests/system/measure_failover.py [--trials 10]
      [--interval 1s] [--timeout 500ms] [--fall 2] [--rise 2] [--phase-locked]

By default each stop and start waits a random part of an interval first, so that
it falls at a random point of the probe cycle; with --phase-locked it follows the
previous move at once (just after a probe: close to the worst case).
"""
import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gslb import Gslbd  # noqa: E402
from ingress import FRA, IAD, NETWORKS, DemoIngress, answer, config, timed  # noqa: E402

HOSTS = {"eu-west": "127.0.0.11", "us-east": "127.0.0.12", "ap-northeast": "127.0.0.13"}


def seconds(text):
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--interval", default="1s")
    p.add_argument("--timeout", default="500ms")
    p.add_argument("--fall", type=int, default=2)
    p.add_argument("--rise", type=int, default=2)
    p.add_argument("--phase-locked", action="store_true")
    a = p.parse_args()
    ingresses = {n: DemoIngress(h, name=n).start() for n, h in HOSTS.items()}
    check = (lambda url: f'[{{ http: {{ url: "{url}", interval: {a.interval}, timeout: {a.timeout}, '
                         f'fall: {a.fall}, rise: {a.rise} }} }}]')
    g = Gslbd(config({n: check(i.url()) for n, i in ingresses.items()}), extra_files={"networks.yaml": NETWORKS})
    first = lambda: answer(g)[0][0]  # noqa: E731
    fails, rises = [], []
    try:
        with g:
            assert first() == FRA
            def phase():
                if not a.phase_locked:
                    time.sleep(random.uniform(0, seconds(a.interval)))  # a random point of the cycle

            for _ in range(a.trials):
                phase()
                port = ingresses["eu-west"].port
                ingresses["eu-west"].stop()
                fails.append(timed(lambda: first() == IAD, timeout=60))
                phase()
                ingresses["eu-west"] = DemoIngress(HOSTS["eu-west"], port=port).start()
                rises.append(timed(lambda: first() == FRA, timeout=60))
    finally:
        for i in ingresses.values():
            i.stop()
    iv, to = seconds(a.interval), seconds(a.timeout)
    for label, xs, bound in (("failover", fails, a.fall * iv + to), ("recovery", rises, a.rise * iv)):
        print(f"{label}: " + " ".join(f"{x:.3f}" for x in xs))
        print(f"  min {min(xs):.3f}  median {statistics.median(xs):.3f}  max {max(xs):.3f}  "
              f"(spec bound {bound:.3f}s)")


if __name__ == "__main__":
    main()
