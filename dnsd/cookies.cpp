#include "dnsd/cookies.h"

#include <sys/random.h>

#include <cstring>
#include <stdexcept>

namespace gslb::dns {

namespace {

// RFC 9018 section 4.3: valid for an hour, and five minutes of clock skew ahead.
constexpr uint32_t kMaxAge = 3600, kMaxAhead = 300;
// A random secret's SipHash key changes with each hour of the cookie's timestamp.
constexpr uint32_t kKeyPeriod = 3600;

uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

uint64_t load64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void store64(uint64_t v, uint8_t* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

uint64_t siphash24(const CookieSecret& key, const uint8_t* data, size_t size) noexcept {
  const uint64_t k0 = load64(key.data()), k1 = load64(key.data() + 8);
  uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
  uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
  auto round = [&] {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  };
  auto compress = [&](uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  size_t at = 0;
  for (; at + 8 <= size; at += 8) compress(load64(data + at));
  uint64_t last = uint64_t(size & 0xff) << 56;
  for (size_t i = 0; at + i < size; ++i) last |= uint64_t(data[at + i]) << (8 * i);
  compress(last);
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

void server_cookie_with_key(const CookieSecret& key, const uint8_t* client_cookie, uint32_t timestamp, bool v6,
                            const uint8_t* address, uint8_t* out) noexcept {
  uint8_t msg[kClientCookieSize + 8 + 16];
  std::memcpy(msg, client_cookie, kClientCookieSize);
  uint8_t* fields = msg + kClientCookieSize;
  fields[0] = 1;  // Version
  fields[1] = fields[2] = fields[3] = 0;
  fields[4] = static_cast<uint8_t>(timestamp >> 24);
  fields[5] = static_cast<uint8_t>(timestamp >> 16);
  fields[6] = static_cast<uint8_t>(timestamp >> 8);
  fields[7] = static_cast<uint8_t>(timestamp);
  const size_t address_size = v6 ? 16 : 4;
  std::memcpy(fields + 8, address, address_size);
  std::memcpy(out, fields, 8);
  // The hash is written as SipHash's 64-bit result in little-endian byte order.
  store64(siphash24(key, msg, kClientCookieSize + 8 + address_size), out + 8);
}

// A random secret's key for the hour holding `timestamp`: two SipHash outputs of the
// secret over the hour's number (with distinct tags), so one hour's key tells
// nothing of another's nor of the secret.
CookieSecret cookie_key(const CookieKeys& keys, uint32_t timestamp) noexcept {
  if (keys.shared) return keys.secret;
  uint8_t msg[5];
  const uint32_t period = timestamp / kKeyPeriod;
  std::memcpy(msg, &period, 4);
  CookieSecret key;
  msg[4] = 0;
  store64(siphash24(keys.secret, msg, sizeof msg), key.data());
  msg[4] = 1;
  store64(siphash24(keys.secret, msg, sizeof msg), key.data() + 8);
  return key;
}

void make_server_cookie(const CookieKeys& keys, const uint8_t* client_cookie, uint32_t now, bool v6,
                        const uint8_t* address, uint8_t* out) noexcept {
  server_cookie_with_key(cookie_key(keys, now), client_cookie, now, v6, address, out);
}

bool server_cookie_valid(const CookieKeys& keys, const uint8_t* client_cookie, const uint8_t* server_cookie,
                         size_t size, uint32_t now, bool v6, const uint8_t* address) noexcept {
  if (size != kServerCookieSize || server_cookie[0] != 1) return false;
  const uint32_t timestamp = (uint32_t(server_cookie[4]) << 24) | (uint32_t(server_cookie[5]) << 16) |
                             (uint32_t(server_cookie[6]) << 8) | server_cookie[7];
  // Serial number arithmetic (RFC 1982): the age may wrap around 2^32.
  const uint32_t age = now - timestamp;
  if (age > kMaxAge && -age > kMaxAhead) return false;
  uint8_t expected[kServerCookieSize];
  server_cookie_with_key(cookie_key(keys, timestamp), client_cookie, timestamp, v6, address, expected);
  // Compared in full whatever differs first, so timing tells nothing of the hash.
  uint8_t diff = 0;
  for (size_t i = 0; i < kServerCookieSize; ++i) diff |= expected[i] ^ server_cookie[i];
  return diff == 0;
}

bool parse_cookie_secret(const std::string& text, CookieSecret* out) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  const size_t end = text.find_last_not_of(" \t\r\n");
  if (begin == std::string::npos || end - begin + 1 != 2 * out->size()) return false;
  auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out->size(); ++i) {
    const int hi = nibble(text[begin + 2 * i]), lo = nibble(text[begin + 2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

const CookieSecret& process_cookie_secret() {
  static const CookieSecret secret = [] {
    CookieSecret s;
    if (getrandom(s.data(), s.size(), 0) != static_cast<ssize_t>(s.size()))
      throw std::runtime_error("cannot make a DNS cookie secret: getrandom failed");
    return s;
  }();
  return secret;
}

}  // namespace gslb::dns
