#include <array>
#include <cctype>
#include <cmath>

#include "geo/location.h"
#include "geo/text_file.h"

namespace gslb::geo {

namespace {
// Continents as regions: a rough population-weighted centre of each, so that a
// cluster declared `{ region: eu }` ranks by distance for clients elsewhere.
struct Continent {
  const char* code;
  Coords coords;
};
constexpr std::array<Continent, 7> kContinents{{
    {"AF", {5.0, 20.0}},
    {"AN", {-80.0, 0.0}},
    {"AS", {28.0, 100.0}},
    {"EU", {50.0, 10.0}},
    {"NA", {38.0, -95.0}},
    {"OC", {-28.0, 140.0}},
    {"SA", {-15.0, -57.0}},
}};
}  // namespace

const char* source_name(SourceKind s) noexcept {
  switch (s) {
    case SourceKind::networks: return "networks";
    case SourceKind::mmdb: return "mmdb";
    case SourceKind::ranges: return "ranges";
    case SourceKind::none: break;
  }
  return "none";
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool Countries::is_continent(std::string_view upper_code) noexcept {
  for (const auto& c : kContinents)
    if (upper_code == c.code) return true;
  return false;
}

Countries Countries::load(const std::string& path) {
  Countries t;
  TextFile file(path);
  bool header = true;
  while (auto line = file.next_line()) {
    const auto fields = split_csv(*line);
    if (header) {
      header = false;
      if (fields.size() < 4 || fields[0] != "code" || fields[1] != "lat" || fields[2] != "lon" ||
          fields[3] != "continent")
        file.fail("expected header \"code,lat,lon,continent[,name]\"");
      continue;
    }
    if (fields.size() < 4 || fields.size() > 5) file.fail("expected code,lat,lon,continent[,name]");
    const auto code = std::string(fields[0]);
    if (code.size() != 2 || to_upper(code) != code) file.fail("country code must be two upper-case letters, got \"" + code + "\"");
    Row row;
    row.coords.lat = file.number(fields[1], "lat", -90, 90);
    row.coords.lon = file.number(fields[2], "lon", -180, 180);
    row.continent = std::string(fields[3]);
    if (!is_continent(row.continent)) file.fail("unknown continent \"" + row.continent + "\"");
    if (!t.by_code_.emplace(code, std::move(row)).second) file.fail("duplicate country " + code);
  }
  return t;
}

Place Countries::country(std::string_view code) const {
  Place p;
  p.country = std::string(code);
  if (auto it = by_code_.find(p.country); it != by_code_.end()) {
    p.coords = it->second.coords;
    p.continent = it->second.continent;
  }
  return p;
}

Place Countries::region(std::string_view name) {
  Place p;
  p.region = to_lower(name);
  const auto upper = to_upper(name);
  for (const auto& c : kContinents) {
    if (upper == c.code) {
      p.continent = upper;
      p.coords = c.coords;
    }
  }
  return p;
}

Place Countries::continent(std::string_view upper_code) {
  Place p = region(upper_code);
  p.region.clear();
  return p;
}

double distance_km(Coords a, Coords b) noexcept {
  constexpr double kEarthRadiusKm = 6371.0088;
  constexpr double kRad = M_PI / 180.0;
  const double dlat = (b.lat - a.lat) * kRad, dlon = (b.lon - a.lon) * kRad;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(a.lat * kRad) * std::cos(b.lat * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(h)));
}

}  // namespace gslb::geo
