// What sync adds to GET /status and /explain (and `gslbd ctl status|explain`): per
// cluster the local verdict, every live instance's vote with its age and the agreed
// result; in /status also the session (connected, instance, a name conflict, live
// instances, revision).
#pragma once

#include <string>

#include "dnsd/http_server.h"
#include "sync/sync.h"

namespace gslb::dns {

// The Monitor's /status document with "sync" added to each cluster and at the top.
std::string with_sync(const std::string& status_json, const sync::Status& sync);
// An /explain answer with "sync" added to each cluster it names (errors unchanged).
HttpResponse with_sync(HttpResponse explained, const sync::Status& sync);

}  // namespace gslb::dns
