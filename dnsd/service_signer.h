// Signs, before a serving state is published, every address RRset a service can
// answer with: for each address type, each set of up to `answers` of its clusters
// (the first clusters up in some client's ranking, or in fail-open order), at the
// service's TTL and at its transition TTL. The answer path then finds a
// signature by the picked clusters alone. Control thread only.
#pragma once

#include <string_view>
#include <vector>

#include "dnsd/serving_state.h"
#include "dnsd/zone_signer.h"

namespace gslb::dns {

// Past this many address sets per address type a service is refused in a signed
// zone (each set is signed at two TTLs): 4,096 sets are 10 clusters with
// answers: 4 (385 sets) several times over, and take about a second to sign.
constexpr size_t kMaxSignedAddressSets = 4096;

// How many address sets `svc` has for one address type, given which of its
// clusters have addresses of that type.
size_t address_set_count(const std::vector<bool>& has_addresses, unsigned answers);

// Fills svc->signed_answers. `owner` is the service name in lower-case wire form.
void sign_service(Service* svc, std::string_view owner, const std::vector<ClusterAddresses>& clusters,
                  const ZoneSigning& signing);

}  // namespace gslb::dns
