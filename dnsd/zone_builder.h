// Builds a Zone from its configuration: SOA and NS from the config keys, records
// from master-file text and an optional zone file (both parsed with ldns), and the
// service names that are answered per query.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dnsd/config.h"
#include "dnsd/zone.h"

namespace gslb::dns {

struct ServiceName {
  std::string name;   // lower-case wire form
  int32_t index;      // into ServingState::services
  SourcePos pos;
};

// Throws ConfigError naming the file, line and reason.
std::unique_ptr<Zone> build_zone(const ZoneConfig& config, uint32_t default_serial,
                                 const std::vector<ServiceName>& services);

}  // namespace gslb::dns
