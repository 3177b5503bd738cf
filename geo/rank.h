// Ordering a service's clusters for one client location. Runs at compile time for
// every distinct location, and again in explain_json; never per query.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "geo/location.h"
#include "geo/sources.h"

namespace gslb::geo {

struct Ranked {
  ClusterId cluster;
  std::optional<double> distance_km;
  std::optional<double> latency_ms;
};

// The latency rows that describe a client: its most specific latency-table CIDR
// (`cidr_key`, 0 if none), else its country, else its declared region, else its
// continent. 0 when the table says nothing about the client.
uint32_t latency_key(const LatencyTable& table, const ClientEntry& client, uint32_t cidr_key);

// nearest: clusters sharing the client's declared region first (a cluster
//   declared `{ region: eu }` also matches every client on that continent), then by
//   great-circle distance, clusters without coordinates last; ties in written order.
// latency: measured clusters by rtt, then the rest as nearest would; a client the
//   table does not cover is ranked nearest.
// failover, weighted: the written order (weighted is shuffled per subnet elsewhere).
// A networks entry's pinned clusters come first for nearest and latency.
std::vector<Ranked> rank(const ServiceInput& service, const std::vector<Place>& clusters,
                         const ClientEntry& client, const LatencyTable& latency, uint32_t latency_key);

// `slots` orders for a weighted service, each a weighted random permutation drawn
// deterministically from `salt`. The first clusters are apportioned to the slots
// exactly by weight (largest remainder), so a client population spread over the
// slots sees the configured split; the rest of each order is drawn by weight.
// Zero-weight clusters come last, in written order.
std::vector<ClusterId> weighted_orders(const ServiceInput& service, size_t slots, uint64_t salt);

// SplitMix64 finaliser: a cheap, well-mixed hash of a 64-bit key.
constexpr uint64_t mix64(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace gslb::geo
