// The RoutingTable implementation: what compile() builds and DNS workers query.
#pragma once

#include <algorithm>
#include <bit>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "geo/location.h"
#include "geo/prefix_table.h"
#include "geo/rank.h"
#include "geo/routing.h"
#include "geo/sources.h"

namespace gslb::geo {

// Weighted services hash the client's /24 (IPv4) or /48 (IPv6) into this many
// precomputed orders: a power of two so the slot is a mask, and large enough that
// the split matches the weights to 1/1024 over many subnets.
constexpr size_t kWeightedSlots = 1024;
constexpr uint8_t kWeightedScope4 = 24, kWeightedScope6 = 48;

inline uint32_t load_v4(const ClientAddress& c) noexcept {
  return uint32_t(c.bytes[0]) << 24 | uint32_t(c.bytes[1]) << 16 | uint32_t(c.bytes[2]) << 8 | c.bytes[3];
}

// ::ffff:a.b.c.d -> a.b.c.d in `out`; false for any other address.
inline bool unmap(const ClientAddress& c, ClientAddress& out) noexcept {
  if (c.family != 6) return false;
  for (int i = 0; i < 10; ++i)
    if (c.bytes[i]) return false;
  if (c.bytes[10] != 0xff || c.bytes[11] != 0xff) return false;
  out.family = 4;
  out.source_prefix = uint8_t(c.source_prefix > 96 ? c.source_prefix - 96 : 0);
  for (int i = 0; i < 4; ++i) out.bytes[i] = c.bytes[12 + i];
  return true;
}

inline U128 load_v6(const ClientAddress& c) noexcept {
  U128 v = 0;
  for (const auto b : c.bytes) v = (v << 8) | b;
  return v;
}

// IPv4-mapped clients (::ffff:0:0/96) are located as IPv4, so an IPv6 block that
// held them would claim answers it does not give: the scope of any other IPv6
// client (`a`, not mapped) is raised until its block excludes ::ffff:0:0.
inline uint8_t exclude_mapped(U128 a, uint8_t scope) noexcept {
  constexpr U128 kMapped = U128(0xffff) << 32;
  return std::max(scope, uint8_t(128 - highest_bit(a ^ kMapped)));
}

// Where the runs of one split (below) start among the ranges of one family's route
// table, to a chunk of 2^shift ranges: bit c is set iff a run starts in ranges
// [c << shift, (c + 1) << shift). Range 0 starts a run, so bit 0 is always set.
// Within a chunk the starts are found by comparing labels, so the chunk trades a
// few label comparisons per query for memory when there are many splits. No bits:
// every range starts a run (the split is as fine as the route table, as the only
// service's is).
struct RunStarts {
  int shift = 0;
  std::vector<uint64_t> bits;
};

// How one service's ranking splits the route table: which of its orders each
// ranking id gives (numbered by first appearance), and where its runs of equal
// order start. Services whose rankings split the locations alike share one, so a
// service's runs, and the scopes they give, are its own whatever other services
// there are.
struct Split {
  std::vector<uint8_t> label;  // ranking id -> the service's order class; empty when the bits are exact
  RunStarts v4, v6;
};

// The last set bit at or below bit `c` of `bits`; one is, since bit 0 is set.
inline size_t last_set_at_or_below(const std::vector<uint64_t>& bits, size_t c) noexcept {
  size_t w = c >> 6;
  uint64_t word = bits[w] & (~uint64_t(0) >> (63 - (c & 63)));
  while (!word) word = bits[--w];
  return w * 64 + size_t(63 - std::countl_zero(word));
}
// The first set bit at or above bit `c` of `bits`, or `none`.
inline size_t first_set_at_or_above(const std::vector<uint64_t>& bits, size_t c, size_t none) noexcept {
  size_t w = c >> 6;
  if (w >= bits.size()) return none;
  uint64_t word = bits[w] & (~uint64_t(0) << (c & 63));
  while (!word)
    if (++w == bits.size()) return none;
    else word = bits[w];
  return w * 64 + size_t(std::countr_zero(word));
}

// The bounds of the run of a split with bits that holds range i of `ranks`. With
// chunks of one range the bits are the starts; with longer chunks the bits find
// the chunks and labels the start within them.
template <class A>
std::pair<A, A> search_run(const Partition<A>& ranks, const RunStarts& starts, const uint8_t* label,
                           size_t i) noexcept {
  const size_t n = ranks.size();
  if (starts.shift == 0) {
    const size_t next = first_set_at_or_above(starts.bits, i + 1, n);
    return {ranks.start(last_set_at_or_below(starts.bits, i)), ranks.end(next - 1)};
  }
  const auto starts_run = [&](size_t j) { return j == 0 || label[ranks.value(j)] != label[ranks.value(j - 1)]; };
  const int shift = starts.shift;
  const size_t chunk = i >> shift;
  size_t first = i;
  while (first > chunk << shift && !starts_run(first)) --first;
  if (!starts_run(first)) {  // none from i back to its chunk's start: the last of an earlier chunk
    first = std::min((last_set_at_or_below(starts.bits, chunk - 1) + 1) << shift, n) - 1;
    while (!starts_run(first)) --first;
  }
  size_t next = i + 1;
  const size_t chunk_end = std::min((chunk + 1) << shift, n);
  while (next < chunk_end && !starts_run(next)) ++next;
  if (next == chunk_end && next < n) {  // none in i's chunk after it: the first of a later chunk
    const size_t later = first_set_at_or_above(starts.bits, chunk + 1, n);
    next = later == n ? n : later << shift;
    while (next < n && !starts_run(next)) ++next;
  }
  return {ranks.start(first), ranks.end(next - 1)};
}

// The bounds of the run of `split` that holds range i of `ranks`; the range itself
// when every range starts a run, without a call.
template <class A>
std::pair<A, A> run_bounds(const Partition<A>& ranks, const RunStarts& starts, const uint8_t* label,
                           size_t i) noexcept {
  if (starts.bits.empty()) return {ranks.start(i), ranks.end(i)};
  return search_run(ranks, starts, label, i);
}

// The compiled routing table. compile() fills the members on the control thread;
// once it returns the table is immutable and shared read-only by every DNS worker.
class Table final : public RoutingTable {
 public:
  struct Service {
    ServiceInput input;
    uint32_t offset = 0;  // of this service's order within a ranking's tuple
    uint32_t split = 0;   // index into splits_, unless constant or weighted
    // The order when it is the same for every client (scope 0); else the written
    // order, served to clients of an unknown family.
    std::vector<ClusterId> fixed;
    bool constant = false;
    uint64_t salt = 0;               // weighted: per-service hash salt
    std::vector<ClusterId> weighted;  // weighted: kWeightedSlots orders back to back
  };

  Route route(ServiceId sid, const ClientAddress& client) const noexcept override {
    if (sid >= services_.size()) return {};
    const auto& s = services_[sid];
    const size_t n = s.fixed.size();
    if (s.constant || (client.family != 4 && client.family != 6)) return {s.fixed, 0};
    // An IPv4 client seen through a dual-stack socket is located as IPv4; its
    // scope, counted in IPv6 bits, includes the 96 bits of ::ffff:0:0/96.
    ClientAddress unmapped;
    const ClientAddress& c = unmap(client, unmapped) ? unmapped : client;
    const uint8_t scope_offset = &c == &unmapped ? 96 : 0;
    if (s.input.policy == Policy::weighted) {
      const uint64_t subnet = c.family == 4 ? uint64_t(load_v4(c) >> (32 - kWeightedScope4))
                                            : uint64_t(load_v6(c) >> (128 - kWeightedScope6)) | (uint64_t(1) << 63);
      const size_t slot = mix64(subnet ^ s.salt) & (kWeightedSlots - 1);
      return {std::span(s.weighted.data() + slot * n, n),
              c.family == 4 ? uint8_t(scope_offset + kWeightedScope4) : exclude_mapped(load_v6(c), kWeightedScope6)};
    }
    const Split& split = splits_[s.split];
    uint32_t rid;
    uint8_t scope;
    if (c.family == 4) {
      const auto a = load_v4(c);
      const auto i = ranking4_.find(a);
      rid = ranking4_.value(i);
      const auto [lo, hi] = run_bounds(ranking4_, split.v4, split.label.data(), i);
      scope = scope_of(lo, hi, a);
    } else {
      const auto a = load_v6(c);
      const auto i = ranking6_.find(a);
      rid = ranking6_.value(i);
      const auto [lo, hi] = run_bounds(ranking6_, split.v6, split.label.data(), i);
      scope = exclude_mapped(a, scope_of(lo, hi, a));
    }
    return {std::span(orders_.data() + size_t(rid) * stride_ + s.offset, n), uint8_t(scope_offset + scope)};
  }

  std::string explain_json(ServiceId sid, const ClientAddress& c) const override;

  size_t prefix_count() const noexcept override { return ranking4_.size() + ranking6_.size(); }

  std::vector<ClusterInput> clusters_;
  std::vector<Place> places_;
  std::vector<Service> services_;
  size_t stride_ = 0;               // sum of the services' cluster counts
  std::vector<ClusterId> orders_;   // ranking id r: orders_[r * stride_ ...], every service's order
  // address -> ranking id: as fine as every service's ranking together, so each
  // range has one order per service; a service's scope comes from its split's runs.
  Partition<uint32_t> ranking4_;
  Partition<U128> ranking6_;
  std::vector<Split> splits_;
  // For explain only: address -> location id, before rankings merged neighbours.
  Partition<uint32_t> detail4_;
  Partition<U128> detail6_;
  std::vector<std::pair<uint32_t, uint32_t>> locations_;  // location id -> (client entry, latency cidr key)
  ClientEntries entries_;
  LatencyTable latency_;
};

}  // namespace gslb::geo
