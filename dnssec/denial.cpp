// The records of a denial chain: type bitmaps, NSEC and NSEC3 RDATA, hashed owner
// names, and the canonical name order both chains follow.
#include <algorithm>
#include <array>
#include <cctype>

#include "dnssec/dnssec.h"

// Last: ldns's C headers define macros (__is_signed) that break C++ headers after them.
#include <ldns/sha1.h>

namespace gslb::dnssec {

namespace {

constexpr uint16_t kNs = 2;
constexpr uint16_t kRrsig = 46;
constexpr uint16_t kNsec = 47;

void append_name(Bytes* out, std::string_view name) { out->insert(out->end(), name.begin(), name.end()); }

void append_bitmap(Bytes* out, const Bytes& bitmap) { out->insert(out->end(), bitmap.begin(), bitmap.end()); }

// Where each label of a wire name starts; returns the count (the root label not counted).
unsigned label_starts(std::string_view name, std::array<uint8_t, 128>* starts) {
  unsigned n = 0;
  for (size_t i = 0; i < name.size() && name[i] != 0 && n < starts->size(); i += 1 + static_cast<uint8_t>(name[i]))
    (*starts)[n++] = static_cast<uint8_t>(i);
  return n;
}

}  // namespace

Bytes type_bitmap(std::vector<uint16_t> types) {
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  Bytes out;
  size_t i = 0;
  while (i < types.size()) {
    const uint8_t window = static_cast<uint8_t>(types[i] >> 8);
    std::array<uint8_t, 32> bits{};
    unsigned length = 0;
    for (; i < types.size() && (types[i] >> 8) == window; ++i) {
      const uint8_t low = static_cast<uint8_t>(types[i]);
      bits[low / 8] |= static_cast<uint8_t>(0x80 >> (low % 8));
      length = low / 8 + 1u;
    }
    out.push_back(window);
    out.push_back(static_cast<uint8_t>(length));
    out.insert(out.end(), bits.begin(), bits.begin() + length);
  }
  return out;
}

Bytes nsec_rdata(std::string_view next_owner, std::vector<uint16_t> types) {
  types.push_back(kRrsig);
  types.push_back(kNsec);
  Bytes out;
  append_name(&out, next_owner);
  append_bitmap(&out, type_bitmap(std::move(types)));
  return out;
}

void nsec3_hash(std::string_view name, uint8_t* out) noexcept {
  // A wire name is at most 255 bytes; ldns's SHA-1 is plain C over a context on the
  // stack, so this allocates nothing.
  unsigned char lower[255];
  const size_t n = std::min(name.size(), sizeof lower);
  // Only label bytes are lowered; length octets are below 'A' (at most 63).
  for (size_t i = 0; i < n; ++i) lower[i] = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(name[i])));
  ldns_sha1(lower, static_cast<unsigned>(n), out);
}

Bytes nsec3_hash(std::string_view name) {
  Bytes digest(kNsec3HashSize);
  nsec3_hash(name, digest.data());
  return digest;
}

std::string base32hex(const Bytes& hash) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (uint8_t b : hash) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += kDigits[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kDigits[(buffer << (5 - bits)) & 31];
  return out;
}

Bytes nsec3_rdata(const Bytes& next_hash, std::vector<uint16_t> types) {
  // An unsigned delegation's NS is the only RRset there and has no RRSIG.
  if (!types.empty() && !(types.size() == 1 && types[0] == kNs)) types.push_back(kRrsig);
  // Built whole by size: GCC 12 at -O3 misreads an insert after an initializer
  // list as an overflow (-Warray-bounds).
  const Bytes bitmap = type_bitmap(std::move(types));
  Bytes out(6 + next_hash.size() + bitmap.size());
  out[0] = kNsec3HashSha1;  // then flags (no opt-out), iterations 0, salt length 0
  out[5] = static_cast<uint8_t>(next_hash.size());
  std::copy(next_hash.begin(), next_hash.end(), out.begin() + 6);
  std::copy(bitmap.begin(), bitmap.end(), out.begin() + 6 + static_cast<long>(next_hash.size()));
  return out;
}

Bytes nsec3param_rdata() { return {kNsec3HashSha1, 0, 0, 0, 0}; }

int canonical_compare(std::string_view a, std::string_view b) noexcept {
  std::array<uint8_t, 128> sa, sb;
  unsigned na = label_starts(a, &sa), nb = label_starts(b, &sb);
  while (na > 0 && nb > 0) {
    --na;
    --nb;
    const size_t la = static_cast<uint8_t>(a[sa[na]]), lb = static_cast<uint8_t>(b[sb[nb]]);
    const size_t common = std::min(la, lb);
    for (size_t i = 1; i <= common; ++i) {
      const int ca = std::tolower(static_cast<unsigned char>(a[sa[na] + i]));
      const int cb = std::tolower(static_cast<unsigned char>(b[sb[nb] + i]));
      if (ca != cb) return ca - cb;
    }
    if (la != lb) return la < lb ? -1 : 1;
  }
  return na == nb ? 0 : (na < nb ? -1 : 1);
}

}  // namespace gslb::dnssec
