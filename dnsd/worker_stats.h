// Per-worker counters: written only by their worker (relaxed load+store, no
// read-modify-write contention), read by the metrics collector at scrape time.
#pragma once

#include <atomic>
#include <cstdint>

#include "dnsd/answer.h"
#include "dnsd/serving_state.h"

namespace gslb::dns {

// Query types broken out in metrics; the rest count as "other".
constexpr uint16_t kCountedTypes[] = {1, 28, 2, 6, 5, 15, 16, 33, 257, 12, 255, 43};
constexpr const char* kCountedTypeNames[] = {"A", "AAAA", "NS", "SOA", "CNAME", "MX", "TXT", "SRV", "CAA", "PTR", "ANY", "DS", "other"};
constexpr unsigned kTypeBuckets = sizeof(kCountedTypes) / sizeof(kCountedTypes[0]) + 1;
constexpr const char* kRcodeNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"};
constexpr unsigned kRcodeBuckets = 8;

inline unsigned type_bucket(uint16_t qtype) {
  for (unsigned i = 0; i + 1 < kTypeBuckets; ++i)
    if (kCountedTypes[i] == qtype) return i;
  return kTypeBuckets - 1;
}
inline unsigned rcode_bucket(uint16_t rcode) {
  if (rcode <= 5) return rcode;
  return rcode == 16 ? 6 : 7;
}

class Counter {
 public:
  void add(uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// accept(2) failures of one listener (AcceptBackoff), by cause.
struct AcceptCounters {
  Counter descriptors;   // EMFILE, ENFILE
  Counter other;
};

// Zone slot MetricSlots::kMax - 1 doubles as "no zone" for refused and malformed queries.
struct alignas(64) WorkerStats {
  Counter queries[MetricSlots::kMax][kTypeBuckets][kRcodeBuckets];
  Counter answers[MetricSlots::kMax][MetricSlots::kMax];  // [service][cluster]
  Counter service_queries[MetricSlots::kMax][kTypeBuckets][kRcodeBuckets];  // queries at a service name
  Counter fail_open[MetricSlots::kMax];  // [service]: answers given with every cluster down
  Counter truncated;
  Counter trimmed;   // service answers with only the addresses that fit
  Counter dropped;
  Counter receive_errors;  // UDP receives failing with other than a timeout or a signal
  Counter udp_queries, tcp_queries;
  Counter tcp_connections_evicted;
  AcceptCounters accept_errors;   // the worker's DNS TCP listeners
  Counter rrl_dropped, rrl_slipped;

  void count(const Outcome& o, bool tcp) noexcept {
    const unsigned zone = o.zone_slot < 0 ? MetricSlots::kMax - 1 : static_cast<unsigned>(o.zone_slot);
    queries[zone][type_bucket(o.qtype)][rcode_bucket(o.rcode)].add();
    if (o.truncated) truncated.add();
    if (o.trimmed) trimmed.add();
    (tcp ? tcp_queries : udp_queries).add();
    if (o.service_slot < 0) return;
    service_queries[o.service_slot][type_bucket(o.qtype)][rcode_bucket(o.rcode)].add();
    if (o.fail_open) fail_open[o.service_slot].add();
    for (unsigned i = 0; i < o.picked; ++i) answers[o.service_slot][o.cluster_slots[i]].add();
  }
};

}  // namespace gslb::dns
