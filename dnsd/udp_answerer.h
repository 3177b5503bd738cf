// Answering a batch of UDP queries, whichever way they arrive (UdpServer's sockets
// or the AF_XDP queues of server.xdp): the published snapshot taken once per batch,
// answer_query, the thread's counters and its response rate limiter.
// Owned and used by one serving thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "dnsd/answer.h"
#include "dnsd/config.h"
#include "dnsd/published.h"
#include "dnsd/rate_limit.h"
#include "dnsd/serving_state.h"
#include "dnsd/worker_stats.h"

namespace gslb::dns {

class UdpAnswerer {
 public:
  // `limiter_share`: how many answerers a client can reach (see RateLimiter).
  UdpAnswerer(unsigned limiter_share, const Published<Snapshot>& snapshot, WorkerStats& stats);

  // Takes a newer snapshot if one was published; once per batch, and when idle so
  // that a thread without traffic does not keep a replaced state alive.
  void begin_batch();
  // The response to send for `query` (0: none), counted and rate limited.
  size_t answer(const uint8_t* query, size_t size, const ClientInfo& client, uint8_t* out, size_t capacity) noexcept;
  WorkerStats& stats() noexcept { return stats_; }

 private:
  void refresh_rate_limiter();

  const unsigned limiter_share_;
  LocalCopy<Snapshot> snapshot_;
  WorkerStats& stats_;
  RateLimitConfig rrl_config_;
  std::unique_ptr<RateLimiter> rrl_;
  // The epoch of the state rrl_ was configured from (an address could be reused by a
  // later state once the old one is freed; the epoch is never reused).
  uint64_t rrl_epoch_ = 0;
  uint64_t now_ms_ = 0;  // read once per batch, when rate limiting is on
  uint32_t now_s_ = 0;   // Unix time, read once per batch
};

}  // namespace gslb::dns
