#include "dnsd/zone_signer.h"

#include <algorithm>

#include "dnsd/dname.h"
#include "dnsd/query.h"

namespace gslb::dns {

namespace {

void put16(std::vector<uint8_t>* b, uint16_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}

// An RRset body (owner not included) for RDATA that holds no compressible names.
RRset plain_set(uint16_t type, uint32_t ttl, const std::vector<dnssec::Bytes>& rdatas) {
  RRset set;
  set.type = type;
  set.ttl = ttl;
  for (const dnssec::Bytes& rd : rdatas) {
    set.start_rr();
    put16(&set.body, type);
    put16(&set.body, kClassIN);
    put16(&set.body, static_cast<uint16_t>(ttl >> 16));
    put16(&set.body, static_cast<uint16_t>(ttl));
    put16(&set.body, static_cast<uint16_t>(rd.size()));
    set.body.insert(set.body.end(), rd.begin(), rd.end());
  }
  return set;
}

// The RDATA of each RR with the origin pointers put back as the origin's labels:
// signatures cover names uncompressed (RFC 4034 6.2).
std::vector<dnssec::Bytes> uncompressed_rdata(const RRset& set, const std::string& origin) {
  std::vector<dnssec::Bytes> out;
  const auto fixups = set.fixups();
  size_t fixup = 0;
  for (size_t i = 0; i < set.count; ++i) {
    const size_t begin = set.rr_begin(i) + 10u;  // past TYPE CLASS TTL RDLENGTH
    const size_t end = set.rr_end(i);
    dnssec::Bytes rd;
    for (size_t at = begin; at < end;) {
      if (fixup < fixups.size() && fixups[fixup] == at) {
        rd.insert(rd.end(), origin.begin(), origin.end());
        at += 2;
        ++fixup;
      } else {
        rd.push_back(set.body[at++]);
      }
    }
    out.push_back(std::move(rd));
  }
  return out;
}

void sign_set(RRset* set, std::string_view owner, const std::string& origin, const ZoneSigning& signing) {
  const auto sigs = signing.keys->sign(owner, set->type, set->ttl, uncompressed_rdata(*set, origin), signing.validity);
  set->rrsig = std::make_shared<const RRset>(rrsig_set(sigs, set->ttl));
}

// Data below a zone cut belongs to the child: glue is neither signed nor in the chain.
bool occluded(const Zone& zone, const Node& node) {
  std::string_view name = node.name;
  while (name.size() > zone.origin.size()) {
    name.remove_prefix(static_cast<uint8_t>(name[0]) + 1u);
    if (name.size() <= zone.origin.size()) break;
    const Node* up = zone.find(name);
    if (up && up->delegation) return true;
  }
  return false;
}

void sort_by_type(Node* node) {
  std::sort(node->rrsets.begin(), node->rrsets.end(), [](const RRset& a, const RRset& b) { return a.type < b.type; });
}

// The types a denial record lists for `node`: its own RRsets (at a cut only NS and
// DS, the rest is the child's) and a service's address types.
std::vector<uint16_t> denial_types(const Node& node, const std::vector<std::vector<uint16_t>>& service_types) {
  std::vector<uint16_t> types;
  for (const RRset& set : node.rrsets)
    if (!node.delegation || set.type == type::NS || set.type == type::DS) types.push_back(set.type);
  if (node.service >= 0) {
    const auto& extra = service_types[static_cast<size_t>(node.service)];
    types.insert(types.end(), extra.begin(), extra.end());
  }
  return types;
}

void nsec_chain(Zone* zone, std::vector<Node*> chain, uint32_t ttl,
                const std::vector<std::vector<uint16_t>>& service_types) {
  std::sort(chain.begin(), chain.end(),
            [](const Node* a, const Node* b) { return dnssec::canonical_compare(a->name, b->name) < 0; });
  for (size_t i = 0; i < chain.size(); ++i) {
    Node* node = chain[i];
    const std::string_view next = chain[(i + 1) % chain.size()]->name;
    node->rrsets.push_back(plain_set(type::NSEC, ttl, {dnssec::nsec_rdata(next, denial_types(*node, service_types))}));
    sort_by_type(node);
  }
  zone->nsec_chain.assign(chain.begin(), chain.end());
}

// RFC 5155 7.1: one NSEC3 per name in `names` (empty non-terminals too, with no
// types), ordered by hash, each naming the next hash; then each name learns its
// own record and the one that proves "*." below it.
void nsec3_chain(Zone* zone, const std::vector<Node*>& names, uint32_t ttl,
                 const std::vector<std::vector<uint16_t>>& service_types, const ZoneSigning& signing) {
  std::vector<std::pair<std::array<uint8_t, dnssec::kNsec3HashSize>, Node*>> hashed(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    dnssec::nsec3_hash(names[i]->name, hashed[i].first.data());
    hashed[i].second = names[i];
  }
  std::sort(hashed.begin(), hashed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Nsec3Link>& links = zone->nsec3_chain;
  links.resize(hashed.size());
  for (size_t i = 0; i < hashed.size(); ++i) {
    Nsec3Link& link = links[i];
    link.hash = hashed[i].first;
    const dnssec::Bytes hash(link.hash.begin(), link.hash.end());
    const std::string label = dnssec::base32hex(hash);
    link.owner = static_cast<char>(label.size()) + label + zone->origin;
    const auto& next = hashed[(i + 1) % hashed.size()].first;
    link.set = plain_set(type::NSEC3, ttl,
                         {dnssec::nsec3_rdata({next.begin(), next.end()}, denial_types(*hashed[i].second, service_types))});
    sign_set(&link.set, link.owner, zone->origin, signing);
    hashed[i].second->nsec3 = &link;
  }
  uint8_t wildcard_hash[dnssec::kNsec3HashSize];
  for (Node* node : names) {
    dnssec::nsec3_hash(std::string("\1*", 2).append(node->name), wildcard_hash);
    node->nsec3_wildcard = &zone->nsec3_at_or_before(wildcard_hash);
  }
}

}  // namespace

RRset rrsig_set(const std::vector<dnssec::Bytes>& sigs, uint32_t ttl) { return plain_set(type::RRSIG, ttl, sigs); }

void sign_zone(Zone* zone, const ZoneSigning& signing, const std::vector<std::vector<uint16_t>>& service_types) {
  const std::string& origin = zone->origin;
  Node& apex = zone->nodes.at(origin);
  apex.rrsets.push_back(plain_set(type::DNSKEY, signing.dnskey_ttl, signing.keys->dnskey_rdata()));
  // RFC 5155 4: TTL 0, as BIND and Knot publish it; it is only for the signer.
  if (signing.nsec3) apex.rrsets.push_back(plain_set(type::NSEC3PARAM, 0, {dnssec::nsec3param_rdata()}));
  sort_by_type(&apex);

  // The chain: every name that is ours (not below a cut), delegation points
  // included. NSEC links only the names that own data (or answer as a service):
  // empty non-terminals lie between its links. NSEC3 hashes them too (RFC 5155 7.1).
  std::vector<Node*> chain;
  for (auto& [name, node] : zone->nodes) {
    if ((!signing.nsec3 && node.rrsets.empty() && node.service < 0) || occluded(*zone, node)) continue;
    chain.push_back(&node);
  }
  // RFC 4034 4 with RFC 9077: a denial record's TTL is that of negative answers.
  const uint32_t denial_ttl = zone->negative_soa.ttl;
  if (signing.nsec3)
    nsec3_chain(zone, chain, denial_ttl, service_types, signing);
  else
    nsec_chain(zone, chain, denial_ttl, service_types);

  for (Node* node : chain) {
    for (RRset& set : node->rrsets) {
      // A delegation's NS is the child's to sign (RFC 4035 2.2).
      if (node->delegation && set.type == type::NS) continue;
      sign_set(&set, node->name, origin, signing);
    }
  }
  sign_set(&zone->negative_soa, origin, origin, signing);
  zone->is_signed = true;
}

}  // namespace gslb::dns
