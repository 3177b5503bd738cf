#include "dnsd/udp_answerer.h"

#include <ctime>

namespace gslb::dns {

namespace {

uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

UdpAnswerer::UdpAnswerer(unsigned limiter_share, const Published<Snapshot>& snapshot, WorkerStats& stats)
    : limiter_share_(limiter_share), snapshot_(snapshot), stats_(stats) {
  refresh_rate_limiter();
}

void UdpAnswerer::begin_batch() {
  snapshot_.refresh();
  // Rate limiting settings may change on a reload; the buckets start afresh then
  // (the only allocation on this thread, once per reload, never per query).
  if (snapshot_->serving->epoch != rrl_epoch_) refresh_rate_limiter();
  now_ms_ = rrl_->enabled() ? monotonic_ms() : 0;
  now_s_ = unix_seconds();
}

size_t UdpAnswerer::answer(const uint8_t* query, size_t size, const ClientInfo& from, uint8_t* out,
                           size_t capacity) noexcept {
  ClientInfo client = from;
  client.now = now_s_;
  Outcome outcome;
  const size_t len = answer_query(query, size, client, *snapshot_->serving, *snapshot_->health, out, capacity, &outcome);
  if (len == 0) {
    stats_.dropped.add();
    return 0;
  }
  stats_.count(outcome, false);
  // A valid server cookie shows the source address is real: RRL is for spoofed floods.
  if (!rrl_->enabled() || outcome.valid_cookie) return len;
  switch (rrl_->check(client.v6, client.address, now_ms_)) {
    case RateLimiter::Verdict::drop:
      stats_.rrl_dropped.add();
      return 0;
    case RateLimiter::Verdict::slip:
      stats_.rrl_slipped.add();
      return truncate_response(out, len);
    case RateLimiter::Verdict::send:
      break;
  }
  return len;
}

void UdpAnswerer::refresh_rate_limiter() {
  rrl_epoch_ = snapshot_->serving->epoch;
  const RateLimitConfig& wanted = snapshot_->serving->config.server.rrl;
  if (!rrl_ || rrl_config_ != wanted) {
    rrl_config_ = wanted;
    rrl_ = std::make_unique<RateLimiter>(wanted, limiter_share_);
  }
}

}  // namespace gslb::dns
