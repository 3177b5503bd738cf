// Parsers for the client-location sources and the latency table. Each turns a
// file into intervals or prefixes over ClientEntries; compile() layers them.
// Control thread only; nothing here outlives compile() except what it copies.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "geo/address.h"
#include "geo/location.h"
#include "geo/prefix_table.h"

namespace gslb::geo {

// Client locations referenced by prefix-table values; value 0 is "no source knows".
class ClientEntries {
 public:
  ClientEntries() : entries_(1) {}
  uint32_t add(ClientEntry e);
  // One shared entry per (source, country), so a country's many ranges share an id.
  uint32_t country(const Countries& countries, SourceKind source, std::string_view code);
  const ClientEntry& operator[](uint32_t id) const { return entries_[id]; }
  size_t size() const noexcept { return entries_.size(); }

 private:
  std::vector<ClientEntry> entries_;
  std::unordered_map<std::string, uint32_t> countries_;
};

struct FamilyIntervals {
  std::vector<Interval<uint32_t>> v4;  // sorted, disjoint
  std::vector<Interval<U128>> v6;
};

// A prefix from a file that lets prefixes nest (networks, latency table).
struct CidrEntry {
  Cidr cidr;
  uint32_t value;
};

// Flattens nested prefixes into one partition per family: the longest prefix wins.
// Prefixes must be unique per (family, address, length).
struct FamilyPartitions {
  Partition<uint32_t> v4;
  Partition<U128> v6;
};
FamilyPartitions flatten(std::vector<CidrEntry> prefixes);

using ClusterIds = std::unordered_map<std::string, ClusterId>;

// Debian tor-geoipdb: IPv4 lines "start_uint32,end_uint32,CC", IPv6 lines
// "start_ipv6,end_ipv6,CC", both ascending. "??" means unknown and is skipped.
FamilyIntervals load_ranges(const std::string& path, const Countries& countries, ClientEntries& entries);

// MaxMind DB, City or Country: the whole search tree, enumerated.
FamilyIntervals load_mmdb(const std::string& path, const Countries& countries, ClientEntries& entries);

// A location as written (a cluster's, a networks entry's) against the countries
// table; nullopt for a country the table lacks.
std::optional<Place> place_of(const Location& l, const Countries& countries);
// Why place_of() gave nullopt for `l`.
std::string unknown_country(const Location& l);

// The networks entries as prefixes over new client entries; throws
// NetworkLocationError for a country the table lacks.
std::vector<CidrEntry> networks_prefixes(const std::vector<NetworkInput>& networks, const Countries& countries,
                                         ClientEntries& entries);

struct LatencyRow {
  ClusterId cluster;
  double rtt_ms;
};

// `client,cluster,rtt_ms`. A client is a CIDR, a country code (two upper-case
// letters, as ISO writes them) or a region (anything else, compared in lower case;
// "eu" also matches every client located on that continent). Case is what tells
// the country NA (Namibia) from the continent na (North America).
struct LatencyTable {
  std::vector<std::string> keys{""};          // key id -> the client as written; 0 = none
  std::vector<std::vector<LatencyRow>> rows = std::vector<std::vector<LatencyRow>>(1);  // by key id
  std::unordered_map<std::string, uint32_t> by_name;  // "JP" / "eu" -> key id
  std::vector<CidrEntry> cidrs;                       // value = key id
};
LatencyTable load_latency(const std::string& path, const ClusterIds& cluster_ids);

}  // namespace gslb::geo
