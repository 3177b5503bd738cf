// Answers from a signed zone, each checked the way a validator would: every RRset
// in the answer and authority sections verified with ldns against the zone's
// DNSKEYs, and every negative answer's NSEC or NSEC3 records checked to deny the
// question. The denial cases run once per chain (denial: nsec and nsec3).
#include <doctest/doctest.h>

#include <map>

#include "fixture.h"

using namespace gslb;
using namespace gslb::test;

namespace {

const std::string kKeys = std::string(GSLB_SOURCE_DIR) + "/tests/unit/dnssec/keys";

std::string signed_config(const std::string& validity = "14d", const std::string& denial = "nsec") {
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
      denial: )" + denial + R"(
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

const Served& served(const std::string& denial = "nsec") {
  static const Served nsec = serve(signed_config());
  static const Served nsec3 = serve(signed_config("14d", "nsec3"));
  return denial == "nsec3" ? nsec3 : nsec;
}

constexpr const char* kDenials[] = {"nsec", "nsec3"};

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

// The authority section's NSEC or NSEC3 records deny `name`/`type` (ldns's check;
// for NSEC3, RFC 5155 8.4-8.6: closest encloser, next closer and wildcard).
ldns_status denial(const Answer& a, const char* name, ldns_rr_type type) {
  ldns_rr_list* nsecs = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_NSEC, LDNS_SECTION_AUTHORITY);
  ldns_rr_list* nsec3s = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_NSEC3, LDNS_SECTION_AUTHORITY);
  ldns_rr_list* sigs = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_AUTHORITY);
  ldns_rr* q = ldns_rr_new();
  ldns_rr_set_owner(q, ldns_dname_new_frm_str(name));
  ldns_rr_set_type(q, type);
  ldns_status st = LDNS_STATUS_ERR;
  if (nsecs && nsec3s) {
    st = LDNS_STATUS_ERR;  // never both chains in one answer
  } else if (nsecs) {
    st = ldns_dnssec_verify_denial(q, nsecs, sigs);
  } else if (nsec3s && ldns_pkt_get_rcode(a.pkt) == LDNS_RCODE_NOERROR) {
    // NODATA (RFC 5155 8.5, and 8.6 for DS without opt-out): the NSEC3 matching the
    // name, its bitmap without the type or CNAME. By hand: ldns 1.8.3's
    // ldns_dnssec_verify_denial_nsec3 leaks a hashed name on this path.
    for (size_t i = 0; i < ldns_rr_list_rr_count(nsec3s) && st != LDNS_STATUS_OK; ++i) {
      ldns_rr* rr = ldns_rr_list_rr(nsec3s, i);
      ldns_rdf* hashed = ldns_nsec3_hash_name_frm_nsec3(rr, ldns_rr_owner(q));
      ldns_rdf* zone = ldns_dname_left_chop(ldns_rr_owner(rr));
      if (ldns_dname_cat(hashed, zone) == LDNS_STATUS_OK && ldns_dname_compare(hashed, ldns_rr_owner(rr)) == 0 &&
          !ldns_nsec_bitmap_covers_type(ldns_nsec3_bitmap(rr), type) &&
          !ldns_nsec_bitmap_covers_type(ldns_nsec3_bitmap(rr), LDNS_RR_TYPE_CNAME))
        st = LDNS_STATUS_OK;
      ldns_rdf_deep_free(zone);
      ldns_rdf_deep_free(hashed);
    }
  } else if (nsec3s) {
    st = ldns_dnssec_verify_denial_nsec3(q, nsec3s, sigs, ldns_pkt_get_rcode(a.pkt), type, false);
  }
  ldns_rr_list_deep_free(nsec3s);
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
  for (const char* chain : kDenials) {
    CAPTURE(chain);
    const Served& s = served(chain);
    Answer a;
    ask(s, make_query("nope.example.test.", LDNS_RR_TYPE_A, kDo), &a);
    CHECK(a.rcode() == LDNS_RCODE_NXDOMAIN);
    check_signed(s, a);
    CHECK(denial(a, "nope.example.test.", LDNS_RR_TYPE_A) == LDNS_STATUS_OK);
    Answer deep;
    ask(s, make_query("x.y.b.c.example.test.", LDNS_RR_TYPE_A, kDo), &deep);
    CHECK(deep.rcode() == LDNS_RCODE_NXDOMAIN);
    check_signed(s, deep);
    CHECK(denial(deep, "x.y.b.c.example.test.", LDNS_RR_TYPE_A) == LDNS_STATUS_OK);
    // A CNAME to a missing name: the target's denial.
    Answer gone;
    ask(s, make_query("gone.example.test.", LDNS_RR_TYPE_A, kDo), &gone);
    CHECK(gone.rcode() == LDNS_RCODE_NXDOMAIN);
    check_signed(s, gone);
    CHECK(denial(gone, "missing.example.test.", LDNS_RR_TYPE_A) == LDNS_STATUS_OK);
  }
}

TEST_CASE("NODATA proves the type away, at a name, an empty non-terminal, a service and a cut") {
  for (const char* chain : kDenials) {
    for (auto [name, type] : {std::pair{"www.example.test.", LDNS_RR_TYPE_MX}, {"b.c.example.test.", LDNS_RR_TYPE_A},
                              {"app.example.test.", LDNS_RR_TYPE_TXT}, {"sub.example.test.", LDNS_RR_TYPE_DS}}) {
      CAPTURE(chain);
      CAPTURE(name);
      Answer a;
      ask(served(chain), make_query(name, type, kDo), &a);
      CHECK(a.rcode() == LDNS_RCODE_NOERROR);
      CHECK(a.section(LDNS_SECTION_ANSWER).empty());
      check_signed(served(chain), a);
      CHECK(denial(a, name, type) == LDNS_STATUS_OK);
    }
  }
}

// The NSEC3 that covers `name`'s hash, of those in the authority section.
bool nsec3_covers(const Answer& a, const char* name) {
  ldns_rr_list* nsec3s = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_NSEC3, LDNS_SECTION_AUTHORITY);
  ldns_rdf* n = ldns_dname_new_frm_str(name);
  ldns_rdf* zone = ldns_dname_new_frm_str("example.test.");
  bool covered = false;
  for (size_t i = 0; nsec3s && i < ldns_rr_list_rr_count(nsec3s); ++i) {
    // ldns compares hashed owner names: the name's hash label, then the zone.
    ldns_rr* rr = ldns_rr_list_rr(nsec3s, i);
    ldns_rdf* hashed = ldns_nsec3_hash_name_frm_nsec3(rr, n);
    REQUIRE(ldns_dname_cat(hashed, zone) == LDNS_STATUS_OK);
    covered = covered || ldns_nsec_covers_name(rr, hashed);
    ldns_rdf_deep_free(hashed);
  }
  ldns_rdf_deep_free(zone);
  ldns_rdf_deep_free(n);
  ldns_rr_list_deep_free(nsec3s);
  return covered;
}

TEST_CASE("a wildcard answer is signed by the wildcard and proves the name does not exist") {
  for (const char* chain : kDenials) {
    CAPTURE(chain);
    Answer a;
    ask(served(chain), make_query("anything.wild.example.test.", LDNS_RR_TYPE_TXT, kDo), &a);
    CHECK(a.rcode() == LDNS_RCODE_NOERROR);
    CHECK(count(a, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER) == 1);
    check_signed(served(chain), a);
    CHECK(count(a, LDNS_RR_TYPE_NSEC, LDNS_SECTION_AUTHORITY) + count(a, LDNS_RR_TYPE_NSEC3, LDNS_SECTION_AUTHORITY) ==
          1);
  }
  // RFC 5155 7.2.6: the next closer name (here the query name itself) is covered.
  Answer a;
  ask(served("nsec3"), make_query("deeper.anything.wild.example.test.", LDNS_RR_TYPE_TXT, kDo), &a);
  CHECK(count(a, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER) == 1);
  CHECK(nsec3_covers(a, "anything.wild.example.test."));
  // A wildcard NODATA (RFC 5155 7.2.5): the closest encloser proof and the wildcard's NSEC3.
  Answer nodata;
  ask(served("nsec3"), make_query("anything.wild.example.test.", LDNS_RR_TYPE_A, kDo), &nodata);
  CHECK(nodata.rcode() == LDNS_RCODE_NOERROR);
  CHECK(nodata.section(LDNS_SECTION_ANSWER).empty());
  check_signed(served("nsec3"), nodata);
  CHECK(count(nodata, LDNS_RR_TYPE_NSEC3, LDNS_SECTION_AUTHORITY) == 3);
  CHECK(nsec3_covers(nodata, "anything.wild.example.test."));
}

TEST_CASE("referrals carry the DS and its signature, or the denial proving there is none") {
  for (const char* chain : kDenials) {
    CAPTURE(chain);
    const Served& s = served(chain);
    Answer secure;
    ask(s, make_query("www.secure.example.test.", LDNS_RR_TYPE_A, kDo), &secure);
    CHECK(count(secure, LDNS_RR_TYPE_DS, LDNS_SECTION_AUTHORITY) == 1);
    check_signed(s, secure);
    Answer insecure;
    ask(s, make_query("www.sub.example.test.", LDNS_RR_TYPE_A, kDo), &insecure);
    CHECK(count(insecure, LDNS_RR_TYPE_DS, LDNS_SECTION_AUTHORITY) == 0);
    check_signed(s, insecure);
    CHECK(denial(insecure, "sub.example.test.", LDNS_RR_TYPE_DS) == LDNS_STATUS_OK);
    // Glue is not signed.
    CHECK(count(insecure, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ADDITIONAL) == 0);
  }
}

TEST_CASE("an NSEC3 zone publishes a signed NSEC3PARAM (RFC 9276: SHA-1, 0 iterations, no salt) and no NSEC") {
  const Served& s = served("nsec3");
  Answer a;
  ask(s, make_query("example.test.", LDNS_RR_TYPE_NSEC3PARAM, kDo), &a);
  REQUIRE(count(a, LDNS_RR_TYPE_NSEC3PARAM, LDNS_SECTION_ANSWER) == 1);
  check_signed(s, a);
  ldns_rr_list* params = ldns_pkt_rr_list_by_type(a.pkt, LDNS_RR_TYPE_NSEC3PARAM, LDNS_SECTION_ANSWER);
  char* text = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(params, 0), 0));
  CHECK(std::string(text) == "1");
  free(text);
  CHECK(ldns_rr_rd_count(ldns_rr_list_rr(params, 0)) == 4);
  ldns_rr_list_deep_free(params);
  Answer nsec;
  ask(s, make_query("www.example.test.", LDNS_RR_TYPE_NSEC, kDo), &nsec);
  CHECK(count(nsec, LDNS_RR_TYPE_NSEC, LDNS_SECTION_ANSWER) == 0);
  Answer nx;
  ask(s, make_query("nope.example.test.", LDNS_RR_TYPE_A, kDo), &nx);
  CHECK(count(nx, LDNS_RR_TYPE_NSEC, LDNS_SECTION_AUTHORITY) == 0);
  CHECK(count(nx, LDNS_RR_TYPE_NSEC3, LDNS_SECTION_AUTHORITY) >= 2);
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

TEST_CASE("a signed service answer goes whole or truncates; unsigned, the addresses that fit go") {
  std::string text = signed_config();
  const std::string one = "ingress: [203.0.113.1]";
  std::string wide;
  for (int i = 0; i < 100; ++i) wide += (i > 0 ? ", 10.0.0." : "10.0.0.") + std::to_string(i);
  const Served s = serve(text.replace(text.find(one), one.size(), "ingress: [" + wide + "]"));
  Answer plain;
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A, QueryOptions{.payload = 512}), &plain);
  CHECK(!ldns_pkt_tc(plain.pkt));
  CHECK(plain.outcome.trimmed);
  CHECK(count(plain, LDNS_RR_TYPE_A, LDNS_SECTION_ANSWER) > 20);
  Answer signed_udp;
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A, QueryOptions{.payload = 512, .dnssec_ok = true}), &signed_udp);
  CHECK(ldns_pkt_tc(signed_udp.pkt));
  CHECK(signed_udp.section(LDNS_SECTION_ANSWER).empty());
  Answer tcp;
  ask(s, make_query("app.example.test.", LDNS_RR_TYPE_A, kDo), &tcp, true);
  CHECK(!ldns_pkt_tc(tcp.pkt));
  CHECK(count(tcp, LDNS_RR_TYPE_A, LDNS_SECTION_ANSWER) == 101);
  check_signed(s, tcp);
}

}  // namespace
