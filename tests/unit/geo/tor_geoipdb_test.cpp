// The real Debian tor-geoipdb files: the whole table compiles, and addresses land
// where the file says. Prints compile time, table size and memory.
#include <doctest/doctest.h>

#include <malloc.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "test_util.h"

using namespace geo_test;

namespace {

// Resident set size, kB, from /proc/self/status ("VmRSS:" or "VmHWM:").
long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

}  // namespace

TEST_CASE("tor-geoipdb: the full IPv4 and IPv6 tables") {
  const std::string v4 = "/usr/share/tor/geoip", v6 = "/usr/share/tor/geoip6";
  // Its own ctest entry (geo_tor_geoipdb) reports SKIPPED without the package;
  // run here anyway, a missing table fails rather than passing silently.
  REQUIRE_MESSAGE((std::filesystem::exists(v4) && std::filesystem::exists(v6)), "tor-geoipdb not installed");
  World w;
  w.clusters = {{"fra", at(50.11, 8.68)}, {"tokyo", at(35.68, 139.69)}, {"virginia", at(38.9, -77.04)},
                {"sydney", at(-33.87, 151.21)}, {"saopaulo", at(-23.55, -46.63)}};
  w.sources.countries = countries_csv();
  w.sources.ranges = {v4, v6};
  const auto app = w.service("app.", Policy::nearest, {"virginia", "fra", "tokyo", "sydney", "saopaulo"});
  const auto fo = w.service("fo.", Policy::failover, {"virginia", "fra"});

  const long rss_before = status_kb("VmRSS:");
  const auto start = std::chrono::steady_clock::now();
  const auto t = w.compile();
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const long rss_after = status_kb("VmRSS:");
  // What the table itself keeps, once the heap returns the parsers' scratch memory.
  malloc_trim(0);
  const long rss_trimmed = status_kb("VmRSS:");
  MESSAGE("tor-geoipdb compiled in " << ms << " ms: " << t->prefix_count() << " ranges after merging; RSS +"
                                     << (rss_after - rss_before) << " kB, +" << (rss_trimmed - rss_before)
                                     << " kB after malloc_trim; peak RSS " << status_kb("VmHWM:") << " kB");

  // Not an assertion (the machine is shared): the cost of one route().
  std::mt19937 rng(3);
  std::vector<ClientAddress> clients(1 << 16);
  for (auto& c : clients) {
    c.family = 4;
    const uint32_t v = rng();
    for (int k = 0; k < 4; ++k) c.bytes[k] = uint8_t(v >> (8 * k));
  }
  size_t sink = 0;
  const auto lookups_start = std::chrono::steady_clock::now();
  constexpr int kRounds = 16;
  for (int round = 0; round < kRounds; ++round)
    for (const auto& c : clients) sink += t->route(app, c).scope;
  const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - lookups_start).count();
  MESSAGE("route(): " << ns / (kRounds * double(clients.size())) << " ns per IPv4 lookup (checksum " << sink << ")");

  // 133.0.0.0/8 is JP in the file; 46.4.0.0-46.5.255.255 is DE.
  CHECK(w.names(t->route(app, addr("133.0.0.1")).order)[0] == "tokyo");
  CHECK(w.names(t->route(app, addr("46.4.0.1")).order)[0] == "fra");
  CHECK(w.names(t->route(app, addr("1.1.1.1")).order)[0] == "sydney");  // AU
  CHECK(w.names(t->route(app, addr("2001:200::1")).order)[0] == "tokyo");  // JP
  CHECK(t->route(app, addr("133.0.0.1")).scope >= 8);
  CHECK(t->route(fo, addr("133.0.0.1")).scope == 0);
}
