#include "dnsd/sync_status.h"

#include "dnsd/json.h"

namespace gslb::dns {

namespace {

nlohmann::ordered_json cluster_json(const sync::Status& sync, const std::string& name) {
  for (const sync::Status::Cluster& c : sync.clusters) {
    if (c.name != name) continue;
    nlohmann::ordered_json votes = nlohmann::ordered_json::array();
    for (const auto& v : c.votes)
      votes.push_back({{"instance", v.instance}, {"up", v.up}, {"reason", v.reason}, {"age_s", v.age_s}});
    nlohmann::ordered_json out = {{"local", nullptr}, {"votes", std::move(votes)}, {"agreed", nullptr}};
    if (c.local) out["local"] = *c.local ? "up" : "down";
    if (c.agreed) out["agreed"] = *c.agreed;
    return out;
  }
  return nullptr;
}

// Adds "sync" to each object of `clusters` whose `key` names a cluster.
void add_to(nlohmann::ordered_json& clusters, const char* key, const sync::Status& sync) {
  if (!clusters.is_array()) return;
  for (auto& c : clusters)
    if (c.is_object() && c.contains(key) && c[key].is_string()) c["sync"] = cluster_json(sync, c[key].get<std::string>());
}

}  // namespace

std::string with_sync(const std::string& status_json, const sync::Status& sync) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(status_json, nullptr, false);
  if (!doc.is_object()) return status_json;
  add_to(doc["clusters"], "name", sync);
  doc["sync"] = {{"connected", sync.connected},
                 {"instance", sync.instance},
                 {"conflict", sync.conflict.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(sync.conflict)},
                 {"live_instances", sync.live_instances},
                 {"revision", sync.revision}};
  return json_text(doc);
}

HttpResponse with_sync(HttpResponse explained, const sync::Status& sync) {
  if (explained.status != 200) return explained;
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(explained.body, nullptr, false);
  if (!doc.is_object()) return explained;
  add_to(doc["health"], "cluster", sync);
  doc["sync"] = {{"connected", sync.connected}, {"instance", sync.instance}};
  explained.body = json_text(doc);
  return explained;
}

}  // namespace gslb::dns
