// compile(): from source files to the Table DNS workers search. Per family:
//   1. locating sources as partitions (address -> client entry, 0 = unknown),
//      overlaid least specific first: ranges files in order, the mmdb, then the
//      networks file (longest prefix wins among its own entries);
//   2. the latency table's CIDRs as a partition (address -> latency key);
//   3. both combined: address -> location id, a distinct (entry, key) pair; kept
//      for explain_json;
//   4. every location ranked for every service; the tuple of orders interned as a
//      ranking id; neighbours with equal ids merged: the route table, whose range
//      bounds give the ECS scope.
// Everything is decided here, so that route() only searches.
#include <algorithm>
#include <map>

#include "geo/table.h"

namespace gslb::geo {

namespace {

uint64_t fnv1a(std::string_view s) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

Place cluster_place(ClusterId id, const ClusterInput& c, const Countries& countries) {
  const auto& l = c.location;
  if (l.lat && l.lon) {
    Place p;
    p.coords = Coords{*l.lat, *l.lon};
    return p;
  }
  if (!l.country.empty()) {
    if (!countries.contains(to_upper(l.country)))
      throw ClusterLocationError(id, "unknown country code \"" + l.country + "\" (not in the countries table)");
    return countries.country(to_upper(l.country));
  }
  if (!l.region.empty()) return Countries::region(l.region);
  return {};
}

template <class A>
void layer(Partition<A>& into, const std::vector<Interval<A>>& intervals) {
  if (!intervals.empty()) into = Partition<A>::overlay(into, Partition<A>::from_disjoint(intervals));
}

}  // namespace

std::shared_ptr<const RoutingTable> compile(const Sources& sources, const std::vector<ClusterInput>& clusters,
                                            const std::vector<ServiceInput>& services) {
  auto t = std::make_shared<Table>();
  t->clusters_ = clusters;

  const Countries countries = sources.countries.empty() ? Countries{} : Countries::load(sources.countries);
  ClusterIds cluster_ids;
  for (size_t i = 0; i < clusters.size(); ++i) {
    cluster_ids.emplace(clusters[i].name, ClusterId(i));
    t->places_.push_back(cluster_place(ClusterId(i), clusters[i], countries));
  }
  for (const auto& s : services) {
    for (const auto id : s.clusters)
      if (id >= clusters.size()) throw LoadError("service \"" + s.name + "\": cluster id out of range");
    if (s.policy == Policy::weighted && s.weights.size() != s.clusters.size())
      throw LoadError("service \"" + s.name + "\": weighted policy needs one weight per cluster");
  }

  Partition<uint32_t> loc4;
  Partition<U128> loc6;
  for (const auto& path : sources.ranges) {
    const auto iv = load_ranges(path, countries, t->entries_);
    layer(loc4, iv.v4);
    layer(loc6, iv.v6);
  }
  if (!sources.mmdb.empty()) {
    const auto iv = load_mmdb(sources.mmdb, countries, t->entries_);
    layer(loc4, iv.v4);
    layer(loc6, iv.v6);
  }
  if (!sources.networks.empty()) {
    const auto nets = flatten(load_networks(sources.networks, countries, cluster_ids, t->entries_));
    loc4 = Partition<uint32_t>::overlay(loc4, nets.v4);
    loc6 = Partition<U128>::overlay(loc6, nets.v6);
  }
  FamilyPartitions lat;
  if (!sources.latency_table.empty()) {
    t->latency_ = load_latency(sources.latency_table, cluster_ids);
    lat = flatten(t->latency_.cidrs);
  }

  // A location id is a distinct (client entry, latency CIDR) pair.
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> location_ids;
  const auto intern_location = [&](uint32_t entry, uint32_t cidr_key) {
    const auto [it, fresh] = location_ids.emplace(std::pair{entry, cidr_key}, uint32_t(t->locations_.size()));
    if (fresh) t->locations_.emplace_back(entry, cidr_key);
    return it->second;
  };
  intern_location(0, 0);
  t->detail4_ = Partition<uint32_t>::combine(loc4, lat.v4, intern_location);
  t->detail6_ = Partition<U128>::combine(loc6, lat.v6, intern_location);

  // A ranking id is a distinct tuple of every service's order.
  uint32_t offset = 0;
  for (const auto& s : services) {
    Table::Service svc;
    svc.input = s;
    svc.offset = offset;
    offset += uint32_t(s.clusters.size());
    t->services_.push_back(std::move(svc));
  }
  t->stride_ = offset;
  std::map<std::vector<ClusterId>, uint32_t> ranking_ids;
  std::vector<uint32_t> ranking_of_location(t->locations_.size());
  std::vector<ClusterId> tuple;
  for (size_t loc = 0; loc < t->locations_.size(); ++loc) {
    const auto [entry_id, cidr_key] = t->locations_[loc];
    const auto& entry = t->entries_[entry_id];
    const auto lkey = latency_key(t->latency_, entry, cidr_key);
    tuple.clear();
    for (const auto& s : services)
      for (const auto& r : rank(s, t->places_, entry, t->latency_, lkey)) tuple.push_back(r.cluster);
    const auto [it, fresh] = ranking_ids.emplace(tuple, uint32_t(ranking_ids.size()));
    if (fresh) t->orders_.insert(t->orders_.end(), tuple.begin(), tuple.end());
    ranking_of_location[loc] = it->second;
  }
  const auto to_ranking = [&](uint32_t loc) { return ranking_of_location[loc]; };
  t->ranking4_ = t->detail4_.map(to_ranking);
  t->ranking6_ = t->detail6_.map(to_ranking);
  t->ranking4_.build_index();
  t->ranking6_.build_index();

  // A service whose order never varies answers with scope 0: its answer depends on
  // no part of the client address. Every ranking id is in use, since each came
  // from a location in the partitions.
  const size_t rankings = ranking_ids.size();
  for (auto& svc : t->services_) {
    const size_t n = svc.input.clusters.size();
    const auto order_of = [&](size_t r) { return std::span(t->orders_.data() + r * t->stride_ + svc.offset, n); };
    if (svc.input.policy == Policy::weighted) {
      svc.salt = fnv1a(svc.input.name);
      svc.weighted = weighted_orders(svc.input, kWeightedSlots, svc.salt);
      svc.constant = true;
      for (size_t slot = 1; slot < kWeightedSlots && svc.constant; ++slot)
        svc.constant = std::equal(svc.weighted.begin(), svc.weighted.begin() + ptrdiff_t(n),
                                  svc.weighted.begin() + ptrdiff_t(slot * n));
      svc.fixed.assign(svc.weighted.begin(), svc.weighted.begin() + ptrdiff_t(n));
      if (!svc.constant) svc.fixed = svc.input.clusters;
      continue;
    }
    svc.constant = true;
    for (size_t r = 1; r < rankings && svc.constant; ++r) svc.constant = std::ranges::equal(order_of(0), order_of(r));
    if (svc.constant) {
      svc.fixed.assign(order_of(0).begin(), order_of(0).end());
    } else {
      svc.fixed = svc.input.clusters;
    }
  }
  return t;
}

}  // namespace gslb::geo
