#include "dnsd/zone.h"

#include <algorithm>
#include <cstring>

#include "dnssec/dnssec.h"

namespace gslb::dns {

std::string_view NameArena::copy(std::string_view s) {
  if (s.size() > left_) {
    left_ = std::max(kBlockSize, s.size());
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(left_));
    next_ = blocks_.back().get();
  }
  std::memcpy(next_, s.data(), s.size());
  const std::string_view copied(next_, s.size());
  next_ += s.size();
  left_ -= s.size();
  return copied;
}

Node& Zone::add_node(std::string_view name) {
  auto it = nodes.find(name);
  if (it == nodes.end()) {
    const std::string_view key = names.copy(name);
    it = nodes.try_emplace(key).first;
    it->second.name = key;
    it->second.prefix_length = static_cast<uint8_t>(name.size() - origin.size());
  }
  return it->second;
}

Resolution resolve(const Zone& zone, std::string_view name, const uint8_t* label_offset,
                   unsigned labels) noexcept {
  const unsigned origin_labels = zone.origin_labels;
  const unsigned depth = labels - origin_labels;  // labels below the apex
  auto suffix = [&](unsigned skip) { return name.substr(label_offset[skip]); };

  // Walk from just below the apex towards the name: the first cut on the way wins,
  // and the first missing name ends the walk (empty non-terminals are nodes, so
  // nothing exists below a missing name).
  // A DNAME on the way redirects every name below its owner, not the owner itself.
  const Node* encloser = zone.apex;
  if (depth > 0 && encloser->has_dname) return {Resolution::dname, encloser};
  for (unsigned skip = depth; skip-- > 0;) {
    const Node* node = zone.find(suffix(skip));
    if (node == nullptr) break;
    if (node->delegation) return {Resolution::referral, node};
    if (skip == 0) return {Resolution::exact, node};
    if (node->has_dname) return {Resolution::dname, node};
    encloser = node;
  }
  if (depth == 0) return {Resolution::exact, zone.apex};

  // RFC 4592: the source of synthesis is "*." prepended to the closest encloser.
  if (zone.has_wildcards) {
    uint8_t key[256];
    key[0] = 1;
    key[1] = '*';
    const std::string_view enc = encloser->name;
    if (enc.size() + 2 <= sizeof key) {
      for (size_t i = 0; i < enc.size(); ++i) key[2 + i] = static_cast<uint8_t>(enc[i]);
      const Node* wild = zone.find({reinterpret_cast<const char*>(key), enc.size() + 2});
      if (wild != nullptr) return {Resolution::wildcard, wild};
    }
  }
  return {Resolution::nxdomain, encloser};
}

const Node* Zone::nsec_at_or_before(std::string_view name) const noexcept {
  auto after = std::upper_bound(nsec_chain.begin(), nsec_chain.end(), name, [](std::string_view n, const Node* node) {
    return dnssec::canonical_compare(n, node->name) < 0;
  });
  return after == nsec_chain.begin() ? nsec_chain.front() : *(after - 1);
}

const Nsec3Link& Zone::nsec3_at_or_before(const uint8_t* hash) const noexcept {
  auto after = std::upper_bound(nsec3_chain.begin(), nsec3_chain.end(), hash, [](const uint8_t* h, const Nsec3Link& l) {
    return std::memcmp(h, l.hash.data(), l.hash.size()) < 0;
  });
  // Before the first hash: covered by the last record, whose next is the first.
  return after == nsec3_chain.begin() ? nsec3_chain.back() : *(after - 1);
}

}  // namespace gslb::dns
