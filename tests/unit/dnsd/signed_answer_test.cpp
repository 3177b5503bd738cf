// Answers from a signed zone, each checked the way a validator would: every RRset
// in the answer and authority sections verified with ldns against the zone's
// DNSKEYs, and every negative answer's NSEC records checked to deny the question.
#include <doctest/doctest.h>

#include <map>

#include "fixture.h"

using namespace gslb;
using namespace gslb::test;

namespace {

const std::string kKeys = std::string(GSLB_SOURCE_DIR) + "/tests/unit/dnssec/keys";

std::string signed_config(const std::string& validity = "14d") {
  return R"(
server:
  listen: ["127.0.0.1:5300"]
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 7, minimum: 60, ttl: 3600 }
    ns: [ns1.example.test.]
    dnssec:
      keys: [")" + kKeys + "/ksk13\", \"" + kKeys + R"(/zsk13"]
      signature_validity: )" + validity + R"(
      refresh: 1s
    records: |
      ns1     3600 IN A     192.0.2.53
      www     300  IN A     192.0.2.80
      www     300  IN A     192.0.2.81
      alias   300  IN CNAME www
      gone    300  IN CNAME missing
      to-app  300  IN CNAME app
      a.b.c   300  IN A     192.0.2.1
      *.wild  300  IN TXT   "wild"
      sub     300  IN NS    ns.sub
      ns.sub  300  IN A     192.0.2.77
      secure  300  IN NS    ns.secure
      secure  300  IN DS    12345 13 2 0000000000000000000000000000000000000000000000000000000000000000
      ns.secure 300 IN A    192.0.2.78
      big     300  IN TXT   ")" + std::string(200, 'z') + "\" \"" + std::string(180, 'z') + R"("
services:
  - name: app.example.test.
    ttl: 20
    answers: 2
    clusters: [one, two, three]
clusters:
  one:   { location: { lat: 50, lon: 8 }, ingress: [203.0.113.1] }
  two:   { location: { lat: 40, lon: -74 }, ingress: [203.0.113.2, "2001:db8::2"] }
  three: { location: { lat: 35, lon: 139 }, ingress: ["2001:db8::3"] }
)";
}

const Served& served() {
  static const Served s = serve(signed_config());
  return s;
}

ldns_rr_list* dnskeys(const Served& s) {
  Answer a;
  ask(s, make_query("example.test.", LDNS_RR_TYPE_DNSKEY, {.dnssec_ok = true}), &a);
  REQUIRE(a.pkt != nullptr);
  return ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_DNSKEY, LDNS_SECTION_ANSWER);
}

// RRsets of a section, by owner and type, RRSIGs apart by the type they cover.
struct Grouped {
  std::map<std::pair<std::string, int>, ldns_rr_list*> sets, sigs;
  ~Grouped() {
    for (auto& [k, l] : sets) ldns_rr_list_free(l);
    for (auto& [k, l] : sigs) ldns_rr_list_free(l);
  }
};

void group(ldns_rr_list* section, Grouped* g) {
  for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(section, i);
    char* owner = ldns_rdf2str(ldns_rr_owner(rr));
    std::string name(owner);
    free(owner);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool sig = ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG;
    const int type = sig ? ldns_rdf2native_int16(ldns_rr_rrsig_typecovered(rr)) : static_cast<int>(ldns_rr_get_type(rr));
    auto& lists = sig ? g->sigs : g->sets;
    auto& l = lists[{name, type}];
    if (!l) l = ldns_rr_list_new();
    ldns_rr_list_push_rr(l, rr);
  }
}

// Every RRset in answer and authority validates, but a referral's NS (the child's).
void check_signed(const Served& s, const Answer& a, time_t now = time(nullptr)) {
  ldns_rr_list* keys = dnskeys(s);
  for (ldns_pkt_section sec : {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY}) {
    Grouped g;
    group(sec == LDNS_SECTION_ANSWER ? ldns_pkt_answer(a.pkt) : ldns_pkt_authority(a.pkt), &g);
    for (auto& [key, set] : g.sets) {
      CAPTURE(key.first);
      CAPTURE(key.second);
      if (sec == LDNS_SECTION_AUTHORITY && key.second == LDNS_RR_TYPE_NS && key.first != "example.test.") {
        CHECK(g.sigs.count(key) == 0);
        continue;
      }
      REQUIRE(g.sigs.count(key) == 1);
      CHECK(ldns_verify_time(set, g.sigs[key], keys, now, nullptr) == LDNS_STATUS_OK);
    }
    for (auto& [key, sigs] : g.sigs) CHECK(g.sets.count(key) == 1);  // no stray signatures
  }
  ldns_rr_list_deep_free(keys);
}

// The authority section's NSEC records deny `name`/`type` (ldns's check).
ldns_status denial(const Answer& a, const char* name, ldns_rr_type type) {
  ldns_rr_list* nsecs = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_NSEC, LDNS_SECTION_AUTHORITY);
  ldns_rr_list* sigs = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_AUTHORITY);
  ldns_rr* q = ldns_rr_new();
  ldns_rr_set_owner(q, ldns_dname_new_frm_str(name));
  ldns_rr_set_type(q, type);
  const ldns_status st = nsecs ? ldns_dnssec_verify_denial(q, nsecs, sigs) : LDNS_STATUS_ERR;
  ldns_rr_free(q);
  ldns_rr_list_deep_free(nsecs);
  ldns_rr_list_deep_free(sigs);
  return st;
}

size_t count(const Answer& a, ldns_rr_type type, ldns_pkt_section sec) {
  ldns_rr_list* l = ldns_pkt_rr_list_by_type(a.pkt, type, sec);
  const size_t n = l ? ldns_rr_list_rr_count(l) : 0;
  ldns_rr_list_deep_free(l);
  return n;
}

const QueryOptions kDo{.dnssec_ok = true};

TEST_CASE("without DO a signed zone answers as an unsigned one") {
  Answer a;
  ask(served(), make_query("www.example.test.", LDNS_RR_TYPE_A), &a);
  CHECK(a.section(LDNS_SECTION_ANSWER).size() == 2);
  CHECK(count(a, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER) == 0);
  Answer n;
  ask(served(), make_query("nope.example.test.", LDNS_RR_TYPE_A), &n);
  CHECK(count(n, LDNS_RR_TYPE_NSEC, LDNS_SECTION_AUTHORITY) == 0);
}

TEST_CASE("static answers, the DNSKEY, SOA and NS carry valid signatures") {
  for (auto [name, type] : {std::pair{"www.example.test.", LDNS_RR_TYPE_A}, {"example.test.", LDNS_RR_TYPE_SOA},
                            {"example.test.", LDNS_RR_TYPE_NS}, {"example.test.", LDNS_RR_TYPE_DNSKEY},
                            {"alias.example.test.", LDNS_RR_TYPE_A}, {"www.example.test.", LDNS_RR_TYPE_NSEC}}) {
    CAPTURE(name);
    Answer a;
    ask(served(), make_query(name, type, kDo), &a);
    REQUIRE(a.pkt != nullptr);
    CHECK(a.rcode() == LDNS_RCODE_NOERROR);
    CHECK(count(a, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER) >= 1);
    check_signed(served(), a);
  }
}

TEST_CASE("NXDOMAIN proves the name and the wildcard away") {
  Answer a;
  ask(served(), make_query("nope.example.test.", LDNS_RR_TYPE_A, kDo), &a);
  CHECK(a.rcode() == LDNS_RCODE_NXDOMAIN);
  check_signed(served(), a);
  CHECK(denial(a, "nope.example.test.", LDNS_RR_TYPE_A) == LDNS_STATUS_OK);
  Answer deep;
  ask(served(), make_query("x.y.b.c.example.test.", LDNS_RR_TYPE_A, kDo), &deep);
  CHECK(deep.rcode() == LDNS_RCODE_NXDOMAIN);
  check_signed(served(), deep);
  CHECK(denial(deep, "x.y.b.c.example.test.", LDNS_RR_TYPE_A) == LDNS_STATUS_OK);
  // A CNAME to a missing name: the target's denial.
  Answer gone;
  ask(served(), make_query("gone.example.test.", LDNS_RR_TYPE_A, kDo), &gone);
  CHECK(gone.rcode() == LDNS_RCODE_NXDOMAIN);
  check_signed(served(), gone);
  CHECK(denial(gone, "missing.example.test.", LDNS_RR_TYPE_A) == LDNS_STATUS_OK);
}

TEST_CASE("NODATA proves the type away, at a name, an empty non-terminal and a service") {
  for (auto [name, type] : {std::pair{"www.example.test.", LDNS_RR_TYPE_MX}, {"b.c.example.test.", LDNS_RR_TYPE_A},
                            {"app.example.test.", LDNS_RR_TYPE_TXT}}) {
    CAPTURE(name);
    Answer a;
    ask(served(), make_query(name, type, kDo), &a);
    CHECK(a.rcode() == LDNS_RCODE_NOERROR);
    CHECK(a.section(LDNS_SECTION_ANSWER).empty());
    check_signed(served(), a);
    CHECK(denial(a, name, type) == LDNS_STATUS_OK);
  }
}

TEST_CASE("a wildcard answer is signed by the wildcard and proves the name does not exist") {
  Answer a;
  ask(served(), make_query("anything.wild.example.test.", LDNS_RR_TYPE_TXT, kDo), &a);
  CHECK(a.rcode() == LDNS_RCODE_NOERROR);
  CHECK(count(a, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER) == 1);
  check_signed(served(), a);
  CHECK(count(a, LDNS_RR_TYPE_NSEC, LDNS_SECTION_AUTHORITY) == 1);
}

TEST_CASE("referrals carry the DS and its signature, or the NSEC proving there is none") {
  Answer secure;
  ask(served(), make_query("www.secure.example.test.", LDNS_RR_TYPE_A, kDo), &secure);
  CHECK(count(secure, LDNS_RR_TYPE_DS, LDNS_SECTION_AUTHORITY) == 1);
  check_signed(served(), secure);
  Answer insecure;
  ask(served(), make_query("www.sub.example.test.", LDNS_RR_TYPE_A, kDo), &insecure);
  CHECK(count(insecure, LDNS_RR_TYPE_DS, LDNS_SECTION_AUTHORITY) == 0);
  check_signed(served(), insecure);
  CHECK(denial(insecure, "sub.example.test.", LDNS_RR_TYPE_DS) == LDNS_STATUS_OK);
  // Glue is not signed.
  CHECK(count(insecure, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ADDITIONAL) == 0);
}

TEST_CASE("every answer a service gives validates, whichever clusters are up") {
  Served s = serve(signed_config());
  const std::vector<std::vector<uint8_t>> views = {{1, 1, 1}, {0, 1, 1}, {1, 0, 1}, {1, 1, 0}, {0, 0, 1}, {0, 0, 0}};
  for (const auto& up : views) {
    s.health.up = up;
    for (uint8_t changing : {0, 1}) {
      s.health.transitioning.assign(3, changing);
      for (const char* client : {"198.51.100.1", "203.0.113.200"}) {
        for (const char* ecs : {"", "133.0.0.0/24", "91.0.0.0/24"}) {
          for (ldns_rr_type t : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
            CAPTURE(int(up[0]) * 100 + up[1] * 10 + up[2]);
            CAPTURE(ecs);
            Answer a;
            QueryOptions o = kDo;
            o.ecs = ecs;
            ask(s, make_query("app.example.test.", t, o), &a, false, client);
            REQUIRE(a.pkt != nullptr);
            CHECK(a.rcode() == LDNS_RCODE_NOERROR);
            CHECK(count(a, t, LDNS_SECTION_ANSWER) >= 1);  // signed services fail open per type
            CHECK(count(a, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER) == 1);
            check_signed(s, a);
          }
        }
      }
    }
  }
  // Reached through a CNAME, too.
  Answer c;
  ask(served(), make_query("to-app.example.test.", LDNS_RR_TYPE_A, kDo), &c);
  CHECK(count(c, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER) == 2);
  check_signed(served(), c);
}

TEST_CASE("signatures run from an hour before the build to signature_validity after it") {
  const auto now = std::chrono::system_clock::from_time_t(1'800'000'000);
  dns::MetricNames slots;
  Served s;
  s.state = dns::build_serving_state(dns::load_config(write_temp("signed.yaml", signed_config("2h"))), 1, &slots, now);
  s.health.up.assign(3, 1);
  s.health.transitioning.assign(3, 0);
  Answer a;
  ask(s, make_query("www.example.test.", LDNS_RR_TYPE_A, kDo), &a);
  check_signed(s, a, 1'800'000'000 - 3599);
  check_signed(s, a, 1'800'000'000 + 7199);
  ldns_rr_list* sigs = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER);
  REQUIRE(sigs != nullptr);
  ldns_rr* sig = ldns_rr_list_rr(sigs, 0);
  CHECK(ldns_rdf2native_time_t(ldns_rr_rrsig_inception(sig)) == 1'800'000'000 - 3600);
  CHECK(ldns_rdf2native_time_t(ldns_rr_rrsig_expiration(sig)) == 1'800'000'000 + 7200);
  ldns_rr_list_deep_free(sigs);
  // refresh 1s: the state is due to be signed again a second before expiry.
  CHECK(s.state->resign_at == now + std::chrono::hours(2) - std::chrono::seconds(1));
}

TEST_CASE("a signed answer that does not fit truncates; unsigned, it fits") {
  Answer plain;
  ask(served(), make_query("big.example.test.", LDNS_RR_TYPE_TXT, QueryOptions{.payload = 512}), &plain);
  CHECK(!ldns_pkt_tc(plain.pkt));
  CHECK(count(plain, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER) == 1);
  Answer signed_udp;
  ask(served(), make_query("big.example.test.", LDNS_RR_TYPE_TXT, QueryOptions{.payload = 512, .dnssec_ok = true}),
      &signed_udp);
  CHECK(ldns_pkt_tc(signed_udp.pkt));
  CHECK(signed_udp.section(LDNS_SECTION_ANSWER).empty());
  Answer tcp;
  ask(served(), make_query("big.example.test.", LDNS_RR_TYPE_TXT, kDo), &tcp, true);
  CHECK(!ldns_pkt_tc(tcp.pkt));
  check_signed(served(), tcp);
}

}  // namespace
