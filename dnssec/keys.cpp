// Key pairs in the BIND/ldns file format, and RRSIGs made with them through ldns.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "dnssec/dnssec.h"

// Last: ldns's C headers define macros (__is_signed) that break C++ headers after them.
#include <ldns/ldns.h>

namespace gslb::dnssec {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;
struct RrFree {
  void operator()(ldns_rr* r) const { ldns_rr_free(r); }
};
using Rr = std::unique_ptr<ldns_rr, RrFree>;
struct RrListFree {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;
struct BufferFree {
  void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};
using Buffer = std::unique_ptr<ldns_buffer, BufferFree>;

File open(const std::string& path) {
  File f(std::fopen(path.c_str(), "r"));
  if (!f) throw KeyError(path + ": cannot read: " + std::strerror(errno));
  // fopen opens a directory for reading; ldns would then report a syntax error at line 0.
  struct stat st;
  if (fstat(fileno(f.get()), &st) == 0 && S_ISDIR(st.st_mode)) throw KeyError(path + ": cannot read: " + std::strerror(EISDIR));
  return f;
}

Bytes rdata_of(const ldns_rr* rr) {
  Buffer b(ldns_buffer_new(512));
  if (ldns_rr_rdata2buffer_wire(b.get(), rr) != LDNS_STATUS_OK) throw KeyError("cannot encode a record");
  return Bytes(ldns_buffer_begin(b.get()), ldns_buffer_begin(b.get()) + ldns_buffer_position(b.get()));
}

// One RR in wire form, as ldns_wire2rr reads it.
void append_rr(Bytes* out, std::string_view owner, uint16_t type, uint32_t ttl, const Bytes& rdata) {
  out->insert(out->end(), owner.begin(), owner.end());
  const uint8_t fixed[10] = {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, LDNS_RR_CLASS_IN,
                             static_cast<uint8_t>(ttl >> 24), static_cast<uint8_t>(ttl >> 16),
                             static_cast<uint8_t>(ttl >> 8), static_cast<uint8_t>(ttl),
                             static_cast<uint8_t>(rdata.size() >> 8), static_cast<uint8_t>(rdata.size())};
  out->insert(out->end(), fixed, fixed + sizeof fixed);
  out->insert(out->end(), rdata.begin(), rdata.end());
}

}  // namespace

struct ZoneKeys::Key {
  ldns_key_list* list = ldns_key_list_new();  // this key alone, as ldns_sign_public takes it
  Rr dnskey;
  bool sep = false;
  ~Key() { ldns_key_list_free(list); }  // frees the key it holds too
  ldns_key* key() const { return ldns_key_list_key(list, 0); }
};

ZoneKeys::~ZoneKeys() = default;

std::shared_ptr<const ZoneKeys> ZoneKeys::load(std::string_view origin, const std::vector<std::string>& bases) {
  std::shared_ptr<ZoneKeys> keys(new ZoneKeys);
  keys->origin_ = std::string(origin);
  ldns_rdf* origin_rdf = ldns_dname_new_frm_data(origin.size(), origin.data());
  std::unique_ptr<ldns_rdf, void (*)(ldns_rdf*)> origin_guard(origin_rdf, ldns_rdf_deep_free);
  if (bases.empty()) throw KeyError("no keys listed");
  for (const std::string& base : bases) {
    auto key = std::make_unique<Key>();
    {
      File f = open(base + ".key");
      ldns_rr* rr = nullptr;
      uint32_t ttl = 3600;
      ldns_rdf* prev = nullptr;
      ldns_rdf* orig = nullptr;
      // A .key file holds one DNSKEY, after optional comment lines.
      ldns_status st = LDNS_STATUS_SYNTAX_EMPTY;
      while (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL || st == LDNS_STATUS_SYNTAX_ORIGIN)
        st = ldns_rr_new_frm_fp(&rr, f.get(), &ttl, &orig, &prev);
      ldns_rdf_deep_free(prev);
      ldns_rdf_deep_free(orig);
      if (st != LDNS_STATUS_OK) throw KeyError(base + ".key: " + ldns_get_errorstr_by_id(st));
      key->dnskey.reset(rr);
      if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_DNSKEY || ldns_rr_rd_count(rr) != 4)
        throw KeyError(base + ".key: not a DNSKEY record");
      ldns_dname2canonical(ldns_rr_owner(rr));
      if (ldns_dname_compare(ldns_rr_owner(rr), origin_rdf) != 0) {
        char* owner = ldns_rdf2str(ldns_rr_owner(rr));
        char* zone = ldns_rdf2str(origin_rdf);
        const std::string msg = base + ".key: the key is for " + owner + ", not for the zone " + zone;
        free(owner);
        free(zone);
        throw KeyError(msg);
      }
    }
    const uint16_t flags = ldns_rdf2native_int16(ldns_rr_rdf(key->dnskey.get(), 0));
    const uint8_t algorithm = ldns_rdf2native_int8(ldns_rr_rdf(key->dnskey.get(), 2));
    if (algorithm != LDNS_SIGN_ECDSAP256SHA256 && algorithm != LDNS_SIGN_ED25519)
      throw KeyError(base + ".key: algorithm " + std::to_string(algorithm) +
                     " is not supported (13 ECDSAP256SHA256 and 15 ED25519 are)");
    if (!(flags & LDNS_KEY_ZONE_KEY)) throw KeyError(base + ".key: not a zone key (flags " + std::to_string(flags) + ")");
    key->sep = flags & LDNS_KEY_SEP_KEY;
    {
      File f = open(base + ".private");
      ldns_key* k = nullptr;
      int line = 0;
      const ldns_status st = ldns_key_new_frm_fp_l(&k, f.get(), &line);
      if (st != LDNS_STATUS_OK)
        throw KeyError(base + ".private:" + std::to_string(line) + ": " + ldns_get_errorstr_by_id(st));
      ldns_key_list_push_key(key->list, k);
    }
    ldns_key* k = key->key();
    if (static_cast<uint8_t>(ldns_key_algorithm(k)) != algorithm)
      throw KeyError(base + ".private: its algorithm differs from the .key file's");
    ldns_key_set_flags(k, flags);
    ldns_key_set_pubkey_owner(k, ldns_rdf_clone(origin_rdf));
    ldns_key_set_keytag(k, ldns_calc_keytag(key->dnskey.get()));
    // The public half derived from the private key must be the published one, or
    // every signature would fail to validate.
    Rr derived(ldns_key2rr(k));
    if (!derived || ldns_rdf_compare(ldns_rr_rdf(derived.get(), 3), ldns_rr_rdf(key->dnskey.get(), 3)) != 0)
      throw KeyError(base + ".private does not match " + base + ".key");
    keys->dnskeys_.push_back(rdata_of(key->dnskey.get()));
    keys->has_zsk_ |= !key->sep;
    keys->keys_.push_back(std::move(key));
  }
  bool any_sep = false;
  for (const auto& k : keys->keys_) any_sep |= k->sep;
  if (!any_sep) throw KeyError("no key with the SEP flag (a KSK or CSK, flags 257) to sign the DNSKEY RRset");
  return keys;
}

std::vector<std::string> ZoneKeys::ds_lines(uint32_t ttl) const {
  std::vector<std::string> out;
  for (const auto& k : keys_) {
    if (!k->sep) continue;
    Rr ds(ldns_key_rr2ds(k->dnskey.get(), LDNS_SHA256));
    ldns_rr_set_ttl(ds.get(), ttl);
    char* text = ldns_rr2str(ds.get());
    std::string line(text);
    free(text);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    out.push_back(line);
  }
  return out;
}

std::vector<Bytes> ZoneKeys::sign(std::string_view owner, uint16_t type, uint32_t ttl, const std::vector<Bytes>& rdatas,
                                  Validity validity) const {
  Bytes wire;
  for (const Bytes& rd : rdatas) append_rr(&wire, owner, type, ttl, rd);
  RrList rrset(ldns_rr_list_new());
  for (size_t pos = 0; pos < wire.size();) {
    ldns_rr* rr = nullptr;
    if (ldns_wire2rr(&rr, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK)
      throw KeyError("cannot sign a malformed record");
    ldns_rr_list_push_rr(rrset.get(), rr);
  }
  const bool dnskey = type == LDNS_RR_TYPE_DNSKEY;
  std::vector<Bytes> out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& k : keys_) {
    if (dnskey ? !k->sep : (k->sep && has_zsk_)) continue;
    ldns_key_set_inception(k->key(), validity.inception);
    ldns_key_set_expiration(k->key(), validity.expiration);
    ldns_key_set_use(k->key(), true);
    RrList sigs(ldns_sign_public(rrset.get(), k->list));
    if (!sigs || ldns_rr_list_rr_count(sigs.get()) != 1) throw KeyError("signing failed");
    out.push_back(rdata_of(ldns_rr_list_rr(sigs.get(), 0)));
  }
  return out;
}

}  // namespace gslb::dnssec
