// The geo module's whole interface: compile client-location sources and per-service
// rankings into one immutable RoutingTable, then answer "which clusters, in what
// order, and at what ECS scope?" for a service and a client address.
//
// Knows nothing of DNS wire format or of health. Cluster and service ids are the
// indices of the vectors handed to compile().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace gslb::geo {

using ClusterId = uint16_t;
using ServiceId = uint16_t;

// Where a cluster or a network is. Exactly one of the three forms is set.
struct Location {
  std::optional<double> lat, lon;  // both or neither
  std::string country;             // ISO 3166 alpha-2, upper case
  std::string region;              // free-form operator region name, e.g. "eu"
                                   // (a continent code means that continent; see geo/rank.h)
};

struct ClusterInput {
  std::string name;
  Location location;
};

enum class Policy : uint8_t { nearest, latency, failover, weighted };

struct ServiceInput {
  std::string name;
  Policy policy = Policy::nearest;
  std::vector<ClusterId> clusters;  // the written order
  std::vector<uint32_t> weights;    // policy weighted: one per cluster, else empty
};

// An entry of the operators' networks file (geo.networks) as the config loader
// read it: clients in the prefix are at `location`, or, with `clusters`, get those
// clusters first, in that order, whatever the service's policy. Longest prefix wins.
struct NetworkInput {
  bool v6 = false;
  uint8_t address[16] = {};         // network byte order, host bits zero; IPv4 in [0..3]
  uint8_t length = 0;
  Location location;                // when `clusters` is empty
  std::vector<ClusterId> clusters;
};

// What to compile. Empty strings / vectors mean "not configured".
struct Sources {
  std::vector<std::string> ranges;  // tor-geoipdb format (IPv4 integer ranges or IPv6 ranges)
  std::string mmdb;                 // MaxMind DB (City or Country)
  std::vector<NetworkInput> networks;  // unique prefixes
  std::string latency_table;        // CSV: client,cluster,rtt_ms
  std::string countries;            // CSV: country code -> representative lat,lon (conf/countries.csv)
};

// Thrown by compile(): what() is "file:line: reason" where a line is known.
struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A cluster's location the sources cannot place (a country not in the countries
// table): what() is the reason, `cluster` says whose, for the caller to point at.
struct ClusterLocationError : LoadError {
  ClusterLocationError(ClusterId id, const std::string& reason) : LoadError(reason), cluster(id) {}
  ClusterId cluster;
};
// The same for Sources::networks[entry].
struct NetworkLocationError : LoadError {
  NetworkLocationError(size_t i, const std::string& reason) : LoadError(reason), entry(i) {}
  size_t entry;
};

// The client as the DNS layer sees it: ECS subnet if present, else the source address.
struct ClientAddress {
  uint8_t family = 4;                // 4 or 6
  uint8_t source_prefix = 32;        // ECS source prefix length, or 32/128 for a packet source
  uint8_t bytes[16] = {};            // network byte order; IPv4 in bytes[0..3]
};

struct Route {
  std::span<const ClusterId> order;  // every cluster of the service, best first
  uint8_t scope = 0;                 // ECS scope prefix length this order depended on
};

// Immutable once built; shared read-only by every DNS worker. route() allocates
// nothing, locks nothing and makes no library call.
class RoutingTable {
 public:
  virtual ~RoutingTable() = default;
  virtual Route route(ServiceId service, const ClientAddress& client) const noexcept = 0;

  // For /explain: a JSON object (as text) describing how `client` is located and
  // ranked for `service`: matched prefix and its source, location, ranked clusters
  // with distance (km) or latency (ms). Health is added by the caller.
  virtual std::string explain_json(ServiceId service, const ClientAddress& client) const = 0;

  // Figures for the startup log: prefixes in the compiled table, per family.
  virtual size_t prefix_count() const noexcept = 0;
};

std::shared_ptr<const RoutingTable> compile(const Sources& sources,
                                            const std::vector<ClusterInput>& clusters,
                                            const std::vector<ServiceInput>& services);

}  // namespace gslb::geo
