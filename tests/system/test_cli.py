"""The command line: --version, --help, --check-config on good and bad configs (one
case per distinct error message, each pointing at file:line:column and the key
path), and a bad config at start."""
import os
import re
import subprocess
import tempfile

import pytest

from gslb import BINARY, Gslbd, check_config

S = 'server:\n  listen: ["127.0.0.1:5300"]\n'
Z = ("zones:\n"
     "  - origin: example.test.\n"
     "    soa: { mname: ns1.example.test., rname: h.example.test. }\n"
     "    ns: [ns1.example.test.]\n")
C = "clusters:\n  eu: { ingress: [192.0.2.1] }\n"
SVC = "services:\n  - { name: app.example.test., clusters: [eu] }\n"


def rec(*lines):
    return "    records: |\n" + "".join(f"      {line}\n" for line in lines)


def check(kind, body):
    return S + Z + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - " + kind + ": " + body + "\n"


def svc(body):
    return S + Z + C + "services:\n  - name: app.example.test.\n" + "".join(f"    {line}\n" for line in body)


LONG_RRSET = "".join(f"      big IN TXT \"{i:03d}{'x' * 250}\"\n" for i in range(260))

# id: (config text, anchor, message). The error must be exactly
# "FILE:LINE:COLUMN: message" with LINE:COLUMN where `anchor` first occurs in the
# text; "@N" after an anchor picks its N-th occurrence, "$END" is the end of the
# text. A message ending in "..." is a prefix (lists that grow with new features);
# None: any reason.
CASES = {
    # --- YAML and the document's shape
    # yaml-cpp notices the missing "]" at the end of the file, and says so there.
    "yaml syntax": (S + "zones: [\n", "$END", "end of sequence flow not found"),
    "yaml bad indentation": (S + " workers: 2\n" + Z, "workers", None),
    "not a mapping": ("- server\n", "-", "expected a mapping with server, zones, services and clusters"),
    "unknown top-level key": (S + Z + "servces: []\n", "servces",
                              "servces: unknown key (expected one of: server, geo, latency, zones, services, clusters, sync)"),
    "unknown nested key": (S + "  wrokers: 2\n" + Z, "wrokers",
                           "server.wrokers: unknown key (expected one of: listen, workers, http, http_token, nsid, "
                           "max_udp_size, tcp_idle_timeout, tcp_max_connections, state_file..."),
    "missing server": (Z, "zones", "missing required key 'server'"),
    "missing listen": ("server:\n  workers: 1\n" + Z, "workers", "server: missing required key 'listen'"),
    "missing zones": (S, "server", "missing required key 'zones'"),
    # --- server
    "listen not a list": ('server:\n  listen: "127.0.0.1:53"\n' + Z, '"127',
                          'server.listen: expected a list of addresses like "127.0.0.1:53"'),
    "bad listen address": ('server:\n  listen: ["localhost:53"]\n' + Z, '"localhost',
                           'server.listen[0]: expected an address like "127.0.0.1:53" or "[::1]:53", got "localhost:53"'),
    "bad listen port": ('server:\n  listen: ["127.0.0.1:99999"]\n' + Z, '"127',
                        'server.listen[0]: expected an address like "127.0.0.1:53" or "[::1]:53", got "127.0.0.1:99999"'),
    "listen twice": ('server:\n  listen: ["127.0.0.1:53", "127.0.0.1:53"]\n' + Z, '"127.0.0.1:53"@2',
                     "server.listen[1]: listed twice"),
    "workers not an integer": (S + "  workers: two\n" + Z, "two", 'server.workers: expected an integer, got "two"'),
    "workers out of range": (S + "  workers: 0\n" + Z, "0\n", "server.workers: expected an integer from 1 to 256, got 0"),
    "http without port": (S + '  http: "127.0.0.1"\n' + Z, '"127.0.0.1"\n',
                          'server.http: expected an address with a port like "127.0.0.1:9153", got "127.0.0.1"'),
    "nsid empty": (S + '  nsid: ""\n' + Z, '""', "server.nsid: expected 1 to 255 characters"),
    "http_token empty": (S + '  http_token: ""\n' + Z, '""',
                         "server.http_token: must not be empty (leave the key out to need no token)"),
    "http_max_connections out of range": (S + "  http_max_connections: 0\n" + Z, "0\n",
                                          "server.http_max_connections: expected an integer from 1 to 100000, got 0"),
    "max_udp_size out of range": (S + "  max_udp_size: 100\n" + Z, "100",
                                  "server.max_udp_size: expected an integer from 512 to 4096, got 100"),
    "bad duration": (S + "  tcp_idle_timeout: 5x\n" + Z, "5x",
                     'server.tcp_idle_timeout: expected a duration like "5s", "250ms", "1m", "2h" or "1d", got "5x"'),
    "duration without unit": (S + "  tcp_idle_timeout: 5\n" + Z, "5\n",
                              'server.tcp_idle_timeout: expected a duration like "5s", "250ms", "1m", "2h" or "1d", got "5"'),
    "duration too short": (S + "  tcp_idle_timeout: 5ms\n" + Z, "5ms", "server.tcp_idle_timeout: must be at least 100ms"),
    "tcp_max_connections out of range": (S + "  tcp_max_connections: 0\n" + Z, "0\n",
                                         "server.tcp_max_connections: expected an integer from 1 to 100000, got 0"),
    "expected a string": (S + "  nsid: [a]\n" + Z, "[a]", "server.nsid: expected a string"),
    # --- geo, latency
    "geo ranges not a path": (S + "geo:\n  ranges: {a: b}\n" + Z, "{a", "geo.ranges: expected a file path or a list of them"),
    "geo empty path": (S + 'geo:\n  mmdb: ""\n' + Z, '""', "geo.mmdb: expected a file path"),
    "geo unknown key": (S + "geo:\n  rangez: x\n" + Z, "rangez",
                        "geo.rangez: unknown key (expected one of: ranges, mmdb, networks, countries)"),
    "latency unknown key": (S + "latency:\n  tabel: x.csv\n" + Z, "tabel", "latency.tabel: unknown key (expected one of: table)"),
    # --- zones
    "no zones": (S + "zones: []\n", "[]", "zones: expected a list of zones"),
    "zone not a mapping": (S + "zones:\n  - example.test.\n", "example", "zones[0]: expected a mapping"),
    "bad origin": (S + 'zones:\n  - origin: "a..b"\n', '"a..b"', 'zones[0].origin: expected a domain name, got "a..b"'),
    "zone without soa": (S + "zones:\n  - origin: example.test.\n    ns: [ns1.example.test.]\n", "origin",
                         "zones[0]: missing required key 'soa' (or a zonefile with an SOA record)"),
    "soa unknown key": (S + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test., serail: 1 }\n",
                        "serail", "zones[0].soa.serail: unknown key (expected one of: mname, rname, serial, refresh, "
                                  "retry, expire, minimum, ttl)"),
    "soa missing rname": (S + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test. }\n", "{ mname",
                          "zones[0].soa: missing required key 'rname'"),
    "soa serial not a number": (S + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test., serial: x }\n",
                                "x }", 'zones[0].soa.serial: expected an integer, got "x"'),
    "soa serial too big": (S + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test., serial: 4294967296 }\n",
                           "4294967296", "zones[0].soa.serial: expected an integer from 0 to 4294967295, got 4294967296"),
    "soa bad minimum": (S + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test., minimum: 1w }\n",
                        "1w", 'zones[0].soa.minimum: expected a duration like "5s", "250ms", "1m", "2h" or "1d", got "1w"'),
    "ns not a list": (S + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test. }\n    ns: ns1.example.test.\n",
                      "ns1.example.test.\n", "zones[0].ns: expected a list of name server names"),
    "duplicate zone": (S + Z + "  - origin: Example.Test.\n    soa: { mname: a.example.test., rname: b.example.test. }\n",
                       "origin: Example", "zones[1].origin: zone Example.Test. defined twice"),
    "records not a string": (S + Z + "    records: [a]\n", "[a]", "zones[0].records: expected a string"),
    # --- zone data (dnsd/zone_builder.cpp)
    "missing zonefile": (S + Z + "    zonefile: does-not-exist.zone\n", "does-not-exist",
                         "zones[0].zonefile: cannot open @DIR@/does-not-exist.zone: No such file or directory"),
    "include": (S + Z + rec("www IN A 192.0.2.1", "$INCLUDE /etc/passwd"), "$INCLUDE",
                "$INCLUDE is not supported: list the file as its own zone's zonefile"),
    "bad record": (S + Z + rec("www IN A 192.0.2.1", "bad IN A not-an-address"), "bad IN",
                   "bad record: Syntax error, could not parse the RR's rdata"),
    "bad record after comments and blank lines": (
        S + Z + rec("; addresses", "www IN A 192.0.2.1", "", "; mail", "", "mail IN MX ten mail"), "mail IN",
        "bad record: Syntax error, could not parse the RR's rdata"),
    "bad record type": (S + Z + rec("www IN AA 192.0.2.1"), "www", "bad record: unknown record type AA"),
    "unknown record type": (S + Z + rec("www IN A 192.0.2.1", "@ 300 ALIAS lb.example.net."), "@ 300",
                            "bad record: unknown record type ALIAS"),
    "character-string over 255 octets": (
        S + Z + rec("txt IN TXT \"short\" (", '  "' + "x" * 250 + "\\06512345" + '" )'), '  "xxx',
        "bad record: a character-string is 256 octets, at most 255 fit (split it into several quoted strings)"),
    "bad record name": (S + Z + rec("www IN A 192.0.2.1", "a..b IN A 192.0.2.1"), "a..b", None),
    # ldns takes these without checking them against the type: a CNAME with no
    # target crashed the build, an A with no address went out as a malformed answer.
    "generic RDATA short of a CNAME's target": (S + Z + rec("www IN A 192.0.2.1", "alias IN CNAME \\# 0"), "alias",
                                                "bad record: CNAME RDATA needs at least 1 field, got 0 from the generic (\\#) form"),
    "generic RDATA short of an address": (S + Z + rec("www IN A \\# 0"), "www",
                                          "bad record: A RDATA needs at least 1 field, got 0 from the generic (\\#) form"),
    "unclosed parenthesis": (S + Z + rec("multi IN TXT ( \"a\"", "  \"b\"", "www IN A 192.0.2.1"), "multi",
                             'bad record: "(" is never closed'),
    "stray closing parenthesis": (S + Z + rec("www IN A 192.0.2.1 )"), "www", 'bad record: ")" without "("'),
    "unclosed quote": (S + Z + rec('txt IN TXT "abc', "www IN A 192.0.2.1"), "txt",
                       "bad record: a quoted string is never closed"),
    "bad ttl": (S + Z + rec("www 1x IN A 192.0.2.1"), "www", 'bad record: bad TTL "1x"'),
    "bad ttl after the class": (S + Z + rec("www IN 5mins A 192.0.2.1"), "www", 'bad record: bad TTL "5mins"'),
    "bad $TTL": (S + Z + rec("$TTL 1y", "www IN A 192.0.2.1"), "$TTL", "bad record: $TTL needs a TTL like 3600 or 1h"),
    "multi-line record outside the zone": (
        S + Z + rec("www IN A 192.0.2.1", "other.test. IN TXT ( \"multi\"", "  \"line\" )"), "other.test.",
        "record for other.test. is outside the zone example.test."),
    "record outside zone": (S + Z + rec("www IN A 192.0.2.1", "www.example.org. IN A 192.0.2.1"), "www.example.org",
                            "record for www.example.org. is outside the zone example.test."),
    "soa below apex": (S + Z + rec("x IN SOA a.example.test. b.example.test. 1 2 3 4 5"), "x IN SOA",
                       "SOA record for x.example.test. is not at the zone apex"),
    "data below a dname": (S + Z + rec("d IN DNAME other.test.", "www.d IN A 192.0.2.1"), "www.d",
                           "www.d.example.test. lies below the DNAME at d.example.test.: nothing may exist there "
                           "(RFC 6672 section 2.4)"),
    "two dnames": (S + Z + rec("d IN DNAME a.test.", "d IN DNAME b.test."), "d IN DNAME b",
                   "d.example.test. has more than one DNAME (RFC 6672 section 2.4)"),
    "dname and ns": (S + Z + rec("d IN DNAME a.test.", "d IN NS ns.a.test."), "d IN DNAME",
                     "d.example.test. has a DNAME and NS records: below the apex the DNAME would be the child zone's"),
    "dname and cname": (S + Z + rec("d IN CNAME a.test.", "d IN DNAME b.test."), "d IN CNAME",
                        "d.example.test. has a CNAME and other data (RFC 1034 section 3.6.2)"),
    "two soas": (S + Z + rec("@ IN SOA a.example.test. b.example.test. 1 2 3 4 5"), "@ IN SOA",
                 "zone example.test. has more than one SOA record"),
    "cname and other data": (S + Z + rec("www IN CNAME x", "www IN A 192.0.2.1"), "www IN CNAME",
                             "www.example.test. has a CNAME and other data (RFC 1034 section 3.6.2)"),
    "apex cname": (S + Z + rec("@ IN CNAME x"), "@ IN CNAME", "the zone apex cannot be a CNAME"),
    "two cnames": (S + Z + rec("www IN CNAME x", "www IN CNAME y"), "www IN CNAME y",
                   "www.example.test. has more than one CNAME"),
    "data below a cut": (S + Z + rec("sub IN NS ns.sub", "ns.sub IN A 192.0.2.9", "x.sub IN TXT \"no\""), "x.sub",
                         "x.sub.example.test. lies below the delegation sub.example.test.: only glue A/AAAA records may be there"),
    "rrset larger than a message": (S + Z + "    records: |\n" + LONG_RRSET, "big IN TXT",
                                    "RRset big.example.test. is larger than a DNS message"),
    "no soa": (S + "zones:\n  - origin: example.test.\n    zonefile: z.zone\n", "origin",
               "zones[0].soa: zone example.test. has no SOA record"),
    "no ns": (S + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test. }\n",
              "origin", "zones[0].ns: zone example.test. has no NS records at its apex (add 'ns: [...]')"),
    "service name with an a record": (S + Z + rec("app IN A 192.0.2.1") + C + SVC, "app IN A",
                                      "app.example.test. is a service name: its addresses come from its clusters, remove this record"),
    "service name with a cname": (S + Z + rec("app IN CNAME www") + C + SVC, "app IN CNAME",
                                  "app.example.test. is a service name: its addresses come from its clusters, remove this record"),
    "service name delegated": (S + Z + rec("app IN NS ns.elsewhere.test.") + C + SVC, "app IN NS",
                               "app.example.test. is a service name: it cannot also be delegated, remove this record"),
    "service below a delegation": (S + Z + rec("sub IN NS ns.example.test.") + C +
                                   "services:\n  - { name: app.sub.example.test., clusters: [eu] }\n", "origin",
                                   "service app.sub.example.test. lies below the delegation sub.example.test."),
    "service outside zones": (S + Z + C + "services:\n  - { name: app.example.org., clusters: [eu] }\n", "{ name",
                              "services[0].name: service app.example.org. is not inside any configured zone"),
    # --- clusters
    "clusters not a mapping": (S + Z + "clusters: [eu]\n", "[eu]", "clusters: expected a mapping of cluster name to cluster"),
    "empty cluster name": (S + Z + 'clusters:\n  "": { ingress: [192.0.2.1] }\n', '""', "clusters: expected a cluster name"),
    "cluster unknown key": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], ingres: [] }\n", "ingres:",
                            "clusters.eu.ingres: unknown key (expected one of: location, ingress, checks, require, initial_state)"),
    "cluster without ingress": (S + Z + "clusters:\n  eu: { location: { lat: 1, lon: 2 } }\n", "{ location",
                                "clusters.eu: missing required key 'ingress'"),
    "empty ingress": (S + Z + "clusters:\n  eu: { ingress: [] }\n", "[]", "clusters.eu.ingress: expected a list of IPv4 and IPv6 addresses..."),
    "bad ingress": (S + Z + "clusters:\n  eu: { ingress: [not-an-ip] }\n", "not-an-ip",
                    'clusters.eu.ingress[0]: expected an IPv4 or IPv6 address...'),
    "two location forms": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], location: { lat: 1, lon: 2, country: IE } }\n",
                           "{ lat", "clusters.eu.location: expected exactly one of {lat, lon}, {country} or {region}"),
    "latitude out of range": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], location: { lat: 91, lon: 2 } }\n", "91",
                              "clusters.eu.location.lat: expected a number from -90 to 90, got 91"),
    "latitude nan": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], location: { lat: 1, lon: nan } }\n", "nan",
                     "clusters.eu.location.lon: expected a number from -180 to 180, got nan"),
    "latitude not a number": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], location: { lat: north, lon: 2 } }\n", "north",
                              'clusters.eu.location.lat: expected a number, got "north"'),
    "missing longitude": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], location: { lat: 1 } }\n", "{ lat",
                          "clusters.eu.location: missing required key 'lon'"),
    "bad country": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], location: { country: IRL } }\n", "IRL",
                    'clusters.eu.location.country: expected a two-letter country code, got "IRL"'),
    "empty region": (S + Z + 'clusters:\n  eu: { ingress: [192.0.2.1], location: { region: "" } }\n', '""',
                     "clusters.eu.location.region: expected a region name"),
    "bad require": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], require: most }\n", "most",
                    'clusters.eu.require: expected all or any, got "most"'),
    "bad initial_state": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], initial_state: maybe }\n", "maybe",
                          'clusters.eu.initial_state: expected probe, up or down, got "maybe"'),
    # --- checks
    "checks not a list": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1], checks: {tcp: x} }\n", "{tcp",
                          "clusters.eu.checks: expected a list of checks"),
    "check not one kind": (check("tcp", '{ address: "127.0.0.1:1" }\n        http: { url: "http://x/" }'), "tcp:",
                           "clusters.eu.checks[0]: expected one of {http: {...}}, {tcp: {...}}, {dns: {...}}, with an optional name"),
    "unknown check kind": (check("ping", "{ address: x }"), "ping",
                           'clusters.eu.checks[0]: unknown check kind "ping" (expected http, https, tcp or dns)'),
    "check unknown key": (check("tcp", '{ address: "127.0.0.1:1", intervall: 1s }'), "intervall",
                          "clusters.eu.checks[0].tcp.intervall: unknown key (expected one of: address, interval, timeout, rise, fall)"),
    "http check url scheme": (check("http", '{ url: "ftp://x/" }'), '"ftp',
                              'clusters.eu.checks[0].http.url: expected an http:// or https:// URL, got "ftp://x/"'),
    "http check missing url": (check("http", "{ expect: 200 }"), "{ expect",
                               "clusters.eu.checks[0].http: missing required key 'url'"),
    "http check expect out of range": (check("http", '{ url: "http://x/", expect: 999 }'), "999",
                                       "clusters.eu.checks[0].http.expect: expected an integer from 100 to 599, got 999"),
    "http check bad tls_verify": (check("https", '{ url: "https://x/", tls_verify: maybe }'), "maybe",
                                  'clusters.eu.checks[0].https.tls_verify: expected true or false, got "maybe"'),
    "tcp check without port": (check("tcp", '{ address: "127.0.0.1" }'), '"127.0.0.1"',
                               'clusters.eu.checks[0].tcp.address: expected an address with a port like "127.0.0.1:443", got "127.0.0.1"'),
    "dns check bad server": (check("dns", '{ server: "resolver", name: x.test. }'), '"resolver"',
                             'clusters.eu.checks[0].dns.server: expected an address like "192.0.2.1" or "[2001:db8::1]:53", got "resolver"'),
    "check rise out of range": (check("tcp", '{ address: "127.0.0.1:1", rise: 0 }'), "0 }",
                                "clusters.eu.checks[0].tcp.rise: expected an integer from 1 to 100, got 0"),
    "check interval too short": (check("tcp", '{ address: "127.0.0.1:1", interval: 50ms, timeout: 10ms }'), "50ms",
                                 "clusters.eu.checks[0].tcp.interval: must be at least 100ms"),
    "check timeout too short": (check("tcp", '{ address: "127.0.0.1:1", timeout: 5ms }'), "5ms",
                                "clusters.eu.checks[0].tcp.timeout: must be at least 10ms"),
    "check timeout above interval": (check("tcp", '{ address: "127.0.0.1:1", interval: 1s, timeout: 2s }'), "2s",
                                     "clusters.eu.checks[0].tcp.timeout: must not exceed the interval"),
    # --- services
    "services not a list": (S + Z + C + "services: {}\n", "{}", "services: expected a list of services"),
    "service unknown key": (svc(["clusterz: [eu]"]), "clusterz",
                            "services[0].clusterz: unknown key (expected one of: name, ttl, transition_ttl, policy, "
                            "answers, clusters, weights, when_all_down)"),
    "service missing clusters": (svc(["ttl: 30"]), "name: app", "services[0]: missing required key 'clusters'"),
    "service empty clusters": (svc(["clusters: []"]), "[]", "services[0].clusters: expected a list of cluster names"),
    "service cluster twice": (svc(["clusters: [eu, eu]"]), "eu]", 'services[0].clusters[1]: cluster "eu" listed twice'),
    "unknown cluster in a service": (svc(["clusters: [eu, us]"]), "us]", 'services[0].clusters[1]: no cluster named "us" in clusters'),
    "bad policy": (svc(["policy: closest", "clusters: [eu]"]), "closest",
                   'services[0].policy: expected one of nearest, latency, failover, weighted, got "closest"'),
    "answers out of range": (svc(["answers: 0", "clusters: [eu]"]), "0\n", "services[0].answers: expected an integer from 1 to 64, got 0"),
    "bad service ttl": (svc(["ttl: soon", "clusters: [eu]"]), "soon",
                        'services[0].ttl: expected a duration like "5s", "250ms", "1m", "2h" or "1d", got "soon"'),
    "bad when_all_down": (svc(["when_all_down: panic", "clusters: [eu]"]), "panic",
                          'services[0].when_all_down: expected fail_open or servfail, got "panic"'),
    "service twice": (S + Z + C + "services:\n  - { name: app.example.test., clusters: [eu] }\n"
                      "  - { name: App.example.test., clusters: [eu] }\n", "App.",
                      "services[1].name: service App.example.test. defined twice (first at ..."),
    "weighted without weights": (svc(["policy: weighted", "clusters: [eu]"]), "name: app",
                                 "services[0]: policy weighted needs 'weights: {cluster: weight, ...}'"),
    "weight for another cluster": (svc(["policy: weighted", "clusters: [eu]", "weights: { eu: 1, us: 2 }"]), "us:",
                                   "services[0].weights.us: not one of this service's clusters"),
    "missing weight": (S + Z + "clusters:\n  eu: { ingress: [192.0.2.1] }\n  us: { ingress: [192.0.2.2] }\n"
                       "services:\n  - { name: app.example.test., policy: weighted, clusters: [eu, us], weights: { eu: 1 } }\n",
                       "{ eu: 1", 'services[0].weights: missing a weight for cluster "us"'),
    "weights without weighted": (svc(["clusters: [eu]", "weights: { eu: 1 }"]), "{ eu",
                                 "services[0].weights: only used with policy: weighted"),
}


def position(text, anchor):
    if anchor == "$END":
        return text.count("\n") + 1, 1
    nth = 1
    if "@" in anchor[1:]:
        anchor, n = anchor.rsplit("@", 1)
        nth = int(n)
    at = -1
    for _ in range(nth):
        at = text.find(anchor, at + 1)
        assert at >= 0, f"anchor {anchor!r} not in config"
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, column


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="gslbd-cli-") as d:
        yield d


def write(workdir, text, name="gslbd.yaml"):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_check_config_error(workdir, case):
    text, anchor, message = CASES[case]
    if case == "no soa":
        write(workdir, "$TTL 300\n@ IN NS ns1.example.test.\n", "z.zone")
    path = write(workdir, text)
    p = check_config(path)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    line, column = position(text, anchor)
    prefix = f"{path}:{line}:{column}: "
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    if message is not None and message.endswith("..."):
        assert lines[0].startswith(prefix + message[:-3].replace("@DIR@", workdir)), lines[0]
    elif message is not None:
        assert lines[0] == prefix + message.replace("@DIR@", workdir)
    else:
        assert len(lines[0]) > len(prefix) + 5


def test_an_soa_in_generic_form_short_of_its_fields_is_refused(workdir):
    # Read past its end for the negative TTL (the MINIMUM field) before.
    write(workdir, "$TTL 300\n$ORIGIN example.test.\n@ IN SOA \\# 2 0000\n  IN NS ns1\n", "example.test.zone")
    path = write(workdir, S + "zones:\n  - origin: example.test.\n    zonefile: example.test.zone\n")
    p = check_config(path)
    assert p.returncode == 1
    assert p.stderr.strip() == (f"{os.path.join(workdir, 'example.test.zone')}:3:1: "
                                "bad record: SOA RDATA needs at least 7 fields, got 2 from the generic (\\#) form")


def test_check_config_error_in_a_zonefile_names_the_zonefile(workdir):
    zonefile = ("$TTL 300\n$ORIGIN example.test.\n"
                "@ IN SOA ns1 h ( 1 2 3 4\n   5 )\n"
                "  IN NS ns1\n"
                "; comment\n\n"
                "ns1 IN A 192.0.2.1\n"
                "www IN A 192.0.2.300\n")
    write(workdir, zonefile, "example.test.zone")
    path = write(workdir, S + "zones:\n  - origin: example.test.\n    zonefile: example.test.zone\n")
    p = check_config(path)
    assert p.returncode == 1
    assert p.stderr.strip() == (f"{os.path.join(workdir, 'example.test.zone')}:9:1: "
                                "bad record: Syntax error, could not parse the RR's rdata")


def test_check_config_reports_every_record_outside_the_zone(workdir):
    outside = [f"www{i}.example.org. IN A 192.0.2.{i}" for i in range(23)]
    text = S + Z + rec("www IN A 192.0.2.1", *outside)
    path = write(workdir, text)
    p = check_config(path)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 21, p.stderr
    for i, line in enumerate(lines[:20]):
        row, column = position(text, f"www{i}.example.org.")
        assert line == f"{path}:{row}:{column}: record for www{i}.example.org. is outside the zone example.test.", line
    assert lines[20] == "3 more records are outside the zone example.test.", lines[20]


def test_check_config_second_service_says_where_the_first_is(workdir):
    text = (S + Z + C + "services:\n  - { name: app.example.test., clusters: [eu] }\n"
            "  - { name: App.example.test., clusters: [eu] }\n")
    path = write(workdir, text)
    p = check_config(path)
    assert p.returncode == 1
    first, second = position(text, "app.example.test."), position(text, "App.example.test.")
    assert p.stderr.strip() == (f"{path}:{second[0]}:{second[1]}: services[1].name: service App.example.test. "
                                f"defined twice (first at {path}:{first[0]}:{first[1]})")


def test_check_config_good(workdir):
    text = (S.replace("\n", "\n  nsid: ns1\n", 1) + Z + rec("www IN A 192.0.2.80", "alias IN CNAME www") + C
            + "  us:\n    location: { country: US }\n    ingress: [192.0.2.2, \"2001:db8::2\"]\n"
            + "    checks:\n      - tcp: { address: \"127.0.0.1:8443\", interval: 2s, timeout: 1s }\n"
            + "services:\n  - { name: app.example.test., ttl: 20, answers: 2, clusters: [eu, us] }\n")
    path = write(workdir, text)
    p = check_config(path)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    first = p.stdout.splitlines()[0]
    assert first.startswith(f"{path}: OK: 1 zone(s) with 4 record(s), 1 service(s), 2 cluster(s), 1 check(s)"), p.stdout
    assert "  zone example.test.: 4 record(s)\n" in p.stdout
    assert "  service app.example.test.: ttl 20, answers 2, clusters eu us\n" in p.stdout
    assert "  cluster eu: 1 ingress address(es), 0 check(s)\n" in p.stdout
    assert "  cluster us: 2 ingress address(es), 1 check(s)\n" in p.stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    p = subprocess.run([BINARY, flag], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stderr == ""
    assert re.fullmatch(r"gslbd \d+\.\d+\.\d+\S*\n", p.stdout), p.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag):
    p = subprocess.run([BINARY, flag], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for usage in ("gslbd -c FILE", "--check-config -c FILE", "--version", "--help", "SIGHUP"):
        assert usage in p.stdout, p.stdout


@pytest.mark.parametrize("args,message", [
    ([], "missing -c FILE"), (["--bogus"], "unknown argument '--bogus'"), (["-c"], "unknown argument '-c'")])
def test_bad_arguments(args, message):
    p = subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert message in p.stderr and "Usage:" in p.stderr


def test_missing_config_file(workdir):
    path = os.path.join(workdir, "nope.yaml")
    p = check_config(path)
    assert p.returncode == 1
    assert p.stderr.strip() == f"{path}: cannot open: No such file or directory"


@pytest.mark.parametrize("case", ["unknown nested key", "bad record", "unknown cluster in a service"])
def test_bad_config_at_start_exits_1_with_the_message(case):
    text, anchor, message = CASES[case]
    g = Gslbd(text.replace('["127.0.0.1:5300"]', "[@LISTEN@]"))
    g.start(expect_ready=False)
    try:
        assert g.proc.wait(timeout=20) == 1
    finally:
        g.stop()
    line, column = position(g.render(text.replace('["127.0.0.1:5300"]', "[@LISTEN@]")), anchor)
    assert f"{g.config_path}:{line}:{column}: {message.rstrip('.')}" in g.log_text(), g.log_text()
    assert "serving" not in g.log_text()


def test_shipped_example_config_is_valid():
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf", "example.yaml")
    p = check_config(example)
    assert p.returncode == 0, p.stderr
    assert ": OK: 1 zone(s)" in p.stdout and "service app.global.example.com." in p.stdout
