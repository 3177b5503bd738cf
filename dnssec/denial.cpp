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

Bytes nsec3_hash(std::string_view name) {
  std::string lower(name);
  // Only label bytes are lowered; length octets are below 'A' (at most 63).
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Bytes digest(20);
  ldns_sha1(reinterpret_cast<const unsigned char*>(lower.data()), static_cast<unsigned>(lower.size()), digest.data());
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
  if (!types.empty()) types.push_back(kRrsig);
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
