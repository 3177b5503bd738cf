// The answer path alone, without sockets: gslb::dns::answer_query over a prepared
// batch of wire queries (built with ldns), for a static name, a name that does not
// exist, and a service answered by the client subnet (EDNS Client Subnet), unsigned
// and from the same zone signed (DNSSEC, DO=1: the pre-made signature copied in),
// and the NXDOMAIN signed, with NSEC and with NSEC3 proofs.
//
//   answer_bench                      Google Benchmark: time per query (counter per_query)
//   answer_bench --callgrind N        answers N queries of each kind between callgrind
//                                     client requests; bench/callgrind divides Ir by N
//   answer_bench --sign-load ANSWERS  builds a zone of 1,000 names and 100 services x 5
//                                     clusters (IPv4 and IPv6 each) unsigned, then signed
//                                     with NSEC, then with NSEC3: build time, signatures,
//                                     RSS growth
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dnsd/answer.h"
#include "dnsd/config.h"
#include "dnsd/serving_state.h"

// Last: ldns's C headers define macros that clash with later C++ standard headers.
#include <ldns/ldns.h>

namespace {

using namespace gslb;

// The same data bench/run gives gslbd and its peers.
const char* kConfig = R"(
server:
  listen: ["127.0.0.1:5300"]
  workers: 1
geo:
  networks: networks.yaml
zones:
  - origin: global.example.com.
    soa: { mname: ns1.global.example.com., rname: hostmaster.global.example.com., serial: 1, minimum: 60 }
    ns: [ns1.global.example.com.]
%DNSSEC%
    records: |
      ns1  3600 IN A 192.0.2.53
      www  300  IN A 192.0.2.80
services:
  - name: app.global.example.com.
    ttl: 30
    policy: nearest
    clusters: [eu-west, us-east, ap-northeast]
clusters:
  eu-west:      { location: { lat: 50.11, lon: 8.68 },   ingress: [203.0.113.10] }
  us-east:      { location: { lat: 38.9, lon: -77.04 },  ingress: [203.0.113.20] }
  ap-northeast: { location: { lat: 35.68, lon: 139.69 }, ingress: [203.0.113.30] }
)";

const char* kNetworks = R"(
- { cidr: 192.0.2.0/24,    clusters: [eu-west, us-east, ap-northeast] }
- { cidr: 198.51.100.0/24, clusters: [us-east, eu-west, ap-northeast] }
- { cidr: 203.0.113.0/24,  clusters: [ap-northeast, us-east, eu-west] }
)";

struct World {
  std::shared_ptr<const dns::ServingState> state;
  health::HealthView health;
  double build_ms = 0;  // load_config + build_serving_state (signing included), not the key generation
};

// How the zone is signed: not at all, or with the NSEC or the NSEC3 chain.
enum class Chain { none, nsec, nsec3 };
const char* to_string(Chain c) { return c == Chain::none ? "unsigned" : c == Chain::nsec ? "nsec" : "nsec3"; }

// Signed with a key made by ldns-keygen (ldnsutils) for the zone.
World build_world(Chain chain, const std::string& config_text = kConfig,
                  const std::string& networks_text = kNetworks) {
  char tmpl[] = "/tmp/gslbd-bench-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (!dir) throw std::runtime_error("mkdtemp failed");
  const std::string config = std::string(dir) + "/bench.yaml", networks = std::string(dir) + "/networks.yaml";
  std::string text = config_text, dnssec;
  if (chain != Chain::none) {
    const std::string keygen = std::string("cd ") + dir + " && ldns-keygen -a ECDSAP256SHA256 -k global.example.com > key";
    if (std::system(keygen.c_str()) != 0) throw std::runtime_error("ldns-keygen failed");
    std::string key;
    std::ifstream(std::string(dir) + "/key") >> key;
    dnssec = "    dnssec: { keys: [" + std::string(dir) + "/" + key + "], denial: " + to_string(chain) + " }";
  }
  text.replace(text.find("%DNSSEC%"), 8, dnssec);
  std::ofstream(config) << text;
  std::ofstream(networks) << networks_text;
  World out;
  dns::MetricNames slots;
  const auto start = std::chrono::steady_clock::now();
  out.state = dns::build_serving_state(dns::load_config(config), 1, &slots);
  out.build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  out.health.up.assign(out.state->clusters.size(), 1);
  out.health.transitioning.assign(out.state->clusters.size(), 0);
  std::system((std::string("rm -rf ") + dir).c_str());
  return out;
}

const World& world(Chain chain) {
  static const World plain = build_world(Chain::none);
  if (chain == Chain::none) return plain;
  static const World nsec = build_world(Chain::nsec);
  if (chain == Chain::nsec) return nsec;
  static const World nsec3 = build_world(Chain::nsec3);
  return nsec3;
}

// One wire query like dnsperf sends: RD clear, EDNS 1232, optionally ECS.
std::vector<uint8_t> make_query(const std::string& name, uint16_t id, const char* ecs_v4 = nullptr, bool dnssec_ok = false,
                                int prefix = 24) {
  ldns_rdf* owner = ldns_dname_new_frm_str(name.c_str());
  ldns_pkt* pkt = ldns_pkt_query_new(owner, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
  ldns_pkt_set_id(pkt, id);
  ldns_pkt_set_edns_udp_size(pkt, 1232);
  if (ecs_v4) {
    uint8_t addr[4];
    if (inet_pton(AF_INET, ecs_v4, addr) != 1) std::abort();
    const unsigned n = static_cast<unsigned>(prefix + 7) / 8;
    std::vector<uint8_t> opt = {0, 8, 0, static_cast<uint8_t>(4 + n), 0, 1, static_cast<uint8_t>(prefix), 0};
    opt.insert(opt.end(), addr, addr + n);
    ldns_pkt_set_edns_data(pkt, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, opt.size(), opt.data()));
  }
  ldns_pkt_set_edns_do(pkt, dnssec_ok);
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK) std::abort();
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  ldns_pkt_free(pkt);
  return out;
}

// What one benchmark asks, and of which zone: signed zones are asked with DO=1.
struct Kind {
  const char* name;
  const char* qname;
  bool ecs;
  Chain chain;
};
constexpr Kind kStatic{"static", "www.global.example.com.", false, Chain::none};
constexpr Kind kNxdomain{"nxdomain", "nothing-here.global.example.com.", false, Chain::none};
constexpr Kind kGeoEcs{"geo_ecs", "app.global.example.com.", true, Chain::none};
constexpr Kind kGeoEcsSigned{"geo_ecs_signed", "app.global.example.com.", true, Chain::nsec};
constexpr Kind kNxdomainNsec{"nxdomain_nsec", "nothing-here.global.example.com.", false, Chain::nsec};
constexpr Kind kNxdomainNsec3{"nxdomain_nsec3", "nothing-here.global.example.com.", false, Chain::nsec3};

// A batch of 32 queries (the worker's recvmmsg batch), varied IDs and, for the geo
// case, the three mapped subnets plus one that falls to the default ranking.
std::vector<std::vector<uint8_t>> batch(const Kind& kind) {
  static const char* subnets[] = {"192.0.2.0", "198.51.100.0", "203.0.113.0", "100.64.0.0"};
  std::vector<std::vector<uint8_t>> out;
  for (uint16_t i = 0; i < 32; ++i)
    out.push_back(make_query(kind.qname, i, kind.ecs ? subnets[i % 4] : nullptr, kind.chain != Chain::none));
  return out;
}

// Answers every query of the batch once; returns the bytes written (kept live).
size_t answer_batch(const std::vector<std::vector<uint8_t>>& queries, uint8_t* out, size_t cap, Chain chain) {
  const World& w = world(chain);
  dns::ClientInfo client;
  client.address[0] = 127;
  client.address[3] = 1;
  size_t total = 0;
  for (const auto& q : queries) {
    dns::Outcome outcome;
    const size_t n = dns::answer_query(q.data(), q.size(), client, *w.state, w.health, out, cap, &outcome);
    if (n == 0) std::abort();
    total += n;
  }
  return total;
}

void run(benchmark::State& state, const Kind& kind) {
  const auto queries = batch(kind);
  std::vector<uint8_t> out(4096);
  world(kind.chain);
  for (auto _ : state) {
    size_t n = answer_batch(queries, out.data(), out.size(), kind.chain);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  const double q = static_cast<double>(state.iterations()) * static_cast<double>(queries.size());
  state.SetItemsProcessed(static_cast<int64_t>(q));
  // Seconds per query (printed with an SI prefix: "167n" = 167 ns). With several
  // threads this would be the inverse of their combined rate, not any query's time.
  if (state.threads() == 1)
    state.counters["per_query"] = benchmark::Counter(q, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_Static(benchmark::State& s) { run(s, kStatic); }
void BM_NxDomain(benchmark::State& s) { run(s, kNxdomain); }
void BM_GeoEcs(benchmark::State& s) { run(s, kGeoEcs); }
void BM_GeoEcsSigned(benchmark::State& s) { run(s, kGeoEcsSigned); }
void BM_NxDomainNsec(benchmark::State& s) { run(s, kNxdomainNsec); }
void BM_NxDomainNsec3(benchmark::State& s) { run(s, kNxdomainNsec3); }
BENCHMARK(BM_Static);
BENCHMARK(BM_NxDomain);
BENCHMARK(BM_GeoEcs);
BENCHMARK(BM_GeoEcsSigned);
BENCHMARK(BM_NxDomainNsec);
BENCHMARK(BM_NxDomainNsec3);
// Workers share the serving state read-only and write only their own buffers and
// counters, so answering should scale with threads up to the cores there are.
// Wall-clock time, so items_per_second is the threads' combined rate.
BENCHMARK(BM_GeoEcs)->Name("BM_GeoEcs_threads")->Threads(1)->Threads(2)->UseRealTime();

// Fixed work for callgrind: instrumentation is on only around each kind's loop
// (valgrind --instr-atstart=no), and each kind ends in its own dump.
int callgrind(long total) {
  std::vector<uint8_t> out(4096);
  for (const Chain c : {Chain::none, Chain::nsec, Chain::nsec3}) world(c);
  for (const Kind& k : {kStatic, kNxdomain, kGeoEcs, kGeoEcsSigned, kNxdomainNsec, kNxdomainNsec3}) {
    const auto queries = batch(k);
    const long per_batch = static_cast<long>(queries.size());
    const long loops = (total + per_batch - 1) / per_batch;
    size_t sink = answer_batch(queries, out.data(), out.size(), k.chain);  // warm
    CALLGRIND_ZERO_STATS;
    CALLGRIND_START_INSTRUMENTATION;
    for (long i = 0; i < loops; ++i) sink += answer_batch(queries, out.data(), out.size(), k.chain);
    CALLGRIND_STOP_INSTRUMENTATION;
    CALLGRIND_DUMP_STATS_AT(k.name);
    std::printf("%s queries=%ld sink=%zu\n", k.name, loops * per_batch, sink);
  }
  return 0;
}

}  // namespace

// The process's resident set in KiB (VmRSS of /proc/self/status).
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") return in >> value ? value : 0;
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

// Issue 14's sizing: 1,000 static names, 100 services over 5 clusters each.
std::string large_config(unsigned answers) {
  std::string text = R"(
server:
  listen: ["127.0.0.1:5300"]
  workers: 1
geo:
  networks: networks.yaml
zones:
  - origin: global.example.com.
    soa: { mname: ns1.global.example.com., rname: hostmaster.global.example.com., serial: 1, minimum: 60 }
    ns: [ns1.global.example.com.]
%DNSSEC%
    records: |
      ns1  3600 IN A 192.0.2.53
)";
  for (int i = 0; i < 1000; ++i) text += "      host" + std::to_string(i) + " 300 IN A 192.0.2." + std::to_string(i % 250 + 1) + "\n";
  text += "services:\n";
  for (int i = 0; i < 100; ++i)
    text += "  - { name: svc" + std::to_string(i) + ".global.example.com., ttl: 30, policy: nearest, answers: " +
            std::to_string(answers) + ", clusters: [c1, c2, c3, c4, c5] }\n";
  text += "clusters:\n";
  for (int c = 1; c <= 5; ++c)
    text += "  c" + std::to_string(c) + ": { location: { lat: " + std::to_string(10 * c) + ", lon: " +
            std::to_string(20 * c) + " }, ingress: [203.0.113." + std::to_string(c) + ", 2001:db8::" +
            std::to_string(c) + "] }\n";
  return text;
}

int sign_load(unsigned answers) {
  const std::string text = large_config(answers);
  std::vector<World> kept;  // each state stays alive so that its growth is not memory the previous one freed
  kept.reserve(3);
  for (const Chain chain : {Chain::none, Chain::nsec, Chain::nsec3}) {
    const long before = rss_kib();
    const World& w = kept.emplace_back(build_world(chain, text, "- { cidr: 192.0.2.0/24, clusters: [c1, c2, c3, c4, c5] }\n"));
    const long after = rss_kib();
    size_t per_service = 0;
    for (const auto& family : w.state->services.front().signed_answers)
      for (const auto& at_ttl : family) per_service += at_ttl.rrsigs.size();
    std::printf("%-8s answers=%u build_ms=%.1f signatures_per_service=%zu services=%zu rss_growth_kib=%ld\n",
                to_string(chain), answers, w.build_ms, per_service, w.state->services.size(),
                after - before);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--callgrind") == 0) return callgrind(std::atol(argv[2]));
  if (argc == 3 && std::strcmp(argv[1], "--sign-load") == 0)
    return sign_load(static_cast<unsigned>(std::atoi(argv[2])));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
