"""GET /metrics: passes `promtool check metrics`, has every family the spec and
README promise with the right types and labels, and its counts move exactly by the
queries the test sends; probe counters, the duration histogram, cluster up and
state changes follow the real ingresses; reloads are counted. Then a real
Prometheus server scrapes gslbd every second and its query API shows
gslb_cluster_up for each cluster with the right value, also after a change."""
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from gslb import ROOT, Gslbd, free_port, wait_until
from ingress import (FRA, NETWORKS, SERVICE, TYO, HttpIngress, closed_port, config, metric_value)

HOSTS = {"eu-west": "127.0.0.11", "us-east": "127.0.0.12", "ap-northeast": "127.0.0.13"}
ZONE = "global.example.test."
# 198.51.100.0/24 (as an ECS subnet) is in Tokyo.
NETWORKS_ECS = NETWORKS + "- { cidr: 198.51.100.0/24, location: { lat: 35.7, lon: 139.7 } }\n"


@pytest.fixture(scope="module")
def world():
    eu = HttpIngress(HOSTS["eu-west"]).start()
    ap = HttpIngress(HOSTS["ap-northeast"]).start()
    checks = {"eu-west": f'[{{ http: {{ url: "{eu.url()}", interval: 500ms, timeout: 300ms, rise: 2, fall: 2 }} }}]',
              # nothing listens here: us-east is down
              "us-east": f'[{{ tcp: {{ address: "{HOSTS["us-east"]}:{closed_port(HOSTS["us-east"])}", '
                         'interval: 500ms, timeout: 300ms } }]',
              "ap-northeast": f'[{{ http: {{ url: "{ap.url()}", interval: 500ms, timeout: 300ms }} }}]'}
    text = config(checks)
    g = Gslbd(text, extra_files={"networks.yaml": NETWORKS_ECS})
    g.config_text = text
    g.start()
    yield g, eu, ap
    g.stop()
    eu.stop()
    ap.stop()


def scrape(g):
    code, text = g.http_get("/metrics")
    assert code == 200
    return text


def test_promtool_check_metrics(world):
    g, _, _ = world
    g.dig(SERVICE)  # so every family has samples
    text = scrape(g)
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "" and out.stderr.strip() == "", out


def test_families_types_and_labels(world):
    g, _, _ = world
    g.dig(SERVICE)
    text = scrape(g)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    expected = {
        "gslb_queries_total": "counter", "gslb_answers_total": "counter", "gslb_cluster_up": "gauge",
        "gslb_checks_total": "counter", "gslb_probe_duration_seconds": "histogram",
        "gslb_cluster_state_changes_total": "counter", "gslb_config_reloads_total": "counter",
        "gslb_build_info": "gauge",
    }
    for name, kind in expected.items():
        assert types.get(name) == kind, (name, types.get(name))
        assert re.search(r"^# HELP " + name + r" \S", text, re.M), name
    assert re.search(r'^gslb_queries_total\{zone="global\.example\.test\.",qtype="A",rcode="NOERROR"\} \d+', text, re.M)
    assert re.search(r'^gslb_answers_total\{service="app\.global\.example\.test\.",cluster="eu-west"\} \d+', text, re.M)
    assert re.search(r'^gslb_build_info\{version="[^"]+"\} 1$', text, re.M), text
    for result in ("success", "failure"):
        assert re.search(r'^gslb_config_reloads_total\{result="' + result + r'"\} \d+', text, re.M)
    for name in HOSTS:
        assert re.search(r'^gslb_cluster_up\{cluster="' + name + r'"\} [01]$', text, re.M), name
        for state in ("up", "down"):
            assert re.search(r'^gslb_cluster_state_changes_total\{cluster="' + name + r'",state="' + state + r'"\} \d+',
                             text, re.M), (name, state)
    # histogram: cumulative buckets ending in +Inf == _count, one per kind of check (one
    # per check made /metrics 28.8 MB at 10,000 checks); per check the last duration
    for kind in ("http", "tcp", "dns"):
        buckets = [(float(le), float(v)) for le, v in re.findall(
            r'^gslb_probe_duration_seconds_bucket\{kind="' + kind + r'",le="([^"]+)"\} (\S+)$', text, re.M)]
        assert len(buckets) >= 5 and buckets[-1][0] == float("inf"), buckets
        assert [le for le, _ in buckets] == sorted(le for le, _ in buckets)
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
        count = metric_value(text, "gslb_probe_duration_seconds_count", kind=kind)
        assert buckets[-1][1] == count >= (0 if kind == "dns" else 1), (kind, buckets, count)
        if kind != "dns":
            assert metric_value(text, "gslb_probe_duration_seconds_sum", kind=kind) > 0
            # loopback probes are well under the 300 ms timeout
            assert dict(buckets)[0.25] == count, buckets
    assert not re.search(r'^gslb_probe_duration_seconds_bucket\{check=', text, re.M)
    for cluster, kind in (("eu-west", "http"), ("us-east", "tcp"), ("ap-northeast", "http")):
        assert 0 < metric_value(text, "gslb_check_duration_seconds", cluster=cluster, check=kind + "0") < 0.3


def test_gzip_when_the_scraper_takes_it(world):
    """Prometheus sends Accept-Encoding: gzip on every scrape: /metrics then comes
    compressed (the same text, several times smaller); plain without it."""
    g, _, _ = world

    def get(encoding):
        request = urllib.request.Request(f"http://127.0.0.1:{g.http_port}/metrics")
        if encoding:
            request.add_header("Accept-Encoding", encoding)
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.headers, r.read()

    headers, body = get("gzip, deflate")
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding", headers
    text = gzip.decompress(body).decode()
    assert metric_value(text, "gslb_cluster_up", cluster="eu-west") == 1
    assert len(body) * 3 < len(text.encode()), (len(body), len(text))
    for plain in (None, "identity", "gzip;q=0"):
        headers, body = get(plain)
        assert headers["Content-Encoding"] is None, (plain, headers)
        assert metric_value(body.decode(), "gslb_cluster_up", cluster="eu-west") == 1


def test_operator_families(world):
    """The series the shipped alerts and dashboard are built on, with their values."""
    g, _, _ = world
    text = scrape(g)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name, kind in {
        "gslb_service_clusters": "gauge", "gslb_service_clusters_up": "gauge", "gslb_cluster_healthy": "gauge",
        "gslb_cluster_drained": "gauge", "gslb_check_up": "gauge", "gslb_check_failures_total": "counter",
        "gslb_config_last_reload_successful": "gauge", "gslb_config_last_reload_timestamp_seconds": "gauge",
        "gslb_config_info": "gauge", "gslb_service_queries_total": "counter", "gslb_fail_open_answers_total": "counter",
        "gslb_geo_prefixes": "gauge", "gslb_geo_build_seconds": "gauge", "gslb_state_file_errors_total": "counter",
        "process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
        "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge", "process_max_fds": "gauge",
        "process_start_time_seconds": "gauge",
    }.items():
        assert types.get(name) == kind, (name, types.get(name))
    assert metric_value(text, "gslb_service_clusters", service=SERVICE) == 3
    assert metric_value(text, "gslb_service_clusters_up", service=SERVICE) == 2  # us-east is down
    assert metric_value(text, "gslb_cluster_healthy", cluster="us-east") == 0
    assert metric_value(text, "gslb_cluster_drained", cluster="us-east") == 0
    assert metric_value(text, "gslb_check_up", cluster="eu-west", check="http0") == 1
    assert metric_value(text, "gslb_check_up", cluster="us-east", check="tcp0") == 0
    refused = metric_value(text, "gslb_check_failures_total", cluster="us-east", check="tcp0", reason="refused")
    assert refused >= 1
    assert refused == metric_value(text, "gslb_check_failures_total", cluster="us-east", check="tcp0")
    # every reason its kind reports is exposed from the start (so rate() sees the first
    # failure), and only those
    reasons = set(re.findall(r'^gslb_check_failures_total\{check="tcp0",cluster="us-east",reason="(\w+)"\}', text, re.M))
    assert reasons == {"timeout", "refused", "connect", "resolve", "local"}
    reasons = set(re.findall(r'^gslb_check_failures_total\{check="http0",cluster="eu-west",reason="(\w+)"\}', text, re.M))
    assert reasons == {"timeout", "refused", "connect", "resolve", "tls", "protocol", "status", "body", "local"}
    assert metric_value(text, "gslb_config_last_reload_successful") == 1
    assert abs(metric_value(text, "gslb_config_last_reload_timestamp_seconds") - time.time()) < 600
    with open(g.config_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    serial = int(os.stat(g.config_path).st_mtime)  # the default SOA serial
    assert re.search(r'^gslb_config_info\{hash="' + digest + r'",serial="' + str(serial) + r'"\} 1$', text, re.M), text
    assert metric_value(text, "gslb_geo_prefixes") >= 1
    assert 0 < metric_value(text, "gslb_geo_build_seconds") < 10
    assert metric_value(text, "gslb_state_file_errors_total") == 0
    with open(f"/proc/{g.proc.pid}/stat") as f:
        rss_pages = int(f.read().rsplit(")", 1)[1].split()[21])
    rss = metric_value(text, "process_resident_memory_bytes")
    assert 0.5 < rss / (rss_pages * os.sysconf("SC_PAGE_SIZE")) < 2
    assert abs(metric_value(text, "process_start_time_seconds") - time.time()) < 600
    assert metric_value(text, "process_open_fds") == len(os.listdir(f"/proc/{g.proc.pid}/fd")) or \
        abs(metric_value(text, "process_open_fds") - len(os.listdir(f"/proc/{g.proc.pid}/fd"))) <= 2
    assert metric_value(text, "process_max_fds") >= 1024


def test_fail_open_and_drain_gauges(world):
    """Draining the two healthy clusters leaves the service with none up: the answer
    fails open, and the gauges tell drained from unhealthy."""
    g, _, _ = world
    before = scrape(g)
    for name in ("eu-west", "ap-northeast"):
        assert g.http_post(f"/clusters/{name}/drain")[0] == 200
    try:
        # what the workers answer from, which takes the drain within 100 ms
        wait_until(lambda: metric_value(scrape(g), "gslb_service_clusters_up", service=SERVICE) == 0, timeout=5,
                   what="gslb_service_clusters_up 0")
        text = scrape(g)
        assert metric_value(text, "gslb_cluster_drained", cluster="eu-west") == 1
        assert metric_value(text, "gslb_cluster_healthy", cluster="eu-west") == 1
        assert metric_value(text, "gslb_cluster_up", cluster="eu-west") == 0
        for _ in range(3):
            assert g.dig(SERVICE, "A").rdata("A") == [FRA]  # in ranked order, as if all were up
        opened = metric_value(scrape(g), "gslb_fail_open_answers_total", service=SERVICE) - \
            metric_value(before, "gslb_fail_open_answers_total", service=SERVICE)
        assert opened == 3
    finally:
        for name in ("eu-west", "ap-northeast"):
            assert g.http_post(f"/clusters/{name}/undrain")[0] == 200
    wait_until(lambda: metric_value(scrape(g), "gslb_service_clusters_up", service=SERVICE) == 2, timeout=5,
               what="gslb_service_clusters_up 2")
    assert metric_value(scrape(g), "gslb_cluster_drained", cluster="eu-west") == 0


def test_drain_that_cannot_be_saved_answers_500_and_changes_nothing(tmp_path):
    text = config({}, server_extra=f"  state_file: {tmp_path}/no-such-directory/drain")
    with Gslbd(text, extra_files={"networks.yaml": NETWORKS}) as g:
        code, body = g.http_post("/clusters/eu-west/drain")
        assert code == 500 and "cannot be saved" in body and "no-such-directory" in body, (code, body)
        text = scrape(g)
        assert metric_value(text, "gslb_cluster_drained", cluster="eu-west") == 0
        assert metric_value(text, "gslb_state_file_errors_total") == 1
        assert g.dig(SERVICE, "A").rdata("A") == [FRA]


def test_query_and_answer_counts_move_exactly(world):
    g, _, _ = world
    before = scrape(g)
    for _ in range(5):
        assert g.dig(SERVICE, "A").rdata("A") == [FRA]
    for _ in range(3):
        assert g.dig(SERVICE, "A", "+subnet=198.51.100.0/24").rdata("A") == [TYO]
    for _ in range(4):
        assert g.dig("nope." + ZONE, "A").status == "NXDOMAIN"
    for _ in range(2):
        assert g.dig(SERVICE, "AAAA").status == "NOERROR"  # no IPv6 ingress: NODATA
    assert g.dig("ns1." + ZONE, "A", "+tcp").status == "NOERROR"
    after = scrape(g)

    def delta(name, **labels):
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("gslb_queries_total", zone=ZONE, qtype="A", rcode="NOERROR") == 5 + 3 + 1
    assert delta("gslb_queries_total", zone=ZONE, qtype="A", rcode="NXDOMAIN") == 4
    assert delta("gslb_queries_total", zone=ZONE, qtype="AAAA", rcode="NOERROR") == 2
    assert delta("gslb_queries_total") == 5 + 3 + 4 + 2 + 1
    assert delta("gslb_answers_total", service=SERVICE, cluster="eu-west") == 5
    assert delta("gslb_answers_total", service=SERVICE, cluster="ap-northeast") == 3
    assert delta("gslb_answers_total", service=SERVICE, cluster="us-east") == 0
    assert delta("gslb_service_queries_total", service=SERVICE, qtype="A", rcode="NOERROR") == 5 + 3
    assert delta("gslb_service_queries_total", service=SERVICE, qtype="AAAA", rcode="NOERROR") == 2
    assert delta("gslb_service_queries_total") == 5 + 3 + 2
    assert delta("gslb_transport_queries_total", transport="udp") == 14
    assert delta("gslb_transport_queries_total", transport="tcp") == 1


def test_probe_counters_and_state_changes_follow_the_ingresses(world):
    g, eu, _ = world
    text = scrape(g)
    assert metric_value(text, "gslb_cluster_up", cluster="eu-west") == 1
    assert metric_value(text, "gslb_cluster_up", cluster="us-east") == 0
    assert metric_value(text, "gslb_cluster_up", cluster="ap-northeast") == 1
    assert metric_value(text, "gslb_checks_total", cluster="us-east", result="success") == 0
    # probes keep counting
    ok0 = metric_value(text, "gslb_checks_total", cluster="eu-west", result="success")
    bad0 = metric_value(text, "gslb_checks_total", cluster="us-east", result="failure")
    wait_until(lambda: metric_value(scrape(g), "gslb_checks_total", cluster="eu-west", result="success") >= ok0 + 2
               and metric_value(scrape(g), "gslb_checks_total", cluster="us-east", result="failure") >= bad0 + 2,
               timeout=5, what="probe counters to move")
    # eu-west fails: up 0, one more change to down, failures counted
    downs = metric_value(text, "gslb_cluster_state_changes_total", cluster="eu-west", state="down")
    ups = metric_value(text, "gslb_cluster_state_changes_total", cluster="eu-west", state="up")
    eu.status = 500
    try:
        wait_until(lambda: metric_value(scrape(g), "gslb_cluster_up", cluster="eu-west") == 0, timeout=5,
                   what="gslb_cluster_up{eu-west} 0")
        text = scrape(g)
        assert metric_value(text, "gslb_cluster_state_changes_total", cluster="eu-west", state="down") == downs + 1
        assert metric_value(text, "gslb_checks_total", cluster="eu-west", result="failure") >= 2
    finally:
        eu.status = 200
    wait_until(lambda: metric_value(scrape(g), "gslb_cluster_up", cluster="eu-west") == 1, timeout=5,
               what="gslb_cluster_up{eu-west} 1")
    assert metric_value(scrape(g), "gslb_cluster_state_changes_total", cluster="eu-west", state="up") == ups + 1


def test_reloads_counted(world):
    g, _, _ = world
    text = scrape(g)
    ok, bad = (metric_value(text, "gslb_config_reloads_total", result=r) for r in ("success", "failure"))
    assert "reloaded" in g.reload()
    loaded_at = metric_value(scrape(g), "gslb_config_last_reload_timestamp_seconds")
    assert "reload failed" in g.reload(g.config_text.replace("policy: nearest", "policy: nearset"))
    text = scrape(g)
    assert metric_value(text, "gslb_config_last_reload_successful") == 0
    # still the configuration that loaded last
    assert metric_value(text, "gslb_config_last_reload_timestamp_seconds") == loaded_at
    assert len(re.findall(r"^gslb_config_info\{", text, re.M)) == 1
    edited = g.config_text.replace("ttl: 30", "ttl: 31")
    g.reload(edited)
    text = scrape(g)
    assert metric_value(text, "gslb_config_last_reload_successful") == 1
    with open(g.config_path, "rb") as f:
        assert re.findall(r'^gslb_config_info\{hash="(\w+)"', text, re.M) == [hashlib.sha256(f.read()).hexdigest()]
    g.reload(g.config_text)
    text = scrape(g)
    assert metric_value(text, "gslb_config_reloads_total", result="success") == ok + 3
    assert metric_value(text, "gslb_config_reloads_total", result="failure") == bad + 1
    # a reload with the same checks keeps the probe counters (no reset to 0)
    assert metric_value(text, "gslb_checks_total", cluster="eu-west", result="success") > 0


HEALTH_FAMILIES = ("gslb_cluster_up", "gslb_cluster_healthy", "gslb_cluster_drained", "gslb_cluster_state_changes_total",
                   "gslb_check_up", "gslb_checks_total", "gslb_check_failures_total", "gslb_check_duration_seconds")
MANY = 3000


def health_lines(text):
    """The samples of the per-cluster and per-check health families."""
    return [line for line in text.splitlines() if line.split("{", 1)[0] in HEALTH_FAMILIES]


def test_compact_health_metrics_at_thousands_of_checks(tmp_path):
    """server.health_metrics: compact keeps /metrics under 2 MB at 10,000 checks (issue
    11 item 6): measured at 3,000 clusters of one TCP check each (names as long as
    bench/probe_bench.py's), every cluster has its three gauges and nothing else
    until it changes, a cluster of two checks has their up gauges too; the aggregate
    failure counter still counts by reason; a reload to full brings every per-check
    series back, with the counts made meanwhile."""
    up = HttpIngress(HOSTS["eu-west"]).start()
    port = closed_port("127.0.0.1")
    closed = f'{{ tcp: {{ address: "127.0.0.1:{port}", interval: 10s, timeout: 1s }} }}'
    clusters = "".join(f"  p{i}:\n    ingress: [192.0.2.{1 + i % 250}]\n    initial_state: down\n"
                       f"    checks: [{closed}{', ' + closed if i == 1 else ''}]\n" for i in range(1, MANY))
    text = f"""
server:
  listen: [@LISTEN@]
  http: @HTTP@
  health_metrics: compact
zones:
  - origin: {ZONE}
    soa: {{ mname: ns1.{ZONE}, rname: hostmaster.{ZONE}, minimum: 60 }}
    ns: [ns1.{ZONE}]
    records: |
      ns1 3600 IN A 192.0.2.53
services:
  - {{ name: app.{ZONE}, policy: failover, clusters: [p0] }}
clusters:
  p0:
    ingress: [192.0.2.1]
    checks: [{{ http: {{ url: "{up.url()}", interval: 500ms, timeout: 300ms }} }}]
{clusters}"""
    g = Gslbd(text, workdir=str(tmp_path))
    try:
        g.start()
        # every closed-port check has failed once
        wait_until(lambda: metric_value(scrape(g), "gslb_probe_failures_total", kind="tcp", reason="refused") >= MANY,
                   timeout=30, what="a refused probe of every TCP check")
        metrics = scrape(g)
        out = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == "" and out.stderr.strip() == "", out
        lines = health_lines(metrics)
        families = {line.split("{", 1)[0] for line in lines}
        assert families == {"gslb_cluster_up", "gslb_cluster_healthy", "gslb_cluster_drained", "gslb_check_up",
                            "gslb_cluster_state_changes_total"}, families
        # p0's first probe made it up (one change); the others started down and stayed so
        assert [line for line in lines if line.startswith("gslb_cluster_state_changes_total")] == [
            'gslb_cluster_state_changes_total{cluster="p0",state="up"} 1']
        assert metric_value(metrics, "gslb_cluster_up", cluster="p0") == 1
        assert [line for line in lines if line.startswith("gslb_check_up")] == [
            'gslb_check_up{check="tcp0",cluster="p1"} 0', 'gslb_check_up{check="tcp1",cluster="p1"} 0']
        for i in range(MANY):
            own = [line for line in lines if f'cluster="p{i}"' in line and line.startswith("gslb_cluster_")]
            assert len(own) == (4 if i == 0 else 3), own
        size = sum(len(line) + 1 for line in lines)
        assert size * 10000 / MANY < 2e6, f"{size} bytes of health series for {MANY} clusters"

        assert "reloaded" in g.reload(text.replace("health_metrics: compact", "health_metrics: full"))
        metrics = scrape(g)
        lines = health_lines(metrics)
        assert {line.split("{", 1)[0] for line in lines} == set(HEALTH_FAMILIES)
        assert metric_value(metrics, "gslb_check_failures_total", cluster="p2", check="tcp0", reason="refused") >= 1
        assert metric_value(metrics, "gslb_checks_total", cluster="p0", check="http0", result="success") >= 1
        assert metric_value(metrics, "gslb_cluster_state_changes_total", cluster="p2", state="down") == 0
        # 3 gauges and 4 change counters a cluster; a TCP check's up, 2 results, 5 reasons, its duration
        assert len([line for line in lines if 'cluster="p2"' in line]) == 7 + 9
    finally:
        g.stop()
        up.stop()


def prom_api(port, path, **params):
    url = f"http://127.0.0.1:{port}/api/v1/{path}?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
    except OSError:
        return None
    return doc["data"] if doc.get("status") == "success" else None


def prom_query(port, query):
    data = prom_api(port, "query", query=query)
    if data is None:
        return None
    return {s["metric"].get("cluster"): float(s["value"][1]) for s in data["result"]}


ALERTS = os.path.join(ROOT, "conf", "prometheus", "gslbd-alerts.yml")
DASHBOARD = os.path.join(ROOT, "conf", "prometheus", "gslbd-dashboard.json")


@pytest.fixture(scope="module")
def prometheus(world, tmp_path_factory):
    """A real Prometheus on loopback scraping gslbd every second, with the shipped
    alert rules loaded; yields its port."""
    g, _, _ = world
    d = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    cfg = d / "prometheus.yml"
    cfg.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ["{ALERTS}"]
scrape_configs:
  - job_name: gslbd
    static_configs:
      - targets: ["127.0.0.1:{g.http_port}"]
""")
    out = subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    log = open(d / "prometheus.log", "w")
    proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={d / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or prom_query(port, 'up{job="gslbd"}') == {None: 1.0},
                   timeout=45, interval=0.25, what="Prometheus to scrape gslbd")
        assert proc.poll() is None, (d / "prometheus.log").read_text()
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_prometheus_scrapes_gslbd(world, prometheus):
    g, eu, _ = world
    port = prometheus
    want = {"eu-west": 1.0, "us-east": 0.0, "ap-northeast": 1.0}
    wait_until(lambda: prom_query(port, "gslb_cluster_up") == want, timeout=15, interval=0.25,
               what="Prometheus to show gslb_cluster_up for each cluster")
    assert prom_query(port, 'gslb_build_info') == {None: 1.0}
    # a change reaches Prometheus: eu-west fails
    eu.status = 503
    try:
        wait_until(lambda: (prom_query(port, "gslb_cluster_up") or {}).get("eu-west") == 0.0, timeout=15,
                   interval=0.25, what="Prometheus to see eu-west down")
    finally:
        eu.status = 200
    wait_until(lambda: prom_query(port, "gslb_cluster_up") == want, timeout=15, interval=0.25,
               what="Prometheus to see eu-west up again")


def test_alert_rules_evaluate_on_live_data(prometheus):
    """Every shipped rule loads into Prometheus and evaluates without error against
    gslbd's real series; us-east (its check refused) is pending or firing as down."""
    def rules():
        data = prom_api(prometheus, "rules")
        return [r for grp in (data or {}).get("groups", []) for r in grp["rules"]]
    # an unevaluated rule's lastEvaluation is Go's zero time, 0001-01-01
    wait_until(lambda: len(rules()) == 9 and all(not r["lastEvaluation"].startswith("0001") for r in rules()),
               timeout=15, interval=0.25, what="every rule evaluated")
    assert all(r["health"] == "ok" for r in rules()), [(r["name"], r.get("lastError")) for r in rules()]
    wait_until(lambda: any(a["labels"].get("cluster") == "us-east" for r in rules() if r["name"] == "GslbClusterDown"
                           for a in r["alerts"]), timeout=15, interval=0.25, what="GslbClusterDown for us-east")


def dashboard_queries():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert panels and all(p.get("title") and p.get("targets") for p in panels)
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def test_every_dashboard_query_returns_data(world, prometheus):
    """Each PromQL expression of the shipped Grafana dashboard, with its template
    variables as Grafana fills them for "All", gives data from a live gslbd."""
    g, _, _ = world
    queries = dashboard_queries()
    assert len(queries) >= 20

    def run(expr):
        expr = expr.replace("$__rate_interval", "10s").replace("$instance", ".*").replace("$job", "gslbd")
        data = prom_api(prometheus, "query", query=expr)
        return data is not None and len(data["result"]) > 0

    missing = queries
    deadline = time.monotonic() + 30
    while missing and time.monotonic() < deadline:
        for _ in range(3):  # fresh queries inside the rate window
            g.dig(SERVICE, "A")
            g.dig("nope." + ZONE, "A")
        missing = [(title, expr) for title, expr in missing if not run(expr)]
        if missing:
            time.sleep(0.5)  # polling interval: the next scrape is a second away
    assert not missing, missing
