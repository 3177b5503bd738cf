// The answer path must not allocate: count every operator new made on this thread
// while a batch of varied queries is answered.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "dnsd/xdp_answering.h"
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

namespace {

// `dnssec`: a zone's dnssec line, or nothing.
std::string config(const std::string& dnssec) {
  return R"(
server: { listen: ["127.0.0.1:5300"], nsid: alloc-test }
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60 }
    ns: [ns1.example.test.]
)" + dnssec + R"(
    records: |
      ns1   IN A 192.0.2.53
      www   IN A 192.0.2.80
      alias IN CNAME app
      *.w   IN TXT "wild"
      d     IN DNAME example.test.
      tod   IN CNAME alias.d
      sub   IN NS ns.sub
      ns.sub IN A 192.0.2.77
      big   IN TXT "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
services:
  - { name: app.example.test., clusters: [eu, us], answers: 1 }
clusters:
  eu: { location: { lat: 50.1, lon: 8.7 }, ingress: [203.0.113.1, "2001:db8::1"] }
  us: { location: { lat: 38.9, lon: -77.0 }, ingress: [203.0.113.2] }
)";
}

const Served& served() {
  static const Served s = serve(config(""));
  return s;
}

// `denial`: nsec or nsec3.
const Served& signed_served(const std::string& denial) {
  const std::string keys = std::string(GSLB_SOURCE_DIR) + "/tests/unit/dnssec/keys";
  auto signed_config = [&] {
    return config("    dnssec: { keys: [" + keys + "/ksk13, " + keys + "/zsk13], denial: " + denial + " }");
  };
  static const Served nsec = serve(signed_config());
  if (denial == "nsec") return nsec;
  static const Served nsec3 = serve(signed_config());
  return nsec3;
}

// Signed with a key gslbd does not have: NOTAUTH with a BADKEY TSIG.
std::vector<uint8_t> signed_query() {
  std::vector<uint8_t> q = make_query("www.example.test.", LDNS_RR_TYPE_A, {.edns = false});
  q[11] = 1;  // ARCOUNT
  const uint8_t tsig[] = {3, 'k', 'e', 'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 26,
                          11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0,
                          0, 0, 0x65, 0x5f, 0, 0, 1, 44, 0, 0, 0x12, 0x34, 0, 0, 0, 0};
  q.insert(q.end(), tsig, tsig + sizeof tsig);
  return q;
}

// With a DNS cookie option (a client cookie, then one with a server cookie too),
// appended to the OPT, which ends the query with an empty RDATA.
std::vector<uint8_t> with_cookie(size_t size) {
  std::vector<uint8_t> q = make_query("www.example.test.", LDNS_RR_TYPE_A);
  REQUIRE(q[q.size() - 2] == 0);
  REQUIRE(q[q.size() - 1] == 0);
  q[q.size() - 1] = static_cast<uint8_t>(4 + size);
  const uint8_t option[] = {0, 10, 0, static_cast<uint8_t>(size)};
  q.insert(q.end(), option, option + 4);
  for (size_t i = 0; i < size; ++i) q.push_back(static_cast<uint8_t>(i == 8 ? 1 : i));
  return q;
}

std::vector<std::vector<uint8_t>> make_varied_queries(bool dnssec_ok) {
  auto with = [&](QueryOptions o) {
    o.dnssec_ok = dnssec_ok;
    return o;
  };
  return {
      make_query("www.example.test.", LDNS_RR_TYPE_A, with({})),                          // found
      make_query("nope.example.test.", LDNS_RR_TYPE_A, with({})),                         // NXDOMAIN
      make_query("x.nope.w.example.test.", LDNS_RR_TYPE_A, with({})),                     // wildcard NODATA
      make_query("www.example.test.", LDNS_RR_TYPE_MX, with({})),                         // NODATA
      make_query("alias.example.test.", LDNS_RR_TYPE_A, with({})),                        // CNAME to a service
      make_query("app.example.test.", LDNS_RR_TYPE_AAAA, with({.ecs = "192.0.2.0/24"})),  // service + ECS
      make_query("x.w.example.test.", LDNS_RR_TYPE_TXT, with({.nsid = true})),            // wildcard + NSID
      make_query("big.example.test.", LDNS_RR_TYPE_TXT, with({.edns = false})),           // TC
      make_query("www.sub.example.test.", LDNS_RR_TYPE_A, with({})),                      // referral
      make_query("www.example.org.", LDNS_RR_TYPE_A, with({})),                           // REFUSED
      make_query("alias.d.example.test.", LDNS_RR_TYPE_A, with({})),                      // DNAME, chased
      make_query("tod.example.test.", LDNS_RR_TYPE_A, with({})),                          // CNAME into a DNAME
      signed_query(),
      with_cookie(8),
      with_cookie(24),
  };
}

// Built on first use: make_query asserts, which doctest allows only inside a test.
const std::vector<std::vector<uint8_t>>& varied_queries() {
  static const std::vector<std::vector<uint8_t>> queries = make_varied_queries(false);
  return queries;
}

// Answers each query 100 times, checking every one gets a response; returns the
// heap allocations made meanwhile.
size_t allocations_answering(const Served& s, const std::vector<std::vector<uint8_t>>& queries) {
  std::vector<uint8_t> out(65535);
  gslb::dns::ClientInfo client;
  client.address[0] = 198;
  client.address[1] = 51;
  client.address[2] = 100;
  client.address[3] = 7;
  size_t answered = 0;
  gslb::dns::Outcome outcome;
  allocations = 0;
  counting = true;
  for (int round = 0; round < 100; ++round) {
    for (const auto& q : queries) {
      answered += gslb::dns::answer_query(q.data(), q.size(), client, *s.state, s.health, out.data(), out.size(), &outcome) > 0;
    }
  }
  counting = false;
  CHECK(answered == 100 * queries.size());
  MESSAGE("allocations while answering " << answered << " queries: " << allocations);
  return allocations;
}

}  // namespace

TEST_CASE("answering a batch of varied queries makes no heap allocation") {
  CHECK(allocations_answering(served(), varied_queries()) == 0);
}

TEST_CASE("answering from a signed zone with DO=1 makes no heap allocation") {
  // NSEC3 denials hash the next closer name per query, on the stack.
  for (const char* denial : {"nsec", "nsec3"}) {
    CAPTURE(denial);
    CHECK(allocations_answering(signed_served(denial), make_varied_queries(true)) == 0);
  }
}

// Ethernet + IPv4 or IPv6 + UDP around `query`, in a buffer of a UMEM frame's size.
std::vector<uint8_t> udp_frame(const std::vector<uint8_t>& query, bool v6) {
  std::vector<uint8_t> f(4096);
  const size_t ip = v6 ? 40 : 20, udp_len = 8 + query.size();
  f[12] = v6 ? 0x86 : 0x08;
  f[13] = v6 ? 0xdd : 0x00;
  uint8_t* h = f.data() + 14;
  if (v6) {
    h[0] = 0x60;
    h[4] = static_cast<uint8_t>(udp_len >> 8);
    h[5] = static_cast<uint8_t>(udp_len);
    h[6] = 17;
    h[8] = 0x20;  // source 2001:db8::7
    h[9] = 0x01;
    h[10] = 0x0d;
    h[11] = 0xb8;
    h[23] = 7;
  } else {
    h[0] = 0x45;
    h[2] = static_cast<uint8_t>((ip + udp_len) >> 8);
    h[3] = static_cast<uint8_t>(ip + udp_len);
    h[9] = 17;
    const uint8_t source[4] = {198, 51, 100, 7};
    std::memcpy(h + 12, source, 4);
  }
  h[ip + 3] = 53;
  h[ip + 4] = static_cast<uint8_t>(udp_len >> 8);
  h[ip + 5] = static_cast<uint8_t>(udp_len);
  std::memcpy(h + ip + 8, query.data(), query.size());
  f.resize(14 + ip + udp_len);
  return f;
}

TEST_CASE("answering AF_XDP frames (parse, answer, reply in place) makes no heap allocation") {
  const Served& s = served();
  gslb::dns::Published<gslb::dns::Snapshot> published;
  published.publish(std::make_shared<gslb::dns::Snapshot>(
      gslb::dns::Snapshot{s.state, std::make_shared<gslb::health::HealthView>(s.health)}));
  auto stats = std::make_unique<gslb::dns::WorkerStats>();
  gslb::dns::XdpQueueResponder responder(1, published, *stats);
  std::vector<std::vector<uint8_t>> frames;
  for (const auto& q : varied_queries())
    for (bool v6 : {false, true}) frames.push_back(udp_frame(q, v6));
  std::vector<uint8_t> frame(4096), scratch(4096);
  size_t answered = 0;
  counting = true;
  for (int round = 0; round < 100; ++round) {
    responder.begin_batch();
    for (const auto& f : frames) {
      std::memcpy(frame.data(), f.data(), f.size());
      answered += gslb::xdp::reply_in_place(frame.data(), f.size(), frame.size(), 1500, responder, scratch.data()) > 0;
    }
  }
  counting = false;
  CHECK(answered == 100 * frames.size());
  CHECK(allocations == 0);
  MESSAGE("allocations while answering " << answered << " frames: " << allocations);
}
