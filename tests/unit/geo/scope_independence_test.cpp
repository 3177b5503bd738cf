// A service's answer and ECS scope depend on its own ranking only: for seeded
// random service sets, adding or removing other services changes neither.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "geo/table.h"
#include "test_util.h"

using namespace geo_test;

namespace {

const std::vector<std::string> kCountries{"JP", "DE", "US", "BR", "AU", "KR", "IE", "FR"};

std::string dotted(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string(a >> 16 & 255) + "." + std::to_string(a >> 8 & 255) + "." +
         std::to_string(a & 255);
}

// 10.0.0.0/16 and 2001:db8::/32 densely covered by random country ranges, random
// networks entries (locations and pinned orders) on top, and a latency table with
// CIDR and country rows.
void random_sources(World& w, const TempDir& dir, std::mt19937& rng) {
  std::string ranges;
  for (uint32_t at = 0x0a000000; at < 0x0a010000;) {
    const uint32_t lo = at + rng() % 600, hi = lo + rng() % 1500;
    if (hi >= 0x0a010000) break;
    ranges += std::to_string(lo) + "," + std::to_string(hi) + "," + kCountries[rng() % kCountries.size()] + "\n";
    at = hi + 1;
  }
  std::string ranges6;
  for (uint32_t block = 0; block < 64; ++block)
    if (rng() % 4) {
      const std::string p = "2001:db8:" + std::to_string(block) + ":";
      ranges6 += p + ":," + p + "ffff:ffff:ffff:ffff:ffff," + kCountries[rng() % kCountries.size()] + "\n";
    }
  std::string latency = "client,cluster,rtt_ms\n";
  std::vector<std::pair<uint32_t, int>> cidrs;
  for (int i = 0; i < 40; ++i) {
    const int len = 18 + int(rng() % 11);
    const uint32_t lo = (0x0a000000 | (rng() & 0xffff)) & ~(~0u >> len);
    if (std::find(cidrs.begin(), cidrs.end(), std::pair{lo, len}) != cidrs.end()) continue;
    cidrs.emplace_back(lo, len);
    const std::string cidr = dotted(lo) + "/" + std::to_string(len);
    if (i % 5 == 0) {
      w.network(cidr, std::vector<std::string>{w.clusters[rng() % w.clusters.size()].name});
    } else if (i % 5 == 1) {
      latency += cidr + "," + w.clusters[rng() % w.clusters.size()].name + "," + std::to_string(1 + rng() % 200) + "\n";
    } else {
      w.network(cidr, in_country(kCountries[rng() % kCountries.size()]));
    }
  }
  for (const auto& cc : kCountries)
    for (const auto& c : w.clusters)
      if (rng() % 3 == 0) latency += cc + "," + c.name + "," + std::to_string(1 + rng() % 300) + "\n";
  w.sources.countries = countries_csv();
  w.sources.ranges = {dir.write("geoip", ranges), dir.write("geoip6", ranges6)};
  w.sources.latency_table = dir.write("latency.csv", latency);
}

ServiceInput random_service(const World& w, std::mt19937& rng, int i) {
  ServiceInput s;
  s.name = std::to_string(i);
  s.name += ".s.";
  const Policy policies[] = {Policy::nearest, Policy::nearest, Policy::latency, Policy::failover, Policy::weighted};
  s.policy = policies[rng() % 5];
  std::vector<ClusterId> all(w.clusters.size());
  for (size_t k = 0; k < all.size(); ++k) all[k] = ClusterId(k);
  std::shuffle(all.begin(), all.end(), rng);
  s.clusters.assign(all.begin(), all.begin() + ptrdiff_t(1 + rng() % all.size()));
  if (s.policy == Policy::weighted)
    for (size_t k = 0; k < s.clusters.size(); ++k) s.weights.push_back(rng() % 4);
  return s;
}

ClientAddress random_client(std::mt19937& rng) {
  ClientAddress c;
  const auto kind = rng() % 4;
  if (kind < 2) {  // the densely covered /16 and its neighbours
    const uint32_t a = 0x09ff0000 + rng() % 0x30000;
    for (int k = 0; k < 4; ++k) c.bytes[k] = uint8_t(a >> (24 - 8 * k));
  } else if (kind == 2) {
    c.family = 6;
    c.source_prefix = 128;
    const uint8_t prefix[] = {0x20, 0x01, 0x0d, 0xb8, 0, uint8_t(rng() % 72)};
    std::copy(std::begin(prefix), std::end(prefix), c.bytes);
    for (int k = 6; k < 16; ++k) c.bytes[k] = uint8_t(rng());
  } else {
    const uint32_t a = rng();
    for (int k = 0; k < 4; ++k) c.bytes[k] = uint8_t(a >> (24 - 8 * k));
  }
  return c;
}

}  // namespace

TEST_CASE("other services never change a service's answer or its scope") {
  TempDir dir;
  World w;
  w.clusters = {{"tokyo", at(35.68, 139.69)},   {"seoul", at(37.57, 126.98)},  {"fra", at(50.11, 8.68)},
                {"dublin", in_country("IE")},    {"virginia", at(38.9, -77.04)}, {"saopaulo", at(-23.55, -46.63)},
                {"sydney", at(-33.87, 151.21)}, {"emea", in_region("eu")}};
  std::mt19937 rng(20261203);
  random_sources(w, dir, rng);

  // Most trials among a few others; every fifth among enough that the splits'
  // run starts are kept to chunks of several ranges (see compile.cpp).
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<ServiceInput> pool;
    const int others = trial % 5 == 4 ? 150 + int(rng() % 50) : 1 + int(rng() % 12);
    for (int i = 0; i <= others; ++i) pool.push_back(random_service(w, rng, i));
    const ServiceInput& s = pool[0];
    // S alone; S among all the others at a random position; S among a random half.
    std::vector<std::vector<ServiceInput>> sets{{s}, {}, {}};
    for (size_t i = 1; i < pool.size(); ++i) {
      sets[1].push_back(pool[i]);
      if (rng() % 2) sets[2].push_back(pool[i]);
    }
    for (size_t k = 1; k < sets.size(); ++k)
      sets[k].insert(sets[k].begin() + ptrdiff_t(rng() % (sets[k].size() + 1)), s);
    std::vector<std::shared_ptr<const RoutingTable>> tables;
    std::vector<ServiceId> ids;
    for (const auto& set : sets) {
      tables.push_back(compile(w.sources, w.clusters, set));
      ids.push_back(ServiceId(std::find_if(set.begin(), set.end(), [&](const ServiceInput& x) {
                                return x.name == s.name;
                              }) - set.begin()));
    }
    INFO("trial " << trial << ": " << s.name << " policy " << int(s.policy) << " among " << others);
    if (others >= 150) {
      const auto& among = dynamic_cast<const Table&>(*tables[1]);
      REQUIRE(!among.splits_.empty());
      REQUIRE(among.splits_[0].v4.shift > 0);
    }
    for (int q = 0; q < 400; ++q) {
      const auto client = random_client(rng);
      const auto alone = tables[0]->route(ids[0], client);
      for (size_t k = 1; k < tables.size(); ++k) {
        const auto with = tables[k]->route(ids[k], client);
        INFO("table " << k << ", client family " << int(client.family) << " " << int(client.bytes[0]) << "."
                      << int(client.bytes[1]) << "." << int(client.bytes[2]) << "." << int(client.bytes[3]));
        REQUIRE(w.names(with.order) == w.names(alone.order));
        REQUIRE(int(with.scope) == int(alone.scope));
      }
    }
  }
}

TEST_CASE("services that rank alike share one split; the example of issue 10") {
  // A ranks Tokyo first for the JP /24 and the KR /24 alike: one /23. B, whose
  // clusters split JP from KR (and a networks entry puts the upper half of the JP
  // /24 in KR), must not narrow A's scope to B's /25s.
  TempDir dir;
  World w;
  w.clusters = {{"tokyo", at(35.68, 139.69)}, {"seoul", at(37.57, 126.98)}, {"fra", at(50.11, 8.68)}};
  w.sources.countries = countries_csv();
  w.sources.ranges = {dir.write("geoip", "3221225984,3221226239,JP\n3221226240,3221226495,KR\n")};
  w.network("192.0.2.128/25", in_country("KR"));
  const auto a = w.service("a.", Policy::nearest, {"fra", "tokyo"});
  const auto alone = w.compile();
  checkRoute(w, *alone, a, "192.0.2.1", {"tokyo", "fra"}, 23);
  checkRoute(w, *alone, a, "192.0.2.200", {"tokyo", "fra"}, 23);
  const auto b = w.service("b.", Policy::nearest, {"tokyo", "seoul"});
  const auto a_twin = w.service("a-twin.", Policy::nearest, {"fra", "tokyo"});
  const auto both = w.compile();
  checkRoute(w, *both, a, "192.0.2.1", {"tokyo", "fra"}, 23);
  checkRoute(w, *both, a, "192.0.2.200", {"tokyo", "fra"}, 23);
  checkRoute(w, *both, a_twin, "192.0.2.200", {"tokyo", "fra"}, 23);
  checkRoute(w, *both, b, "192.0.2.1", {"tokyo", "seoul"}, 25);
  checkRoute(w, *both, b, "192.0.2.200", {"seoul", "tokyo"}, 25);
  // a and a-twin share a split; b has its own.
  CHECK(dynamic_cast<const Table&>(*both).splits_.size() == 2);
}

TEST_CASE("services that rank alike share a split, however many there are") {
  // 600 services over 3 cluster sets, nearest, latency (with no latency table:
  // ranked as nearest) and failover (scope 0, no split): 3 splits, not 600.
  TempDir dir;
  World w;
  w.clusters = {{"tokyo", at(35.68, 139.69)}, {"fra", at(50.11, 8.68)}, {"virginia", at(38.9, -77.04)},
                {"sydney", at(-33.87, 151.21)}};
  w.sources.countries = countries_csv();
  w.sources.ranges = {dir.write("geoip", "16777216,16777471,AU\n16777472,16778239,JP\n16778240,16779263,DE\n"
                                         "16779264,16781311,US\n")};
  const std::vector<std::vector<std::string>> sets{
      {"tokyo", "fra"}, {"virginia", "sydney", "tokyo"}, {"fra", "virginia", "sydney", "tokyo"}};
  const Policy policies[] = {Policy::nearest, Policy::latency, Policy::failover, Policy::nearest};
  for (int i = 0; i < 600; ++i)
    w.service(std::to_string(i) + ".", policies[i % 4], sets[size_t(i) % sets.size()]);
  const auto t = w.compile();
  CHECK(dynamic_cast<const Table&>(*t).splits_.size() == 3);
  // AU and JP both rank Tokyo first: 1.0.0.0/22.
  checkRoute(w, *t, 0, "1.0.0.1", {"tokyo", "fra"}, 22);
  checkRoute(w, *t, 3, "1.0.0.1", {"tokyo", "fra"}, 22);
  checkRoute(w, *t, 1, "1.0.0.1", {"sydney", "tokyo", "virginia"}, 24);
  checkRoute(w, *t, 2, "1.0.0.1", {"fra", "virginia", "sydney", "tokyo"}, 0);
}

TEST_CASE("a split with more orders than a byte numbers, among many chunked ones") {
  // 300 networks entries, each pinning its own permutation of six clusters: the
  // service over the six has 300 orders and keeps exact starts; 300 others over
  // random sets are chunked. Its answers and scopes are those it has alone.
  TempDir dir;
  World w;
  w.clusters = {{"tokyo", at(35.68, 139.69)},   {"seoul", at(37.57, 126.98)},   {"fra", at(50.11, 8.68)},
                {"dublin", at(53.35, -6.26)},   {"virginia", at(38.9, -77.04)}, {"saopaulo", at(-23.55, -46.63)}};
  std::mt19937 rng(20261204);
  std::vector<std::string> names;
  for (const auto& c : w.clusters) names.push_back(c.name);
  for (int i = 0; i < 300; ++i) {
    std::next_permutation(names.begin(), names.end());
    // Every other /24 of 10.0.0.0/15, so that neighbours differ and runs are short.
    w.network("10." + std::to_string(i * 2 / 256) + "." + std::to_string(i * 2 % 256) + ".0/24", names);
  }
  w.sources.countries = countries_csv();
  w.sources.ranges = {dir.write("geoip", "167772160,167903231,JP\n")};  // 10.0.0.0/15
  const std::vector<ServiceInput> alone{{"wide.", Policy::nearest, {0, 1, 2, 3, 4, 5}, {}}};
  std::vector<ServiceInput> among = alone;
  for (int i = 0; i < 300; ++i) among.push_back(random_service(w, rng, i));
  const auto t_alone = compile(w.sources, w.clusters, alone);
  const auto t_among = compile(w.sources, w.clusters, among);
  const auto& table = dynamic_cast<const Table&>(*t_among);
  REQUIRE(table.splits_[table.services_[0].split].v4.shift == 0);
  REQUIRE(table.splits_[table.services_[0].split].label.empty());
  REQUIRE(std::any_of(table.splits_.begin(), table.splits_.end(), [](const Split& s) { return s.v4.shift > 0; }));
  for (int q = 0; q < 2000; ++q) {
    ClientAddress c;
    const uint32_t a = 0x09ff0000 + rng() % 0x40000;
    for (int k = 0; k < 4; ++k) c.bytes[k] = uint8_t(a >> (24 - 8 * k));
    const auto x = t_alone->route(0, c), y = t_among->route(0, c);
    INFO(int(c.bytes[0]) << "." << int(c.bytes[1]) << "." << int(c.bytes[2]) << "." << int(c.bytes[3]));
    REQUIRE(w.names(y.order) == w.names(x.order));
    REQUIRE(int(y.scope) == int(x.scope));
  }
  checkRoute(w, *t_among, 0, "10.0.0.1", w.names(t_alone->route(0, addr("10.0.0.1")).order), 24);
}
