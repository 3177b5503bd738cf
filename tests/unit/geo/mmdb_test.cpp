// A .mmdb written by tests/tools/make-test-mmdb, enumerated and looked up.
#include <doctest/doctest.h>

#include <cstdlib>

#include "test_util.h"

using namespace geo_test;

namespace {

struct MmdbFixture {
  TempDir dir;
  World w;
  ServiceId app;
  MmdbFixture() {
    w.sources.countries = countries_csv();
    w.sources.mmdb = dir.path("test.mmdb");
    const std::string cmd = std::string(GSLB_SOURCE_DIR) + "/tests/tools/make-test-mmdb " + w.sources.mmdb;
    REQUIRE(std::system(cmd.c_str()) == 0);
    app = w.service("app.", Policy::nearest, {"eu-west", "eu-central", "us-east", "ap-tokyo"});
  }
};

}  // namespace

TEST_CASE_FIXTURE(MmdbFixture, "mmdb: city coordinates, else country, else continent") {
  const auto t = w.compile();
  // Tokyo and Yokohama records rank alike: one /24.
  checkRoute(w, *t, app, "192.0.2.1", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 24);
  checkRoute(w, *t, app, "192.0.2.200", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 24);
  checkRoute(w, *t, app, "198.51.100.7", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 24);
  checkRoute(w, *t, app, "203.0.113.7", {"us-east", "eu-west", "eu-central", "ap-tokyo"}, 24);
  checkRoute(w, *t, app, "2001:db8:1:2::3", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 48);
  checkRoute(w, *t, app, "8.8.8.8", {"eu-west", "eu-central", "us-east", "ap-tokyo"}, 1);

  // The IPv4 aliases in IPv6 space are not copied: IPv6 holds only the /48 and its
  // gaps, so a 6to4 address answers for the largest block that avoids the /48.
  checkRoute(w, *t, app, "2002:c000:201::1", {"eu-west", "eu-central", "us-east", "ap-tokyo"}, 15);
  // A mapped address is the IPv4 client itself (route() unmaps it).
  checkRoute(w, *t, app, "::ffff:192.0.2.1", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 96 + 24);
  CHECK(t->prefix_count() == 7 + 3);

  const auto e = t->explain_json(app, addr("198.51.100.7"));
  INFO(e);
  CHECK(e.find(R"("source":"mmdb","location":{"lat":52.52,"lon":13.4,"country":"DE","continent":"EU"})") !=
        std::string::npos);
}

TEST_CASE_FIXTURE(MmdbFixture, "networks override the mmdb, the mmdb overrides ranges") {
  w.network("192.0.2.64/26", in_country("US"));
  // The ranges file claims 192.0.2.0/23 is Germany; the mmdb knows better for the /24.
  w.sources.ranges = {dir.write("geoip", "3221225984,3221226495,DE\n")};
  const auto t = w.compile();
  checkRoute(w, *t, app, "192.0.2.1", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 26);
  checkRoute(w, *t, app, "192.0.2.65", {"us-east", "eu-west", "eu-central", "ap-tokyo"}, 26);
  checkRoute(w, *t, app, "192.0.2.129", {"ap-tokyo", "eu-central", "eu-west", "us-east"}, 25);
  checkRoute(w, *t, app, "192.0.3.1", {"eu-central", "eu-west", "us-east", "ap-tokyo"}, 24);
}
