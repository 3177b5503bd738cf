// The dnssec module's whole interface: a zone's keys (BIND/ldns key pairs), RRSIGs
// over RRsets given in wire form, and the records of a denial chain (NSEC, NSEC3).
//
// Knows nothing of zones, services or the answer path: callers hand it owner
// names and RDATA as uncompressed wire bytes and get wire bytes back. Signing runs
// off the query path only (control or build thread); a ZoneKeys may be shared by
// several threads, which sign one at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gslb::dnssec {

using Bytes = std::vector<uint8_t>;

// what() names the key file and the reason.
struct KeyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// RRSIG validity as DNS serial-number times (seconds since the epoch, mod 2^32).
struct Validity {
  uint32_t inception = 0;
  uint32_t expiration = 0;
};

class ZoneKeys {
 public:
  // `origin` is the zone's lower-case wire name; each base is a key pair's path
  // without ".key"/".private". Throws KeyError for a missing or unreadable file, a
  // key of another zone, an algorithm other than 13 or 15, a .private that does
  // not match its .key, or a set with no SEP key (nothing could sign DNSKEY).
  static std::shared_ptr<const ZoneKeys> load(std::string_view origin, const std::vector<std::string>& bases);
  ~ZoneKeys();
  ZoneKeys(const ZoneKeys&) = delete;
  ZoneKeys& operator=(const ZoneKeys&) = delete;

  // The apex DNSKEY RRset's RDATA, one entry per key, in the order given.
  const std::vector<Bytes>& dnskey_rdata() const { return dnskeys_; }
  // DS records for the parent (SHA-256), one master-file line per SEP key, as
  // ldns-key2ds prints them.
  std::vector<std::string> ds_lines(uint32_t ttl) const;

  // RRSIG RDATA over the RRset (owner, type, class IN, ttl, rdatas): by the SEP
  // keys for DNSKEY, by the other keys for everything else (by the SEP keys when
  // there are no others: a CSK). RDATA names must be uncompressed; case and order
  // are canonicalised here (RFC 4034 6).
  std::vector<Bytes> sign(std::string_view owner, uint16_t type, uint32_t ttl, const std::vector<Bytes>& rdatas,
                          Validity validity) const;

 private:
  struct Key;
  ZoneKeys() = default;
  std::string origin_;
  std::vector<std::unique_ptr<Key>> keys_;
  std::vector<Bytes> dnskeys_;
  bool has_zsk_ = false;
  mutable std::mutex mutex_;  // ldns keeps the validity in the key while it signs
};

// The type bitmap of NSEC and NSEC3 RDATA (RFC 4034 4.1.2), from types in any order.
Bytes type_bitmap(std::vector<uint16_t> types);

// NSEC RDATA: the next owner (uncompressed wire, RFC 4034 4.1.1 forbids
// compression) and the owner's types (RRSIG and NSEC are added).
Bytes nsec_rdata(std::string_view next_owner, std::vector<uint16_t> types);

// RFC 9276 parameters: SHA-1, 0 extra iterations, empty salt, no opt-out.
constexpr uint8_t kNsec3HashSha1 = 1;
constexpr size_t kNsec3HashSize = 20;
// The raw 20-byte NSEC3 hash of a wire name (any case).
Bytes nsec3_hash(std::string_view name);
// The same into `out` (kNsec3HashSize bytes) without allocating: for the answer path.
void nsec3_hash(std::string_view name, uint8_t* out) noexcept;
// base32hex (RFC 4648 7, lower case) of a hash: the first label of an NSEC3 owner.
std::string base32hex(const Bytes& hash);
// NSEC3 RDATA: the next hashed owner (raw) and the owner's types (RRSIG added when
// the types are not empty, as RFC 5155 7.1 has it for names that own RRsets, except
// at an unsigned delegation, whose NS alone has none).
Bytes nsec3_rdata(const Bytes& next_hash, std::vector<uint16_t> types);
// NSEC3PARAM RDATA for the parameters above.
Bytes nsec3param_rdata();

// Compares wire names in DNSSEC canonical order (RFC 4034 6.1), case-insensitively.
// Negative, zero or positive as for memcmp.
int canonical_compare(std::string_view a, std::string_view b) noexcept;

}  // namespace gslb::dnssec
