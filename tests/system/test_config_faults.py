"""Faults in the files a config names: each is reported precisely, and nothing
that was serving is lost (a reload is refused as a whole)."""
import os

import pytest

from gslb import Gslbd, check_config

CONFIG = """
server:
  listen: [@LISTEN@]
  http: @HTTP@
geo:
  networks: %NETWORKS%
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: h.example.test., minimum: 60 }
    ns: [ns1.example.test.]
    zonefile: %ZONEFILE%
services:
  - { name: app.example.test., clusters: [eu, us] }
clusters:
  eu: { location: { lat: 50.1, lon: 8.7 }, ingress: [203.0.113.1] }
  us: { location: { lat: 38.9, lon: -77.0 }, ingress: [203.0.113.2] }
"""

ZONE = """$TTL 300
www  IN A 192.0.2.80
"""

NETWORKS = """
- { cidr: 198.51.100.0/24, location: { lat: 40.7, lon: -74.0 } }
"""


def config(networks="networks.yaml", zonefile="example.test.zone"):
    return CONFIG.replace("%NETWORKS%", networks).replace("%ZONEFILE%", zonefile)


def serving_as_before(g):
    assert g.dig("www.example.test").rdata("A") == ["192.0.2.80"]
    assert g.dig("app.example.test", "+subnet=198.51.100.0/24").rdata("A") == ["203.0.113.2"]
    assert g.dig("app.example.test", "+subnet=192.0.2.0/24").rdata("A") == ["203.0.113.1"]


@pytest.fixture
def g():
    server = Gslbd(config(), extra_files={"example.test.zone": ZONE, "networks.yaml": NETWORKS})
    with server:
        serving_as_before(server)
        yield server


def write(g, name, text):
    with open(os.path.join(g.dir, name), "w") as f:
        f.write(text)


def refused_reload(g, where):
    """SIGHUP; the reload must be refused naming `where`, and the old data keep serving."""
    out = g.reload()
    assert "reload failed" in out and where in out, out
    serving_as_before(g)


def test_missing_geo_file_at_reload_is_reported_and_the_old_table_serves(g):
    os.remove(os.path.join(g.dir, "networks.yaml"))
    refused_reload(g, os.path.join(g.dir, "networks.yaml"))


def test_unreadable_geo_file_at_reload_is_reported(g):
    os.remove(os.path.join(g.dir, "networks.yaml"))
    os.mkdir(os.path.join(g.dir, "networks.yaml"))  # root reads any file; a directory it cannot
    refused_reload(g, "networks.yaml")


def test_bad_networks_entry_at_reload_names_its_line(g):
    write(g, "networks.yaml", NETWORKS + "- { cidr: 10.0.0.0/33, location: { lat: 1, lon: 2 } }\n")
    refused_reload(g, "networks.yaml:3")


def test_zone_file_syntax_error_at_reload_names_file_and_line(g):
    write(g, "example.test.zone", ZONE + "new  IN A 192.0.2.81\nbad  IN A 999.1.1.1\n")
    refused_reload(g, "example.test.zone:4")
    assert g.dig("new.example.test").status == "NXDOMAIN"  # nothing of the bad file was taken
    _, metrics = g.http_get("/metrics")
    assert 'gslb_config_reloads_total{result="failure"} 1' in metrics


def test_corrupt_state_file_is_reported_and_ignored_at_start():
    g = Gslbd(config(), extra_files={"example.test.zone": ZONE, "networks.yaml": NETWORKS})
    write(g, "gslbd.yaml.state", "\x00\x01 this is not a drain state file\n")
    g.start()
    try:
        assert "gslbd.yaml.state" in g.log_text() and "ignoring" in g.log_text()
        serving_as_before(g)
    finally:
        g.stop()


def test_bad_config_at_start_exits_with_the_reason():
    g = Gslbd(config(zonefile="missing.zone"), extra_files={"networks.yaml": NETWORKS})
    g.start(expect_ready=False)
    assert g.proc.wait(timeout=30) == 1
    assert "missing.zone" in g.log_text() and "cannot open" in g.log_text()


# Errors the loader finds in the config itself (issue 10 item 1): a reload is refused
# at file:line:column naming the key, the old config keeps serving, and
# --check-config says the same.
def _eu(text):
    return config().replace("eu: { location: { lat: 50.1, lon: 8.7 }, ingress: [203.0.113.1] }", text)


CONFIG_ERRORS = {
    "duplicate cluster": (config().replace("  us: {", "  eu: { ingress: [203.0.113.3] }\n  us: {"),
                          "eu: { ingress: [203.0.113.3]", "clusters.eu: duplicate key (first written at "),
    "ingress not an address": (_eu("eu: { location: { lat: 50.1, lon: 8.7 }, ingress: [203.0.113.400] }"), "203.0.113.400",
                               'clusters.eu.ingress[0]: "203.0.113.400" is not an IPv4 address'),
    "duration overflow": (config().replace("  http: @HTTP@\n", "  http: @HTTP@\n  tcp_idle_timeout: 307445734561826m\n"),
                          "307445734561826m", 'server.tcp_idle_timeout: must be at most 7d, got "307445734561826m"'),
    "unknown country": (_eu("eu: { location: { country: XX }, ingress: [203.0.113.1] }"), "XX",
                        'clusters.eu.location.country: unknown country code "XX" (not in the countries table)'),
    "dns check type": (_eu("eu:\n    ingress: [203.0.113.1]\n    checks: [{ dns: { server: 127.0.0.1, name: x., type: AAAAA } }]"),
                       "AAAAA", 'clusters.eu.checks[0].dns.type: expected a query type'),
    "dns check rcode": (_eu("eu:\n    ingress: [203.0.113.1]\n    checks: [{ dns: { server: 127.0.0.1, name: x., rcode: NOERRR } }]"),
                        "NOERRR", 'clusters.eu.checks[0].dns.rcode: expected an rcode'),
    "dns check address": (_eu("eu:\n    ingress: [203.0.113.1]\n    checks: [{ dns: { server: 127.0.0.1, name: x., address: not-an-ip } }]"),
                          "not-an-ip", 'clusters.eu.checks[0].dns.address: expected an IPv4 address'),
}


def _where(g, text, anchor):
    rendered = g.render(text)
    at = rendered.index(anchor)
    return f"{g.config_path}:{rendered.count(chr(10), 0, at) + 1}:{at - (rendered.rfind(chr(10), 0, at) + 1) + 1}: "


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_config_error_refuses_the_reload_and_check_config_alike(g, case):
    text, anchor, reason = CONFIG_ERRORS[case]
    where = _where(g, text, anchor)
    write(g, "gslbd.yaml", g.render(text))
    checked = check_config(g.config_path)
    assert checked.returncode == 1 and where + reason in checked.stderr, checked.stderr
    refused_reload(g, where + reason)
