#include "geo/sources.h"

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

std::optional<Place> place_of(const Location& l, const Countries& countries) {
  if (l.lat && l.lon) {
    Place p;
    p.coords = Coords{*l.lat, *l.lon};
    return p;
  }
  if (!l.country.empty()) {
    if (!countries.contains(to_upper(l.country))) return std::nullopt;
    return countries.country(to_upper(l.country));
  }
  if (!l.region.empty()) return Countries::region(l.region);
  return Place{};
}

std::string unknown_country(const Location& l) {
  return "unknown country code \"" + l.country + "\" (not in the countries table)";
}

std::vector<CidrEntry> networks_prefixes(const std::vector<NetworkInput>& networks, const Countries& countries,
                                         ClientEntries& entries) {
  std::vector<CidrEntry> out;
  out.reserve(networks.size());
  for (size_t i = 0; i < networks.size(); ++i) {
    const NetworkInput& n = networks[i];
    Cidr cidr;
    cidr.family = n.v6 ? 6 : 4;
    cidr.len = n.length;
    for (int b = 0; b < (n.v6 ? 16 : 4); ++b) cidr.lo = (cidr.lo << 8) | n.address[b];
    cidr.hi = n.v6 ? cidr.lo | host_mask<U128>(n.length) : U128(uint32_t(cidr.lo) | host_mask<uint32_t>(n.length));
    ClientEntry e;
    e.source = SourceKind::networks;
    if (n.clusters.empty()) {
      const auto place = place_of(n.location, countries);
      if (!place) throw NetworkLocationError(i, unknown_country(n.location));
      e.place = *place;
    } else {
      e.has_pinned = true;
      e.pinned = n.clusters;
    }
    out.push_back({cidr, entries.add(std::move(e))});
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
