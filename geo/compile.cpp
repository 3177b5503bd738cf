// compile(): every source layered into one partition per family whose values are
// ranking ids, and the RoutingTable that answers from it.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "geo/json.h"
#include "geo/prefix_table.h"
#include "geo/rank.h"
#include "geo/routing.h"
#include "geo/sources.h"

namespace gslb::geo {

namespace {

// Weighted services hash the client's /24 (IPv4) or /48 (IPv6) into this many
// precomputed orders: a power of two so the slot is a mask, and large enough that
// the split matches the weights to 1/1024 over many subnets.
constexpr size_t kWeightedSlots = 1024;
constexpr uint8_t kWeightedScope4 = 24, kWeightedScope6 = 48;

uint32_t load_v4(const ClientAddress& c) noexcept {
  return uint32_t(c.bytes[0]) << 24 | uint32_t(c.bytes[1]) << 16 | uint32_t(c.bytes[2]) << 8 | c.bytes[3];
}

// ::ffff:a.b.c.d -> a.b.c.d in `out`; false for any other address.
bool unmap(const ClientAddress& c, ClientAddress& out) noexcept {
  if (c.family != 6) return false;
  for (int i = 0; i < 10; ++i)
    if (c.bytes[i]) return false;
  if (c.bytes[10] != 0xff || c.bytes[11] != 0xff) return false;
  out.family = 4;
  out.source_prefix = uint8_t(c.source_prefix > 96 ? c.source_prefix - 96 : 0);
  for (int i = 0; i < 4; ++i) out.bytes[i] = c.bytes[12 + i];
  return true;
}

U128 load_v6(const ClientAddress& c) noexcept {
  U128 v = 0;
  for (const auto b : c.bytes) v = (v << 8) | b;
  return v;
}

uint64_t fnv1a(std::string_view s) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

const char* policy_name(Policy p) noexcept {
  switch (p) {
    case Policy::nearest: return "nearest";
    case Policy::latency: return "latency";
    case Policy::failover: return "failover";
    case Policy::weighted: return "weighted";
  }
  return "unknown";
}

// Immutable after compile(); shared read-only by every DNS worker.
class Table final : public RoutingTable {
 public:
  struct Service {
    ServiceInput input;
    uint32_t offset = 0;  // of this service's order within a ranking's tuple
    // The order when it is the same for every client (scope 0); else the written
    // order, served to clients of an unknown family.
    std::vector<ClusterId> fixed;
    bool constant = false;
    uint64_t salt = 0;               // weighted: per-service hash salt
    std::vector<ClusterId> weighted;  // weighted: kWeightedSlots orders back to back
  };

  Route route(ServiceId sid, const ClientAddress& client) const noexcept override {
    if (sid >= services_.size()) return {};
    const auto& s = services_[sid];
    const size_t n = s.fixed.size();
    if (s.constant || (client.family != 4 && client.family != 6)) return {s.fixed, 0};
    // An IPv4 client seen through a dual-stack socket is located as IPv4; its
    // scope, counted in IPv6 bits, includes the 96 bits of ::ffff:0:0/96.
    ClientAddress unmapped;
    const ClientAddress& c = unmap(client, unmapped) ? unmapped : client;
    const uint8_t scope_offset = &c == &unmapped ? 96 : 0;
    if (s.input.policy == Policy::weighted) {
      const uint64_t subnet = c.family == 4 ? uint64_t(load_v4(c) >> (32 - kWeightedScope4))
                                            : uint64_t(load_v6(c) >> (128 - kWeightedScope6)) | (uint64_t(1) << 63);
      const size_t slot = mix64(subnet ^ s.salt) & (kWeightedSlots - 1);
      return {std::span(s.weighted.data() + slot * n, n),
              uint8_t(scope_offset + (c.family == 4 ? kWeightedScope4 : kWeightedScope6))};
    }
    uint32_t rid;
    uint8_t scope;
    if (c.family == 4) {
      const auto a = load_v4(c);
      const auto i = ranking4_.find(a);
      rid = ranking4_.value(i);
      scope = scope_of(ranking4_.start(i), ranking4_.end(i), a);
    } else {
      const auto a = load_v6(c);
      const auto i = ranking6_.find(a);
      rid = ranking6_.value(i);
      scope = scope_of(ranking6_.start(i), ranking6_.end(i), a);
    }
    return {std::span(orders_.data() + size_t(rid) * stride_ + s.offset, n), uint8_t(scope_offset + scope)};
  }

  std::string explain_json(ServiceId sid, const ClientAddress& c) const override;

  size_t prefix_count() const noexcept override { return ranking4_.size() + ranking6_.size(); }

  std::vector<ClusterInput> clusters_;
  std::vector<Place> places_;
  std::vector<Service> services_;
  size_t stride_ = 0;               // sum of the services' cluster counts
  std::vector<ClusterId> orders_;   // ranking id r: orders_[r * stride_ ...], every service's order
  Partition<uint32_t> ranking4_;    // address -> ranking id
  Partition<U128> ranking6_;
  // For explain only: address -> location id, before rankings merged neighbours.
  Partition<uint32_t> detail4_;
  Partition<U128> detail6_;
  std::vector<std::pair<uint32_t, uint32_t>> locations_;  // location id -> (client entry, latency cidr key)
  ClientEntries entries_;
  LatencyTable latency_;
};

std::string Table::explain_json(ServiceId sid, const ClientAddress& client) const {
  std::string out = "{";
  if (sid >= services_.size() || (client.family != 4 && client.family != 6)) {
    json::key(out, "error");
    json::string(out, sid >= services_.size() ? "unknown service" : "unknown address family");
    return out + "}";
  }
  const auto& s = services_[sid];
  const auto route_now = route(sid, client);
  // A mapped IPv4 client is explained as the IPv4 client it is (prefix in IPv4
  // notation); the scope stays the one route() gives, in IPv6 bits.
  ClientAddress unmapped;
  const ClientAddress& c = unmap(client, unmapped) ? unmapped : client;
  const int scope_offset = &c == &unmapped ? 96 : 0;

  uint32_t location = 0;
  U128 lo = 0, hi = 0;
  if (c.family == 4) {
    const auto a = load_v4(c);
    location = detail4_.value(detail4_.find(a));
    const auto i = ranking4_.find(a);
    lo = ranking4_.start(i);
    hi = ranking4_.end(i);
  } else {
    const auto a = load_v6(c);
    location = detail6_.value(detail6_.find(a));
    const auto i = ranking6_.find(a);
    lo = ranking6_.start(i);
    hi = ranking6_.end(i);
  }
  // The prefix the answer holds for is the scope's block when the answer does not
  // come from the location table.
  if (s.constant || s.input.policy == Policy::weighted) {
    const U128 addr = c.family == 4 ? U128(load_v4(c)) : load_v6(c);
    const int scope = std::max(0, route_now.scope - scope_offset);
    const U128 host = c.family == 4 ? U128(host_mask<uint32_t>(scope)) : host_mask<U128>(scope);
    lo = addr & ~host & (c.family == 4 ? U128(kMaxAddress<uint32_t>) : kMaxAddress<U128>);
    hi = lo | host;
  }
  const auto [entry_id, cidr_key] = locations_[location];
  const auto& entry = entries_[entry_id];

  json::key(out, "service");
  json::string(out, s.input.name);
  json::key(out, "policy");
  json::string(out, policy_name(s.input.policy));
  json::key(out, "prefix");
  json::string(out, format_range(c.family, lo, hi));
  json::key(out, "scope");
  out += std::to_string(route_now.scope);
  json::key(out, "source");
  json::string(out, source_name(entry.source));
  json::key(out, "location");
  out += '{';
  if (entry.place.coords) {
    json::key(out, "lat");
    json::number(out, entry.place.coords->lat, 4);
    json::key(out, "lon");
    json::number(out, entry.place.coords->lon, 4);
  }
  for (const auto& [k, v] : {std::pair{"country", &entry.place.country}, std::pair{"continent", &entry.place.continent},
                             std::pair{"region", &entry.place.region}}) {
    if (v->empty()) continue;
    json::key(out, k);
    json::string(out, *v);
  }
  out += '}';
  if (entry.has_pinned) {
    json::key(out, "pinned");
    out += "true";
  }
  const auto lkey = latency_key(latency_, entry, cidr_key);
  if (s.input.policy == Policy::latency && lkey) {
    json::key(out, "latency_client");
    json::string(out, latency_.keys[lkey]);
  }

  // Recomputed with the function that built the table, annotated; the order is
  // what route() serves.
  const auto ranked = rank(s.input, places_, entry, latency_, lkey);
  json::key(out, "ranked");
  out += '[';
  for (const auto id : route_now.order) {
    const auto it = std::find_if(ranked.begin(), ranked.end(), [&](const Ranked& r) { return r.cluster == id; });
    out += out.back() == '[' ? "{" : ",{";
    json::key(out, "cluster");
    json::string(out, clusters_[id].name);
    if (it != ranked.end() && it->latency_ms) {
      json::key(out, "latency_ms");
      json::number(out, *it->latency_ms, 1);
    } else if (it != ranked.end() && it->distance_km) {
      json::key(out, "distance_km");
      json::number(out, *it->distance_km, 1);
    }
    if (s.input.policy == Policy::weighted) {
      const auto pos = size_t(std::find(s.input.clusters.begin(), s.input.clusters.end(), id) - s.input.clusters.begin());
      json::key(out, "weight");
      out += std::to_string(pos < s.input.weights.size() ? s.input.weights[pos] : 0);
    }
    out += '}';
  }
  out += "]}";
  return out;
}

Place cluster_place(const ClusterInput& c, const Countries& countries) {
  const auto& l = c.location;
  if (l.lat && l.lon) {
    Place p;
    p.coords = Coords{*l.lat, *l.lon};
    return p;
  }
  if (!l.country.empty()) {
    if (!countries.contains(to_upper(l.country)))
      throw LoadError("cluster \"" + c.name + "\": unknown country code \"" + l.country + "\" (not in the countries table)");
    return countries.country(to_upper(l.country));
  }
  if (!l.region.empty()) return Countries::region(l.region);
  return {};
}

// Location layers, least specific first: ranges files in order, then the mmdb,
// then the operators' networks (longest prefix first among themselves).
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
    t->places_.push_back(cluster_place(clusters[i], countries));
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
