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

// Everything build_zone() reads, as one comparable string: the zone's settings, the
// zone file's identity as stat(2) sees it (device, inode, size, modification and
// change times: an edit changes the change time even when it keeps the rest), the
// default serial when the SOA takes it, and the services placed in the zone. Equal
// strings build equal zones, so a reload keeps the zone it has (as Knot skips an
// unchanged zone file) instead of holding two copies of a large zone at once.
// Empty when the zone cannot be kept: signed zones (signatures depend on the time
// and the keys) and a zone file that cannot be stat'ed (build_zone reports why).
std::string zone_inputs(const ZoneConfig& config, uint32_t default_serial, const std::vector<ServiceName>& services);

}  // namespace gslb::dns
