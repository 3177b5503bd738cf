#include "dnsd/tsig.h"

#include <cstring>

namespace gslb::dns {

namespace {

uint16_t read16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

uint8_t* put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
  return p + 2;
}

}  // namespace

bool parse_tsig(const uint8_t* packet, size_t size, size_t owner_at, size_t* pos, Tsig* out) noexcept {
  size_t at = owner_at;
  if (parse_name(packet, size, &at, &out->key) != NameError::none || at != *pos) return false;
  if (*pos + 10 > size) return false;
  const size_t rdlen = read16(packet + *pos + 8);
  const size_t rdata = *pos + 10;
  const size_t end = rdata + rdlen;
  if (end > size) return false;
  // RDATA: algorithm name, time signed (48 bits), fudge, MAC size, MAC, original ID,
  // error, other length, other data; every field inside RDLENGTH.
  at = rdata;
  if (parse_name(packet, end, &at, &out->algorithm) != NameError::none) return false;
  if (at + 10 > end) return false;
  out->time_signed = (uint64_t(read16(packet + at)) << 32) | (uint64_t(read16(packet + at + 2)) << 16) | read16(packet + at + 4);
  out->fudge = read16(packet + at + 6);
  at += 10 + read16(packet + at + 8);
  if (at + 6 > end) return false;
  out->original_id = read16(packet + at);
  at += 6 + read16(packet + at + 4);
  if (at != end) return false;
  out->present = true;
  *pos = end;
  return true;
}

size_t write_tsig_error(const Tsig& request, uint16_t error, uint8_t* out, size_t room) noexcept {
  const size_t size = request.key.length + 10u + request.algorithm.length + 16u;
  if (size > room) return 0;
  uint8_t* p = out;
  std::memcpy(p, request.key.wire, request.key.length);
  p += request.key.length;
  p = put16(p, kTypeTsig);
  p = put16(p, 255);  // class ANY
  std::memset(p, 0, 4);  // TTL 0
  p = put16(p + 4, static_cast<uint16_t>(request.algorithm.length + 16u));
  std::memcpy(p, request.algorithm.wire, request.algorithm.length);
  p += request.algorithm.length;
  // The request's time: without its key the server cannot sign, and BADTIME is
  // not the error here (RFC 8945 5.2.1).
  p = put16(p, static_cast<uint16_t>(request.time_signed >> 32));
  p = put16(p, static_cast<uint16_t>(request.time_signed >> 16));
  p = put16(p, static_cast<uint16_t>(request.time_signed));
  p = put16(p, request.fudge);
  p = put16(p, 0);  // MAC size: unsigned
  p = put16(p, request.original_id);
  p = put16(p, error);
  put16(p, 0);      // other length
  return size;
}

}  // namespace gslb::dns
