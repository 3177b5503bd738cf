// Where a client or a cluster is, once every source's notation has been resolved
// against the countries table. Built by the control thread in compile().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "geo/routing.h"

namespace gslb::geo {

struct Coords {
  double lat = 0, lon = 0;
};

// Resolved location. Everything optional: an mmdb Country record gives a country
// and continent but no city coordinates; an operator region gives only a label.
struct Place {
  std::optional<Coords> coords;  // for distance ranking
  std::string country;           // ISO 3166 alpha-2, upper case
  std::string continent;         // AF AN AS EU NA OC SA
  // A region the operator declared (networks file or cluster location), lower case.
  // Declared regions are service areas: a client and a cluster with the same
  // region rank that cluster first (see rank.cpp).
  std::string region;
};

// Which source located a client; explain_json reports it.
enum class SourceKind : uint8_t { none, networks, mmdb, ranges };
const char* source_name(SourceKind s) noexcept;

// A client location as stored in the prefix table (one per networks entry, per mmdb
// data record, per country of a ranges file).
struct ClientEntry {
  SourceKind source = SourceKind::none;
  Place place;
  // networks `clusters:` pins the order outright; these come first, in this order.
  std::vector<ClusterId> pinned;
  bool has_pinned = false;
};

// Country code -> representative coordinates and continent (conf/countries.csv),
// plus the continents' own representative points.
class Countries {
 public:
  // Reads "code,lat,lon,continent[,name]" with a header line; '#' starts a comment.
  static Countries load(const std::string& path);

  // Place for a country code; coords and continent empty when the table lacks it.
  Place country(std::string_view code) const;
  // Place for an operator region: a continent code (any case) is that continent,
  // with the continent's representative point; anything else is an opaque label.
  static Place region(std::string_view name);
  // Place for a client known only by its continent: no declared region label.
  static Place continent(std::string_view upper_code);
  static bool is_continent(std::string_view upper_code) noexcept;

  bool contains(std::string_view code) const { return by_code_.count(std::string(code)) != 0; }

 private:
  struct Row {
    Coords coords;
    std::string continent;
  };
  std::unordered_map<std::string, Row> by_code_;
};

// Great-circle distance in km (haversine on the mean Earth radius). Good to well
// under 1% on these scales, which is finer than any GeoIP location.
double distance_km(Coords a, Coords b) noexcept;

std::string to_lower(std::string_view s);
std::string to_upper(std::string_view s);

}  // namespace gslb::geo
