// Helpers shared by the geo tests: a scratch directory, client addresses from
// text, and a small world of clusters and services addressed by name.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "geo/routing.h"

namespace geo_test {

using namespace gslb::geo;

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "geo-test-XXXXXX").string();
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& content) const {
    const auto p = (path_ / name).string();
    std::ofstream(p) << content;
    return p;
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline ClientAddress addr(const std::string& text, int source_prefix = -1) {
  ClientAddress c;
  if (text.find(':') != std::string::npos) {
    c.family = 6;
    REQUIRE(inet_pton(AF_INET6, text.c_str(), c.bytes) == 1);
    c.source_prefix = uint8_t(source_prefix < 0 ? 128 : source_prefix);
  } else {
    c.family = 4;
    REQUIRE(inet_pton(AF_INET, text.c_str(), c.bytes) == 1);
    c.source_prefix = uint8_t(source_prefix < 0 ? 32 : source_prefix);
  }
  return c;
}

inline Location at(double lat, double lon) {
  Location l;
  l.lat = lat;
  l.lon = lon;
  return l;
}
inline Location in_country(std::string cc) {
  Location l;
  l.country = std::move(cc);
  return l;
}
inline Location in_region(std::string r) {
  Location l;
  l.region = std::move(r);
  return l;
}

// Clusters and services by name; ids are the indices, as dnsd hands them over.
struct World {
  std::vector<ClusterInput> clusters{
      {"eu-west", at(53.35, -6.26)},    // Dublin
      {"eu-central", at(50.11, 8.68)},  // Frankfurt
      {"us-east", at(38.9, -77.04)},    // Washington
      {"ap-tokyo", at(35.68, 139.69)},  // Tokyo
  };
  std::vector<ServiceInput> services;
  Sources sources;

  ClusterId id(const std::string& name) const {
    for (size_t i = 0; i < clusters.size(); ++i)
      if (clusters[i].name == name) return ClusterId(i);
    FAIL("no cluster " << name);
    return 0;
  }
  ServiceId service(const std::string& name, Policy policy, const std::vector<std::string>& names,
                    std::vector<uint32_t> weights = {}) {
    ServiceInput s;
    s.name = name;
    s.policy = policy;
    for (const auto& n : names) s.clusters.push_back(id(n));
    s.weights = std::move(weights);
    services.push_back(std::move(s));
    return ServiceId(services.size() - 1);
  }
  // A geo.networks entry as the config loader hands it over: "192.0.2.0/25" at a
  // location, or with clusters pinned by name.
  void network(const std::string& cidr, Location where) { sources.networks.emplace_back(prefix(cidr)).location = where; }
  void network(const std::string& cidr, const std::vector<std::string>& pinned) {
    auto& n = sources.networks.emplace_back(prefix(cidr));
    for (const auto& name : pinned) n.clusters.push_back(id(name));
  }
  static NetworkInput prefix(const std::string& cidr) {
    const auto slash = cidr.find('/');
    REQUIRE(slash != std::string::npos);
    NetworkInput n;
    n.v6 = cidr.find(':') != std::string::npos;
    REQUIRE(inet_pton(n.v6 ? AF_INET6 : AF_INET, cidr.substr(0, slash).c_str(), n.address) == 1);
    n.length = uint8_t(std::stoi(cidr.substr(slash + 1)));
    return n;
  }
  std::shared_ptr<const RoutingTable> compile() const { return gslb::geo::compile(sources, clusters, services); }
  std::vector<std::string> names(std::span<const ClusterId> order) const {
    std::vector<std::string> out;
    for (auto id : order) out.push_back(clusters[id].name);
    return out;
  }
};

inline std::string countries_csv() { return std::string(GSLB_SOURCE_DIR) + "/conf/countries.csv"; }

// The table-driven check: service's order for `client` and the ECS scope.
inline void checkRoute(const World& w, const RoutingTable& t, ServiceId service, const std::string& client,
                       const std::vector<std::string>& expected, int scope) {
  INFO("client " << client);
  const auto r = t.route(service, addr(client));
  CHECK(w.names(r.order) == expected);
  CHECK(int(r.scope) == scope);
}

// Expects compile() to throw LoadError whose message is exactly `message`.
inline void checkLoadError(const World& w, const std::string& message) {
  try {
    w.compile();
    FAIL("compile() accepted it; expected: " << message);
  } catch (const LoadError& e) {
    CHECK(std::string(e.what()) == message);
  }
}

}  // namespace geo_test
