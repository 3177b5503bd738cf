#include "geo/sources.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <set>

#include "geo/text_file.h"

namespace gslb::geo {

uint32_t ClientEntries::add(ClientEntry e) {
  entries_.push_back(std::move(e));
  return uint32_t(entries_.size() - 1);
}

uint32_t ClientEntries::country(const Countries& countries, SourceKind source, std::string_view code) {
  std::string key = std::string(source_name(source)) + ":" + std::string(code);
  if (auto it = countries_.find(key); it != countries_.end()) return it->second;
  ClientEntry e;
  e.source = source;
  e.place = countries.country(code);
  const auto id = add(std::move(e));
  countries_.emplace(std::move(key), id);
  return id;
}

FamilyPartitions flatten(std::vector<CidrEntry> prefixes) {
  // Shorter prefixes first: each length's prefixes are disjoint (they are unique),
  // so one length at a time is one linear overlay and longer prefixes win.
  std::sort(prefixes.begin(), prefixes.end(), [](const CidrEntry& a, const CidrEntry& b) {
    return std::tie(a.cidr.len, a.cidr.lo) < std::tie(b.cidr.len, b.cidr.lo);
  });
  FamilyPartitions out;
  for (size_t i = 0; i < prefixes.size();) {
    size_t j = i;
    std::vector<Interval<uint32_t>> v4;
    std::vector<Interval<U128>> v6;
    for (; j < prefixes.size() && prefixes[j].cidr.len == prefixes[i].cidr.len; ++j) {
      const auto& c = prefixes[j].cidr;
      if (c.family == 4)
        v4.push_back({uint32_t(c.lo), uint32_t(c.hi), prefixes[j].value});
      else
        v6.push_back({c.lo, c.hi, prefixes[j].value});
    }
    if (!v4.empty()) out.v4 = Partition<uint32_t>::overlay(out.v4, Partition<uint32_t>::from_disjoint(v4));
    if (!v6.empty()) out.v6 = Partition<U128>::overlay(out.v6, Partition<U128>::from_disjoint(v6));
    i = j;
  }
  return out;
}

FamilyIntervals load_ranges(const std::string& path, const Countries& countries, ClientEntries& entries) {
  FamilyIntervals out;
  TextFile file(path);
  std::optional<uint32_t> next4;  // first address after the previous range, per family
  std::optional<U128> next6;
  bool v4_full = false, v6_full = false;
  while (auto line = file.next_line()) {
    const auto c1 = line->find(','), c2 = c1 == std::string_view::npos ? c1 : line->find(',', c1 + 1);
    if (c2 == std::string_view::npos || line->find(',', c2 + 1) != std::string_view::npos)
      file.fail("expected start,end,country");
    const auto start = trim(line->substr(0, c1)), end = trim(line->substr(c1 + 1, c2 - c1 - 1));
    const auto code = trim(line->substr(c2 + 1));
    if (code.size() != 2) file.fail("expected a two-letter country code, got \"" + std::string(code) + "\"");
    if (start.find(':') != std::string_view::npos) {
      const auto lo = parse_ipv6(start), hi = parse_ipv6(end);
      if (!lo || !hi) file.fail("expected two IPv6 addresses");
      if (*lo > *hi) file.fail("range start is after its end");
      if (v6_full || (next6 && *lo < *next6)) file.fail("range overlaps or precedes the previous one");
      v6_full = *hi == kMaxAddress<U128>;
      next6 = *hi + 1;
      if (code != "??") out.v6.push_back({*lo, *hi, entries.country(countries, SourceKind::ranges, code)});
    } else {
      uint32_t lo = 0, hi = 0;
      const auto [e1, ec1] = std::from_chars(start.data(), start.data() + start.size(), lo);
      const auto [e2, ec2] = std::from_chars(end.data(), end.data() + end.size(), hi);
      if (start.empty() || end.empty() || ec1 != std::errc{} || ec2 != std::errc{} ||
          e1 != start.data() + start.size() || e2 != end.data() + end.size())
        file.fail("expected two IPv4 addresses as unsigned 32-bit integers");
      if (lo > hi) file.fail("range start is after its end");
      if (v4_full || (next4 && lo < *next4)) file.fail("range overlaps or precedes the previous one");
      v4_full = hi == kMaxAddress<uint32_t>;
      next4 = hi + 1;
      if (code != "??") out.v4.push_back({lo, hi, entries.country(countries, SourceKind::ranges, code)});
    }
  }
  return out;
}

namespace {

// Errors in YAML point at the node: "path:line:column: reason".
[[noreturn]] void fail_at(const std::string& path, const YAML::Mark& mark, const std::string& reason) {
  if (mark.is_null()) throw LoadError(path + ": " + reason);
  throw LoadError(path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": " + reason);
}

double yaml_number(const std::string& path, const YAML::Node& node, const char* what, double min, double max) {
  if (!node.IsScalar()) fail_at(path, node.Mark(), std::string(what) + ": expected a number");
  const auto& text = node.Scalar();
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    fail_at(path, node.Mark(), std::string(what) + ": expected a number, got \"" + text + "\"");
  if (v < min || v > max)
    fail_at(path, node.Mark(), std::string(what) + ": " + text + " is out of range");
  return v;
}

std::string yaml_string(const std::string& path, const YAML::Node& node, const char* what) {
  if (!node.IsScalar() || node.Scalar().empty())
    fail_at(path, node.Mark(), std::string(what) + ": expected a string");
  return node.Scalar();
}

Place networks_location(const std::string& path, const YAML::Node& loc, const Countries& countries) {
  if (!loc.IsMap()) fail_at(path, loc.Mark(), "location: expected a map of lat/lon, country or region");
  for (const auto& kv : loc) {
    const auto key = kv.first.Scalar();
    if (key != "lat" && key != "lon" && key != "country" && key != "region")
      fail_at(path, kv.first.Mark(), "location: unknown key \"" + key + "\"");
  }
  const bool coords = loc["lat"] || loc["lon"];
  if (int(coords) + int(bool(loc["country"])) + int(bool(loc["region"])) != 1)
    fail_at(path, loc.Mark(), "location: expected exactly one of lat/lon, country, region");
  if (coords) {
    if (!loc["lat"] || !loc["lon"]) fail_at(path, loc.Mark(), "location: lat and lon go together");
    Place p;
    p.coords = Coords{yaml_number(path, loc["lat"], "lat", -90, 90), yaml_number(path, loc["lon"], "lon", -180, 180)};
    return p;
  }
  if (loc["country"]) {
    const auto code = to_upper(yaml_string(path, loc["country"], "country"));
    if (!countries.contains(code))
      fail_at(path, loc["country"].Mark(), "country: unknown country code \"" + code + "\" (not in the countries table)");
    return countries.country(code);
  }
  return Countries::region(yaml_string(path, loc["region"], "region"));
}

}  // namespace

std::vector<CidrEntry> load_networks(const std::string& path, const Countries& countries,
                                     const ClusterIds& cluster_ids, ClientEntries& entries) {
  check_readable(path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    fail_at(path, e.mark, e.msg);
  }
  std::vector<CidrEntry> out;
  if (root.IsNull()) return out;
  if (!root.IsSequence()) fail_at(path, root.Mark(), "expected a list of {cidr, location | clusters}");
  std::map<std::tuple<uint8_t, U128, uint8_t>, int> seen;  // prefix -> line, for duplicates
  for (const auto& item : root) {
    if (!item.IsMap()) fail_at(path, item.Mark(), "expected a map {cidr, location | clusters}");
    for (const auto& kv : item) {
      const auto key = kv.first.Scalar();
      if (key != "cidr" && key != "location" && key != "clusters")
        fail_at(path, kv.first.Mark(), "unknown key \"" + key + "\" (expected cidr, location, clusters)");
    }
    if (!item["cidr"]) fail_at(path, item.Mark(), "missing cidr");
    std::string why;
    const auto cidr = parse_cidr(yaml_string(path, item["cidr"], "cidr"), why);
    if (!cidr) fail_at(path, item["cidr"].Mark(), "cidr: " + why);
    const auto [it, fresh] = seen.emplace(std::tuple{cidr->family, cidr->lo, cidr->len}, item.Mark().line + 1);
    if (!fresh)
      fail_at(path, item["cidr"].Mark(), "duplicate cidr " + item["cidr"].Scalar() + " (first at line " +
                                             std::to_string(it->second) + ")");
    if (bool(item["location"]) == bool(item["clusters"]))
      fail_at(path, item.Mark(), "expected exactly one of location, clusters");
    ClientEntry e;
    e.source = SourceKind::networks;
    if (item["location"]) {
      e.place = networks_location(path, item["location"], countries);
    } else {
      const auto& list = item["clusters"];
      if (!list.IsSequence() || list.size() == 0)
        fail_at(path, list.Mark(), "clusters: expected a non-empty list of cluster names");
      e.has_pinned = true;
      for (const auto& name_node : list) {
        const auto name = yaml_string(path, name_node, "clusters");
        const auto found = cluster_ids.find(name);
        if (found == cluster_ids.end()) fail_at(path, name_node.Mark(), "clusters: unknown cluster \"" + name + "\"");
        if (std::find(e.pinned.begin(), e.pinned.end(), found->second) != e.pinned.end())
          fail_at(path, name_node.Mark(), "clusters: \"" + name + "\" listed twice");
        e.pinned.push_back(found->second);
      }
    }
    out.push_back({*cidr, entries.add(std::move(e))});
  }
  return out;
}

LatencyTable load_latency(const std::string& path, const ClusterIds& cluster_ids) {
  LatencyTable t;
  TextFile file(path);
  const auto header = file.next_line();
  if (!header || split_csv(*header) != std::vector<std::string_view>{"client", "cluster", "rtt_ms"})
    file.fail("expected header \"client,cluster,rtt_ms\"");
  std::set<std::pair<uint32_t, ClusterId>> seen;
  std::map<std::tuple<uint8_t, U128, uint8_t>, uint32_t> cidr_keys;
  while (auto line = file.next_line()) {
    const auto f = split_csv(*line);
    if (f.size() != 3) file.fail("expected client,cluster,rtt_ms");
    const auto cluster = cluster_ids.find(std::string(f[1]));
    if (cluster == cluster_ids.end()) file.fail("unknown cluster \"" + std::string(f[1]) + "\"");
    const double rtt = file.number(f[2], "rtt_ms", 0, 1e6);
    if (f[0].empty()) file.fail("empty client");
    uint32_t key = 0;
    if (f[0].find('/') != std::string_view::npos) {
      std::string why;
      const auto cidr = parse_cidr(f[0], why);
      if (!cidr) file.fail("client: " + why);
      auto [it, fresh] = cidr_keys.emplace(std::tuple{cidr->family, cidr->lo, cidr->len}, uint32_t(t.keys.size()));
      if (fresh) t.cidrs.push_back({*cidr, it->second});
      key = it->second;
    } else if (f[0].find(':') != std::string_view::npos || parse_ipv4(f[0])) {
      file.fail("client: expected a CIDR (address/length), got \"" + std::string(f[0]) + "\"");
    } else {
      const bool country = f[0].size() == 2 && to_upper(f[0]) == f[0];
      auto [it, fresh] = t.by_name.emplace(country ? std::string(f[0]) : to_lower(f[0]), uint32_t(t.keys.size()));
      key = it->second;
    }
    if (key == t.keys.size()) {
      t.keys.emplace_back(f[0]);
      t.rows.emplace_back();
    }
    if (!seen.emplace(key, cluster->second).second)
      file.fail("duplicate measurement for client \"" + std::string(f[0]) + "\" and cluster \"" +
                std::string(f[1]) + "\"");
    t.rows[key].push_back({cluster->second, rtt});
  }
  return t;
}

}  // namespace gslb::geo
