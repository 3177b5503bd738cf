#include "dnsd/rate_limit.h"

#include <algorithm>
#include <cstring>

#include "dnsd/dname.h"

namespace gslb::dns {

namespace {

// Buckets per worker. Distinct prefixes beyond this share buckets, which only
// makes limiting stricter for the sharers; 64k buckets is 1.5 MiB per worker.
constexpr size_t kBuckets = 1 << 16;

uint64_t prefix_key(bool v6, const uint8_t* a, const RateLimitConfig& c) {
  const unsigned bits = v6 ? c.ipv6_prefix : c.ipv4_prefix;
  const unsigned bytes = v6 ? 16 : 4;
  uint64_t hi = 0, lo = 0;
  for (unsigned i = 0; i < bytes; ++i) {
    const unsigned keep = bits >= (i + 1) * 8 ? 8 : (bits > i * 8 ? bits - i * 8 : 0);
    const uint8_t byte = keep == 0 ? 0 : static_cast<uint8_t>(a[i] & (0xFF << (8 - keep)));
    if (i < 8) {
      hi = (hi << 8) | byte;
    } else {
      lo = (lo << 8) | byte;
    }
  }
  // A 64-bit mix of the masked address and its family; 0 marks an empty bucket.
  uint64_t k = hi * 0x9E3779B97F4A7C15ull ^ (lo + (v6 ? 0x6A09E667F3BCC909ull : 0x510E527FADE682D1ull));
  k ^= k >> 29;
  k *= 0xBF58476D1CE4E5B9ull;
  k ^= k >> 32;
  return k | 1;
}

bool in_prefix(const Prefix& p, bool v6, const uint8_t* a) {
  if (p.v6 != v6) return false;
  const unsigned full = p.length / 8, rest = p.length % 8;
  if (std::memcmp(p.address, a, full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (p.address[full] & mask) == (a[full] & mask);
}

}  // namespace

RateLimiter::RateLimiter(const RateLimitConfig& config, unsigned shares) : config_(config) {
  const uint64_t per_share = std::max<uint64_t>(1, config.responses_per_second / std::max(1u, shares));
  rate_milli_per_ms_ = per_share;  // per_share responses/s = per_share thousandths per ms
  burst_milli_ = static_cast<uint32_t>(std::min<uint64_t>(per_share * 1000, UINT32_MAX));
  if (enabled()) buckets_.resize(kBuckets);
}

bool RateLimiter::exempt(bool v6, const uint8_t* address) const noexcept {
  for (const Prefix& p : config_.exempt)
    if (in_prefix(p, v6, address)) return true;
  return false;
}

RateLimiter::Verdict RateLimiter::check(bool v6, const uint8_t* address, uint64_t now_ms) noexcept {
  const uint64_t key = prefix_key(v6, address, config_);
  Bucket& b = buckets_[key & (kBuckets - 1)];
  if (b.key != key) {
    b.key = key;
    b.last_ms = now_ms;
    b.tokens_milli = burst_milli_;
  } else {
    const uint64_t earned = (now_ms - b.last_ms) * rate_milli_per_ms_;
    b.tokens_milli = static_cast<uint32_t>(std::min<uint64_t>(burst_milli_, b.tokens_milli + earned));
    b.last_ms = now_ms;
  }
  if (b.tokens_milli >= 1000) {
    b.tokens_milli -= 1000;
    return Verdict::send;
  }
  if (exempt(v6, address)) return Verdict::send;
  if (config_.slip != 0 && ++limited_ % config_.slip == 0) return Verdict::slip;
  return Verdict::drop;
}

size_t truncate_response(uint8_t* r, size_t size) noexcept {
  size_t pos = 12;
  const bool has_question = size >= 12 && (r[4] | r[5]) != 0;
  if (has_question) {
    if (skip_name(r, size, &pos) != NameError::none || pos + 4 > size) return size;
    pos += 4;
  }
  r[2] |= 0x02;  // TC
  std::memset(r + 6, 0, 6);
  return pos;
}

}  // namespace gslb::dns
