// The configuration file, loaded into typed structs. Nothing after the loader sees
// YAML or looks anything up by its name.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dnsd/log.h"
#include "geo/routing.h"
#include "healthcheck/monitor.h"
#include "sync/sync.h"

namespace gslb::dns {

// what() is "file:line:column: key.path: reason" (position 1-based).
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SourcePos {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string describe() const;  // "file:line:column"
};

[[noreturn]] void fail_at(const SourcePos& pos, const std::string& path, const std::string& reason);

struct Endpoint {
  std::string text;      // as written, for messages
  bool v6 = false;
  uint8_t address[16] = {};
  uint16_t port = 0;
  // The same socket address however written: "[::1]:53" is "[0:0::1]:53", so a
  // reload that respells one is no listen change and --replace finds its socket.
  bool operator==(const Endpoint& o) const {
    return v6 == o.v6 && port == o.port && std::equal(address, address + 16, o.address);
  }
};

struct Prefix {
  bool v6 = false;
  uint8_t address[16] = {};
  uint8_t length = 0;
  bool operator==(const Prefix&) const = default;
};

// server.rrl; responses_per_second 0 means off (the default).
struct RateLimitConfig {
  uint32_t responses_per_second = 0;
  uint32_t slip = 2;               // every slip-th limited response goes out truncated; 0: none
  uint8_t ipv4_prefix = 24;
  uint8_t ipv6_prefix = 56;
  std::vector<Prefix> exempt;      // trusted clients, never limited
  bool operator==(const RateLimitConfig&) const = default;
};

// server.xdp (restart-only): UDP to the listen ports on `interface` answered via
// AF_XDP. An empty interface: off.
struct XdpConfig {
  std::string interface;
  std::vector<unsigned> queues;  // empty: all of the interface's receive queues
  bool operator==(const XdpConfig&) const = default;
};

// server.cookies: on by default with a secret made at start; `off`, or a secret
// file shared by the instances behind one address.
struct CookieConfig {
  bool enabled = true;
  std::string secret_file;        // empty: the process's own random secret
  std::array<uint8_t, 16> secret = {};  // read from secret_file
  bool operator==(const CookieConfig&) const = default;
};

struct ServerConfig {
  std::vector<Endpoint> listen;
  unsigned workers = 1;
  Endpoint http;                  // port 0: no HTTP listener
  bool has_http = false;
  std::string http_token;         // bearer token for the drain API; empty: none needed
  unsigned http_max_connections = 64;
  std::chrono::milliseconds http_idle_timeout{10000};
  std::string nsid;               // empty: NSID not answered
  std::string version;            // empty: version.bind/version.server CH TXT refused
  CookieConfig cookies;
  uint16_t max_udp_size = 1232;   // DNS flag day 2020: no fragmentation on common paths
  std::chrono::milliseconds tcp_idle_timeout{10000};
  unsigned tcp_max_connections = 1000;  // per worker
  std::string state_file;         // drain state; default: next to the config
  std::string control_socket;     // `gslbd ctl` and --replace; default: default_control_socket()
  std::string resolver;           // "ip[:port]" for ingress host names; default: /etc/resolv.conf
  LogLevel log_level = LogLevel::info;
  health::MetricsDetail health_metrics = health::MetricsDetail::full;
  RateLimitConfig rrl;
  XdpConfig xdp;
};

struct SoaConfig {
  bool present = false;
  std::string mname, rname;
  uint32_t serial = 0;            // default: the config file's modification time
  uint32_t refresh = 3600, retry = 900, expire = 1209600, minimum = 60, ttl = 3600;
  SourcePos pos;
};

// zones[].dnssec: the zone is signed with these keys when a serving state is built.
struct DnssecConfig {
  std::vector<std::string> keys;  // key pair base paths (".key"/".private" added), resolved
  SourcePos keys_pos;
  std::chrono::seconds signature_validity{14 * 86400};  // RRSIG expiration - inception
  std::chrono::seconds refresh{7 * 86400};              // re-sign when less than this is left
  // The denial chain: NSEC, or NSEC3 with RFC 9276's parameters (SHA-1, no extra
  // iterations, empty salt, no opt-out).
  enum class Denial : uint8_t { nsec, nsec3 } denial = Denial::nsec;
};

struct ZoneConfig {
  std::string origin;             // text, with final dot
  SourcePos pos;
  std::string path;               // key path for messages, e.g. "zones[0]"
  SoaConfig soa;
  std::vector<std::string> ns;
  SourcePos ns_pos;
  std::string records;            // master-file text
  SourcePos records_pos;          // where the text's first line is
  std::string zonefile;           // resolved path, or empty
  SourcePos zonefile_pos;
  std::optional<DnssecConfig> dnssec;
};

struct ServiceConfig {
  std::string name;               // text, with final dot
  SourcePos pos;
  uint32_t ttl = 30;
  uint32_t transition_ttl = 5;    // TTL while a cluster it would answer is changing state
  geo::Policy policy = geo::Policy::nearest;
  unsigned answers = 1;
  std::vector<std::string> clusters;
  std::vector<uint32_t> weights;  // policy weighted: per cluster, same order
  bool servfail_when_all_down = false;
};

struct ClusterConfig {
  std::string name;
  SourcePos pos;
  geo::Location location;
  SourcePos location_pos;         // the location's text, for errors found compiling geo
  std::vector<std::array<uint8_t, 4>> ipv4;
  std::vector<std::array<uint8_t, 16>> ipv6;
  health::ClusterSpec health;
};

struct Config {
  std::string path;
  ServerConfig server;
  geo::Sources geo;
  std::vector<ZoneConfig> zones;
  std::vector<ServiceConfig> services;
  std::vector<ClusterConfig> clusters;  // in file order: index = cluster id
  // Per geo.networks entry: where its location's country (or the entry) is written.
  std::vector<SourcePos> network_location_pos;
  std::optional<sync::SyncConfig> sync; // left out: each instance decides alone
  // Where each section and schema key was written ("sync", "server.workers"), for
  // messages about a key as a whole (a reload refusing it).
  std::map<std::string, SourcePos> key_positions;
};

Config load_config(const std::string& path);

// The config schema (config.cpp, after Knot's conf/schema.c): one entry per key
// with its type and range, its default, and whether a reload may change it. A key
// not listed there is data (zones, services, clusters, geo): a reload applies it.
enum class Reload : uint8_t { applies, needs_restart };
struct SchemaKey {
  std::string path;           // "server.workers"
  std::string type;           // "integer 1..256"
  std::string default_value;  // as it would be written; empty: none
  Reload reload = Reload::applies;
};
std::vector<SchemaKey> config_schema();

// server.control_socket when the config leaves it out: $RUNTIME_DIRECTORY/control.sock
// under systemd, else the config's path with ".sock" appended.
std::string default_control_socket(const std::string& config_path);

// The restart-only keys whose values differ (by key path); empty when a reload may
// apply `next` over `running`.
std::vector<std::string> restart_only_changes(const ServerConfig& running, const ServerConfig& next);
// The same for the sync section: every key but down_when, and the section itself.
std::vector<std::string> restart_only_changes(const std::optional<sync::SyncConfig>& running,
                                              const std::optional<sync::SyncConfig>& next);
// A reload's refusal of `keys` (restart_only_changes of both), each where `next`
// writes it: "file:line:column: server.workers cannot change without a restart",
// or "file: key ..." for a key `next` leaves out.
std::string restart_refusal(const Config& next, const std::vector<std::string>& keys);

// Parses "127.0.0.1:53", "[::1]:53", or with default_port "127.0.0.1". False if bad.
bool parse_endpoint(const std::string& text, uint16_t default_port, Endpoint* out);

// Parses "192.0.2.0/24" or "2001:db8::/32" (host bits must be zero). False if bad.
bool parse_prefix(const std::string& text, Prefix* out);

}  // namespace gslb::dns
