// TSIG (RFC 8945) as far as a server without keys needs it: reading the TSIG RR of
// a request, bounds-checked and without allocation, and writing the unsigned error
// TSIG RR that tells the client its key is unknown.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dnsd/dname.h"

namespace gslb::dns {

constexpr uint16_t kTypeTsig = 250;
constexpr uint16_t kTsigBadKey = 17;
// Key and algorithm names of at most 255 octets each, and the fixed fields.
constexpr size_t kMaxTsigError = 2 * kMaxNameLength + 26;

struct Tsig {
  bool present = false;
  ParsedName key;        // the RR's owner
  ParsedName algorithm;
  uint64_t time_signed = 0;  // 48 bits
  uint16_t fudge = 0;
  uint16_t original_id = 0;
};

// `owner_at` is where the RR's owner name starts in `packet`; `*pos` is past it, at
// TYPE, and moves past the RR. False when the RR is malformed.
bool parse_tsig(const uint8_t* packet, size_t size, size_t owner_at, size_t* pos, Tsig* out) noexcept;

// The TSIG RR of an unsigned error response (RFC 8945 5.3.2): MAC size 0, `error`.
// Writes it into `out` when it fits in `room` bytes; returns its size, or 0.
size_t write_tsig_error(const Tsig& request, uint16_t error, uint8_t* out, size_t room) noexcept;

}  // namespace gslb::dns
