// Everything a DNS worker reads to answer: the zones, the services and their
// clusters' pre-encoded addresses, the compiled routing table. Built whole by the
// control thread at start and on each reload.
//
// Immutable once published; shared read-only by every DNS worker.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnsd/config.h"
#include "dnsd/cookies.h"
#include "dnsd/zone.h"
#include "geo/routing.h"
#include "healthcheck/monitor.h"

namespace gslb::dns {

struct ClusterAddresses {
  std::string name;
  std::vector<std::array<uint8_t, 4>> ipv4;
  std::vector<std::array<uint8_t, 16>> ipv6;
  uint16_t metrics_slot = 0;
};

// RRSIGs made in advance for every address set a service can answer with, for one
// address type and one TTL. A set is named by a mask of positions in
// Service::clusters (bit i: clusters[i]'s addresses are in the answer).
struct SignedAnswers {
  std::vector<uint64_t> masks;  // ascending
  std::vector<RRset> rrsigs;    // rrsigs[i] covers masks[i]'s addresses
  // Inline: it runs for every signed service answer (a call and its setup cost as
  // much as the search over the few sets a service has).
  const RRset* find(uint64_t mask) const noexcept {
    auto it = std::lower_bound(masks.begin(), masks.end(), mask);
    return it != masks.end() && *it == mask ? &rrsigs[static_cast<size_t>(it - masks.begin())] : nullptr;
  }
};

struct Service {
  std::string name_text;
  uint32_t ttl = 30;
  uint32_t transition_ttl = 5;
  unsigned answers = 1;
  bool servfail_when_all_down = false;
  geo::ServiceId geo_id = 0;
  std::vector<geo::ClusterId> clusters;
  uint16_t metrics_slot = 0;
  // In a signed zone: [0] A, [1] AAAA; each at [0] ttl and [1] transition_ttl.
  bool is_signed = false;
  SignedAnswers signed_answers[2][2];

  // Clusters of this service that `health` marks answerable (healthy, not drained);
  // a cluster the view does not know yet counts as up, as it does when answering.
  std::size_t clusters_up(const health::HealthView& health) const {
    std::size_t n = 0;
    for (geo::ClusterId c : clusters) n += (c >= health.up.size() || health.up[c]) ? 1 : 0;
    return n;
  }
};

struct ServingState {
  Config config;
  // Shared with the state a reload replaces when a zone's inputs did not change.
  std::vector<std::shared_ptr<const Zone>> zones;
  std::vector<std::string> zone_inputs;   // per zone: zone_inputs(), empty when never kept
  std::size_t zones_kept = 0;             // zones taken unchanged from the previous state
  std::unordered_map<std::string, const Zone*, NameHash, std::equal_to<>> zone_by_origin;
  std::vector<Service> services;
  std::vector<ClusterAddresses> clusters;  // index = cluster id
  std::shared_ptr<const geo::RoutingTable> routing;
  std::string nsid;
  // CH TXT RDATA (one character-string) for id.server/hostname.bind (server.nsid)
  // and version.server/version.bind (server.version); empty: refused (RFC 4892).
  std::string identity_txt, version_txt;
  bool cookies = true;              // answer DNS cookies (RFC 7873)
  CookieKeys cookie_keys;
  uint16_t max_udp_size = 1232;
  uint64_t epoch = 0;
  // Its identity and cost, for the metrics: the highest SOA serial of the zones
  // written in the config, the config file's SHA-256 (hex) and how long compiling
  // the routing table took.
  uint32_t serial = 0;
  std::string config_sha256;
  double geo_build_seconds = 0;
  // Signed zones: when the earliest signature reaches its zone's refresh point and
  // the state must be built again (re-signed) before it expires; else max().
  std::chrono::system_clock::time_point resign_at = std::chrono::system_clock::time_point::max();

  const Zone* find_zone(std::string_view name) const {
    auto it = zone_by_origin.find(name);
    return it == zone_by_origin.end() ? nullptr : it->second;
  }
};

// What one worker answers from: a serving state and the health view built for it.
// Published as one object so that the two always agree on cluster ids.
struct Snapshot {
  std::shared_ptr<const ServingState> serving;
  std::shared_ptr<const health::HealthView> health;
};

// Stable small integers for metric label values (zone, service, cluster names), so
// that per-worker counter arrays keep their meaning across reloads. Control thread only.
class MetricSlots {
 public:
  static constexpr uint16_t kMax = 256;
  uint16_t slot(const std::string& name);  // kMax - 2 ("other") when full; kMax - 1 is "none"
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
};

struct MetricNames {
  MetricSlots zones, services, clusters;
};

// Builds a complete ServingState from a loaded config; throws ConfigError or
// geo::LoadError. `slots` gains any new names. Signed zones get signatures valid
// from an hour before `now` (clock skew) to now + signature_validity. A zone whose
// inputs equal those of one in `previous` (the state a reload replaces) is shared
// with it rather than built again.
std::shared_ptr<const ServingState> build_serving_state(
    Config config, uint64_t epoch, MetricNames* slots,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
    const ServingState* previous = nullptr);

}  // namespace gslb::dns
