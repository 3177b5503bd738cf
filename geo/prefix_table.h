// The longest-prefix-match structure: a partition of one family's whole address
// space into disjoint ranges, each carrying a value. Longest-prefix-match over
// nested prefixes is flattened at build time (overlay), so a lookup is one binary
// search and the matched range's bounds give the honest ECS scope.
//
// A Partition is built by the control thread during compile() and is immutable,
// shared read-only by the DNS workers, afterwards.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "geo/address.h"

namespace gslb::geo {

template <class A>
struct Interval {
  A lo, hi;
  uint32_t value;
};

template <class A>
class Partition {
 public:
  // One range, the whole space, with value 0 (by convention "nothing known").
  Partition() : starts_{0}, values_{0} {}

  size_t size() const noexcept { return starts_.size(); }
  A start(size_t i) const noexcept { return starts_[i]; }
  A end(size_t i) const noexcept { return i + 1 < starts_.size() ? A(starts_[i + 1] - 1) : kMaxAddress<A>; }
  uint32_t value(size_t i) const noexcept { return values_[i]; }

  // Index of the range holding `a`. starts_[0] is 0, so there always is one.
  // With the index built, the search is confined to the ranges that meet a's
  // /kIndexBits block, a few cache lines instead of the whole table.
  size_t find(A a) const noexcept {
    auto first = starts_.begin(), last = starts_.end();
    if (!index_.empty()) {
      const size_t block = size_t(a >> (kBits<A> - kIndexBits));
      first += index_[block];
      last = starts_.begin() + index_[block + 1] + 1;
    }
    return size_t(std::upper_bound(first, last, a) - starts_.begin()) - 1;
  }

  // index_[b]: the range holding the first address of block b; index_[2^bits] is
  // the last range. 256 KiB, worth it for the tables route() searches.
  void build_index() {
    std::vector<uint32_t> index((size_t(1) << kIndexBits) + 1);
    for (size_t b = 0; b + 1 < index.size(); ++b) index[b] = uint32_t(find(A(A(b) << (kBits<A> - kIndexBits))));
    index.back() = uint32_t(size() - 1);
    index_ = std::move(index);
  }

  // From intervals sorted by lo and pairwise disjoint; gaps get value 0.
  static Partition from_disjoint(const std::vector<Interval<A>>& intervals) {
    Partition p;
    p.starts_.clear();
    p.values_.clear();
    A next = 0;  // first address not yet covered
    bool done = false;
    for (const auto& iv : intervals) {
      if (iv.lo > next) p.push(next, 0);
      p.push(iv.lo, iv.value);
      if (iv.hi == kMaxAddress<A>) {
        done = true;
        break;
      }
      next = iv.hi + 1;
    }
    if (!done) p.push(next, 0);
    return p;
  }

  // The pointwise combination f(a(x), b(x)) of two partitions, adjacent equal
  // values merged. A linear merge of both start lists.
  template <class F>
  static Partition combine(const Partition& a, const Partition& b, F f) {
    Partition p;
    p.starts_.clear();
    p.values_.clear();
    p.starts_.reserve(std::max(a.size(), b.size()));
    p.values_.reserve(std::max(a.size(), b.size()));
    size_t i = 0, j = 0;
    for (;;) {
      const A at = std::max(a.starts_[i], b.starts_[j]);
      p.push(at, f(a.values_[i], b.values_[j]));
      const bool a_last = i + 1 == a.size(), b_last = j + 1 == b.size();
      if (a_last && b_last) break;
      if (b_last || (!a_last && a.starts_[i + 1] < b.starts_[j + 1])) {
        ++i;
      } else if (a_last || b.starts_[j + 1] < a.starts_[i + 1]) {
        ++j;
      } else {
        ++i;
        ++j;
      }
    }
    p.shrink();
    return p;
  }

  // `top` wherever it has a value, else `base`.
  static Partition overlay(const Partition& base, const Partition& top) {
    return combine(base, top, [](uint32_t b, uint32_t t) { return t ? t : b; });
  }

  // Values rewritten through f, adjacent equal values merged.
  template <class F>
  Partition map(F f) const {
    Partition p;
    p.starts_.clear();
    p.values_.clear();
    for (size_t i = 0; i < size(); ++i) p.push(starts_[i], f(values_[i]));
    p.shrink();
    return p;
  }

 private:
  void push(A start, uint32_t value) {
    if (!values_.empty() && values_.back() == value) return;
    starts_.push_back(start);
    values_.push_back(value);
  }
  void shrink() {
    starts_.shrink_to_fit();
    values_.shrink_to_fit();
  }

  static constexpr int kIndexBits = 16;

  std::vector<A> starts_;  // strictly increasing, starts_[0] == 0
  std::vector<uint32_t> values_;
  std::vector<uint32_t> index_;  // empty, or see build_index()
};

// The shortest prefix length L such that the whole /L block around `addr` lies
// inside [lo, hi]: what a resolver may cache an answer for without handing it to an
// address outside the range. The /L block keeps bit p of addr iff L >= W - p, and
// the block stays above lo - 1 exactly while it keeps the highest bit in which addr
// and lo - 1 differ (likewise below hi + 1).
template <class A>
uint8_t scope_of(A lo, A hi, A addr) noexcept {
  int len = 0;
  if (lo != 0) len = std::max(len, kBits<A> - highest_bit(A(addr ^ (lo - 1))));
  if (hi != kMaxAddress<A>) len = std::max(len, kBits<A> - highest_bit(A(addr ^ (hi + 1))));
  return uint8_t(len);
}

}  // namespace gslb::geo
