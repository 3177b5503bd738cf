// The sync module's whole interface: several gslbd instances act as one through
// etcd. Each instance writes its local verdict per cluster under its own lease,
// watches everyone's, and hands back the agreed health of every cluster by
// `down_when`; drains live in etcd without a lease.
//
// Knows nothing of health checks, DNS or YAML: verdicts and drains come in and go
// out as cluster names and booleans, and the daemon (dnsd/daemon.cpp) wires them to
// the Monitor. etcd is never on the answering path: every call here returns at once;
// drain() hands its outcome to a callback once etcd has answered.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace prometheus { class Registry; }

namespace gslb::sync {

// sync.down_when: when the live instances' votes make a cluster down.
struct DownRule {
  enum class Kind : uint8_t { majority, all, any, count } kind = Kind::majority;
  unsigned count = 0;  // Kind::count: down when at least this many vote down (all, when fewer live)
  bool operator==(const DownRule&) const = default;
};
// "majority", "all", "any" or the count; nullopt for anything else.
std::optional<DownRule> parse_down_rule(const std::string& text);
std::string to_string(const DownRule& rule);

// The agreement rule, pure: `votes` are the up (true) / down (false) votes of the
// live instances, the own fresh verdict among them. nullopt when nobody voted.
std::optional<bool> agreed_up(const std::vector<bool>& votes, const DownRule& rule);

struct TlsFiles {
  std::string ca_file, cert_file, key_file;  // empty: libcurl's defaults / no client certificate
  bool operator==(const TlsFiles&) const = default;
};

// sync.etcd
struct EtcdConfig {
  std::vector<std::string> endpoints;        // "http://127.0.0.1:2379", https:// with tls
  TlsFiles tls;
  std::string prefix;                        // ends with '/'
  std::string instance;                      // default: server.nsid, else the host name
  bool instance_is_nsid = false;             // left out and taken from server.nsid
  std::chrono::milliseconds lease_ttl{10000};
  bool operator==(const EtcdConfig&) const = default;
};

struct SyncConfig {
  EtcdConfig etcd;
  DownRule down_when;
  bool operator==(const SyncConfig&) const = default;
};

// An instance's verdict on a cluster after its local rise/fall.
struct Verdict {
  std::string cluster;
  bool up = false;
  std::string reason;
  double latency_ms = 0;
};

enum class Severity : uint8_t { info, warning, error };
using Log = std::function<void(Severity, const std::string&)>;

// Called on the sync thread, never under a lock of the caller's.
struct Callbacks {
  // The agreed health of each cluster that has one; a cluster left out follows
  // its local verdict. Called whenever it changes.
  std::function<void(const std::map<std::string, bool>&)> agreed;
  // The whole set of clusters drained in etcd, after each change of it.
  std::function<void(const std::set<std::string>&)> drained;
  Log log;  // empty: stderr
};

// What GET /status and /explain show.
struct Status {
  struct Vote {
    std::string instance;
    bool up = false;
    std::string reason;
    double age_s = 0;       // since the vote's verdict began ("since")
  };
  struct Cluster {
    std::string name;
    std::optional<bool> local;   // own verdict; nullopt before the first
    std::vector<Vote> votes;     // every live instance's, own included
    std::optional<bool> agreed;  // nullopt: follows the local verdict
  };
  bool connected = false;
  std::string instance;
  // Non-empty while this instance refuses to join because another live gslbd holds
  // its instance name in etcd: who ("host ns1, pid 4711").
  std::string conflict;
  unsigned live_instances = 0;
  int64_t revision = 0;          // of the last event or list seen
  std::vector<Cluster> clusters; // the configured ones, in set_clusters() order
};

// Owns the sync thread (its own libcurl multi handle). Public methods are safe to
// call from any thread.
class Sync {
 public:
  // `registry` gets the gslb_sync_* families. Nothing runs before start().
  Sync(SyncConfig config, Callbacks callbacks, prometheus::Registry& registry);
  ~Sync();
  Sync(const Sync&) = delete;
  Sync& operator=(const Sync&) = delete;

  // The configured clusters (at start and on reload): votes are written for these;
  // the own votes of clusters no longer listed are deleted from etcd.
  void set_clusters(std::vector<std::string> names);
  // A reload's down_when (the one sync key a reload may change).
  void set_rule(DownRule rule);
  // The local verdicts known now (at start), then each change of one.
  void local_verdict(Verdict verdict);

  // Before start(): the pid of the gslbd on this host that this process replaces
  // (gslbd --replace). Its instance key in etcd is taken over, not taken for another
  // gslbd using the same instance name.
  void replaces(int64_t pid);

  void start();
  void stop();

  // Stores a drain (or removes it) in etcd and applies it here once etcd has it,
  // then calls `done` on the sync thread with "" or what went wrong. The etcd call
  // ends within `timeout`, so an error text (etcd did not acknowledge it) means
  // nothing changed on this instance; only a request etcd stored while its answer
  // was lost still comes back through the watch. `done` is dropped, never called,
  // when the Sync stops first.
  using DrainDone = std::function<void(std::string error)>;
  void drain(const std::string& cluster, bool drained, std::chrono::milliseconds timeout, DrainDone done);

  Status status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gslb::sync
