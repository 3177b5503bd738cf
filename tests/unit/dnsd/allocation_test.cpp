// The answer path must not allocate: count every operator new made on this thread
// while a batch of varied queries is answered.
#include <doctest/doctest.h>

#include <cstdlib>
#include <new>

#include "fixture.h"

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

void* operator new(size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
// Every form of new is replaced, so that no allocation escapes the count and every
// delete frees what our own new allocated.
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(size_t n, std::align_val_t a) {
  if (counting) ++allocations;
  const size_t align = static_cast<size_t>(a);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

using namespace gslb::test;

TEST_CASE("answering a batch of varied queries makes no heap allocation") {
  const Served s = serve(R"(
server: { listen: ["127.0.0.1:5300"], nsid: alloc-test }
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60 }
    ns: [ns1.example.test.]
    records: |
      ns1   IN A 192.0.2.53
      www   IN A 192.0.2.80
      alias IN CNAME app
      *.w   IN TXT "wild"
      big   IN TXT "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
services:
  - { name: app.example.test., clusters: [eu, us], answers: 1 }
clusters:
  eu: { location: { lat: 50.1, lon: 8.7 }, ingress: [203.0.113.1, "2001:db8::1"] }
  us: { location: { lat: 38.9, lon: -77.0 }, ingress: [203.0.113.2] }
)");
  std::vector<std::vector<uint8_t>> queries = {
      make_query("www.example.test.", LDNS_RR_TYPE_A),                          // found
      make_query("nope.example.test.", LDNS_RR_TYPE_A),                         // NXDOMAIN
      make_query("www.example.test.", LDNS_RR_TYPE_MX),                         // NODATA
      make_query("alias.example.test.", LDNS_RR_TYPE_A),                        // CNAME to a service
      make_query("app.example.test.", LDNS_RR_TYPE_AAAA, {.ecs = "192.0.2.0/24"}),  // service + ECS
      make_query("x.w.example.test.", LDNS_RR_TYPE_TXT, {.nsid = true}),        // wildcard + NSID
      make_query("big.example.test.", LDNS_RR_TYPE_TXT, {.edns = false}),       // TC
      make_query("www.example.org.", LDNS_RR_TYPE_A),                           // REFUSED
  };
  std::vector<uint8_t> out(65535);
  gslb::dns::ClientInfo client;
  client.address[0] = 198;
  client.address[1] = 51;
  client.address[2] = 100;
  client.address[3] = 7;
  size_t answered = 0;
  gslb::dns::Outcome outcome;
  counting = true;
  for (int round = 0; round < 100; ++round) {
    for (const auto& q : queries) {
      answered += gslb::dns::answer_query(q.data(), q.size(), client, *s.state, s.health, out.data(), out.size(), &outcome) > 0;
    }
  }
  counting = false;
  CHECK(answered == 100 * queries.size());
  CHECK(allocations == 0);
  MESSAGE("allocations while answering " << answered << " queries: " << allocations);
}
