// The partition, the scope arithmetic and address parsing, against brute force.
#include <doctest/doctest.h>

#include <random>

#include "geo/address.h"
#include "geo/prefix_table.h"

using namespace gslb::geo;

namespace {
uint32_t v4(const char* text) { return *parse_ipv4(text); }
}  // namespace

TEST_CASE("scope_of: the largest aligned block around the address inside the range") {
  CHECK(scope_of<uint32_t>(0, ~0u, v4("192.0.2.1")) == 0);
  CHECK(scope_of<uint32_t>(v4("192.0.2.0"), v4("192.0.2.255"), v4("192.0.2.1")) == 24);
  CHECK(scope_of<uint32_t>(v4("192.0.2.0"), v4("192.0.2.127"), v4("192.0.2.1")) == 25);
  // 192.0.2.0-192.0.3.127: around .2.x the /24 fits, around .3.x only the /25.
  CHECK(scope_of<uint32_t>(v4("192.0.2.0"), v4("192.0.3.127"), v4("192.0.2.9")) == 24);
  CHECK(scope_of<uint32_t>(v4("192.0.2.0"), v4("192.0.3.127"), v4("192.0.3.9")) == 25);
  CHECK(scope_of<uint32_t>(v4("10.0.0.5"), v4("10.0.0.5"), v4("10.0.0.5")) == 32);
  CHECK(scope_of<U128>(0, kMaxAddress<U128>, 12345) == 0);
  CHECK(scope_of<U128>(*parse_ipv6("2001:db8::"), *parse_ipv6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
                       *parse_ipv6("2001:db8::1")) == 32);
}

TEST_CASE("scope_of agrees with brute force on random ranges") {
  std::mt19937 rng(7);
  for (int n = 0; n < 20000; ++n) {
    uint32_t lo = rng(), hi = rng();
    if (lo > hi) std::swap(lo, hi);
    if (n % 3 == 0) hi = lo + (rng() % 4096);  // small ranges too
    if (hi < lo) hi = ~0u;
    const uint32_t a = lo + uint32_t(uint64_t(rng()) % (uint64_t(hi) - lo + 1));
    const int s = scope_of<uint32_t>(lo, hi, a);
    const auto block = [&](int len) {
      const uint32_t host = host_mask<uint32_t>(len);
      return std::pair{a & ~host, a | host};
    };
    const auto [blo, bhi] = block(s);
    REQUIRE(blo >= lo);  // the answer's block lies inside the range
    REQUIRE(bhi <= hi);
    if (s > 0) {
      const auto [wlo, whi] = block(s - 1);  // and no shorter block would
      REQUIRE((wlo < lo || whi > hi));
    }
  }
}

TEST_CASE("Partition: from_disjoint fills gaps, overlay lets the top win, merges equal neighbours") {
  const auto base = Partition<uint32_t>::from_disjoint({{10, 19, 1}, {20, 29, 1}, {40, 49, 2}});
  REQUIRE(base.size() == 5);  // gap, 10..29 merged, gap, 40..49, gap
  CHECK(base.value(base.find(25)) == 1);
  CHECK(base.start(base.find(25)) == 10);
  CHECK(base.end(base.find(25)) == 29);
  CHECK(base.value(base.find(35)) == 0);
  const auto top = Partition<uint32_t>::from_disjoint({{15, 44, 3}});
  const auto o = Partition<uint32_t>::overlay(base, top);
  CHECK(o.value(o.find(12)) == 1);
  CHECK(o.value(o.find(15)) == 3);
  CHECK(o.value(o.find(44)) == 3);
  CHECK(o.value(o.find(45)) == 2);
  CHECK(o.value(o.find(~0u)) == 0);
  CHECK(o.end(o.size() - 1) == ~0u);
  const auto all = Partition<uint32_t>::from_disjoint({{0, ~0u, 5}});
  CHECK(all.size() == 1);
  CHECK(all.value(all.find(0)) == 5);
}

TEST_CASE("Partition: the block index finds what the plain search finds") {
  std::mt19937 rng(11);
  std::vector<Interval<uint32_t>> ivs;
  uint32_t at = 0;
  while (ivs.size() < 50000) {
    const uint32_t lo = at + rng() % 70000, hi = lo + rng() % 90000;
    if (hi < lo || hi == ~0u) break;
    ivs.push_back({lo, hi, uint32_t(ivs.size() + 1)});
    at = hi + 1;
  }
  const auto plain = Partition<uint32_t>::from_disjoint(ivs);
  auto indexed = plain;
  indexed.build_index();
  for (int i = 0; i < 200000; ++i) {
    const uint32_t a = i < 1000 ? ~0u - uint32_t(i) : uint32_t(rng());
    REQUIRE(indexed.find(a) == plain.find(a));
  }
  for (size_t i = 0; i < plain.size(); ++i) {
    REQUIRE(indexed.find(plain.start(i)) == i);
    REQUIRE(indexed.find(plain.end(i)) == i);
  }
}

TEST_CASE("Partition::combine merges two partitions pointwise") {
  const auto a = Partition<uint32_t>::from_disjoint({{0, 99, 1}, {100, 199, 2}});
  const auto b = Partition<uint32_t>::from_disjoint({{50, 149, 7}});
  const auto c = Partition<uint32_t>::combine(a, b, [](uint32_t x, uint32_t y) { return x * 10 + y; });
  CHECK(c.value(c.find(10)) == 10);
  CHECK(c.value(c.find(50)) == 17);
  CHECK(c.value(c.find(120)) == 27);
  CHECK(c.value(c.find(160)) == 20);
  CHECK(c.value(c.find(500)) == 0);
  CHECK(c.size() == 5);
}

TEST_CASE("parse_cidr and format_range") {
  std::string why;
  const auto c = parse_cidr("192.0.2.0/24", why);
  REQUIRE(c);
  CHECK(c->family == 4);
  CHECK(format_range(4, c->lo, c->hi) == "192.0.2.0/24");
  const auto c6 = parse_cidr("2001:db8::/32", why);
  REQUIRE(c6);
  CHECK(format_range(6, c6->lo, c6->hi) == "2001:db8::/32");
  CHECK(format_range(4, v4("192.0.2.0"), v4("192.0.2.200")) == "192.0.2.0-192.0.2.200");
  CHECK(format_range(4, 0, ~0u) == "0.0.0.0/0");
  CHECK(format_range(6, 0, kMaxAddress<U128>) == "::/0");
  CHECK_FALSE(parse_cidr("192.0.2.1/24", why));
  CHECK(why == "host bits set in \"192.0.2.1/24\"");
  CHECK_FALSE(parse_cidr("192.0.2.0/33", why));
  CHECK(why == "prefix length over 32 in \"192.0.2.0/33\"");
  CHECK_FALSE(parse_cidr("192.0.2.0", why));
  CHECK_FALSE(parse_cidr("foo/8", why));
  CHECK_FALSE(parse_cidr("2001:db8::/129", why));
}
