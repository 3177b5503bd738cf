#include <doctest/doctest.h>

#include <algorithm>

#include "fixture.h"

using namespace gslb;
using namespace gslb::test;

namespace {

const char* kZone = R"(
server:
  listen: ["127.0.0.1:5300"]
  nsid: unit-ns
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 7, minimum: 60, ttl: 3600 }
    ns: [ns1.example.test.]
    records: |
      ns1    3600 IN A     192.0.2.53
      www    300  IN A     192.0.2.80
      alias  300  IN CNAME www
      loop1  300  IN CNAME loop2
      loop2  300  IN CNAME loop1
      gone   300  IN CNAME missing
      out    300  IN CNAME www.example.org.
      a.b.c  300  IN A     192.0.2.1
      *.wild 300  IN A     192.0.2.99
      sub    300  IN NS    ns.sub
      ns.sub 300  IN A     192.0.2.77
      @      300  IN MX    10 www
      big    300  IN TXT   "%BIG%" "%BIG%"
      big    300  IN TXT   "%BIG%" "%BIG%" "x"
      big    300  IN TXT   "%BIG%" "%BIG%" "y"
services:
  - name: app.example.test.
    ttl: 20
    answers: 2
    clusters: [one, two, three]
  - name: strict.example.test.
    clusters: [three]
    when_all_down: servfail
clusters:
  one:   { ingress: [203.0.113.1] }
  two:   { ingress: [203.0.113.2, "2001:db8::2"] }
  three: { ingress: ["2001:db8::3"] }
)";

std::string zone_config() {
  std::string text = kZone;
  const std::string big(200, 'z');
  for (size_t at; (at = text.find("%BIG%")) != std::string::npos;) text.replace(at, 5, big);
  return text;
}

const Served& served() {
  static const Served s = serve(zone_config());
  return s;
}

}  // namespace

TEST_CASE("a static A record is answered authoritatively with the question echoed") {
  Answer a;
  ask(served(), make_query("www.example.test.", LDNS_RR_TYPE_A), &a);
  REQUIRE(a.pkt);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_aa(a.pkt));
  CHECK(ldns_pkt_qr(a.pkt));
  CHECK(ldns_pkt_id(a.pkt) == 0x4242);
  CHECK(a.section(LDNS_SECTION_ANSWER) == std::vector<std::string>{"www.example.test.\t300\tIN\tA\t192.0.2.80"});
  CHECK(ldns_pkt_edns(a.pkt));
  CHECK(ldns_pkt_edns_udp_size(a.pkt) == 1232);
}

TEST_CASE("NXDOMAIN and NODATA carry the SOA with the negative TTL") {
  Answer a;
  ask(served(), make_query("nope.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NXDOMAIN);
  CHECK(ldns_pkt_aa(a.pkt));
  const auto auth = a.section(LDNS_SECTION_AUTHORITY);
  REQUIRE(auth.size() == 1);
  CHECK(auth[0].rfind("example.test.\t60\tIN\tSOA\tns1.example.test. hostmaster.example.test. 7 ", 0) == 0);

  ask(served(), make_query("www.example.test.", LDNS_RR_TYPE_TXT), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(a.section(LDNS_SECTION_ANSWER).empty());
  CHECK(a.section(LDNS_SECTION_AUTHORITY).size() == 1);

  // b.c exists only as the parent of a.b.c: an empty non-terminal, so NODATA.
  ask(served(), make_query("b.c.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(a.section(LDNS_SECTION_ANSWER).empty());
}

TEST_CASE("names outside every zone are refused without AA") {
  Answer a;
  ask(served(), make_query("www.example.org.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_REFUSED);
  CHECK_FALSE(ldns_pkt_aa(a.pkt));
}

TEST_CASE("CNAMEs are chased inside the zone, and a chain ends where the zone does") {
  Answer a;
  ask(served(), make_query("alias.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.section(LDNS_SECTION_ANSWER) ==
        std::vector<std::string>{"alias.example.test.\t300\tIN\tCNAME\twww.example.test.",
                                 "www.example.test.\t300\tIN\tA\t192.0.2.80"});
  ask(served(), make_query("gone.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NXDOMAIN);
  CHECK(a.section(LDNS_SECTION_ANSWER).size() == 1);
  ask(served(), make_query("out.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(a.section(LDNS_SECTION_ANSWER).size() == 1);
  ask(served(), make_query("loop1.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(a.section(LDNS_SECTION_ANSWER).size() <= 8);
}

TEST_CASE("a delegation gives a referral with glue and AA clear") {
  Answer a;
  ask(served(), make_query("deep.sub.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK_FALSE(ldns_pkt_aa(a.pkt));
  CHECK(a.section(LDNS_SECTION_ANSWER).empty());
  CHECK(a.section(LDNS_SECTION_AUTHORITY) == std::vector<std::string>{"sub.example.test.\t300\tIN\tNS\tns.sub.example.test."});
  CHECK(a.section(LDNS_SECTION_ADDITIONAL) == std::vector<std::string>{"ns.sub.example.test.\t300\tIN\tA\t192.0.2.77"});
}

TEST_CASE("wildcards synthesise the query name as owner") {
  Answer a;
  ask(served(), make_query("X.y.wild.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_aa(a.pkt));
  CHECK(a.section(LDNS_SECTION_ANSWER) == std::vector<std::string>{"X.y.wild.example.test.\t300\tIN\tA\t192.0.2.99"});
}

TEST_CASE("MX answers carry the exchange's address in the additional section") {
  Answer a;
  ask(served(), make_query("example.test.", LDNS_RR_TYPE_MX), &a);
  CHECK(a.section(LDNS_SECTION_ANSWER) == std::vector<std::string>{"example.test.\t300\tIN\tMX\t10 www.example.test."});
  CHECK(a.section(LDNS_SECTION_ADDITIONAL) == std::vector<std::string>{"www.example.test.\t300\tIN\tA\t192.0.2.80"});
}

TEST_CASE("an answer too large for the client's buffer is truncated, and whole over TCP") {
  Answer a;
  ask(served(), make_query("big.example.test.", LDNS_RR_TYPE_TXT, {.edns = false}), &a);
  CHECK(ldns_pkt_tc(a.pkt));
  CHECK(a.wire.size() <= 512);
  CHECK(a.section(LDNS_SECTION_ANSWER).empty());
  ask(served(), make_query("big.example.test.", LDNS_RR_TYPE_TXT, {.payload = 4096}), &a);
  CHECK(ldns_pkt_tc(a.pkt));  // the server's max_udp_size (1232) caps a larger offer
  CHECK(a.wire.size() <= 1232);
  ask(served(), make_query("big.example.test.", LDNS_RR_TYPE_TXT), &a, /*tcp=*/true);
  CHECK_FALSE(ldns_pkt_tc(a.pkt));
  CHECK(a.section(LDNS_SECTION_ANSWER).size() == 3);
}

TEST_CASE("EDNS: NSID is answered when asked for, BADVERS for version 1") {
  Answer a;
  ask(served(), make_query("www.example.test.", LDNS_RR_TYPE_A, {.nsid = true}), &a);
  const ldns_rdf* data = ldns_pkt_edns_data(a.pkt);
  REQUIRE(data);
  const std::string opts(reinterpret_cast<const char*>(ldns_rdf_data(data)), ldns_rdf_size(data));
  CHECK(opts == std::string("\0\3\0\7unit-ns", 11));

  auto q = make_query("www.example.test.", LDNS_RR_TYPE_A);
  q[q.size() - 11 + 6] = 1;  // the OPT is last and has no options: its version byte
  ask(served(), q, &a);
  CHECK(ldns_pkt_get_rcode(a.pkt) == 0);
  CHECK(ldns_pkt_edns_extended_rcode(a.pkt) == 1);  // BADVERS = 16 = 1 << 4
  CHECK(a.outcome.rcode == 16);
}

TEST_CASE("service names answer with the best clusters that are up, and their IPv6 ingress for AAAA") {
  Served s = serve(zone_config());
  Answer a;
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.section(LDNS_SECTION_ANSWER) == std::vector<std::string>{"app.example.test.\t20\tIN\tA\t203.0.113.1",
                                                                   "app.example.test.\t20\tIN\tA\t203.0.113.2"});
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_AAAA), &a);
  CHECK(a.section(LDNS_SECTION_ANSWER) == std::vector<std::string>{"app.example.test.\t20\tIN\tAAAA\t2001:db8::2",
                                                                   "app.example.test.\t20\tIN\tAAAA\t2001:db8::3"});
  s.health.up[0] = 0;
  s.health.transitioning[1] = 1;
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.section(LDNS_SECTION_ANSWER) == std::vector<std::string>{"app.example.test.\t5\tIN\tA\t203.0.113.2"});
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_MX), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(a.section(LDNS_SECTION_ANSWER).empty());

  // All down: fail open in ranked order, unless the service asks for SERVFAIL.
  s.health.up.assign(3, 0);
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.section(LDNS_SECTION_ANSWER).size() == 2);
  ask(s, make_query("strict.example.test.", LDNS_RR_TYPE_AAAA), &a);
  CHECK(a.rcode() == LDNS_RCODE_SERVFAIL);
  // A cluster with no IPv4 ingress leaves A queries NODATA.
  s.health.up.assign(3, 1);
  ask(s, make_query("strict.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(a.section(LDNS_SECTION_ANSWER).empty());
  CHECK(a.section(LDNS_SECTION_AUTHORITY).size() == 1);
}

// A service whose first cluster has more addresses than a UDP payload takes.
std::string wide_config() {
  std::string wide;
  for (int i = 0; i < 100; ++i) wide += (i > 0 ? ", 10.0.0." : "10.0.0.") + std::to_string(i);
  std::string text = kZone;
  const std::string one = "  one:   { ingress: [203.0.113.1] }";
  return text.replace(text.find(one), one.size(), "  one:   { ingress: [" + wide + "] }");
}

TEST_CASE("a service answer the payload cannot take whole carries the addresses that fit, best cluster's first") {
  const Served s = serve(wide_config());
  auto addresses = [](const Answer& a) {
    std::vector<std::string> out;
    for (const std::string& rr : a.section(LDNS_SECTION_ANSWER)) out.push_back(rr.substr(rr.rfind('\t') + 1));
    return out;
  };
  auto first_of_one = [](size_t n) {
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) out.push_back("10.0.0." + std::to_string(i));
    return out;
  };
  // Header 12, question 18 + 4, each A 16 (a pointer to the question's name).
  Answer a;
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A, {.edns = false}), &a);
  REQUIRE(a.pkt != nullptr);
  CHECK_FALSE(ldns_pkt_tc(a.pkt));
  CHECK(a.wire.size() <= 512);
  CHECK(addresses(a) == first_of_one((512 - 12 - 22) / 16));
  CHECK(a.outcome.trimmed);
  CHECK(a.outcome.picked == 1);   // cluster two did not get into the answer
  // The client's payload, capped at max_udp_size (1232), less the OPT (11).
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A, {.payload = 4096}), &a);
  CHECK_FALSE(ldns_pkt_tc(a.pkt));
  CHECK(a.wire.size() <= 1232);
  CHECK(addresses(a) == first_of_one((1232 - 12 - 22 - 11) / 16));
  // TCP takes both clusters whole.
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A), &a, /*tcp=*/true);
  std::vector<std::string> all = first_of_one(100);
  all.push_back("203.0.113.2");
  CHECK(addresses(a) == all);
  CHECK_FALSE(a.outcome.trimmed);
  CHECK(a.outcome.picked == 2);
  // A whole answer that fits is not trimmed.
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_AAAA, {.edns = false}), &a);
  CHECK(addresses(a) == std::vector<std::string>{"2001:db8::2", "2001:db8::3"});
  CHECK_FALSE(a.outcome.trimmed);
}

TEST_CASE("ECS is echoed with scope 0 for static names") {
  Answer a;
  ask(served(), make_query("www.example.test.", LDNS_RR_TYPE_A, {.ecs = "192.0.2.0/24"}), &a);
  const ldns_rdf* data = ldns_pkt_edns_data(a.pkt);
  REQUIRE(data);
  const std::string opts(reinterpret_cast<const char*>(ldns_rdf_data(data)), ldns_rdf_size(data));
  CHECK(opts == std::string("\0\x08\0\x07\0\x01\x18\0\xC0\0\x02", 11));
}
