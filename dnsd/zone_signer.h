// Signs a built zone before it is published: the DNSKEY RRset at the apex, an
// RRSIG set for every RRset the zone is authoritative for, and the NSEC or NSEC3
// chain over its names, so that no query ever causes signing work. Control thread only (the
// thread building a serving state); the zone is not yet shared.
#pragma once

#include <cstdint>
#include <vector>

#include "dnsd/zone.h"
#include "dnssec/dnssec.h"

namespace gslb::dns {

struct ZoneSigning {
  std::shared_ptr<const dnssec::ZoneKeys> keys;
  dnssec::Validity validity;
  uint32_t dnskey_ttl = 3600;
  bool nsec3 = false;  // an NSEC3 chain (RFC 9276 parameters) and NSEC3PARAM, not NSEC
};

// `service_types[i]`: the address types (A, AAAA) service i can answer with, for
// the NSEC bitmap of its name. Throws dnssec::KeyError when signing fails.
void sign_zone(Zone* zone, const ZoneSigning& signing, const std::vector<std::vector<uint16_t>>& service_types);

// RRSIG RDATA as an RRset body (owner not included, names not compressed, as RFC
// 4034 3.1.7 requires of the signer's name), for the answer path to copy.
RRset rrsig_set(const std::vector<dnssec::Bytes>& sigs, uint32_t ttl);

}  // namespace gslb::dns
