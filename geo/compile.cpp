// compile(): from source files to the Table DNS workers search. Per family:
//   1. locating sources as partitions (address -> client entry, 0 = unknown),
//      overlaid least specific first: ranges files in order, the mmdb, then the
//      networks entries the config loader read (longest prefix wins among them);
//   2. the latency table's CIDRs as a partition (address -> latency key);
//   3. both combined: address -> location id, a distinct (entry, key) pair; kept
//      for explain_json;
//   4. every location ranked for every service; the tuple of orders interned as a
//      ranking id; neighbours with equal ids merged: the route table, one search
//      per query, giving every service's order;
//   5. per service, its split: which of its own orders each ranking id gives, and
//      where its runs of equal order start in the route table. A run's bounds give
//      the service's ECS scope, so no other service can narrow it. Services that
//      split alike share one.
// Everything is decided here, so that route() only searches.
#include <algorithm>
#include <bit>
#include <map>
#include <unordered_map>

#include "geo/table.h"

namespace gslb::geo {

namespace {

uint64_t fnv1a(std::string_view s) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

// The run starts of a group of splits in one family's route table. A boundary
// between ranges of ranking ids a and b starts a run of the splits that label a and
// b apart, decided once per distinct {a, b} for the whole group (`labels` holds
// ranking r's label in split k of the group at r * group.size() + k), so the work
// grows with the boundaries and the splits, not with their product. The chunks'
// rows of splits are turned into the splits' words 64 chunks at a time.
template <class A>
void fill_run_starts(const Partition<A>& ranks, const std::vector<uint32_t>& labels, int shift,
                     const std::vector<Split*>& group, RunStarts Split::*family) {
  const size_t n_splits = group.size(), words = (n_splits + 63) / 64;
  const size_t chunks = ((ranks.size() - 1) >> shift) + 1;
  for (auto* split : group) {
    (split->*family).shift = shift;
    (split->*family).bits.assign((chunks + 63) / 64, 0);
  }
  std::unordered_map<uint64_t, uint32_t> pair_ids;
  std::vector<uint64_t> apart;  // pair id p: the splits it starts a run of, `words` words from p * words
  std::vector<uint64_t> rows(64 * words);           // chunk c: the splits a run of starts in it, at (c % 64) * words
  std::vector<uint64_t> every(words, ~uint64_t(0));  // the splits each boundary starts a run of
  std::fill(rows.begin(), rows.begin() + ptrdiff_t(words), ~uint64_t(0));  // range 0 starts every run
  for (size_t j = 0; j < ranks.size(); ++j) {
    const size_t chunk = j >> shift;
    uint64_t* row = rows.data() + (chunk & 63) * words;
    if (j > 0) {
      const uint32_t a = std::min(ranks.value(j - 1), ranks.value(j)), b = std::max(ranks.value(j - 1), ranks.value(j));
      const auto [it, fresh] = pair_ids.emplace(uint64_t(a) << 32 | b, uint32_t(pair_ids.size()));
      if (fresh) {
        apart.resize(apart.size() + words);
        const uint32_t *la = labels.data() + a * n_splits, *lb = labels.data() + b * n_splits;
        for (size_t w = 0; w < words; ++w) {
          uint64_t m = 0;
          for (size_t k = 0; k < 64 && w * 64 + k < n_splits; ++k) m |= uint64_t(la[w * 64 + k] != lb[w * 64 + k]) << k;
          apart[apart.size() - words + w] = m;
        }
      }
      const uint64_t* pair = apart.data() + size_t(it->second) * words;
      for (size_t w = 0; w < words; ++w) {
        row[w] |= pair[w];
        every[w] &= pair[w];
      }
    }
    if (j + 1 != ranks.size() && ((j + 1) >> shift) >> 6 == chunk >> 6) continue;
    for (size_t s = 0; s < n_splits; ++s) {
      uint64_t word = 0;
      for (size_t c = 0; c <= (chunk & 63); ++c) word |= (rows[c * words + (s >> 6)] >> (s & 63) & 1) << c;
      (group[s]->*family).bits[chunk >> 6] = word;
    }
    std::fill(rows.begin(), rows.end(), 0);
  }
  for (size_t s = 0; s < n_splits; ++s)
    if (every[s >> 6] >> (s & 63) & 1) (group[s]->*family).bits = {};
}

// The chunk of RunStarts for `splits` splits: the bits of all splits together stay
// within kRunBitsPerRange per range of the route table (one bit per range, the
// exact starts, up to that many splits; then a chunk of 2, 4, ... ranges). Measured
// with bench/geo_bench on tor-geoipdb, 3,510 splits: route() costs about the same
// from 1-range to 1024-range chunks (the misses on the splits' bits and labels, not
// the walk within a chunk, are what it pays for), while the table takes 335 MB with
// exact starts and 42 MB with 64-range chunks.
constexpr size_t kRunBitsPerRange = 64;
int run_shift(size_t splits) {
  int shift = 0;
  while (splits > kRunBitsPerRange << shift) ++shift;
  return shift;
}

template <class A>
void layer(Partition<A>& into, const std::vector<Interval<A>>& intervals) {
  if (!intervals.empty()) into = Partition<A>::overlay(into, Partition<A>::from_disjoint(intervals));
}

}  // namespace

std::shared_ptr<const RoutingTable> compile(const Sources& sources, const std::vector<ClusterInput>& clusters,
                                            const std::vector<ServiceInput>& services) {
  auto t = std::make_shared<Table>();
  t->clusters_ = clusters;

  const Countries countries = sources.countries.empty() ? Countries{} : Countries::load(sources.countries);
  ClusterIds cluster_ids;
  for (size_t i = 0; i < clusters.size(); ++i) {
    cluster_ids.emplace(clusters[i].name, ClusterId(i));
    const auto place = place_of(clusters[i].location, countries);
    if (!place) throw ClusterLocationError(ClusterId(i), unknown_country(clusters[i].location));
    t->places_.push_back(*place);
  }
  for (const auto& s : services) {
    for (const auto id : s.clusters)
      if (id >= clusters.size()) throw LoadError("service \"" + s.name + "\": cluster id out of range");
    if (s.policy == Policy::weighted && s.weights.size() != s.clusters.size())
      throw LoadError("service \"" + s.name + "\": weighted policy needs one weight per cluster");
  }

  Partition<uint32_t> loc4;
  Partition<U128> loc6;
  for (const auto& path : sources.ranges) {
    const auto iv = load_ranges(path, countries, t->entries_);
    layer(loc4, iv.v4);
    layer(loc6, iv.v6);
  }
  if (!sources.mmdb.empty()) {
    const auto iv = load_mmdb(sources.mmdb, countries, t->entries_);
    layer(loc4, iv.v4);
    layer(loc6, iv.v6);
  }
  if (!sources.networks.empty()) {
    const auto nets = flatten(networks_prefixes(sources.networks, countries, t->entries_));
    loc4 = Partition<uint32_t>::overlay(loc4, nets.v4);
    loc6 = Partition<U128>::overlay(loc6, nets.v6);
  }
  FamilyPartitions lat;
  if (!sources.latency_table.empty()) {
    t->latency_ = load_latency(sources.latency_table, cluster_ids);
    lat = flatten(t->latency_.cidrs);
  }

  // A location id is a distinct (client entry, latency CIDR) pair.
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> location_ids;
  const auto intern_location = [&](uint32_t entry, uint32_t cidr_key) {
    const auto [it, fresh] = location_ids.emplace(std::pair{entry, cidr_key}, uint32_t(t->locations_.size()));
    if (fresh) t->locations_.emplace_back(entry, cidr_key);
    return it->second;
  };
  intern_location(0, 0);
  t->detail4_ = Partition<uint32_t>::combine(loc4, lat.v4, intern_location);
  t->detail6_ = Partition<U128>::combine(loc6, lat.v6, intern_location);

  // A ranking id is a distinct tuple of every service's order.
  uint32_t offset = 0;
  for (const auto& s : services) {
    Table::Service svc;
    svc.input = s;
    svc.offset = offset;
    offset += uint32_t(s.clusters.size());
    t->services_.push_back(std::move(svc));
  }
  t->stride_ = offset;
  std::map<std::vector<ClusterId>, uint32_t> ranking_ids;
  std::vector<uint32_t> ranking_of_location(t->locations_.size());
  std::vector<ClusterId> tuple;
  for (size_t loc = 0; loc < t->locations_.size(); ++loc) {
    const auto [entry_id, cidr_key] = t->locations_[loc];
    const auto& entry = t->entries_[entry_id];
    const auto lkey = latency_key(t->latency_, entry, cidr_key);
    tuple.clear();
    for (const auto& s : services)
      for (const auto& r : rank(s, t->places_, entry, t->latency_, lkey)) tuple.push_back(r.cluster);
    const auto [it, fresh] = ranking_ids.emplace(tuple, uint32_t(ranking_ids.size()));
    if (fresh) t->orders_.insert(t->orders_.end(), tuple.begin(), tuple.end());
    ranking_of_location[loc] = it->second;
  }
  const auto to_ranking = [&](uint32_t loc) { return ranking_of_location[loc]; };
  t->ranking4_ = t->detail4_.map(to_ranking);
  t->ranking6_ = t->detail6_.map(to_ranking);
  t->ranking4_.build_index();
  t->ranking6_.build_index();

  // A service whose order never varies answers with scope 0: its answer depends on
  // no part of the client address. Every ranking id is in use, since each came
  // from a location in the partitions.
  const size_t rankings = ranking_ids.size();
  std::map<std::pair<Policy, std::vector<ClusterId>>, size_t> ranked_as;  // services that rank alike
  std::map<std::vector<uint32_t>, uint32_t> split_ids;
  std::vector<const std::vector<uint32_t>*> split_labels;  // keys of split_ids, by split
  std::vector<size_t> split_classes;
  std::map<std::vector<ClusterId>, uint32_t> classes;
  std::vector<ClusterId> order;
  std::vector<uint32_t> label(rankings);
  for (size_t sid = 0; sid < t->services_.size(); ++sid) {
    auto& svc = t->services_[sid];
    const size_t n = svc.input.clusters.size();
    if (svc.input.policy == Policy::weighted) {
      svc.salt = fnv1a(svc.input.name);
      svc.weighted = weighted_orders(svc.input, kWeightedSlots, svc.salt);
      svc.constant = true;
      for (size_t slot = 1; slot < kWeightedSlots && svc.constant; ++slot)
        svc.constant = std::equal(svc.weighted.begin(), svc.weighted.begin() + ptrdiff_t(n),
                                  svc.weighted.begin() + ptrdiff_t(slot * n));
      svc.fixed.assign(svc.weighted.begin(), svc.weighted.begin() + ptrdiff_t(n));
      if (!svc.constant) svc.fixed = svc.input.clusters;
      continue;
    }
    const auto [twin, fresh] = ranked_as.emplace(std::pair{svc.input.policy, svc.input.clusters}, sid);
    if (!fresh) {
      const auto& other = t->services_[twin->second];
      svc.constant = other.constant;
      svc.split = other.split;
      svc.fixed = other.fixed;
      continue;
    }
    classes.clear();
    for (size_t r = 0; r < rankings; ++r) {
      const auto first = t->orders_.begin() + ptrdiff_t(r * t->stride_ + svc.offset);
      order.assign(first, first + ptrdiff_t(n));
      auto it = classes.find(order);
      if (it == classes.end()) it = classes.emplace(order, uint32_t(classes.size())).first;
      label[r] = it->second;
    }
    svc.constant = classes.size() == 1;
    if (svc.constant) {
      svc.fixed.assign(t->orders_.begin() + svc.offset, t->orders_.begin() + ptrdiff_t(svc.offset + n));
      continue;
    }
    svc.fixed = svc.input.clusters;
    const auto [it, fresh_split] = split_ids.emplace(label, uint32_t(split_ids.size()));
    if (fresh_split) {
      t->splits_.emplace_back();
      split_labels.push_back(&it->first);
      split_classes.push_back(classes.size());
    }
    svc.split = it->second;
  }

  // Splits with more orders than a byte numbers keep the exact starts, so that no
  // label of theirs is read; the others share a chunk (see run_shift) and keep
  // their labels, a byte each, for route() to find the starts within a chunk.
  for (const bool wide : {false, true}) {
    std::vector<Split*> group;
    std::vector<const std::vector<uint32_t>*> group_labels;
    for (size_t k = 0; k < t->splits_.size(); ++k)
      if ((split_classes[k] > 256) == wide) {
        group.push_back(&t->splits_[k]);
        group_labels.push_back(split_labels[k]);
      }
    std::vector<uint32_t> by_ranking(rankings * group.size());
    for (size_t k = 0; k < group.size(); ++k)
      for (size_t r = 0; r < rankings; ++r) by_ranking[r * group.size() + k] = (*group_labels[k])[r];
    const int shift = wide ? 0 : run_shift(group.size());
    fill_run_starts(t->ranking4_, by_ranking, shift, group, &Split::v4);
    fill_run_starts(t->ranking6_, by_ranking, shift, group, &Split::v6);
    if (shift > 0)
      for (size_t k = 0; k < group.size(); ++k)
        for (const auto l : *group_labels[k]) group[k]->label.push_back(uint8_t(l));
  }
  return t;
}

}  // namespace gslb::geo
