// MaxMind DB enumeration. libmaxminddb answers point lookups only, so compile()
// walks the binary search tree itself: every DATA record reached at depth d is the
// prefix spelled by the path to it, /d.
#include <maxminddb.h>

#include <memory>
#include <unordered_map>

#include "geo/sources.h"
#include "geo/text_file.h"

namespace gslb::geo {

namespace {

struct MmdbCloser {
  void operator()(MMDB_s* db) const {
    MMDB_close(db);
    delete db;
  }
};

std::optional<std::string> string_at(MMDB_entry_s entry, const char* map, const char* key) {
  MMDB_entry_data_s d;
  if (MMDB_get_value(&entry, &d, map, key, nullptr) != MMDB_SUCCESS || !d.has_data ||
      d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size == 0)
    return std::nullopt;
  return std::string(d.utf8_string, d.data_size);
}

std::optional<double> double_at(MMDB_entry_s entry, const char* map, const char* key) {
  MMDB_entry_data_s d;
  if (MMDB_get_value(&entry, &d, map, key, nullptr) != MMDB_SUCCESS || !d.has_data) return std::nullopt;
  if (d.type == MMDB_DATA_TYPE_DOUBLE) return d.double_value;
  if (d.type == MMDB_DATA_TYPE_FLOAT) return double(d.float_value);
  return std::nullopt;
}

class Walker {
 public:
  Walker(const std::string& path, const MMDB_s& db, const Countries& countries, ClientEntries& entries)
      : path_(path), db_(db), countries_(countries), entries_(entries), v6_(db.metadata.ip_version == 6) {}

  FamilyIntervals walk() {
    if (v6_) ipv4_root_ = find_ipv4_root();
    visit(0, 0, 0);
    return std::move(out_);
  }

 private:
  static constexpr uint64_t kNoNode = ~uint64_t{0};

  // The node at ::/96, where an IPv6 tree keeps IPv4. MaxMind trees also point
  // ::ffff:0:0/96, 2001::/32 (Teredo) and 2002::/16 (6to4) at it; walking those
  // aliases would copy all of IPv4 into IPv6 space under addresses no client has.
  uint64_t find_ipv4_root() const {
    uint64_t node = 0;
    for (int depth = 0; depth < 96; ++depth) {
      MMDB_search_node_s n;
      if (MMDB_read_node(&db_, uint32_t(node), &n) != MMDB_SUCCESS) corrupt();
      if (n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE) return kNoNode;
      node = n.left_record;
    }
    return node;
  }

  // `base` is the path so far, left-aligned in a 128-bit (or, for an IPv4 tree,
  // 32-bit) address; `depth` is its length.
  void visit(uint64_t node, U128 base, int depth) {
    MMDB_search_node_s n;
    if (MMDB_read_node(&db_, uint32_t(node), &n) != MMDB_SUCCESS) corrupt();
    const int width = v6_ ? 128 : 32;
    const U128 right_bit = U128(1) << (width - depth - 1);
    follow(n.left_record, n.left_record_type, n.left_record_entry, base, depth + 1);
    follow(n.right_record, n.right_record_type, n.right_record_entry, base | right_bit, depth + 1);
  }

  void follow(uint64_t record, uint8_t type, MMDB_entry_s entry, U128 base, int depth) {
    switch (type) {
      case MMDB_RECORD_TYPE_SEARCH_NODE:
        if (v6_ && skipped(record, base, depth)) return;
        if (depth >= (v6_ ? 128 : 32)) corrupt();
        visit(record, base, depth);
        return;
      case MMDB_RECORD_TYPE_DATA:
        emit(base, depth, location(entry));
        return;
      case MMDB_RECORD_TYPE_EMPTY:
        return;
      default:
        corrupt();
    }
  }

  bool skipped(uint64_t record, U128 base, int depth) const {
    if (depth == 96 && base == (U128(0xffff) << 32)) return true;
    if (depth == 16 && base == (U128(0x2002) << 112)) return true;
    return record == ipv4_root_ && !(depth == 96 && base == 0);
  }

  void emit(U128 base, int depth, uint32_t value) {
    if (!v6_) {
      out_.v4.push_back({uint32_t(base), uint32_t(base) | host_mask<uint32_t>(depth), value});
      return;
    }
    const U128 hi = base | host_mask<U128>(depth);
    if (depth >= 96 && (base >> 32) == 0) {
      out_.v4.push_back({uint32_t(base), uint32_t(hi), value});
      return;
    }
    if (base == 0) out_.v4.push_back({0, kMaxAddress<uint32_t>, value});  // a record covering ::/96 whole
    out_.v6.push_back({base, hi, value});
  }

  // City coordinates when the record has them, else its country's representative
  // point, else its continent's. A record without country falls back to its
  // registered country (anycast and satellite ranges have only that).
  uint32_t location(MMDB_entry_s entry) {
    if (auto it = by_offset_.find(entry.offset); it != by_offset_.end()) return it->second;
    ClientEntry e;
    e.source = SourceKind::mmdb;
    auto country = string_at(entry, "country", "iso_code");
    if (!country) country = string_at(entry, "registered_country", "iso_code");
    const auto continent = string_at(entry, "continent", "code");
    if (country) {
      e.place = countries_.country(*country);
    } else if (continent && Countries::is_continent(*continent)) {
      e.place = Countries::continent(*continent);
    }
    if (continent && Countries::is_continent(*continent)) e.place.continent = *continent;
    const auto lat = double_at(entry, "location", "latitude"), lon = double_at(entry, "location", "longitude");
    if (lat && lon) e.place.coords = Coords{*lat, *lon};
    const uint32_t id = entries_.add(std::move(e));
    by_offset_.emplace(entry.offset, id);
    return id;
  }

  [[noreturn]] void corrupt() const { throw LoadError(path_ + ": corrupt MaxMind DB search tree"); }

  const std::string& path_;
  const MMDB_s& db_;
  const Countries& countries_;
  ClientEntries& entries_;
  const bool v6_;
  uint64_t ipv4_root_ = kNoNode;
  std::unordered_map<uint32_t, uint32_t> by_offset_;  // data record -> client entry
  FamilyIntervals out_;
};

}  // namespace

FamilyIntervals load_mmdb(const std::string& path, const Countries& countries, ClientEntries& entries) {
  check_readable(path);  // libmaxminddb's own message does not say why
  std::unique_ptr<MMDB_s, MmdbCloser> db(new MMDB_s{});
  const int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, db.get());
  if (rc != MMDB_SUCCESS) {
    delete db.release();  // MMDB_open cleans up after itself on failure
    throw LoadError(path + ": " + MMDB_strerror(rc));
  }
  return Walker(path, *db, countries, entries).walk();
}

}  // namespace gslb::geo
