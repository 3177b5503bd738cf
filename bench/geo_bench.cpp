// What compiling the real Debian tor-geoipdb tables costs, per service layout: the
// table's resident memory, the compile time and the time of one route().
//
//   geo_bench example          the example config's one service over three clusters
//   geo_bench shared N         N services over 20 distinct cluster sets (services
//                              that rank alike, as most deployments have)
//   geo_bench random N         N services, each over its own random 2-5 of 30
//                              clusters (the worst case for per-ranking tables)
//
// Run each layout in its own process so that one's heap does not hide in
// another's figures. Prints one line of key=value pairs.
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "geo/routing.h"

namespace {

using namespace gslb::geo;

long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

Location at(double lat, double lon) {
  Location l;
  l.lat = lat;
  l.lon = lon;
  return l;
}

// 30 cities on every continent.
const std::vector<std::pair<double, double>> kCities{
    {50.11, 8.68},   {53.35, -6.26},   {48.86, 2.35},    {52.37, 4.9},     {59.33, 18.07},  {41.9, 12.5},
    {40.42, -3.7},   {52.23, 21.01},   {38.9, -77.04},   {40.71, -74.0},   {41.88, -87.63}, {37.77, -122.42},
    {47.61, -122.33}, {32.78, -96.8},  {43.65, -79.38},  {19.43, -99.13},  {-23.55, -46.63}, {-34.6, -58.38},
    {4.71, -74.07},  {35.68, 139.69},  {37.57, 126.98},  {1.35, 103.82},   {22.32, 114.17}, {19.08, 72.88},
    {25.2, 55.27},   {-33.87, 151.21}, {-36.85, 174.76}, {-26.2, 28.05},   {30.04, 31.24},  {6.52, 3.38}};

std::vector<ClusterId> pick(std::mt19937& rng, size_t clusters) {
  const size_t k = 2 + rng() % 4;
  std::vector<ClusterId> out;
  while (out.size() < k) {
    const auto id = ClusterId(rng() % clusters);
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string layout = argc > 1 ? argv[1] : "example";
  const size_t n = argc > 2 ? size_t(std::stoul(argv[2])) : 5000;
  const std::string v4 = "/usr/share/tor/geoip", v6 = "/usr/share/tor/geoip6";
  if (!std::filesystem::exists(v4) || !std::filesystem::exists(v6)) {
    std::fprintf(stderr, "geo_bench: tor-geoipdb is not installed (%s)\n", v4.c_str());
    return 77;
  }
  Sources sources;
  sources.ranges = {v4, v6};
  sources.countries = std::string(GSLB_SOURCE_DIR) + "/conf/countries.csv";
  std::vector<ClusterInput> clusters;
  std::vector<ServiceInput> services;
  std::mt19937 rng(2026);
  if (layout == "example") {
    clusters = {{"eu-west", at(50.11, 8.68)}, {"us-east", at(38.9, -77.04)}, {"ap-northeast", at(35.68, 139.69)}};
    services.push_back({"app.global.example.com.", Policy::nearest, {0, 1, 2}, {}});
  } else if (layout == "shared" || layout == "random") {
    for (size_t i = 0; i < kCities.size(); ++i)
      clusters.push_back({std::to_string(i).insert(0, 1, 'c'), at(kCities[i].first, kCities[i].second)});
    std::vector<std::vector<ClusterId>> sets;
    for (int i = 0; i < 20; ++i) sets.push_back(pick(rng, clusters.size()));
    for (size_t i = 0; i < n; ++i) {
      ServiceInput s;
      s.name = std::to_string(i).insert(0, 1, 's');
      s.name += ".example.";
      s.clusters = layout == "shared" ? sets[i % sets.size()] : pick(rng, clusters.size());
      const auto kind = rng() % 10;
      s.policy = kind == 0 ? Policy::failover : kind == 1 ? Policy::weighted : Policy::nearest;
      if (s.policy == Policy::weighted) s.weights.assign(s.clusters.size(), 1 + rng() % 5);
      services.push_back(std::move(s));
    }
  } else {
    std::fprintf(stderr, "usage: geo_bench example | shared N | random N\n");
    return 2;
  }

  malloc_trim(0);
  const long rss_before = status_kb("VmRSS:");
  const auto start = std::chrono::steady_clock::now();
  auto table = compile(sources, clusters, services);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  malloc_trim(0);  // what the table keeps, not the parsers' scratch
  const long rss_table = status_kb("VmRSS:") - rss_before;

  std::vector<ClientAddress> clients(1 << 16);
  for (auto& c : clients) {
    const uint32_t v = rng();
    for (int k = 0; k < 4; ++k) c.bytes[k] = uint8_t(v >> (8 * k));
  }
  // The thread's CPU time, not the wall clock, and the fastest of several passes:
  // on a shared machine the rest measure the neighbours' load as much as route().
  size_t sink = 0;
  constexpr int kRounds = 16, kPasses = 9;
  double ns = 1e300;
  for (int pass = 0; pass < kPasses; ++pass) {
    const double start_ns = thread_cpu_ns();
    for (int round = 0; round < kRounds; ++round)
      for (size_t i = 0; i < clients.size(); ++i) sink += table->route(ServiceId(i % services.size()), clients[i]).scope;
    ns = std::min(ns, (thread_cpu_ns() - start_ns) / (kRounds * double(clients.size())));
  }
  std::printf("layout=%s services=%zu compile_ms=%.0f table_rss_kb=%ld peak_rss_kb=%ld prefixes=%zu route_ns=%.1f "
              "checksum=%zu\n",
              layout.c_str(), services.size(), ms, rss_table, status_kb("VmHWM:"), table->prefix_count(), ns, sink);
  return 0;
}
