#include "geo/table.h"

#include <algorithm>

#include "geo/json.h"

namespace gslb::geo {

namespace {

const char* policy_name(Policy p) noexcept {
  switch (p) {
    case Policy::nearest: return "nearest";
    case Policy::latency: return "latency";
    case Policy::failover: return "failover";
    case Policy::weighted: return "weighted";
  }
  return "unknown";
}

}  // namespace

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

}  // namespace gslb::geo
