// Response rate limiting for UDP (after BIND's and Knot's RRL): each client prefix
// gets a token bucket of `responses_per_second`; past it, every `slip`-th response
// is sent truncated (TC=1, so a real client retries over TCP, which a spoofed
// victim never does) and the rest are dropped.
//
// One RateLimiter per UDP socket, owned and used by that socket's thread only: no
// sharing, no lock. SO_REUSEPORT spreads a client's flows across the workers'
// sockets, and a client may use every listen address of its family, so each socket
// enforces its share of the configured rate.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dnsd/config.h"

namespace gslb::dns {

class RateLimiter {
 public:
  enum class Verdict : uint8_t { send, slip, drop };

  // `shares`: how many sockets split the configured rate.
  RateLimiter(const RateLimitConfig& config, unsigned shares);

  bool enabled() const { return config_.responses_per_second > 0; }
  // `now_ms` is a monotonic clock read once per receive batch.
  Verdict check(bool v6, const uint8_t* address, uint64_t now_ms) noexcept;

 private:
  struct Bucket {
    uint64_t key = 0;
    uint64_t last_ms = 0;
    uint32_t tokens_milli = 0;  // thousandths of a response
  };
  bool exempt(bool v6, const uint8_t* address) const noexcept;

  RateLimitConfig config_;
  uint64_t rate_milli_per_ms_;  // tokens (in thousandths) earned per millisecond
  uint32_t burst_milli_;
  std::vector<Bucket> buckets_;
  uint32_t limited_ = 0;
};

// Turns a response into its truncated form in place: header and question, TC set,
// no records. Returns the new size.
size_t truncate_response(uint8_t* response, size_t size) noexcept;

}  // namespace gslb::dns
