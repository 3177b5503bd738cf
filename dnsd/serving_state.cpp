#include "dnsd/serving_state.h"

#include <sys/stat.h>

#include <ldns/sha2.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>

#include "dnsd/dname.h"
#include "dnsd/query.h"
#include "dnsd/service_signer.h"
#include "dnsd/zone_builder.h"
#include "dnsd/zone_signer.h"

namespace gslb::dns {

namespace {

// Hex SHA-256 of the file, as `sha256sum` prints it, so that an operator can tell
// which file a running instance loaded; empty when it cannot be read.
std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned char digest[LDNS_SHA256_DIGEST_LENGTH];
  ldns_sha256(reinterpret_cast<const unsigned char*>(data.data()), static_cast<unsigned>(data.size()), digest);
  static const char* const kHex = "0123456789abcdef";
  std::string hex;
  for (const unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 0xf];
  }
  return hex;
}

}  // namespace

uint16_t MetricSlots::slot(const std::string& name) {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it != names_.end()) return static_cast<uint16_t>(it - names_.begin());
  // The last slot is kept for "no name" (queries outside every zone), the one
  // before it collects names past the limit.
  if (names_.size() >= kMax - 2) {
    if (names_.size() == kMax - 2) names_.push_back("other");
    return kMax - 2;
  }
  names_.push_back(name);
  return static_cast<uint16_t>(names_.size() - 1);
}

namespace {

// Signs a built zone and the services answered in it. Key and size problems are
// config errors at the zone's dnssec key.
void sign(const ZoneConfig& zc, Zone* zone, const Config& config, ServingState* state,
          const std::vector<std::string>& service_wire, const std::vector<size_t>& services_in_zone,
          std::chrono::system_clock::time_point now) {
  const DnssecConfig& d = *zc.dnssec;
  const std::string where = zc.path + ".dnssec";
  ZoneSigning signing;
  try {
    signing.keys = dnssec::ZoneKeys::load(zone->origin, d.keys);
  } catch (const dnssec::KeyError& e) {
    fail_at(d.keys_pos, where + ".keys", e.what());
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  signing.validity.inception = static_cast<uint32_t>(seconds - 3600);
  signing.validity.expiration = static_cast<uint32_t>(seconds + d.signature_validity.count());
  signing.dnskey_ttl = zone->apex->find(type::NS)->ttl;
  signing.nsec3 = d.denial == DnssecConfig::Denial::nsec3;

  std::vector<std::vector<uint16_t>> service_types(state->services.size());
  for (size_t i : services_in_zone) {
    Service& svc = state->services[i];
    const ServiceConfig& sc = config.services[i];
    for (int family = 0; family < 2; ++family) {
      std::vector<bool> has(svc.clusters.size());
      for (size_t k = 0; k < svc.clusters.size(); ++k) {
        const ClusterConfig& c = config.clusters[svc.clusters[k]];
        if (!c.health.ingress_hosts.empty())
          fail_at(c.pos, "clusters." + c.name + ".ingress",
                  "service " + sc.name + " is in the signed zone " + zc.origin +
                      ": its answers are signed in advance, so its clusters' ingress must be addresses, not host names");
        has[k] = family == 0 ? !c.ipv4.empty() : !c.ipv6.empty();
      }
      const size_t sets = address_set_count(has, svc.answers);
      if (sets > kMaxSignedAddressSets)
        fail_at(sc.pos, "services[" + std::to_string(i) + "]",
                "service " + sc.name + " can answer with more than " + std::to_string(kMaxSignedAddressSets) +
                    " address sets, too many to sign in advance: lower answers or its number of clusters");
      if (sets > 0) service_types[i].push_back(family == 0 ? type::A : type::AAAA);
    }
    if (svc.clusters.size() > 64)
      fail_at(sc.pos, "services[" + std::to_string(i) + "].clusters",
              "a service in a signed zone can have at most 64 clusters");
  }
  try {
    sign_zone(zone, signing, service_types);
    for (size_t i : services_in_zone) sign_service(&state->services[i], service_wire[i], state->clusters, signing);
  } catch (const dnssec::KeyError& e) {
    fail_at(d.keys_pos, where + ".keys", e.what());
  }
  state->resign_at = std::min(state->resign_at, now + d.signature_validity - d.refresh);
}

}  // namespace

std::shared_ptr<const ServingState> build_serving_state(Config config, uint64_t epoch, MetricNames* slots,
                                                        std::chrono::system_clock::time_point now,
                                                        const ServingState* previous) {
  auto state = std::make_shared<ServingState>();
  state->epoch = epoch;
  state->nsid = config.server.nsid;
  // Both are at most 255 octets (the config says so): one character-string each.
  auto txt = [](const std::string& text) { return text.empty() ? text : static_cast<char>(text.size()) + text; };
  state->identity_txt = txt(config.server.nsid);
  state->version_txt = txt(config.server.version);
  const CookieConfig& cookies = config.server.cookies;
  state->cookies = cookies.enabled;
  state->cookie_keys.shared = !cookies.secret_file.empty();
  state->cookie_keys.secret = state->cookie_keys.shared ? cookies.secret : process_cookie_secret();
  state->max_udp_size = config.server.max_udp_size;

  // Serial default: the config's modification time, so that an edited config gives
  // secondaries and monitoring a newer serial without anyone bumping it by hand.
  uint32_t default_serial = 1;
  struct stat st {};
  if (stat(config.path.c_str(), &st) == 0) default_serial = static_cast<uint32_t>(st.st_mtime);
  state->config_sha256 = file_sha256(config.path);
  for (const ZoneConfig& zc : config.zones)
    if (zc.soa.present) state->serial = std::max(state->serial, zc.soa.serial ? zc.soa.serial : default_serial);

  std::vector<geo::ClusterInput> geo_clusters;
  for (const ClusterConfig& c : config.clusters) {
    ClusterAddresses a;
    a.name = c.name;
    a.ipv4 = c.ipv4;
    a.ipv6 = c.ipv6;
    a.metrics_slot = slots->clusters.slot(c.name);
    state->clusters.push_back(std::move(a));
    geo_clusters.push_back({c.name, c.location});
  }

  std::vector<geo::ServiceInput> geo_services;
  std::vector<std::string> service_wire;
  for (size_t i = 0; i < config.services.size(); ++i) {
    const ServiceConfig& sc = config.services[i];
    Service s;
    s.name_text = sc.name;
    s.ttl = sc.ttl;
    s.transition_ttl = std::min(sc.transition_ttl, sc.ttl);
    s.answers = sc.answers;
    s.servfail_when_all_down = sc.servfail_when_all_down;
    s.geo_id = static_cast<geo::ServiceId>(i);
    geo::ServiceInput gs;
    gs.name = sc.name;
    gs.policy = sc.policy;
    gs.weights = sc.weights;
    for (const std::string& cname : sc.clusters) {
      for (size_t k = 0; k < config.clusters.size(); ++k)
        if (config.clusters[k].name == cname) s.clusters.push_back(static_cast<geo::ClusterId>(k));
    }
    gs.clusters = s.clusters;
    s.metrics_slot = slots->services.slot(sc.name);
    state->services.push_back(std::move(s));
    geo_services.push_back(std::move(gs));
    std::string wire;
    name_from_text(sc.name, &wire);
    service_wire.push_back(std::move(wire));
  }

  std::vector<bool> placed(service_wire.size(), false);
  for (const ZoneConfig& zc : config.zones) {
    std::string origin;
    name_from_text(zc.origin, &origin);
    std::vector<ServiceName> in_zone;
    std::vector<size_t> in_zone_index;
    for (size_t i = 0; i < service_wire.size(); ++i) {
      if (!name_is_at_or_below(service_wire[i], origin)) continue;
      // A service belongs to the most specific zone that contains it.
      bool deeper = false;
      for (const ZoneConfig& other : config.zones) {
        std::string o;
        name_from_text(other.origin, &o);
        if (o.size() > origin.size() && name_is_at_or_below(o, origin) && name_is_at_or_below(service_wire[i], o)) deeper = true;
      }
      if (deeper) continue;
      in_zone.push_back({service_wire[i], static_cast<int32_t>(i), config.services[i].pos});
      in_zone_index.push_back(i);
      placed[i] = true;
    }
    std::string inputs = zone_inputs(zc, default_serial, in_zone);
    const uint16_t metrics_slot = slots->zones.slot(zc.origin);
    std::shared_ptr<const Zone> zone;
    for (size_t z = 0; previous && !inputs.empty() && !zone && z < previous->zones.size(); ++z) {
      if (previous->zone_inputs[z] == inputs && previous->zones[z]->metrics_slot == metrics_slot) zone = previous->zones[z];
    }
    if (zone) {
      ++state->zones_kept;
    } else {
      auto built = build_zone(zc, default_serial, in_zone);
      if (zc.dnssec) sign(zc, built.get(), config, state.get(), service_wire, in_zone_index, now);
      built->metrics_slot = metrics_slot;
      zone = std::move(built);
    }
    state->zone_by_origin[zone->origin] = zone.get();
    state->zones.push_back(std::move(zone));
    state->zone_inputs.push_back(std::move(inputs));
  }
  for (size_t i = 0; i < placed.size(); ++i) {
    if (!placed[i])
      fail_at(config.services[i].pos, "services[" + std::to_string(i) + "].name",
              "service " + config.services[i].name + " is not inside any configured zone");
  }

  const auto compile_start = std::chrono::steady_clock::now();
  try {
    state->routing = geo::compile(config.geo, geo_clusters, geo_services);
  } catch (const geo::ClusterLocationError& e) {
    const ClusterConfig& c = config.clusters[e.cluster];
    fail_at(c.location_pos, "clusters." + c.name + ".location" + (c.location.country.empty() ? "" : ".country"), e.what());
  } catch (const geo::NetworkLocationError& e) {
    fail_at(config.network_location_pos[e.entry], "[" + std::to_string(e.entry) + "].location.country", e.what());
  }
  state->geo_build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count();
  state->config = std::move(config);
  return state;
}

}  // namespace gslb::dns
