// Authoritative data encoded for answering: zones, nodes and RRsets whose wire form
// is built once at load so that answering copies bytes and patches pointers.
//
// Immutable once built; shared read-only by every DNS worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gslb::dns {

struct Node;
struct Nsec3Link;

// One RRset. `body` holds, for each RR, TYPE CLASS TTL RDLENGTH RDATA, without the
// owner name (written per answer, usually as a pointer to the question). Names in
// RDATA that end in the zone origin are encoded as their leading labels plus a
// 2-byte pointer whose target (the origin's offset in the question) is only known
// per query: fixups() lists where those pointers sit.
struct RRset {
  uint16_t type = 0;
  uint16_t count = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> body;
  // Where RRs 1..count-1 start in body (RR 0 starts at 0), then the fixups: one
  // heap block for both, and none for the usual single record without an in-zone
  // name (a million-record zone saves a block and a vector per record).
  std::vector<uint16_t> offsets;
  std::vector<const Node*> additional;       // in-zone NS/MX/SRV targets with addresses
  // Its RRSIG RRset when the zone is signed (same TTL, no fixups), else null.
  std::shared_ptr<const RRset> rrsig;

  size_t rr_begin(size_t i) const noexcept { return i ? offsets[i - 1] : 0; }
  size_t rr_end(size_t i) const noexcept { return i + 1 < count ? offsets[i] : body.size(); }
  // Offsets of origin pointers in body, ascending.
  std::span<const uint16_t> fixups() const noexcept {
    return std::span(offsets).subspan(count ? count - 1u : 0u);
  }
  // Begins RR `count`, to be appended to body.
  void start_rr() {
    if (count) offsets.insert(offsets.begin() + (count - 1), static_cast<uint16_t>(body.size()));
    ++count;
  }
  // The origin pointer about to be appended to body.
  void add_fixup() { offsets.push_back(static_cast<uint16_t>(body.size())); }
};

// Where a CNAME or DNAME at a node leads, resolved at load. Few nodes have one,
// so Node holds it behind a pointer: a million plain names do not carry it.
struct NodeAlias {
  // CNAME chasing inside the zone: the node the target names (exact or wildcard
  // match), or null when it leaves the zone, is missing, lies at or below a cut or
  // below a DNAME.
  const Node* cname_target = nullptr;
  std::string cname_target_name;    // the target's own name (owner of chased records)
  bool cname_target_missing = false;  // in zone, no such name: NXDOMAIN (RFC 6604)
  const Node* cname_target_cut = nullptr;  // the target is at or below this zone cut
  const Node* cname_target_dname = nullptr;  // the target lies below this DNAME's owner
  std::string dname_target;         // this node's DNAME target, wire form as written
};

// A name in a zone. Nodes with no RRsets are empty non-terminals (RFC 8499) or
// service names answered per query.
struct Node {
  // Members by size, largest first: a million-name zone pays for any padding a
  // million times.
  // Lower-case wire form, full: a view of the node's key in Zone::nodes, which
  // outlives it (a million-name zone keeps one copy of each name, not two).
  std::string_view name;
  std::vector<RRset> rrsets;        // sorted by type
  // Set for a CNAME into the zone and for a DNAME, else null.
  std::unique_ptr<NodeAlias> alias;
  // NSEC3 zones, for names in the chain: the NSEC3 matching this name, and the one
  // matching or covering "*." + this name (an NXDOMAIN's wildcard proof when this
  // is the closest encloser), found at load so that only the next closer name is
  // hashed per query.
  const Nsec3Link* nsec3 = nullptr;
  const Nsec3Link* nsec3_wildcard = nullptr;
  int32_t service = -1;             // index into ServingState::services, or -1
  uint8_t prefix_length = 0;        // bytes of `name` before the zone origin
  bool delegation = false;          // NS below the apex: a zone cut
  bool has_dname = false;           // names below this one are redirected (RFC 6672)

  const RRset* find(uint16_t type) const {
    for (const RRset& r : rrsets)
      if (r.type == type) return &r;
    return nullptr;
  }
  NodeAlias& make_alias() {
    if (!alias) alias = std::make_unique<NodeAlias>();
    return *alias;
  }
};

// One record of an NSEC3 chain (RFC 5155) with its signatures.
struct Nsec3Link {
  std::array<uint8_t, 20> hash{};   // the owner's hashed name, raw
  std::string owner;                // wire: base32hex(hash) as a label, then the origin
  RRset set;                        // the NSEC3 RR, its rrsig set
};

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// The bytes of a zone's names, in blocks that never move: a node's key is a view
// into them, so a name costs its length instead of a std::string and a heap block.
class NameArena {
 public:
  std::string_view copy(std::string_view s);

 private:
  static constexpr size_t kBlockSize = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;
  size_t left_ = 0;
};

struct Zone {
  Zone() = default;
  // Nodes hold views of their keys and pointers to each other: a copy would point
  // into the original.
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

  std::string origin;               // lower-case wire form
  std::string origin_text;          // for logs and metrics labels
  unsigned origin_labels = 0;
  NameArena names;                  // the keys of `nodes`
  std::unordered_map<std::string_view, Node, NameHash> nodes;
  const Node* apex = nullptr;
  RRset negative_soa;               // SOA with TTL min(SOA TTL, MINIMUM), RFC 2308
  bool has_delegations = false;
  bool has_wildcards = false;
  bool has_dnames = false;
  // Signed zones: the owners of NSEC records in canonical order (RFC 4034 6.1),
  // so that a denial finds the record covering a name with a binary search.
  bool is_signed = false;
  std::vector<const Node*> nsec_chain;
  // Or, with denial: nsec3, the NSEC3 records in hash order (nsec_chain is empty).
  std::vector<Nsec3Link> nsec3_chain;
  size_t record_count = 0;
  uint16_t metrics_slot = 0;

  const Node* find(std::string_view name) const {
    auto it = nodes.find(name);
    return it == nodes.end() ? nullptr : &it->second;
  }
  // The node of `name` (lower-case wire, at or below the origin), made when missing.
  Node& add_node(std::string_view name);
  // The NSEC owner at or before `name` in canonical order (the apex when none is):
  // its NSEC matches `name` or covers it. Signed zones only.
  const Node* nsec_at_or_before(std::string_view name) const noexcept;
  // The NSEC3 whose hash is at or before `hash` (kNsec3HashSize bytes), wrapping to
  // the last: it matches or covers that hash. NSEC3 zones only.
  const Nsec3Link& nsec3_at_or_before(const uint8_t* hash) const noexcept;
};

// How a name resolves inside a zone, shared by queries and load-time CNAME chasing.
struct Resolution {
  enum Kind : uint8_t { exact, wildcard, referral, nxdomain, dname } kind = nxdomain;
  const Node* node = nullptr;       // exact or wildcard source node, the cut, or the DNAME's owner
};

// `name` is lower-case wire and lies at or below the zone's origin; `label_offset`
// lists where each of its `labels` labels starts.
Resolution resolve(const Zone& zone, std::string_view name, const uint8_t* label_offset,
                   unsigned labels) noexcept;

}  // namespace gslb::dns
