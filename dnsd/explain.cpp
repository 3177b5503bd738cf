#include "dnsd/explain.h"

#include <arpa/inet.h>

#include <cstring>

#include "dnsd/answer.h"
#include "dnsd/dname.h"
#include "dnsd/json.h"

namespace gslb::dns {

namespace {

const Service* find_service(const ServingState& serving, const std::string& wire) {
  for (const Service& s : serving.services) {
    std::string w;
    if (name_from_text(s.name_text, &w) && w == wire) return &s;
  }
  return nullptr;
}

template <size_t N>
void add_text(nlohmann::ordered_json& out, int family, const std::array<uint8_t, N>& address) {
  char buf[INET6_ADDRSTRLEN];
  out.push_back(inet_ntop(family, address.data(), buf, sizeof buf));
}

nlohmann::ordered_json answer(const ServingState& serving, const Service& svc, const health::HealthView& health,
                      const geo::ClientAddress& client, bool v6) {
  const ClusterPick pick = pick_clusters(serving, svc, health, client, v6);
  nlohmann::ordered_json addresses = nlohmann::ordered_json::array();
  for (unsigned i = 0; i < pick.count; ++i) {
    const ClusterAddresses& fixed = serving.clusters[pick.clusters[i]];
    const health::Ingress& dynamic = resolved_ingress(health, pick.clusters[i]);
    if (v6) {
      for (const auto& a : fixed.ipv6) add_text(addresses, AF_INET6, a);
      for (const auto& a : dynamic.ipv6) add_text(addresses, AF_INET6, a);
    } else {
      for (const auto& a : fixed.ipv4) add_text(addresses, AF_INET, a);
      for (const auto& a : dynamic.ipv4) add_text(addresses, AF_INET, a);
    }
  }
  nlohmann::ordered_json out = {{"rcode", pick.servfail ? "SERVFAIL" : "NOERROR"}, {"scope", pick.scope}, {"addresses", addresses}};
  if (pick.count > 0) out["ttl"] = pick.transitioning ? svc.transition_ttl : svc.ttl;
  return out;
}

}  // namespace

HttpResponse explain(const Snapshot& snapshot, const std::string& name, const std::string& client_text) {
  std::string wire;
  if (!name_from_text(name, &wire)) return http_error(400, "not a domain name: " + name);
  geo::ClientAddress client;
  if (inet_pton(AF_INET, client_text.c_str(), client.bytes) == 1) {
    client.family = 4;
    client.source_prefix = 32;
  } else if (inet_pton(AF_INET6, client_text.c_str(), client.bytes) == 1) {
    client.family = 6;
    client.source_prefix = 128;
  } else {
    return http_error(400, "not an IP address: " + client_text);
  }
  const ServingState& serving = *snapshot.serving;
  const health::HealthView& health = *snapshot.health;
  const Service* svc = find_service(serving, wire);
  if (!svc) return http_error(400, "no service named " + name);

  nlohmann::ordered_json clusters = nlohmann::ordered_json::array();
  for (const geo::ClusterId c : svc->clusters)
    clusters.push_back({{"cluster", serving.clusters[c].name},
                        {"up", c >= health.up.size() || health.up[c]},
                        {"transitioning", c < health.transitioning.size() && health.transitioning[c]}});
  const nlohmann::ordered_json doc = {{"name", svc->name_text},
                              {"client", client_text},
                              {"geo", nlohmann::ordered_json::parse(serving.routing->explain_json(svc->geo_id, client))},
                              {"health", std::move(clusters)},
                              {"answer",
                               {{"A", answer(serving, *svc, health, client, false)},
                                {"AAAA", answer(serving, *svc, health, client, true)}}}};
  return {200, "application/json", json_text(doc), {}};
}

}  // namespace gslb::dns
