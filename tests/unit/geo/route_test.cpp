// Lookups through compiled tables: source precedence, merging and honest scopes,
// IPv6, every policy, regions, explain_json.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>

#include "test_util.h"

using namespace geo_test;

namespace {

// 192.0.2.0/24 JP, 198.51.100.0/24 DE, 203.0.113.0/24 US; 2400:cb00::/32 JP.
constexpr const char* kRanges4 =
    "# tor-geoipdb format\n"
    "3221225984,3221226239,JP\n"
    "3325256704,3325256959,DE\n"
    "3405803776,3405804031,US\n";
constexpr const char* kRanges6 = "2400:cb00::,2400:cb00:ffff:ffff:ffff:ffff:ffff:ffff,JP\n";


struct Fixture {
  TempDir dir;
  World w;
  ServiceId app, fo, lat, wt;
  Fixture() {
    w.sources.countries = countries_csv();
    w.sources.ranges = {dir.write("geoip", kRanges4), dir.write("geoip6", kRanges6)};
    w.network("192.0.2.0/25", at(50.1, 8.7));  // the lower half of the JP /24 is really in Frankfurt
    w.network("10.20.0.0/16", {"us-east", "eu-west"});
    w.network("10.1.0.0/25", in_country("JP"));
    w.network("10.1.0.128/25", in_country("jp"));
    w.network("2001:db8::/32", in_country("US"));
    w.network("2001:db8:ab::/48", in_region("eu"));
    app = w.service("app.", Policy::nearest, {"eu-west", "eu-central", "us-east", "ap-tokyo"});
    fo = w.service("fo.", Policy::failover, {"us-east", "eu-west"});
    lat = w.service("lat.", Policy::latency, {"eu-west", "eu-central", "us-east", "ap-tokyo"});
    wt = w.service("wt.", Policy::weighted, {"eu-west", "us-east"}, {3, 1});
  }
};

// Every address inside the /scope block around `client` gets the same order.
void checkScopeHonest(const World& w, const RoutingTable& t, ServiceId s, const ClientAddress& client,
                      std::mt19937& rng) {
  const auto r = t.route(s, client);
  const auto order = w.names(r.order);
  uint32_t a = uint32_t(client.bytes[0]) << 24 | client.bytes[1] << 16 | client.bytes[2] << 8 | client.bytes[3];
  const uint32_t host = r.scope >= 32 ? 0 : ~0u >> r.scope;
  for (int i = 0; i < 64; ++i) {
    const uint32_t b = (a & ~host) | (uint32_t(rng()) & host);
    ClientAddress other = client;
    for (int k = 0; k < 4; ++k) other.bytes[k] = uint8_t(b >> (24 - 8 * k));
    REQUIRE(w.names(t.route(s, other).order) == order);
  }
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "nearest: networks override ranges, merged neighbours, honest scopes") {
  const auto t = w.compile();
  // networks /25 (Frankfurt) inside the ranges /24 (JP): each half answers at /25.
  checkRoute(w, *t, app, "192.0.2.1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 25);
  checkRoute(w, *t, app, "192.0.2.200", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 25);
  checkRoute(w, *t, app, "198.51.100.1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 24);
  checkRoute(w, *t, app, "203.0.113.1", {"us-east", "eu-west", "eu-central", "ap-tokyo"}, 24);
  // Two adjacent /25 with the same answer: one /24.
  checkRoute(w, *t, app, "10.1.0.1", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 24);
  checkRoute(w, *t, app, "10.1.0.201", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 24);
  // Pinned order, then the service's others in written order.
  checkRoute(w, *t, app, "10.20.5.5", {"us-east", "eu-west", "eu-central", "ap-tokyo"}, 16);
  // Unknown to every source: written order, scope of the unknown block
  // (8.0.0.0/7 is the largest block around 8.8.8.8 that stays below 10.1.0.0).
  checkRoute(w, *t, app, "8.8.8.8", {"eu-west", "eu-central", "us-east", "ap-tokyo"}, 7);

  std::mt19937 rng(1);
  for (uint32_t last = 0; last < 256; ++last)
    for (const char* net : {"192.0.2.", "192.0.3.", "10.1.0.", "10.1.1.", "198.51.100."})
      checkScopeHonest(w, *t, app, addr(net + std::to_string(last)), rng);
}

TEST_CASE_FIXTURE(Fixture, "nearest over IPv6") {
  const auto t = w.compile();
  checkRoute(w, *t, app, "2400:cb00::1", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 32);
  // The networks /48 (region eu: Europe's representative point) inside the US /32.
  checkRoute(w, *t, app, "2001:db8:ab::1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 48);
  // Above the /48 the US answer holds for 2001:db8:8000::/33.
  checkRoute(w, *t, app, "2001:db8:8000::1", {"us-east", "eu-west", "eu-central", "ap-tokyo"}, 33);
  checkRoute(w, *t, app, "2001:db9::1", {"eu-west", "eu-central", "us-east", "ap-tokyo"}, 32);
}

TEST_CASE_FIXTURE(Fixture, "an IPv4-mapped IPv6 client is located as IPv4, scope in IPv6 bits") {
  const auto t = w.compile();
  checkRoute(w, *t, app, "::ffff:192.0.2.1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 96 + 25);
  checkRoute(w, *t, app, "::ffff:198.51.100.1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 96 + 24);
  checkRoute(w, *t, fo, "::ffff:192.0.2.1", {"us-east", "eu-west"}, 0);
  CHECK(t->route(wt, addr("::ffff:192.0.2.1")).scope == 96 + 24);
  CHECK(w.names(t->route(wt, addr("::ffff:192.0.2.1")).order) == w.names(t->route(wt, addr("192.0.2.77")).order));
  const auto e = t->explain_json(app, addr("::ffff:192.0.2.1"));
  INFO(e);
  CHECK(e.find(R"("prefix":"192.0.2.0/25","scope":121,"source":"networks")") != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "an IPv6 client's scope never covers the IPv4-mapped block") {
  const auto t = w.compile();
  // ::/3 would hold ::ffff:0:0/96, located as IPv4 with other answers.
  CHECK(t->route(app, addr("::1")).scope == 81);  // ::/81 is the largest block without it
  CHECK(t->route(app, addr("::fffe:0:1")).scope == 96);
  CHECK(t->route(app, addr("1::")).scope == 16);
  CHECK(t->route(wt, addr("::1")).scope == 81);
  CHECK(t->route(wt, addr("1::")).scope == 48);
}

TEST_CASE_FIXTURE(Fixture, "failover: the written order for every client, scope 0") {
  const auto t = w.compile();
  for (const char* c : {"192.0.2.1", "192.0.2.200", "10.20.0.1", "8.8.8.8", "2400:cb00::1", "2001:db8::1"})
    checkRoute(w, *t, fo, c, {"us-east", "eu-west"}, 0);
}

TEST_CASE_FIXTURE(Fixture, "a service whose order never varies answers at scope 0") {
  const auto only = w.service("only.", Policy::nearest, {"ap-tokyo"});
  const auto t = w.compile();
  checkRoute(w, *t, only, "192.0.2.1", {"ap-tokyo"}, 0);
  checkRoute(w, *t, only, "2001:db8::1", {"ap-tokyo"}, 0);
}

TEST_CASE_FIXTURE(Fixture, "latency: measured first by rtt, then by distance; uncovered clients nearest") {
  w.sources.latency_table = dir.write("latency.csv",
                                      "client,cluster,rtt_ms\n"
                                      "198.51.100.0/25,us-east,5\n"
                                      "198.51.100.0/25,eu-west,7.5\n"
                                      "JP,eu-west,80\n"
                                      "JP,ap-tokyo,20\n"
                                      "eu,eu-west,30\n");
  const auto t = w.compile();
  // CIDR rows beat the client's country and continent.
  checkRoute(w, *t, lat, "198.51.100.1", {"us-east", "eu-west", "eu-central", "ap-tokyo"}, 25);
  // DE has no rows; its continent (region "eu") has.
  checkRoute(w, *t, lat, "198.51.100.200", {"eu-west", "eu-central", "us-east", "ap-tokyo"}, 25);
  checkRoute(w, *t, lat, "192.0.2.200", {"ap-tokyo", "eu-west", "eu-central", "us-east"}, 25);
  // Coordinates only, and a US client: the table says nothing, so nearest.
  checkRoute(w, *t, lat, "192.0.2.1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 25);
  checkRoute(w, *t, lat, "203.0.113.1", {"us-east", "eu-west", "eu-central", "ap-tokyo"}, 24);
  // The nearest service is not affected by the latency table, nor is its scope by
  // the latency service's /25s.
  checkRoute(w, *t, app, "198.51.100.1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 24);
}

TEST_CASE_FIXTURE(Fixture, "weighted: deterministic per /24 and /48, split by weight") {
  const auto t = w.compile();
  const auto a = t->route(wt, addr("192.0.2.1"));
  CHECK(a.scope == 24);
  for (int last = 0; last < 256; ++last)
    CHECK(w.names(t->route(wt, addr("192.0.2." + std::to_string(last))).order) == w.names(a.order));
  CHECK(t->route(wt, addr("2001:db8:1:2::1")).scope == 48);
  CHECK(w.names(t->route(wt, addr("2001:db8:1:ffff::9")).order) ==
        w.names(t->route(wt, addr("2001:db8:1:2::1")).order));

  std::mt19937 rng(42);
  int eu_first = 0;
  constexpr int kSubnets = 20000;
  for (int i = 0; i < kSubnets; ++i) {
    ClientAddress c = addr("0.0.0.0");
    const uint32_t v = rng();
    for (int k = 0; k < 3; ++k) c.bytes[k] = uint8_t(v >> (8 * k));
    const auto r = t->route(wt, c);
    REQUIRE(r.order.size() == 2);
    eu_first += w.names(r.order)[0] == "eu-west";
  }
  CHECK(double(eu_first) / kSubnets == doctest::Approx(0.75).epsilon(0.03));
}

TEST_CASE("weighted with a single positive weight never varies: scope 0") {
  World w;
  const auto s = w.service("w.", Policy::weighted, {"eu-west", "us-east"}, {0, 5});
  const auto t = w.compile();
  checkRoute(w, *t, s, "192.0.2.1", {"us-east", "eu-west"}, 0);
}

TEST_CASE("regions: declared service areas rank first, continents by their point") {
  TempDir dir;
  World w;
  w.clusters = {{"emea", in_region("eu")}, {"amer", in_region("NA")}, {"lab", in_region("lab-1")},
                {"tokyo", at(35.68, 139.69)}, {"dublin", in_country("IE")}};
  w.sources.countries = countries_csv();
  w.sources.ranges = {dir.write("geoip", kRanges4)};
  w.network("10.9.0.0/16", in_region("LAB-1"));
  const auto s = w.service("s.", Policy::nearest, {"tokyo", "lab", "dublin", "amer", "emea"});
  const auto t = w.compile();
  // DE: the EU-region cluster first, then by distance (Dublin, North America's
  // point, Tokyo), the opaque region last.
  checkRoute(w, *t, s, "198.51.100.1", {"emea", "dublin", "amer", "tokyo", "lab"}, 24);
  // Opaque region: its cluster first, the rest in written order (no coordinates).
  checkRoute(w, *t, s, "10.9.1.1", {"lab", "tokyo", "dublin", "amer", "emea"}, 16);
  checkRoute(w, *t, s, "203.0.113.1", {"amer", "dublin", "emea", "tokyo", "lab"}, 24);
}

TEST_CASE_FIXTURE(Fixture, "explain_json says where the client is and why the order") {
  w.sources.latency_table = dir.write("latency.csv", "client,cluster,rtt_ms\nJP,ap-tokyo,20\n");
  const auto t = w.compile();
  const auto a = t->explain_json(app, addr("192.0.2.1"));
  INFO(a);
  CHECK(a.find(R"("service":"app.","policy":"nearest","prefix":"192.0.2.0/25","scope":25,"source":"networks")") !=
        std::string::npos);
  CHECK(a.find(R"("location":{"lat":50.1,"lon":8.7})") != std::string::npos);
  CHECK(a.find(R"("ranked":[{"cluster":"eu-central","distance_km":)") != std::string::npos);

  const auto b = t->explain_json(lat, addr("192.0.2.200"));
  INFO(b);
  CHECK(b.find(R"("source":"ranges","location":{"lat":35.68,"lon":139.69,"country":"JP","continent":"AS"})") !=
        std::string::npos);
  CHECK(b.find(R"("latency_client":"JP")") != std::string::npos);
  CHECK(b.find(R"({"cluster":"ap-tokyo","latency_ms":20.0})") != std::string::npos);

  const auto c = t->explain_json(fo, addr("10.20.0.1"));
  INFO(c);
  CHECK(c.find(R"("prefix":"0.0.0.0/0","scope":0)") != std::string::npos);
  CHECK(c.find(R"("pinned":true)") != std::string::npos);

  const auto d = t->explain_json(wt, addr("2001:db8::1"));
  INFO(d);
  CHECK(d.find(R"("prefix":"2001:db8::/48","scope":48)") != std::string::npos);
  CHECK(d.find(R"("weight":3)") != std::string::npos);
  CHECK(t->explain_json(99, addr("192.0.2.1")) == R"({"error":"unknown service"})");
}

TEST_CASE("randomized: lookups agree with a brute-force longest match, scopes stay honest") {
  TempDir dir;
  World w;
  w.clusters = {{"tokyo", at(35.68, 139.69)}, {"fra", at(50.11, 8.68)}, {"virginia", at(38.9, -77.04)},
                {"saopaulo", at(-23.55, -46.63)}, {"sydney", at(-33.87, 151.21)}};
  w.sources.countries = countries_csv();
  const auto s = w.service("s.", Policy::nearest, {"virginia", "fra", "tokyo", "saopaulo", "sydney"});
  const std::vector<std::string> countries{"JP", "DE", "US", "BR", "AU"};

  std::mt19937 rng(2026);
  const uint32_t base = 0x0a000000;  // 10.0.0.0/16 holds everything, densely
  struct Net {
    uint32_t lo, hi;
    int len;
    std::string cc;
  };
  std::vector<Net> nets;
  for (int i = 0; i < 300; ++i) {
    const int len = 16 + int(rng() % 13);
    const uint32_t host = ~0u >> len, lo = (base | (rng() & 0xffff)) & ~host;
    if (std::any_of(nets.begin(), nets.end(), [&](const Net& n) { return n.lo == lo && n.len == len; })) continue;
    nets.push_back({lo, lo | host, len, countries[rng() % countries.size()]});
    w.network(std::to_string(lo >> 24) + "." + std::to_string(lo >> 16 & 255) + "." + std::to_string(lo >> 8 & 255) +
                  "." + std::to_string(lo & 255) + "/" + std::to_string(len),
              in_country(nets.back().cc));
  }
  // One /32 per country far away, to read each country's order from.
  for (size_t k = 0; k < countries.size(); ++k) w.network("240.0.0." + std::to_string(k) + "/32", in_country(countries[k]));
  std::vector<Net> ranges;
  std::string ranges_text;
  for (uint32_t at_addr = base; at_addr < base + 0x10000;) {
    const uint32_t lo = at_addr + rng() % 3000, hi = lo + rng() % 5000;
    if (hi >= base + 0x10000) break;
    ranges.push_back({lo, hi, 0, countries[rng() % countries.size()]});
    ranges_text += std::to_string(lo) + "," + std::to_string(hi) + "," + ranges.back().cc + "\n";
    at_addr = hi + 1;
  }
  w.sources.ranges = {dir.write("geoip", ranges_text)};
  const auto t = w.compile();

  std::map<std::string, std::vector<std::string>> order_of;
  for (size_t k = 0; k < countries.size(); ++k)
    order_of[countries[k]] = w.names(t->route(s, addr("240.0.0." + std::to_string(k))).order);
  order_of[""] = {"virginia", "fra", "tokyo", "saopaulo", "sydney"};

  const auto expected = [&](uint32_t a) {
    const Net* best = nullptr;
    for (const auto& n : nets)
      if (n.lo <= a && a <= n.hi && (!best || n.len > best->len)) best = &n;
    if (best) return order_of[best->cc];
    for (const auto& r : ranges)
      if (r.lo <= a && a <= r.hi) return order_of[r.cc];
    return order_of[""];
  };
  const auto client = [](uint32_t a) {
    ClientAddress c;
    for (int k = 0; k < 4; ++k) c.bytes[k] = uint8_t(a >> (24 - 8 * k));
    return c;
  };
  for (int i = 0; i < 3000; ++i) {
    const uint32_t a = (base - 0x8000) + rng() % 0x20000;
    const auto r = t->route(s, client(a));
    REQUIRE(w.names(r.order) == expected(a));
    const uint32_t host = r.scope >= 32 ? 0 : ~0u >> r.scope;
    for (int j = 0; j < 16; ++j) {
      const uint32_t b = (a & ~host) | (rng() & host);
      if (b < base - 0x10000 || b > base + 0x20000) continue;  // brute force knows only this neighbourhood
      REQUIRE(w.names(t->route(s, client(b)).order) == expected(b));
    }
  }
}
