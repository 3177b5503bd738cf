// One case per error message the loader gives: each names the file, the line of
// the offending text, the key path and the reason.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "dnsd/serving_state.h"
#include "fixture.h"

using namespace gslb;
using namespace gslb::test;

namespace {

const std::string kServer = "server:\n  listen: [\"127.0.0.1:5300\"]\n";
const std::string kZone =
    "zones:\n"
    "  - origin: example.test.\n"
    "    soa: { mname: ns1.example.test., rname: h.example.test. }\n"
    "    ns: [ns1.example.test.]\n";
const std::string kCluster = "clusters:\n  eu: { ingress: [192.0.2.1] }\n";

struct Case {
  const char* name;
  std::string yaml;
  const char* marker;  // text on the line the error must point at ("" = no line)
  const char* expect;  // "path: reason" substring
};

std::string error_of(const std::string& yaml) {
  try {
    dns::MetricNames slots;
    dns::build_serving_state(dns::load_config(write_temp("bad.yaml", yaml)), 1, &slots);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

int line_of(const std::string& text, const std::string& marker) {
  const size_t at = text.find(marker);
  REQUIRE_MESSAGE(at != std::string::npos, marker);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

}  // namespace

TEST_CASE("every config error names file, line, key path and reason") {
  std::string big_cluster = "clusters:\n  big:\n    ingress:\n";
  for (int i = 0; i < 4100; ++i) big_cluster += "      - 10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + "\n";
  std::string many_clusters = "clusters:\n";
  for (int i = 0; i < 65536; ++i) many_clusters += "  c" + std::to_string(i) + ": { ingress: [192.0.2.1] }\n";
  std::string many_services = "services:\n";
  for (int i = 0; i < 65536; ++i) many_services += "  - { name: s" + std::to_string(i) + ".example.test., clusters: [eu] }\n";
  const std::vector<Case> cases = {
      {"yaml syntax", kServer + "zones: [\n", "", "end of sequence flow not found"},
      {"unknown top-level key", kServer + kZone + "servces: []\n", "servces", "servces: unknown key (expected one of: server, geo"},
      {"unknown nested key", "server:\n  listen: [\"127.0.0.1:53\"]\n  wrokers: 2\n" + kZone, "wrokers", "server.wrokers: unknown key"},
      {"missing server", kZone, "", "missing required key 'server'"},
      {"missing listen", "server:\n  workers: 1\n" + kZone, "workers", "server: missing required key 'listen'"},
      {"bad listen address", "server:\n  listen: [\"localhost:53\"]\n" + kZone, "listen", "server.listen[0]: expected an address like"},
      {"listen twice", "server:\n  listen: [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n" + kZone, "listen", "server.listen[1]: listed twice"},
      {"workers not an integer", kServer + "  workers: two\n" + kZone, "workers", "server.workers: expected an integer, got \"two\""},
      {"workers out of range", kServer + "  workers: 0\n" + kZone, "workers", "server.workers: expected an integer from 1 to 256, got 0"},
      {"http without port", kServer + "  http: \"127.0.0.1\"\n" + kZone, "http", "server.http: expected an address with a port"},
      {"bad health_metrics", kServer + "  health_metrics: all\n" + kZone, "health_metrics", "server.health_metrics: expected full or compact, got \"all\""},
      {"bad duration", kServer + "  tcp_idle_timeout: 5\n" + kZone, "tcp_idle", "server.tcp_idle_timeout: expected a duration like \"5s\""},
      {"duration too short", kServer + "  tcp_idle_timeout: 5ms\n" + kZone, "tcp_idle", "server.tcp_idle_timeout: must be at least 100ms"},
      {"duration that overflows", kServer + "  tcp_idle_timeout: 307445734561826m\n" + kZone, "tcp_idle",
       "server.tcp_idle_timeout: must be at most 7d, got \"307445734561826m\""},
      {"duration past 64 bits", kServer + "  tcp_idle_timeout: 99999999999999999999999s\n" + kZone, "tcp_idle", "must be at most 7d"},
      {"duration past its range", kServer + "  http_idle_timeout: 8d\n" + kZone, "http_idle", "server.http_idle_timeout: must be at most 7d"},
      {"duration with an unknown unit", kServer + "  tcp_idle_timeout: 5w\n" + kZone, "tcp_idle", "expected a duration like \"5s\", \"250ms\", \"1m\", \"2h\" or \"1d\""},
      {"duplicate server key", kServer + "  workers: 1\n  workers: 2\n" + kZone, "workers: 2", "server.workers: duplicate key (first written at "},
      {"copy-pasted cluster", kServer + kZone + "clusters:\n  eu-north:\n    ingress: [192.0.2.1]\n  eu-north:\n    ingress: [192.0.2.2]\n",
       "eu-north:\n    ingress: [192.0.2.2]", "clusters.eu-north: duplicate key (first written at "},
      {"duplicate key in a flow map", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1], ingress: [192.0.2.2] }\n", "eu:", "clusters.eu.ingress: duplicate key"},
      {"no zones", kServer + "zones: []\n", "zones", "zones: expected a list of zones"},
      {"bad origin", kServer + "zones:\n  - origin: \"a..b\"\n", "origin", "zones[0].origin: expected a domain name"},
      {"zone without soa", kServer + "zones:\n  - origin: example.test.\n    ns: [ns1.example.test.]\n", "origin", "zones[0]: missing required key 'soa'"},
      {"zone twice", kServer + kZone + kZone.substr(7), "", "zone example.test. defined twice"},
      {"soa serial not a number", kServer + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test., serial: x }\n", "serial", "zones[0].soa.serial: expected an integer"},
      {"no NS", kServer + "zones:\n  - origin: example.test.\n    soa: { mname: a.example.test., rname: b.example.test. }\n", "origin", "has no NS records at its apex"},
      {"bad record", kServer + kZone + "    records: |\n      www IN A 192.0.2.1\n      bad IN A not-an-address\n", "bad IN A", "bad record"},
      {"record outside zone", kServer + kZone + "    records: |\n      www.example.org. IN A 192.0.2.1\n", "www.example.org", "is outside the zone example.test."},
      {"CNAME and other data", kServer + kZone + "    records: |\n      www IN CNAME x\n      www IN A 192.0.2.1\n", "www IN CNAME", "has a CNAME and other data"},
      {"apex CNAME", kServer + kZone + "    records: |\n      @ IN CNAME x\n", "@ IN CNAME", "the zone apex cannot be a CNAME"},
      {"two SOAs", kServer + kZone + "    records: |\n      @ IN SOA a.example.test. b.example.test. 1 2 3 4 5\n", "@ IN SOA", "has more than one SOA record"},
      {"SOA below apex", kServer + kZone + "    records: |\n      x IN SOA a.example.test. b.example.test. 1 2 3 4 5\n", "x IN SOA", "is not at the zone apex"},
      {"$INCLUDE", kServer + kZone + "    records: |\n      $INCLUDE /etc/passwd\n", "$INCLUDE", "$INCLUDE is not supported"},
      {"data below a cut", kServer + kZone + "    records: |\n      sub IN NS ns.sub\n      x.sub IN TXT \"no\"\n", "x.sub", "only glue A/AAAA records may be there"},
      {"missing zonefile", kServer + kZone + "    zonefile: does-not-exist.zone\n", "zonefile", "zonefile: cannot open"},
      {"cluster without ingress", kServer + kZone + "clusters:\n  eu: { location: { lat: 1, lon: 2 } }\n", "eu:", "clusters.eu: missing required key 'ingress'"},
      {"bad ingress", kServer + kZone + "clusters:\n  eu: { ingress: [not-an-ip] }\n", "eu:", "clusters.eu.ingress[0]: expected an IPv4 or IPv6 address"},
      {"ingress dotted quad out of range", kServer + kZone + "clusters:\n  eu: { ingress: [203.0.113.400] }\n", "eu:", "clusters.eu.ingress[0]: \"203.0.113.400\" is not an IPv4 address"},
      {"ingress with three parts", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2] }\n", "eu:", "clusters.eu.ingress[0]: \"192.0.2\" is not an IPv4 address"},
      {"ingress IPv6-looking", kServer + kZone + "clusters:\n  eu: { ingress: [\"2001:db8::g\"] }\n", "eu:", "clusters.eu.ingress[0]: \"2001:db8::g\" is not an IPv6 address"},
      {"country not in the table", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    location: { country: XX }\n", "country: XX",
       "clusters.eu.location.country: unknown country code \"XX\" (not in the countries table)"},
      {"two location forms", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1], location: { lat: 1, lon: 2, country: IE } }\n", "eu:", "expected exactly one of {lat, lon}, {country} or {region}"},
      {"latitude out of range", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1], location: { lat: 91, lon: 2 } }\n", "eu:", "clusters.eu.location.lat: expected a number from -90 to 90"},
      {"bad country", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1], location: { country: IRL } }\n", "eu:", "expected a two-letter country code"},
      {"unknown check kind", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - ping: { address: x }\n", "ping", "unknown check kind \"ping\""},
      {"check url scheme", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - http: { url: \"ftp://x\" }\n", "ftp", "clusters.eu.checks[0].http.url: expected an http:// or https:// URL"},
      {"fresh_connection not a boolean", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - http: { url: \"http://x/\",\n                fresh_connection: sometimes }\n", "fresh_connection", "clusters.eu.checks[0].http.fresh_connection: expected true or false, got \"sometimes\""},
      {"timeout above interval", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - tcp: { address: \"127.0.0.1:1\", interval: 1s, timeout: 2s }\n", "tcp:", "timeout: must not exceed the interval"},
      {"tcp check without port", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - tcp: { address: \"127.0.0.1\" }\n", "tcp:", "expected an address with a port"},
      {"check name twice", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - { name: api, tcp: { address: \"127.0.0.1:1\" } }\n      - { name: api, tcp: { address: \"127.0.0.1:2\" } }\n", "127.0.0.1:2", "clusters.eu.checks[1]: check name \"api\" is already used by clusters.eu.checks[0]"},
      {"check name equal to a default", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - tcp: { address: \"127.0.0.1:1\" }\n      - { name: tcp0, tcp: { address: \"127.0.0.1:2\" } }\n", "127.0.0.1:2", "check name \"tcp0\" is already used"},
      {"bad check name", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - { name: \"a b\", tcp: { address: \"127.0.0.1:1\" } }\n", "a b", "clusters.eu.checks[0].name: expected letters, digits"},
      {"check with two kinds", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - { tcp: { address: \"127.0.0.1:1\" }, http: { url: \"http://x/\" } }\n", "tcp:", "with an optional name"},
      {"dns check type", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - dns: { server: 127.0.0.1, name: x.example.test., type: AAAAA }\n", "AAAAA", "clusters.eu.checks[0].dns.type: expected a query type like A, AAAA, TXT or TYPE65, got \"AAAAA\""},
      {"dns check rcode", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - dns: { server: 127.0.0.1, name: x.example.test., rcode: NOERRR }\n", "NOERRR", "clusters.eu.checks[0].dns.rcode: expected an rcode like NOERROR, NXDOMAIN or SERVFAIL, got \"NOERRR\""},
      {"dns check address", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - dns: { server: 127.0.0.1, name: x.example.test., address: not-an-ip }\n", "not-an-ip", "clusters.eu.checks[0].dns.address: expected an IPv4 address (type A), got \"not-an-ip\""},
      {"dns check v4 address for AAAA", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - dns: { server: 127.0.0.1, name: x.example.test., type: AAAA, address: 192.0.2.1 }\n", "AAAA", "clusters.eu.checks[0].dns.address: expected an IPv6 address (type AAAA)"},
      {"dns check address for TXT", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - dns: { server: 127.0.0.1, name: x.example.test., type: TXT, address: 192.0.2.1 }\n", "TXT", "clusters.eu.checks[0].dns.address: an expected address needs type A or AAAA, not TXT"},
      {"dns check rcode past 4 bits", kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n      - dns: { server: 127.0.0.1, name: x.example.test., rcode: RCODE16 }\n", "RCODE16", "clusters.eu.checks[0].dns.rcode: expected an rcode"},
      {"bad require", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1], require: most }\n", "eu:", "clusters.eu.require: expected all or any"},
      {"bad initial_state", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1], initial_state: maybe }\n", "eu:", "expected probe, up or down"},
      {"unknown cluster in service", kServer + kZone + kCluster + "services:\n  - name: app.example.test.\n    clusters: [eu, us]\n", "clusters: [eu, us]", "services[0].clusters[1]: no cluster named \"us\""},
      {"bad policy", kServer + kZone + kCluster + "services:\n  - name: app.example.test.\n    policy: closest\n    clusters: [eu]\n", "policy", "expected one of nearest, latency, failover, weighted"},
      {"weighted without weights", kServer + kZone + kCluster + "services:\n  - name: app.example.test.\n    policy: weighted\n    clusters: [eu]\n", "name: app", "policy weighted needs 'weights"},
      {"weights as a list", kServer + kZone + kCluster + "services:\n  - name: app.example.test.\n    policy: weighted\n    weights: [3]\n    clusters: [eu]\n", "weights", "services[0].weights: expected a map like {cluster: weight, ...}"},
      {"weights without weighted", kServer + kZone + kCluster + "services:\n  - name: app.example.test.\n    weights: { eu: 1 }\n    clusters: [eu]\n", "weights", "only used with policy: weighted"},
      {"bad when_all_down", kServer + kZone + kCluster + "services:\n  - name: app.example.test.\n    when_all_down: panic\n    clusters: [eu]\n", "when_all_down", "expected fail_open or servfail"},
      {"service twice", kServer + kZone + kCluster + "services:\n  - { name: app.example.test., clusters: [eu] }\n  - { name: App.example.test., clusters: [eu] }\n", "App.", "defined twice"},
      {"service outside zones", kServer + kZone + kCluster + "services:\n  - { name: app.example.org., clusters: [eu] }\n", "app.example.org", "is not inside any configured zone"},
      {"service with A record", kServer + kZone + "    records: |\n      app IN A 192.0.2.1\n" + kCluster + "services:\n  - { name: app.example.test., clusters: [eu] }\n", "app IN A", "is a service name"},
      {"ingress address twice", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1, \"2001:db8::1\", 192.0.2.1] }\n", "eu:", "clusters.eu.ingress[2]: address 192.0.2.1 listed twice"},
      {"ingress v6 twice", kServer + kZone + "clusters:\n  eu: { ingress: [\"2001:db8::1\", \"2001:DB8::1\"] }\n", "eu:", "clusters.eu.ingress[1]: address 2001:DB8::1 listed twice"},
      {"wildcard service", kServer + kZone + kCluster + "services:\n  - { name: \"*.example.test.\", clusters: [eu] }\n", "*.example", "services[0].name: a service name cannot have a \"*\" label"},
      {"all weights zero", kServer + kZone + "clusters:\n  eu: { ingress: [192.0.2.1] }\n  us: { ingress: [192.0.2.2] }\n" +
           "services:\n  - name: app.example.test.\n    policy: weighted\n    weights: { eu: 0, us: 0 }\n    clusters: [eu, us]\n", "weights", "services[0].weights: every weight is 0"},
      {"answer past 65535 bytes", kServer + kZone + big_cluster + "services:\n  - name: app.example.test.\n    clusters: [big]\n", "name: app",
       "services[0]: an answer of 4100 IPv4 addresses cannot fit a 65,535-byte TCP message (at most 4060 fit): cluster big has 4100"},
      {"more clusters than ids", kServer + kZone + many_clusters, "  c0:", "clusters: 65536 clusters, more than the 65535 a cluster id can number"},
      {"more services than ids", kServer + kZone + kCluster + many_services, "  - { name: s0.", "services: 65536 services, more than the 65535 a service id can number"},
      {"sync without etcd", kServer + kZone + "sync:\n  down_when: any\n", "down_when", "sync: missing required key 'etcd'"},
      {"sync unknown key", kServer + kZone + "sync:\n  etcd: { endpoints: [\"http://127.0.0.1:2379\"], prefix: /g/ }\n  quorum: 2\n",
       "quorum", "sync.quorum: unknown key (expected one of: etcd, down_when)"},
      {"sync no endpoints", kServer + kZone + "sync:\n  etcd: { endpoints: [], prefix: /g/ }\n", "endpoints",
       "sync.etcd.endpoints: expected a list of URLs like \"http://127.0.0.1:2379\""},
      {"sync endpoint not a URL", kServer + kZone + "sync:\n  etcd:\n    endpoints: [\"127.0.0.1:2379\"]\n    prefix: /g/\n",
       "127.0.0.1:2379", "sync.etcd.endpoints[0]: expected a URL like \"http://127.0.0.1:2379\" (no path), got \"127.0.0.1:2379\""},
      {"sync prefix without slash", kServer + kZone + "sync:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\"]\n    prefix: /g\n",
       "prefix", "sync.etcd.prefix: expected a key prefix ending in \"/\""},
      {"sync instance with slash", kServer + kZone + "sync:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\"]\n    prefix: /g/\n    instance: a/b\n",
       "instance", "sync.etcd.instance: expected 1 to 255 characters without \"/\" or spaces, got \"a/b\""},
      {"sync lease too short", kServer + kZone + "sync:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\"]\n    prefix: /g/\n    lease_ttl: 1s\n",
       "lease_ttl", "sync.etcd.lease_ttl: must be at least 2s"},
      {"sync cert without key", kServer + kZone + "sync:\n  etcd:\n    endpoints: [\"https://127.0.0.1:2379\"]\n    prefix: /g/\n    tls: { cert_file: c.pem }\n",
       "tls", "sync.etcd.tls: cert_file and key_file go together"},
      {"sync bad down_when", kServer + kZone + "sync:\n  etcd: { endpoints: [\"http://127.0.0.1:2379\"], prefix: /g/ }\n  down_when: most\n",
       "down_when", "sync.down_when: expected majority, all, any or a number of instances 1..1000, got \"most\""},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const std::string error = error_of(c.yaml);
    REQUIRE_MESSAGE(!error.empty(), "no error for: " << c.name);
    const std::string path = write_temp("bad.yaml", "");
    CHECK_MESSAGE(error.rfind(path + ":", 0) == 0, error);
    if (*c.marker) {
      const std::string prefix = path + ":" + std::to_string(line_of(c.yaml, c.marker)) + ":";
      CHECK_MESSAGE(error.rfind(prefix, 0) == 0, error << "  (want " << prefix << ")");
    }
    CHECK_MESSAGE(error.find(c.expect) != std::string::npos, error << "  (want " << c.expect << ")");
  }
}

TEST_CASE("checks are named by `name`, else by kind and index within their kind") {
  const auto s = serve(kServer + kZone +
                       "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n"
                       "      - http: { url: \"http://127.0.0.1:1/\" }\n"
                       "      - tcp: { address: \"127.0.0.1:1\" }\n"
                       "      - name: api\n        http: { url: \"http://127.0.0.1:2/\" }\n"
                       "      - http: { url: \"http://127.0.0.1:3/\" }\n"
                       "      - dns: { server: 127.0.0.1, name: app.example.test. }\n"
                       "services:\n  - { name: app.example.test., clusters: [eu] }\n");
  std::vector<std::string> names;
  for (const auto& c : s.state->config.clusters[0].health.checks) names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"http0", "tcp0", "api", "http2", "dns0"});
}

TEST_CASE("a config that is good loads, with defaults filled in") {
  const auto s = serve(kServer + kZone + kCluster + "services:\n  - { name: app.example.test., clusters: [eu] }\n");
  CHECK(s.state->zones.size() == 1);
  CHECK(s.state->services.size() == 1);
  CHECK(s.state->services[0].ttl == 30);
  CHECK(s.state->config.server.workers == 1);
  CHECK(s.state->config.server.max_udp_size == 1232);
}

TEST_CASE("a duplicate key names both of its positions") {
  const std::string yaml = kServer + "  workers: 1\n  workers: 2\n" + kZone;
  const std::string error = error_of(yaml);
  const std::string path = write_temp("bad.yaml", "");
  CHECK(error == path + ":4:3: server.workers: duplicate key (first written at " + path + ":3:3)");
}

TEST_CASE("durations take ms, s, m, h and d") {
  const auto load = [](const std::string& server) {
    return dns::load_config(write_temp("good.yaml", kServer + server + kZone)).server;
  };
  CHECK(load("  tcp_idle_timeout: 250ms\n").tcp_idle_timeout == std::chrono::milliseconds(250));
  CHECK(load("  tcp_idle_timeout: 2h\n").tcp_idle_timeout == std::chrono::hours(2));
  CHECK(load("  http_idle_timeout: 1d\n").http_idle_timeout == std::chrono::hours(24));
  CHECK(load("  http_idle_timeout: 7d\n").http_idle_timeout == std::chrono::hours(24 * 7));
  CHECK(load("  tcp_idle_timeout: 3m\n").tcp_idle_timeout == std::chrono::minutes(3));
}

TEST_CASE("an endpoint parsed again is the address it now holds, whatever it held before") {
  dns::Endpoint fresh, reused;
  REQUIRE(dns::parse_endpoint("127.0.0.1:53", 0, &fresh));
  REQUIRE(dns::parse_endpoint("[2001:db8::1]:53", 0, &reused));
  REQUIRE(dns::parse_endpoint("127.0.0.1:53", 0, &reused));
  CHECK(reused == fresh);
}

TEST_CASE("the schema says which server keys a reload cannot change") {
  const auto load = [](const std::string& server) {
    return dns::load_config(write_temp("good.yaml", "server:\n" + server + kZone)).server;
  };
  const auto base = load("  listen: [\"127.0.0.1:5300\"]\n  http: \"127.0.0.1:9100\"\n");
  CHECK(dns::restart_only_changes(base, base).empty());
  using V = std::vector<std::string>;
  CHECK(dns::restart_only_changes(base, load("  listen: [\"127.0.0.1:5301\"]\n  http: \"127.0.0.1:9100\"\n")) == V{"server.listen"});
  // The same addresses written otherwise are no change.
  const auto v6 = load("  listen: [\"[::1]:5300\"]\n  http: \"[::1]:9100\"\n");
  CHECK(dns::restart_only_changes(v6, load("  listen: [\"[0:0::1]:5300\"]\n  http: \"[0::0:1]:9100\"\n")).empty());
  CHECK(dns::restart_only_changes(v6, load("  listen: [\"[::2]:5300\"]\n  http: \"[::1]:9100\"\n")) == V{"server.listen"});
  CHECK(dns::restart_only_changes(base, load("  listen: [\"127.0.0.1:5300\"]\n")) == V{"server.http"});
  CHECK(dns::restart_only_changes(base, load("  listen: [\"127.0.0.1:5300\"]\n  http: \"127.0.0.1:9100\"\n  workers: 2\n")) ==
        V{"server.workers"});
  // Runtime settings: a reload applies them.
  CHECK(dns::restart_only_changes(base, load("  listen: [\"127.0.0.1:5300\"]\n  http: \"127.0.0.1:9100\"\n"
                                             "  http_token: t\n  state_file: s\n  resolver: 127.0.0.1\n  nsid: n\n"
                                             "  tcp_idle_timeout: 1s\n  tcp_max_connections: 5\n  rrl: { responses_per_second: 5 }\n"))
            .empty());
  // With sync on and no instance written, the instance is the nsid: the refusal names
  // the key the operator changed.
  const auto load_sync = [](const std::string& nsid, const std::string& instance) {
    return dns::load_config(write_temp("sync.yaml", "server:\n  listen: [\"127.0.0.1:5300\"]\n  nsid: " + nsid + "\n" + kZone +
                                                        "sync:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\"]\n"
                                                        "    prefix: /g/\n" + instance))
        .sync;
  };
  CHECK(dns::restart_only_changes(load_sync("ns1", ""), load_sync("ns2", "")) ==
        V{"server.nsid (sync.etcd.instance defaults to it)"});
  CHECK(dns::restart_only_changes(load_sync("ns1", "    instance: a\n"), load_sync("ns2", "    instance: a\n")).empty());
  CHECK(dns::restart_only_changes(load_sync("ns1", "    instance: a\n"), load_sync("ns1", "    instance: b\n")) ==
        V{"sync.etcd.instance"});
  std::vector<std::string> restart_only;
  for (const auto& k : dns::config_schema())
    if (k.reload == dns::Reload::needs_restart) restart_only.push_back(k.path);
  CHECK(restart_only == V{"server.listen", "server.workers", "server.http", "server.control_socket", "server.xdp",
                          "sync.etcd", "sync.etcd.endpoints", "sync.etcd.tls", "sync.etcd.prefix", "sync.etcd.instance",
                          "sync.etcd.lease_ttl"});
}

TEST_CASE("a restart-only change is refused where the new config writes it") {
  const std::string path = write_temp("restart.yaml", "server:\n  listen: [\"127.0.0.1:5300\"]\n  workers: 2\n" + kZone);
  const dns::Config next = dns::load_config(path);
  CHECK(dns::restart_refusal(next, {"server.workers"}) == path + ":3:3: server.workers cannot change without a restart");
  // Each key where it is; one left out (back to its default) by the file alone.
  CHECK(dns::restart_refusal(next, {"server.listen", "server.http"}) ==
        path + ":2:3: server.listen cannot change without a restart; " + path +
            ": server.http cannot change without a restart");
  CHECK(dns::restart_refusal(next, {"server.nsid (sync.etcd.instance defaults to it)"}) ==
        path + ": server.nsid (sync.etcd.instance defaults to it) cannot change without a restart");
}

TEST_CASE("a reload may change sync.down_when only") {
  const auto load = [](const std::string& sync) { return dns::load_config(write_temp("good.yaml", kServer + kZone + sync)).sync; };
  const std::string etcd = "sync:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\"]\n    prefix: /g/\n    instance: a\n";
  const auto base = load(etcd);
  REQUIRE(base);
  CHECK(base->etcd.lease_ttl == std::chrono::seconds(10));
  CHECK(base->down_when == sync::DownRule{});
  using V = std::vector<std::string>;
  CHECK(dns::restart_only_changes(base, load(etcd + "  down_when: 2\n")).empty());
  CHECK(load(etcd + "  down_when: 2\n")->down_when == sync::DownRule{sync::DownRule::Kind::count, 2});
  CHECK(dns::restart_only_changes(base, load("")) == V{"sync"});
  CHECK(dns::restart_only_changes(std::nullopt, base) == V{"sync"});
  CHECK(dns::restart_only_changes(base, load(etcd + "    lease_ttl: 5s\n")) == V{"sync.etcd.lease_ttl"});
  CHECK(dns::restart_only_changes(base, load("sync:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2479\"]\n    prefix: /h/\n"
                                             "    instance: a\n")) == V{"sync.etcd.endpoints", "sync.etcd.prefix"});
  // The instance defaults to server.nsid.
  CHECK(dns::load_config(write_temp("good.yaml", kServer + "  nsid: ns7\n" + kZone +
                                    "sync:\n  etcd: { endpoints: [\"http://127.0.0.1:2379\"], prefix: /g/ }\n"))
            .sync->etcd.instance == "ns7");
}

TEST_CASE("the schema lists each key with its type and the struct's default") {
  std::map<std::string, dns::SchemaKey> keys;
  for (const auto& k : dns::config_schema()) CHECK_MESSAGE(keys.emplace(k.path, k).second, k.path);
  CHECK(keys.at("server.workers").type == "integer 1..256");
  CHECK(keys.at("server.workers").default_value == "1");
  CHECK(keys.at("server.tcp_idle_timeout").type == "duration 100ms..7d");
  CHECK(keys.at("server.tcp_idle_timeout").default_value == "10s");
  CHECK(keys.at("server.rrl.slip").default_value == "2");
  CHECK(keys.at("server.max_udp_size").default_value == "1232");
}

TEST_CASE("a dns check's type, rcode and address are parsed at load") {
  const auto s = serve(kServer + kZone +
                       "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    checks:\n"
                       "      - dns: { server: 127.0.0.1, name: x.example.test., type: aaaa, rcode: nxdomain, address: \"2001:db8::1\" }\n"
                       "      - dns: { server: 127.0.0.1, name: x.example.test., type: TYPE65, rcode: RCODE11 }\n"
                       "      - dns: { server: 127.0.0.1, name: x.example.test. }\n"
                       "services:\n  - { name: app.example.test., clusters: [eu] }\n");
  const auto& checks = s.state->config.clusters[0].health.checks;
  CHECK(checks[0].dns.qtype == 28);
  CHECK(checks[0].dns.expect_rcode == 3);
  CHECK(checks[0].dns.expect_address == std::array<uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  CHECK(checks[1].dns.qtype == 65);
  CHECK(checks[1].dns.expect_rcode == 11);
  CHECK(checks[2].dns.qtype == 1);
  CHECK(checks[2].dns.expect_rcode == 0);
  CHECK(!checks[2].dns.expect_address);
}

TEST_CASE("a country the geo sources cannot place points at its text") {
  const std::string yaml = kServer + kZone + "clusters:\n  eu:\n    ingress: [192.0.2.1]\n    location: { country: XX }\n";
  const std::string error = error_of(yaml);
  const std::string path = write_temp("bad.yaml", "");
  CHECK(error == path + ":" + std::to_string(line_of(yaml, "country: XX")) + ":26: clusters.eu.location.country: unknown country code \"XX\" (not in the countries table)");
}

// README's key table is the schema's: a key added to the schema without its row
// (or a row that says otherwise) fails here, printing the table to paste.
TEST_CASE("README's server key table is the schema's") {
  std::string table = "| Key | Type | Default | On SIGHUP |\n|---|---|---|---|\n";
  for (const auto& k : dns::config_schema())
    table += "| `" + k.path + "` | " + k.type + " | " + (k.default_value.empty() ? "" : "`" + k.default_value + "`") +
             " | " + (k.reload == dns::Reload::applies ? "applied" : "**restart only**") + " |\n";
  std::ifstream in(std::string(GSLB_SOURCE_DIR) + "/README.md");
  const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_MESSAGE(readme.find(table) != std::string::npos, "README.md lacks this table:\n" << table);
}

TEST_CASE("the geo.networks file is read as strictly as the config: file, line, column, entry and reason") {
  const std::string config = "server:\n  listen: [\"127.0.0.1:5300\"]\ngeo:\n  networks: networks.yaml\n" + kZone +
                             "clusters:\n  eu-west: { ingress: [192.0.2.1] }\n  us-east: { ingress: [192.0.2.2] }\n";
  const auto error = [&](const std::string& networks) {
    write_temp("networks.yaml", networks);
    return error_of(config);
  };
  const std::string file = write_temp("networks.yaml", "");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"- { cidr: 192.0.2.0/24, location: { lat: 1, lon: 2 }\n", ":2:1: end of map flow not found"},
      {"cidr: 192.0.2.0/24\n", ":1:1: expected a list of {cidr, location | clusters}"},
      {"- { cidr: 192.0.2.0/24, location: { country: DE } }\n- { cidr: 192.0.3.0/24, colour: red }\n",
       ":2:25: [1].colour: unknown key (expected one of: cidr, location, clusters)"},
      {"- cidr: 192.0.2.0/24\n  location:\n    latitude: 50\n", ":3:5: [0].location.latitude: unknown key"},
      {"- { location: { country: DE } }\n", ":1:3: [0]: missing required key 'cidr'"},
      {"- { cidr: 192.0.2.1/24, location: { country: DE } }\n",
       ":1:11: [0].cidr: expected a prefix with no host bits set"},
      {"- { cidr: 192.0.2.0/24, location: { country: DE } }\n- { cidr: 192.0.2.0/24, location: { country: FR } }\n",
       ":2:11: [1].cidr: duplicate cidr 192.0.2.0/24 (first at " + file + ":1:11)"},
      {"- { cidr: 192.0.2.0/24, location: { country: DE }, clusters: [eu-west] }\n",
       ":1:3: [0]: expected exactly one of location, clusters"},
      {"- { cidr: 10.0.0.0/8, clusters: [eu-west, mars-1] }\n", ":1:43: [0].clusters[1]: no cluster named \"mars-1\" in clusters"},
      {"- { cidr: 10.0.0.0/8, clusters: [eu-west, eu-west] }\n", ":1:43: [0].clusters[1]: listed twice"},
      {"- { cidr: 10.0.0.0/8, location: { country: XQ } }\n",
       ":1:44: [0].location.country: unknown country code \"XQ\" (not in the countries table)"},
      {"- { cidr: 10.0.0.0/8, location: { country: DE, region: eu } }\n", ":1:33: [0].location: expected exactly one of"},
      {"- { cidr: 10.0.0.0/8, location: { lat: 91, lon: 0 } }\n", ":1:40: [0].location.lat:"},
      {"- { cidr: 10.0.0.0/8, location: { country: DE }, location: { country: FR } }\n",
       ":1:50: [0].location: duplicate key (first written at " + file + ":1:23)"},
  };
  for (const auto& [networks, expect] : cases) {
    const std::string e = error(networks);
    CHECK_MESSAGE(e.find(file + expect) == 0, networks << "gave: " << e);
  }
  CHECK(error("- { cidr: 10.0.0.0/8, location: { country: DE } }\n- { cidr: \"2001:db8::/32\", clusters: [us-east] }\n") == "");
  std::filesystem::remove(file);
  CHECK(error_of(config).find(":4:13: geo.networks: cannot open " + file + ": No such file or directory") != std::string::npos);
}
