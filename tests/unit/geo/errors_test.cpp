// One test per load error message: each names the file and line (and column for
// YAML) and says what is wrong.
#include <doctest/doctest.h>

#include "test_util.h"

using namespace geo_test;

namespace {

struct Errors {
  TempDir dir;
  World w;
  Errors() {
    w.sources.countries = countries_csv();
    w.service("app.", Policy::nearest, {"eu-west", "us-east"});
  }
  void latency(const std::string& csv) { w.sources.latency_table = dir.write("latency.csv", csv); }
  void ranges(const std::string& text) { w.sources.ranges = {dir.write("geoip", text)}; }
  std::string at(const std::string& file, const std::string& rest) const { return dir.path(file) + ":" + rest; }
};

}  // namespace

TEST_CASE_FIXTURE(Errors, "a missing file is named") {
  w.sources.ranges = {dir.path("nope")};
  checkLoadError(w, dir.path("nope") + ": cannot open: No such file or directory");
  w.sources.ranges.clear();
  w.sources.mmdb = dir.path("nope.mmdb");
  checkLoadError(w, dir.path("nope.mmdb") + ": cannot open: No such file or directory");
}

TEST_CASE_FIXTURE(Errors, "a directory is not a source file") {
  w.sources.latency_table = dir.path("");
  checkLoadError(w, dir.path("") + ": is a directory");
}

TEST_CASE_FIXTURE(Errors, "an empty table lacks its header") {
  latency("");
  checkLoadError(w, dir.path("latency.csv") + ": empty file: expected header \"client,cluster,rtt_ms\"");
}

TEST_CASE_FIXTURE(Errors, "a networks entry in an unknown country") {
  w.network("10.0.0.0/8", in_country("DE"));
  w.network("10.1.0.0/16", in_country("XQ"));
  try {
    w.compile();
    FAIL("compile() accepted it");
  } catch (const NetworkLocationError& e) {
    CHECK(e.entry == 1);
    CHECK(std::string(e.what()) == "unknown country code \"XQ\" (not in the countries table)");
  }
}

TEST_CASE_FIXTURE(Errors, "latency: wrong header") {
  latency("client,cluster,rtt\n");
  checkLoadError(w, at("latency.csv", "1: expected header \"client,cluster,rtt_ms\""));
}

TEST_CASE_FIXTURE(Errors, "latency: unknown cluster") {
  latency("client,cluster,rtt_ms\n# measured 2026-11\nJP,eu-west,200\nJP,mars-1,12\n");
  checkLoadError(w, at("latency.csv", "4: unknown cluster \"mars-1\""));
}

TEST_CASE_FIXTURE(Errors, "latency: rtt not a number") {
  latency("client,cluster,rtt_ms\nJP,eu-west,fast\n");
  checkLoadError(w, at("latency.csv", "2: rtt_ms: expected a number, got \"fast\""));
}

TEST_CASE_FIXTURE(Errors, "latency: bad client CIDR") {
  latency("client,cluster,rtt_ms\n10.0.0.1/8,eu-west,3\n");
  checkLoadError(w, at("latency.csv", "2: client: host bits set in \"10.0.0.1/8\""));
}

TEST_CASE_FIXTURE(Errors, "latency: client address without a length") {
  latency("client,cluster,rtt_ms\n198.51.100.7,eu-west,3\n");
  checkLoadError(w, at("latency.csv", "2: client: expected a CIDR (address/length), got \"198.51.100.7\""));
}

TEST_CASE_FIXTURE(Errors, "latency: duplicate measurement") {
  latency("client,cluster,rtt_ms\neu,eu-west,3\nEU,eu-west,4\nEu,eu-west,5\n");
  checkLoadError(w, at("latency.csv", "4: duplicate measurement for client \"Eu\" and cluster \"eu-west\""));
}

TEST_CASE_FIXTURE(Errors, "ranges: malformed line") {
  ranges("# comment\n16777216,16777471,AU\n16777472;16778239;CN\n");
  checkLoadError(w, at("geoip", "3: expected start,end,country"));
}

TEST_CASE_FIXTURE(Errors, "ranges: bad number") {
  ranges("16777216,1677747x,AU\n");
  checkLoadError(w, at("geoip", "1: expected two IPv4 addresses as unsigned 32-bit integers"));
}

TEST_CASE_FIXTURE(Errors, "ranges: overlap") {
  ranges("16777216,16777471,AU\n16777400,16778239,CN\n");
  checkLoadError(w, at("geoip", "2: range overlaps or precedes the previous one"));
}

TEST_CASE_FIXTURE(Errors, "ranges: start after end") {
  ranges("2001:db8::,2001:db7::,US\n");
  checkLoadError(w, at("geoip", "1: range start is after its end"));
}

TEST_CASE_FIXTURE(Errors, "mmdb: not a MaxMind DB") {
  w.sources.mmdb = dir.write("bad.mmdb", "not a database");
  checkLoadError(w, dir.path("bad.mmdb") + ": The MaxMind DB file contains invalid metadata");
}

TEST_CASE_FIXTURE(Errors, "countries: bad row") {
  w.sources.countries = dir.write("countries.csv", "code,lat,lon,continent\nJP,35.68,139.69,AS\nDE,52.5,13.4,XX\n");
  checkLoadError(w, at("countries.csv", "3: unknown continent \"XX\""));
}

TEST_CASE_FIXTURE(Errors, "a cluster in an unknown country") {
  w.clusters[0].location = in_country("XQ");
  checkLoadError(w, "unknown country code \"XQ\" (not in the countries table)");
  // Which cluster, for the config loader to point at its location's text.
  try {
    w.compile();
    FAIL("compiled");
  } catch (const ClusterLocationError& e) {
    CHECK(e.cluster == 0);
  }
}

TEST_CASE_FIXTURE(Errors, "weighted without one weight per cluster") {
  w.service("w.", Policy::weighted, {"eu-west", "us-east"}, {1});
  checkLoadError(w, "service \"w.\": weighted policy needs one weight per cluster");
}
