// Answering one query: parse, look up, and assemble the response from pre-encoded
// data. No allocation, lock, log line or exception on this path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>

#include "dnsd/serving_state.h"

namespace gslb::dns {

struct ClientInfo {
  bool v6 = false;
  uint8_t address[16] = {};  // the packet's source address
  bool tcp = false;
  uint32_t now = 0;  // Unix seconds, read once per batch: DNS cookie timestamps
};

// The wall clock for ClientInfo::now: a coarse read the vDSO serves without a system call.
inline uint32_t unix_seconds() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

// What the answer was, for the worker's counters.
struct Outcome {
  static constexpr unsigned kMaxPicked = 16;
  int zone_slot = -1;            // -1: no zone (refused, malformed)
  uint16_t qtype = 0;
  uint16_t rcode = 0;            // including extended (BADVERS = 16)
  bool truncated = false;
  bool trimmed = false;          // fewer addresses than the picked clusters have: the rest did not fit
  uint8_t ecs_scope = 0;         // scope returned in the ECS option
  bool valid_cookie = false;     // the query's server cookie is ours: exempt from RRL
  int service_slot = -1;
  bool fail_open = false;        // every cluster of the service down: answered with them anyway
  uint8_t picked = 0;
  uint16_t cluster_slots[kMaxPicked] = {};
};

// Which clusters a service's answer to `client` holds, best first: the decision
// answer_query makes, shared with /explain so the two cannot disagree.
struct ClusterPick {
  geo::ClusterId clusters[Outcome::kMaxPicked];
  unsigned count = 0;
  bool servfail = false;       // every cluster down and when_all_down: servfail
  bool fail_open = false;      // every cluster down: answered with them anyway
  bool transitioning = false;  // a cluster ranked at or above a picked one is changing state
  uint8_t scope = 0;           // the route's ECS scope
};
ClusterPick pick_clusters(const ServingState& serving, const Service& service, const health::HealthView& health,
                          const geo::ClientAddress& client, bool want_v6) noexcept;

// The addresses of `cluster` its ingress host names resolved to (none when it has none).
const health::Ingress& resolved_ingress(const health::HealthView& health, geo::ClusterId cluster) noexcept;

// Writes the response for `query` into `out` (at most `out_capacity` bytes; UDP
// responses are further limited by the client's EDNS payload size). Returns the
// response size, or 0 when the packet gets no answer at all.
size_t answer_query(const uint8_t* query, size_t size, const ClientInfo& client, const ServingState& serving,
                    const health::HealthView& health, uint8_t* out, size_t out_capacity, Outcome* outcome) noexcept;

}  // namespace gslb::dns
