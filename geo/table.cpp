#include "geo/table.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <nlohmann/json.hpp>

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

// Explain figures to a fixed resolution (1e4: 4 decimals). NaN and infinity stay
// so and are written as null, since JSON has neither.
double rounded(double v, double resolution) { return std::isfinite(v) ? std::round(v * resolution) / resolution : v; }

}  // namespace

std::string Table::explain_json(ServiceId sid, const ClientAddress& client) const {
  if (sid >= services_.size() || (client.family != 4 && client.family != 6))
    return nlohmann::ordered_json{{"error", sid >= services_.size() ? "unknown service" : "unknown address family"}}.dump();
  const auto& s = services_[sid];
  const auto route_now = route(sid, client);
  // A mapped IPv4 client is explained as the IPv4 client it is (prefix in IPv4
  // notation); the scope stays the one route() gives, in IPv6 bits.
  ClientAddress unmapped;
  const ClientAddress& c = unmap(client, unmapped) ? unmapped : client;
  const int scope_offset = &c == &unmapped ? 96 : 0;

  const uint32_t location =
      c.family == 4 ? detail4_.value(detail4_.find(load_v4(c))) : detail6_.value(detail6_.find(load_v6(c)));
  U128 lo = 0, hi = 0;
  if (!s.constant && s.input.policy != Policy::weighted) {
    // The service's own run: the range its answer holds for.
    const Split& split = splits_[s.split];
    if (c.family == 4) {
      std::tie(lo, hi) = run_bounds(ranking4_, split.v4, split.label.data(), ranking4_.find(load_v4(c)));
    } else {
      std::tie(lo, hi) = run_bounds(ranking6_, split.v6, split.label.data(), ranking6_.find(load_v6(c)));
    }
  } else {
    // The answer does not come from the location table: the prefix it holds for is
    // the scope's block.
    const U128 addr = c.family == 4 ? U128(load_v4(c)) : load_v6(c);
    const int scope = std::max(0, route_now.scope - scope_offset);
    const U128 host = c.family == 4 ? U128(host_mask<uint32_t>(scope)) : host_mask<U128>(scope);
    lo = addr & ~host & (c.family == 4 ? U128(kMaxAddress<uint32_t>) : kMaxAddress<U128>);
    hi = lo | host;
  }
  const auto [entry_id, cidr_key] = locations_[location];
  const auto& entry = entries_[entry_id];

  nlohmann::ordered_json out = {{"service", s.input.name},
                        {"policy", policy_name(s.input.policy)},
                        {"prefix", format_range(c.family, lo, hi)},
                        {"scope", route_now.scope},
                        {"source", source_name(entry.source)}};
  nlohmann::ordered_json place = nlohmann::ordered_json::object();
  if (entry.place.coords) {
    place["lat"] = rounded(entry.place.coords->lat, 1e4);
    place["lon"] = rounded(entry.place.coords->lon, 1e4);
  }
  for (const auto& [k, v] : {std::pair{"country", &entry.place.country}, std::pair{"continent", &entry.place.continent},
                             std::pair{"region", &entry.place.region}})
    if (!v->empty()) place[k] = *v;
  out["location"] = std::move(place);
  if (entry.has_pinned) out["pinned"] = true;
  const auto lkey = latency_key(latency_, entry, cidr_key);
  if (s.input.policy == Policy::latency && lkey) out["latency_client"] = latency_.keys[lkey];

  // Recomputed with the function that built the table, annotated; the order is
  // what route() serves.
  const auto ranked = rank(s.input, places_, entry, latency_, lkey);
  nlohmann::ordered_json order = nlohmann::ordered_json::array();
  for (const auto id : route_now.order) {
    const auto it = std::find_if(ranked.begin(), ranked.end(), [&](const Ranked& r) { return r.cluster == id; });
    nlohmann::ordered_json one = {{"cluster", clusters_[id].name}};
    if (it != ranked.end() && it->latency_ms) {
      one["latency_ms"] = rounded(*it->latency_ms, 10);
    } else if (it != ranked.end() && it->distance_km) {
      one["distance_km"] = rounded(*it->distance_km, 10);
    }
    if (s.input.policy == Policy::weighted) {
      const auto pos = size_t(std::find(s.input.clusters.begin(), s.input.clusters.end(), id) - s.input.clusters.begin());
      one["weight"] = pos < s.input.weights.size() ? s.input.weights[pos] : 0;
    }
    order.push_back(std::move(one));
  }
  out["ranked"] = std::move(order);
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace gslb::geo
