"""A signed service domain validated end to end: a local chain of trust from a
signed root through a signed example.com. (both served by Knot, signed with
ldns-signzone) to global.example.com., served and signed by gslbd with the DS
that `gslbd --print-ds` prints, resolved by a validating unbound and checked by
delv and unbound-host with the root's trust anchor; the answers that depend on the
denial chain are checked with NSEC and with NSEC3 (a reload switches gslbd's
chain), and DNSViz analyses the zone.

On one random 127.a.b.0/24 (glue carries no port, so the servers need port 53):
  .2:53  Knot: ".", "example.com." (signed), "sub.global.example.com." (unsigned child)
  .3:53  gslbd: global.example.com. and broken.example.com. (whose DS in the parent is wrong)
  .4     unbound, validating, iterating from root hints that point at .2
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from gslb import BINARY, Gslbd, wait_until
from ingress import HttpIngress
from resolvers import Knot, Unbound, can_bind, dig, random_loopback_net

NET = random_loopback_net()
KNOT, GSLBD, UNBOUND = f"{NET}.2", f"{NET}.3", f"{NET}.4"
TOKYO, FRANKFURT = "198.51.100.0/24", "192.0.2.0/24"  # client subnets sent as ECS only
FRA4, IAD4, TYO4 = "203.0.113.10", "203.0.113.20", "203.0.113.30"

NETWORKS = f"""- {{ cidr: {TOKYO}, location: {{ lat: 35.68, lon: 139.69 }} }}
- {{ cidr: {FRANKFURT}, location: {{ lat: 50.11, lon: 8.68 }} }}
"""


def gslbd_config(keys, checks, denial="nsec"):
    return f"""
server:
  listen: ["{GSLBD}:53"]
  workers: 1
  http: @HTTP@
geo:
  networks: networks.yaml
zones:
  - origin: global.example.com.
    soa: {{ mname: ns1.global.example.com., rname: hostmaster.global.example.com., minimum: 60 }}
    ns: [ns1.global.example.com.]
    dnssec: {{ keys: [{", ".join(keys['global'])}], denial: {denial} }}
    records: |
      ns1    3600 IN A     {GSLBD}
      www    300  IN CNAME app
      static 300  IN A     192.0.2.80
      *.wild 300  IN TXT   "wild"
      sub    300  IN NS    ns.sub
      ns.sub 300  IN A     {KNOT}
  - origin: broken.example.com.
    soa: {{ mname: ns1.global.example.com., rname: hostmaster.global.example.com., minimum: 60 }}
    ns: [ns1.global.example.com.]
    dnssec: {{ keys: [{keys['broken'][0]}] }}
    records: |
      www    300  IN A     192.0.2.81
services:
  - name: app.global.example.com.
    ttl: 1
    transition_ttl: 1
    policy: nearest
    clusters: [eu-west, us-east, ap-northeast]
clusters:
  eu-west:
    location: {{ lat: 50.11, lon: 8.68 }}
    ingress: [{FRA4}]
    checks: [{{ http: {{ url: "{checks[0]}", interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }} }}]
  us-east:
    location: {{ lat: 38.9, lon: -77.04 }}
    ingress: [{IAD4}]
    checks: [{{ http: {{ url: "{checks[1]}", interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }} }}]
  ap-northeast:
    location: {{ lat: 35.68, lon: 139.69 }}
    ingress: [{TYO4}]
    checks: [{{ http: {{ url: "{checks[2]}", interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }} }}]
"""


def run(*cmd, cwd=None):
    r = subprocess.run(list(cmd), capture_output=True, text=True, cwd=cwd, timeout=60)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stdout}{r.stderr}"
    return r.stdout


def keygen(directory, zone, ksk):
    """ldns-keygen in `directory`; returns the key pair's base path."""
    base = run("ldns-keygen", "-a", "ECDSAP256SHA256", *(["-k"] if ksk else []), zone, cwd=directory).strip()
    for f in os.listdir(directory):
        if f.endswith(".ds"):
            os.remove(os.path.join(directory, f))
    return os.path.join(directory, base)


def sign(directory, origin, text, *keys):
    """The zone text signed by ldns-signzone (NSEC, four weeks of validity)."""
    path = os.path.join(directory, (origin.strip(".") or "root") + ".zone")
    with open(path, "w") as f:
        f.write(text)
    run("ldns-signzone", "-o", origin, path, *keys, cwd=directory)
    with open(path + ".signed") as f:
        return f.read()


def dnskey_line(base):
    with open(base + ".key") as f:
        return f.read().split(";")[0].strip()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    for addr in (KNOT, GSLBD):
        if not can_bind(addr, 53):
            pytest.skip(f"cannot bind {addr}:53 (needs root or CAP_NET_BIND_SERVICE): glue carries no port")
    base = tmp_path_factory.mktemp("dnssec")
    keydir, knotdir, gdir, udir = (base / d for d in ("keys", "knot", "gslbd", "unbound"))
    for d in (keydir, knotdir, gdir, udir):
        d.mkdir()
    keys = {"global": [keygen(keydir, "global.example.com", True), keygen(keydir, "global.example.com", False)],
            "broken": [keygen(keydir, "broken.example.com", True)]}
    ingresses = [HttpIngress("127.0.0.1").start() for _ in range(3)]
    g = Gslbd(gslbd_config(keys, [i.url() for i in ingresses]), workdir=str(gdir),
              extra_files={"networks.yaml": NETWORKS})
    g.port = 53
    ds = subprocess.run([BINARY, "--print-ds", "-c", g.config_path], capture_output=True, text=True, timeout=60)
    assert ds.returncode == 0, ds.stderr
    ds_lines = ds.stdout.strip().splitlines()
    assert len(ds_lines) == 2 and all("\tDS\t" in line for line in ds_lines), ds.stdout
    good = [line for line in ds_lines if line.startswith("global.")]
    # The parent's DS for broken.example.com. names the key but carries a wrong digest.
    bad = [re.sub(r"([0-9A-Fa-f])$", lambda m: "0" if m.group(1) != "0" else "1", line)
           for line in ds_lines if line.startswith("broken.")]

    example_ksk = keygen(keydir, "example.com", True)
    root_ksk = keygen(keydir, ".", True)
    example = sign(str(keydir), "example.com.", f"""$ORIGIN example.com.
$TTL 3600
@          IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60
@          IN NS  ns.example.com.
ns         IN A   {KNOT}
global     IN NS  ns1.global.example.com.
ns1.global IN A   {GSLBD}
broken     IN NS  ns1.global.example.com.
{chr(10).join(good + bad)}
""", example_ksk)
    example_ds = run("ldns-key2ds", "-n", "-2", example_ksk + ".key").strip()
    root = sign(str(keydir), ".", f"""$ORIGIN .
$TTL 3600
.                    IN SOA a.root-servers.test. hostmaster.root-servers.test. 1 3600 600 86400 60
.                    IN NS  a.root-servers.test.
a.root-servers.test. IN A   {KNOT}
example.com.         IN NS  ns.example.com.
ns.example.com.      IN A   {KNOT}
{example_ds}
""", root_ksk)
    child = f"""$ORIGIN sub.global.example.com.
$TTL 300
@   IN SOA ns.sub.global.example.com. hostmaster.example.com. 1 3600 600 86400 60
@   IN NS  ns.sub.global.example.com.
ns  IN A   {KNOT}
www IN A   192.0.2.90
"""
    knot = Knot(KNOT, 53, {".": root, "example.com.": example, "sub.global.example.com.": child},
                workdir=str(knotdir))
    anchor = dnskey_line(root_ksk)
    hints = udir / "root.hints"
    hints.write_text(f".  3600 IN NS a.root-servers.test.\na.root-servers.test. 3600 IN A {KNOT}\n")
    anchor_file = udir / "root.anchor"
    anchor_file.write_text(anchor + "\n")
    unbound = Unbound(UNBOUND, workdir=str(udir), body=f"""    root-hints: "{hints}"
    trust-anchor-file: "{anchor_file}"
    outgoing-interface: {UNBOUND}
    module-config: "subnetcache validator iterator"
    send-client-subnet: {GSLBD}
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
    val-log-level: 2
    qname-minimisation: no
""")
    started = []
    try:
        for p in (knot, g, unbound):
            p.start()
            started.append(p)
        yield {"knot": knot, "gslbd": g, "unbound": unbound, "ingresses": ingresses, "anchor": anchor,
               "hints": str(hints), "anchor_file": str(anchor_file), "dir": str(udir), "keys": keys,
               "keydir": str(keydir), "checks": [i.url() for i in ingresses]}
    finally:
        for p in reversed(started):
            p.stop()
        for i in ingresses:
            i.stop()


@pytest.fixture(params=["nsec", "nsec3"])
def chain(world, request):
    """The world with gslbd's global.example.com. denied by NSEC or by NSEC3 (RFC
    9276 parameters): switched by a reload, and back to NSEC after the test."""
    g = world["gslbd"]
    if request.param != "nsec":
        assert "reloaded" in g.reload(gslbd_config(world["keys"], world["checks"], request.param))
    r = dig(GSLBD, 53, "+norec", "+dnssec", "global.example.com", "NSEC3PARAM")
    assert len(r.rdata("NSEC3PARAM")) == (request.param == "nsec3"), r
    try:
        yield world
    finally:
        if request.param != "nsec":
            assert "reloaded" in g.reload(gslbd_config(world["keys"], world["checks"]))


def resolve(w, name, rtype="A", *args):
    w["unbound"].control("flush_zone", "global.example.com.")
    return w["unbound"].dig("+dnssec", name, rtype, *args)


def assert_secure(r, status="NOERROR"):
    assert r.status == status, r
    assert "ad" in r.flags, f"not validated (no AD):\n{r}"


def test_geo_answers_validate_for_two_client_subnets(chain):
    tokyo = resolve(chain, "app.global.example.com", "A", f"+subnet={TOKYO}")
    frankfurt = resolve(chain, "app.global.example.com", "A", f"+subnet={FRANKFURT}")
    assert_secure(tokyo)
    assert_secure(frankfurt)
    assert tokyo.rdata("A") == [TYO4], tokyo
    assert frankfurt.rdata("A") == [FRA4], frankfurt


@pytest.mark.parametrize("name,rtype,status,expect", [
    ("www.global.example.com", "A", "NOERROR", ["CNAME", "A"]),        # a CNAME to a service
    ("static.global.example.com", "A", "NOERROR", ["A"]),              # a static name
    ("x.wild.global.example.com", "TXT", "NOERROR", ["TXT"]),          # a wildcard
    ("nope.global.example.com", "A", "NXDOMAIN", []),                  # NXDOMAIN
    ("a.b.nope.wild.global.example.com", "TXT", "NOERROR", ["TXT"]),   # a wildcard, further down
    ("x.y.static.global.example.com", "A", "NXDOMAIN", []),            # NXDOMAIN below a name
    ("static.global.example.com", "MX", "NOERROR", []),                # NODATA
    ("x.wild.global.example.com", "A", "NOERROR", []),                 # NODATA at a wildcard
    ("wild.global.example.com", "A", "NOERROR", []),                   # NODATA at an empty non-terminal
    ("app.global.example.com", "TXT", "NOERROR", []),                  # NODATA at a service
    ("sub.global.example.com", "DS", "NOERROR", []),                   # no DS at a delegation
    ("global.example.com", "DNSKEY", "NOERROR", ["DNSKEY"]),
])
def test_answers_validate(chain, name, rtype, status, expect):
    r = resolve(chain, name, rtype)
    assert_secure(r, status)
    types = [rec[3] for rec in r.records() if rec[3] != "RRSIG"]
    assert sorted(set(types)) == sorted(set(expect)), r


def test_an_insecure_delegation_below_the_zone_is_proven_insecure(chain):
    r = resolve(chain, "www.sub.global.example.com", "A")
    assert r.status == "NOERROR" and r.rdata("A") == ["192.0.2.90"], r
    # The NSEC or NSEC3 at the cut proves there is no DS: insecure, not bogus.
    assert "ad" not in r.flags, r


def test_a_wrong_ds_in_the_parent_is_bogus(world):
    r = world["unbound"].dig("www.broken.example.com", "A")
    assert r.status == "SERVFAIL", r
    # The same name asked of gslbd directly is there: it is the chain that fails.
    d = dig(GSLBD, 53, "+norec", "+dnssec", "www.broken.example.com", "A")
    assert d.status == "NOERROR" and d.rdata("A") == ["192.0.2.81"], d


def test_delv_and_unbound_host_say_secure(chain):
    world = chain
    anchors = os.path.join(world["dir"], "delv.anchors")
    flags, proto, alg, key = world["anchor"].split()[3:7]
    with open(anchors, "w") as f:
        f.write(f'trust-anchors {{ . static-key {flags} {proto} {alg} "{key}"; }};\n')
    u = world["unbound"]
    u.control("flush_zone", "global.example.com.")
    for name, rtype, says in (("app.global.example.com", "A", "; fully validated"),
                              ("static.global.example.com", "A", "; fully validated"),
                              ("nope.global.example.com", "A", "; negative response, fully validated"),
                              ("static.global.example.com", "MX", "; negative response, fully validated")):
        r = subprocess.run(["delv", f"@{u.address}", "-p", str(u.port), "-a", anchors, "+root=.", name, rtype],
                           capture_output=True, text=True, timeout=30)
        assert says in r.stdout + r.stderr, r.stdout + r.stderr
    conf = os.path.join(world["dir"], "unbound-host.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
    root-hints: "{world['hints']}"
    do-not-query-localhost: no
    outgoing-interface: {UNBOUND}
    do-ip6: no
""")
    r = subprocess.run(["unbound-host", "-v", "-C", conf, "-f", world["anchor_file"], "-t", "A",
                        "static.global.example.com"], capture_output=True, text=True, timeout=30)
    assert "(secure)" in r.stdout, r.stdout + r.stderr


def test_the_answer_after_a_failover_validates_at_once(world):
    """Tokyo's cluster fails: every answer unbound gives meanwhile validates (no
    SERVFAIL window), and the new one, us-east or eu-west, does at once."""
    ingress = world["ingresses"][2]
    seen = []
    ingress.status = 503
    try:
        def moved():
            r = resolve(world, "app.global.example.com", "A", f"+subnet={TOKYO}")
            seen.append(r)
            return r.rdata("A") and r.rdata("A") != [TYO4]
        wait_until(moved, timeout=10, interval=0.05, what="Tokyo's answer to fail over")
    finally:
        ingress.status = 200
    for r in seen:
        assert_secure(r)
    assert seen[-1].rdata("A")[0] in (FRA4, IAD4), seen[-1]
    wait_until(lambda: resolve(world, "app.global.example.com", "A", f"+subnet={TOKYO}").rdata("A") == [TYO4],
               timeout=10, what="Tokyo's cluster to come back")


def rrsig_times(r):
    """(inception, expiration) of the answer's RRSIG, as seconds since the epoch."""
    import calendar
    sig = [rec for rec in r.records() if rec[3] == "RRSIG"]
    assert sig, r
    parse = lambda t: calendar.timegm(time.strptime(t, "%Y%m%d%H%M%S"))
    return parse(sig[0][9]), parse(sig[0][8])


def test_signatures_are_made_again_before_they_expire(tmp_path):
    """signature_validity 6s, refresh 4s: gslbd re-signs every ~2 s on its own, and
    no answer meanwhile carries an expired or not-yet-valid signature."""
    keys = [keygen(str(tmp_path), "short.test", True)]
    with Gslbd(f"""
server: {{ listen: [@LISTEN@], workers: 1 }}
zones:
  - origin: short.test.
    soa: {{ mname: ns.short.test., rname: hostmaster.short.test., minimum: 60 }}
    ns: [ns.short.test.]
    dnssec: {{ keys: [{keys[0]}], signature_validity: 6s, refresh: 4s }}
    records: |
      www 300 IN A 192.0.2.1
services: []
clusters: {{}}
""", http=False) as g:
        first = rrsig_times(g.dig("+dnssec", "www.short.test", "A"))
        renewed = []

        def resigned():
            r = g.dig("+dnssec", "www.short.test", "A")
            inception, expiration = rrsig_times(r)
            now = time.time()
            assert inception <= now < expiration, f"signature not valid at {now}: {r}"
            renewed.append(expiration)
            return expiration > first[1]
        wait_until(resigned, timeout=10, interval=0.2, what="the zone to be re-signed")
        assert "re-signed the signed zones" in g.log_text()


def key_tag(base):
    return int(os.path.basename(base).rsplit("+", 1)[1])


def config_with(world, global_keys):
    return gslbd_config({**world["keys"], "global": global_keys}, world["checks"])


def bad_key_case(world, case):
    """(keys for global.example.com., what the error must say about them)."""
    d = world["keydir"]
    ksk, zsk = world["keys"]["global"]
    if case == "missing":
        base = os.path.join(d, "Kglobal.example.com.+013+00001")
        return [ksk, base], f"{base}.key: cannot read: No such file or directory"
    if case == "unreadable":
        base = os.path.join(d, "Kglobal.example.com.+013+00002")
        with open(zsk + ".key") as src, open(base + ".key", "w") as dst:
            dst.write(src.read())
        if not os.path.isdir(base + ".private"):
            os.mkdir(base + ".private")  # root reads any mode: a directory is what cannot be read here
        return [ksk, base], f"{base}.private: cannot read"
    if case == "other zone":
        base = keygen(d, "other.example.com", False)
        return [ksk, base], f"{base}.key: the key is for other.example.com., not for the zone global.example.com."
    if case == "algorithm":
        base = os.path.join(d, run("ldns-keygen", "-a", "RSASHA256", "-b", "1024", "global.example.com", cwd=d).strip())
        return [ksk, base], f"{base}.key: algorithm 8 is not supported"
    assert case == "no SEP key"
    return [zsk], "no key with the SEP flag"


def dnskey_tags(world):
    r = dig(GSLBD, 53, "+norec", "+dnssec", "global.example.com", "DNSKEY")
    assert r.status == "NOERROR", r
    return sorted(int(rec[10]) for rec in r.records() if rec[3] == "RRSIG"), len(r.rdata("DNSKEY"))


@pytest.mark.parametrize("case", ["missing", "unreadable", "other zone", "algorithm", "no SEP key"])
def test_a_bad_key_is_refused_at_start_and_on_reload(world, case, tmp_path):
    g = world["gslbd"]
    keys, reason = bad_key_case(world, case)
    good = config_with(world, world["keys"]["global"])
    bad_path = tmp_path / "gslbd.yaml"
    bad_path.write_text(g.render(config_with(world, keys)))
    (tmp_path / "networks.yaml").write_text(NETWORKS)
    where = "zones[0].dnssec.keys"
    checked = subprocess.run([BINARY, "--check-config", "-c", str(bad_path)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode != 0 and where in checked.stderr and reason in checked.stderr, checked.stderr
    assert re.search(re.escape(str(bad_path)) + r":\d+", checked.stderr), checked.stderr  # file:line
    started = subprocess.run([BINARY, "-c", str(bad_path)], capture_output=True, text=True, timeout=60)
    out = started.stdout + started.stderr
    assert started.returncode != 0 and where in out and reason in out, out

    try:
        out = g.reload(config_with(world, keys))
        assert "reload failed, still serving the previous configuration" in out and reason in out, out
        # The old state still serves, signed by the old keys, and validates.
        assert dnskey_tags(world) == (sorted([key_tag(world["keys"]["global"][0])]), 2)
        assert_secure(resolve(world, "static.global.example.com", "A"))
        assert_secure(resolve(world, "app.global.example.com", "A", f"+subnet={TOKYO}"))
    finally:
        g.write_config(good)


def test_a_key_added_by_reload_is_published_and_used(world):
    """ZSK rollover by reload: the new key beside the old one is in DNSKEY and
    signs, and the resolver validates through it; removing the old key then
    leaves answers signed by the new one alone."""
    g = world["gslbd"]
    ksk, zsk = world["keys"]["global"]
    new = keygen(world["keydir"], "global.example.com", False)
    try:
        assert "reloaded" in g.reload(config_with(world, [ksk, zsk, new]))
        tags, count = dnskey_tags(world)
        assert count == 3, tags
        r = dig(GSLBD, 53, "+norec", "+dnssec", "static.global.example.com", "A")
        signers = sorted(int(rec[10]) for rec in r.records() if rec[3] == "RRSIG")
        assert signers == sorted([key_tag(zsk), key_tag(new)]), r
        assert_secure(resolve(world, "static.global.example.com", "A"))

        assert "reloaded" in g.reload(config_with(world, [ksk, new]))
        r = dig(GSLBD, 53, "+norec", "+dnssec", "app.global.example.com", "A", f"+subnet={TOKYO}")
        assert [int(rec[10]) for rec in r.records() if rec[3] == "RRSIG"] == [key_tag(new)], r
        assert_secure(resolve(world, "app.global.example.com", "A", f"+subnet={TOKYO}"))
    finally:
        assert "reloaded" in g.reload(config_with(world, [ksk, zsk]))


def test_zonemaster_dnssec_test_cases_pass(world, tmp_path):
    """Zonemaster's DNSSEC module against the zone, with the loopback root as its
    root hints: no message at ERROR or above."""
    if not shutil.which("zonemaster-cli"):
        pytest.skip("zonemaster-cli is not installed (scripts/install-deps installs it)")
    r = subprocess.run(["zonemaster-cli", "--no-ipv6", "--hints", world["hints"], "--test", "dnssec",
                        "--level", "ERROR", "--show-testcase", "--raw", "global.example.com"],
                       capture_output=True, text=True, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    problems = [line for line in out.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b", line)]
    assert problems == [], out


def dnsviz_errors(node, path="$"):
    """Every "errors" entry in DNSViz's grok output, with where it was found."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "errors" and v:
                found.append((path, v))
            else:
                found += dnsviz_errors(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += dnsviz_errors(v, f"{path}[{i}]")
    return found


def test_dnsviz_reports_no_errors(chain, tmp_path):
    """DNSViz probes gslbd as the zone's authoritative server, down from the
    loopback root (the names cover the apex, a service, a static name and a
    wildcard; DNSViz adds its own NXDOMAIN and NODATA queries), and grok,
    trusting the root's KSK, finds no error in the signatures, the denial records
    or the delegations from the root."""
    if not shutil.which("dnsviz"):
        pytest.skip("dnsviz is not installed (scripts/install-deps installs it)")
    probe = tmp_path / "probe.json"
    # Not the unsigned child sub.: grok 0.9.4 fails on its SOA (KeyError in
    # _serialize_rrset_info); unbound checks that delegation above.
    names = [n + "global.example.com" for n in ("", "app.", "static.", "x.wild.")]
    # Every zone of the ancestry on its loopback server, so that DNSViz asks no one else.
    servers = ["-x", f".:a.root-servers.test={KNOT}", "-x", f"example.com:ns.example.com={KNOT}",
               "-x", f"global.example.com:ns1.global.example.com={GSLBD}"]
    r = subprocess.run(["dnsviz", "probe", "-4", "-A", "-a", ".", *servers, "-o", str(probe), *names],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and probe.stat().st_size > 0, r.stdout + r.stderr
    anchor = tmp_path / "anchor"
    anchor.write_text(chain["anchor"] + "\n")
    # Debian's dnsviz 0.9.4 checks pygraphviz.release, which pygraphviz 1.7 no longer
    # has, and refuses -t: a sitecustomize in grok's own interpreter supplies it.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys, types\n"
        "try:\n"
        "    import pygraphviz\n"
        "    import pygraphviz.release\n"
        "except ImportError:\n"
        "    if 'pygraphviz' in sys.modules:\n"
        "        m = types.ModuleType('pygraphviz.release')\n"
        "        m.version = pygraphviz.__version__\n"
        "        sys.modules['pygraphviz.release'] = pygraphviz.release = m\n")
    env = dict(os.environ, PYTHONPATH=str(shim))
    grok = subprocess.run(["dnsviz", "grok", "-P", "-r", str(probe), "-t", str(anchor)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert grok.returncode == 0, grok.stdout + grok.stderr
    doc = json.loads(grok.stdout)
    # The chain from the root's KSK reaches the zone; its answers and denials were
    # probed with that anchor, so a bad signature or proof shows as an error.
    assert doc["global.example.com."]["delegation"]["status"] == "SECURE", grok.stdout[:2000]
    assert dnsviz_errors(doc) == [], grok.stdout
