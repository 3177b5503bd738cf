// GET /explain?name=SERVICE&client=ADDRESS: how that client's answer comes about —
// geo's location and ranking, each cluster's health, and the A and AAAA answers
// with their ECS scope and TTL. The answers come from pick_clusters, the decision
// the DNS path makes, on the same snapshot the workers answer from.
#pragma once

#include <string>

#include "dnsd/http_server.h"
#include "dnsd/serving_state.h"

namespace gslb::dns {

// 200 with the JSON document, or 400 for a bad name, address or unknown service.
HttpResponse explain(const Snapshot& snapshot, const std::string& name, const std::string& client);

}  // namespace gslb::dns
