// Keys, signatures and denial records, each signature checked with ldns_verify.
#include <doctest/doctest.h>

#include <string>

#include "dnssec/dnssec.h"

// Last: ldns's C headers define macros (__is_signed) that break C++ headers after them.
#include <ldns/ldns.h>

namespace gslb::dnssec {
namespace {

const std::string kKeys = GSLB_KEYS_DIR;

std::string wire(const char* text) {
  ldns_rdf* rdf = ldns_dname_new_frm_str(text);
  std::string out(reinterpret_cast<const char*>(ldns_rdf_data(rdf)), ldns_rdf_size(rdf));
  ldns_rdf_deep_free(rdf);
  return out;
}

ldns_rr_list* rr_list(std::string_view owner, uint16_t type, uint32_t ttl, const std::vector<Bytes>& rdatas) {
  ldns_rr_list* list = ldns_rr_list_new();
  for (const Bytes& rd : rdatas) {
    Bytes w(owner.begin(), owner.end());
    const uint8_t fixed[10] = {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1,
                               static_cast<uint8_t>(ttl >> 24), static_cast<uint8_t>(ttl >> 16),
                               static_cast<uint8_t>(ttl >> 8), static_cast<uint8_t>(ttl),
                               static_cast<uint8_t>(rd.size() >> 8), static_cast<uint8_t>(rd.size())};
    w.insert(w.end(), fixed, fixed + 10);
    w.insert(w.end(), rd.begin(), rd.end());
    size_t pos = 0;
    ldns_rr* rr = nullptr;
    REQUIRE(ldns_wire2rr(&rr, w.data(), w.size(), &pos, LDNS_SECTION_ANSWER) == LDNS_STATUS_OK);
    ldns_rr_list_push_rr(list, rr);
  }
  return list;
}

// What a validating resolver would decide about these signatures at `now`.
ldns_status verify(const ZoneKeys& keys, std::string_view zone, std::string_view owner, uint16_t type, uint32_t ttl,
                   const std::vector<Bytes>& rdatas, const std::vector<Bytes>& sigs, time_t now) {
  ldns_rr_list* rrset = rr_list(owner, type, ttl, rdatas);
  ldns_rr_list* rrsigs = rr_list(owner, LDNS_RR_TYPE_RRSIG, ttl, sigs);
  ldns_rr_list* dnskeys = rr_list(zone, LDNS_RR_TYPE_DNSKEY, 3600, keys.dnskey_rdata());
  const ldns_status st = ldns_verify_time(rrset, rrsigs, dnskeys, now, nullptr);
  ldns_rr_list_deep_free(rrset);
  ldns_rr_list_deep_free(rrsigs);
  ldns_rr_list_deep_free(dnskeys);
  return st;
}

// The key tag a signature names (RRSIG RDATA offset 16).
uint16_t key_tag(const Bytes& sig) { return static_cast<uint16_t>(sig[16] << 8 | sig[17]); }

const Validity kValidity{1'700'000'000, 1'700'000'000 + 14 * 86400};
constexpr time_t kDuring = 1'700'000'000 + 86400;

std::string load_error(const std::string& zone, const std::vector<std::string>& bases) {
  try {
    ZoneKeys::load(wire(zone.c_str()), bases);
  } catch (const KeyError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("a KSK signs DNSKEY, the ZSK everything else, and ldns verifies both") {
  const std::string zone = wire("example.test.");
  auto keys = ZoneKeys::load(zone, {kKeys + "/ksk13", kKeys + "/zsk13"});
  REQUIRE(keys->dnskey_rdata().size() == 2);

  const std::string owner = wire("app.example.test.");
  const std::vector<Bytes> a = {{192, 0, 2, 1}, {192, 0, 2, 2}};
  auto sigs = keys->sign(owner, LDNS_RR_TYPE_A, 30, a, kValidity);
  REQUIRE(sigs.size() == 1);
  CHECK(verify(*keys, zone, owner, LDNS_RR_TYPE_A, 30, a, sigs, kDuring) == LDNS_STATUS_OK);
  // Signed as a set: the order RRs are given in does not matter (RFC 4034 6.3).
  CHECK(verify(*keys, zone, owner, LDNS_RR_TYPE_A, 30, {a[1], a[0]}, sigs, kDuring) == LDNS_STATUS_OK);
  CHECK(verify(*keys, zone, owner, LDNS_RR_TYPE_A, 30, {a[0]}, sigs, kDuring) != LDNS_STATUS_OK);
  CHECK(verify(*keys, zone, owner, LDNS_RR_TYPE_A, 30, a, sigs, kValidity.expiration + 1) != LDNS_STATUS_OK);
  CHECK(verify(*keys, zone, owner, LDNS_RR_TYPE_A, 30, a, sigs, kValidity.inception - 1) != LDNS_STATUS_OK);

  auto key_sigs = keys->sign(zone, LDNS_RR_TYPE_DNSKEY, 3600, keys->dnskey_rdata(), kValidity);
  REQUIRE(key_sigs.size() == 1);
  CHECK(key_tag(key_sigs[0]) == 25892);  // the KSK's tag, from its .key file
  CHECK(key_tag(sigs[0]) == 64575);      // the ZSK's
  CHECK(verify(*keys, zone, zone, LDNS_RR_TYPE_DNSKEY, 3600, keys->dnskey_rdata(), key_sigs, kDuring) ==
        LDNS_STATUS_OK);
}

TEST_CASE("a wildcard's RRSIG counts the labels without the asterisk (RFC 4034 3.1.3)") {
  const std::string zone = wire("example.test.");
  auto keys = ZoneKeys::load(zone, {kKeys + "/ksk13", kKeys + "/zsk13"});
  const std::string owner = wire("*.w.example.test.");
  auto sigs = keys->sign(owner, LDNS_RR_TYPE_TXT, 60, {{3, 'h', 'i', '!'}}, kValidity);
  REQUIRE(sigs.size() == 1);
  CHECK(sigs[0][3] == 3);  // w.example.test
}

TEST_CASE("a CSK signs everything, ED25519 included") {
  const std::string zone = wire("csk.test.");
  auto keys = ZoneKeys::load(zone, {kKeys + "/csk15"});
  const std::vector<Bytes> aaaa = {Bytes(16, 1)};
  auto sigs = keys->sign(zone, LDNS_RR_TYPE_AAAA, 300, aaaa, kValidity);
  REQUIRE(sigs.size() == 1);
  CHECK(sigs[0][2] == 15);
  CHECK(verify(*keys, zone, zone, LDNS_RR_TYPE_AAAA, 300, aaaa, sigs, kDuring) == LDNS_STATUS_OK);
}

TEST_CASE("DS lines are what ldns-key2ds prints") {
  auto keys = ZoneKeys::load(wire("example.test."), {kKeys + "/ksk13", kKeys + "/zsk13"});
  auto ds = keys->ds_lines(3600);
  REQUIRE(ds.size() == 1);  // the SEP key only
  CHECK(ds[0].rfind("example.test.\t3600\tIN\tDS\t25892 13 2 ", 0) == 0);
}

TEST_CASE("bad keys are refused with the file and the reason") {
  CHECK(load_error("example.test.", {kKeys + "/nonesuch"}).find("nonesuch.key: cannot read") != std::string::npos);
  CHECK(load_error("example.test.", {kKeys + "/ksk13", kKeys + "/other13"}).find("not for the zone example.test.") !=
        std::string::npos);
  CHECK(load_error("example.test.", {kKeys + "/rsa8"}).find("algorithm 8 is not supported") != std::string::npos);
  CHECK(load_error("example.test.", {kKeys + "/zsk13"}).find("no key with the SEP flag") != std::string::npos);
  CHECK(load_error("example.test.", {kKeys + "/ksk13", kKeys + "/mismatch"}).find("does not match") !=
        std::string::npos);
  CHECK(load_error("example.test.", {}) == "no keys listed");
}

TEST_CASE("type bitmaps and NSEC RDATA match ldns's encoding") {
  // A(1) MX(15) RRSIG(46) NSEC(47) CAA(257): two windows.
  const Bytes bitmap = type_bitmap({257, 15, 1, 46, 47, 1});
  ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_MX, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_NSEC, LDNS_RR_TYPE_CAA};
  ldns_rdf* ldns_map = ldns_dnssec_create_nsec_bitmap(types, 5, LDNS_RR_TYPE_NSEC);
  CHECK(Bytes(ldns_rdf_data(ldns_map), ldns_rdf_data(ldns_map) + ldns_rdf_size(ldns_map)) == bitmap);
  ldns_rdf_deep_free(ldns_map);

  const std::string next = wire("b.example.test.");
  const Bytes nsec = nsec_rdata(next, {1, 15, 257});
  CHECK(Bytes(nsec.begin(), nsec.begin() + next.size()) == Bytes(next.begin(), next.end()));
  CHECK(Bytes(nsec.begin() + next.size(), nsec.end()) == bitmap);
}

TEST_CASE("NSEC3 hashes are RFC 5155's (appendix A, with 0 iterations and no salt from ldns)") {
  const std::string name = wire("Example.");
  ldns_rdf* rdf = ldns_dname_new_frm_str("example.");
  ldns_rdf* hashed = ldns_nsec3_hash_name(rdf, 1, 0, 0, nullptr);
  char* text = ldns_rdf2str(hashed);
  std::string expected(text);
  free(text);
  ldns_rdf_deep_free(rdf);
  ldns_rdf_deep_free(hashed);
  CHECK(base32hex(nsec3_hash(name)) + "." == expected);
  CHECK(nsec3_hash(name).size() == 20);
}

TEST_CASE("canonical order is RFC 4034 6.1's example order") {
  const char* ordered[] = {"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
                           "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."};
  for (size_t i = 0; i + 1 < std::size(ordered); ++i) {
    CAPTURE(ordered[i]);
    CHECK(canonical_compare(wire(ordered[i]), wire(ordered[i + 1])) < 0);
    CHECK(canonical_compare(wire(ordered[i + 1]), wire(ordered[i])) > 0);
    CHECK(canonical_compare(wire(ordered[i]), wire(ordered[i])) == 0);
  }
  CHECK(canonical_compare(wire("A.example."), wire("a.EXAMPLE.")) == 0);
}

}  // namespace
}  // namespace gslb::dnssec
