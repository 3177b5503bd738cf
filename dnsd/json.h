// JSON text for the HTTP API. Strings in it can come from a request (a cluster
// name from a percent-decoded path, an Origin header): bytes that are not UTF-8
// become U+FFFD instead of throwing out of the handler.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gslb::dns {

inline std::string json_text(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace gslb::dns
