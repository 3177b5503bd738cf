#include "geo/rank.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace gslb::geo {

uint32_t latency_key(const LatencyTable& table, const ClientEntry& client, uint32_t cidr_key) {
  if (cidr_key) return cidr_key;
  const auto find = [&](const std::string& name) -> uint32_t {
    if (name.empty()) return 0;
    const auto it = table.by_name.find(name);
    return it == table.by_name.end() ? 0 : it->second;
  };
  if (auto k = find(client.place.country)) return k;
  if (auto k = find(client.place.region)) return k;
  return find(to_lower(client.place.continent));
}

namespace {

// A cluster's place comes from exactly one form, so a declared region with a
// continent is a continent region (Countries::region), matching every client there.
bool same_region(const Place& cluster, const Place& client) {
  if (cluster.region.empty()) return false;
  return cluster.region == client.region || (!cluster.continent.empty() && cluster.continent == client.continent);
}

// nearest, applied to `order` in place (stable, so ties keep written order).
void sort_nearest(std::vector<Ranked>& order, const std::vector<Place>& clusters, const Place& client) {
  for (auto& r : order)
    if (client.coords && clusters[r.cluster].coords)
      r.distance_km = distance_km(*client.coords, *clusters[r.cluster].coords);
  const auto key = [&](const Ranked& r) {
    return std::tuple{same_region(clusters[r.cluster], client) ? 0 : 1, r.distance_km ? 0 : 1,
                      r.distance_km.value_or(0.0)};
  };
  std::stable_sort(order.begin(), order.end(), [&](const Ranked& a, const Ranked& b) { return key(a) < key(b); });
}

}  // namespace

std::vector<Ranked> rank(const ServiceInput& service, const std::vector<Place>& clusters,
                         const ClientEntry& client, const LatencyTable& latency, uint32_t lkey) {
  std::vector<Ranked> order;
  order.reserve(service.clusters.size());
  for (auto id : service.clusters) order.push_back({id, std::nullopt, std::nullopt});
  if (service.policy == Policy::failover || service.policy == Policy::weighted) return order;

  if (client.has_pinned) {
    const auto pin_rank = [&](const Ranked& r) {
      const auto it = std::find(client.pinned.begin(), client.pinned.end(), r.cluster);
      return size_t(it - client.pinned.begin());  // unpinned: pinned.size(), after all pinned
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](const Ranked& a, const Ranked& b) { return pin_rank(a) < pin_rank(b); });
    return order;
  }

  sort_nearest(order, clusters, client.place);
  if (service.policy == Policy::latency && lkey) {
    for (const auto& row : latency.rows[lkey])
      for (auto& r : order)
        if (r.cluster == row.cluster) r.latency_ms = row.rtt_ms;
    std::stable_sort(order.begin(), order.end(), [](const Ranked& a, const Ranked& b) {
      return std::tuple{a.latency_ms ? 0 : 1, a.latency_ms.value_or(0.0)} <
             std::tuple{b.latency_ms ? 0 : 1, b.latency_ms.value_or(0.0)};
    });
  }
  return order;
}

std::vector<ClusterId> weighted_orders(const ServiceInput& service, size_t slots, uint64_t salt) {
  const size_t n = service.clusters.size();
  std::vector<ClusterId> out;
  out.reserve(slots * n);
  const auto weight = [&](size_t i) { return i < service.weights.size() ? uint64_t(service.weights[i]) : 0; };
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += weight(i);

  // Slots whose order starts with cluster i: floor(slots * w_i / total), the
  // leftover slots to the largest remainders (ties to the earlier cluster).
  std::vector<size_t> first(n, 0);
  if (total) {
    std::vector<std::pair<uint64_t, size_t>> remainders;
    size_t given = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto share = __uint128_t(slots) * weight(i);
      first[i] = size_t(share / total);
      given += first[i];
      remainders.push_back({uint64_t(share % total), i});
    }
    std::stable_sort(remainders.begin(), remainders.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t k = 0; given < slots; ++k, ++given) ++first[remainders[k].second];
  }

  size_t head = 0;  // cluster index that starts the current slot
  for (size_t slot = 0; slot < slots; ++slot) {
    while (total && head < n && first[head] == 0) ++head;
    std::vector<size_t> rest(n);
    std::iota(rest.begin(), rest.end(), size_t{0});
    if (total) {
      out.push_back(service.clusters[head]);
      rest.erase(rest.begin() + ptrdiff_t(head));
      --first[head];
    }
    uint64_t state = mix64(salt ^ mix64(slot));
    uint64_t left = total ? total - weight(head) : 0;
    while (!rest.empty()) {
      size_t pick = 0;
      if (left) {
        state = mix64(state);
        uint64_t x = state % left;
        while (x >= weight(rest[pick])) x -= weight(rest[pick++]);
        left -= weight(rest[pick]);
      }
      out.push_back(service.clusters[rest[pick]]);
      rest.erase(rest.begin() + ptrdiff_t(pick));
    }
  }
  return out;
}

}  // namespace gslb::geo
