// The healthcheck module's whole interface: probe every cluster (HTTP(S), TCP, DNS),
// keep rise/fall state and drains, and publish an immutable HealthView on change.
//
// Knows nothing of DNS wire format or of GeoIP. Cluster ids are the indices of the
// vector handed to the Monitor.
#pragma once

#include <array>
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

namespace gslb::health {

using Millis = std::chrono::milliseconds;

struct HttpCheck {
  std::string url;                 // http:// or https://
  std::vector<long> expect{200};   // accepted status codes
  std::string body;                // optional substring the body must contain
  std::string host;                // optional Host header
  bool tls_verify = true;
  std::string ca_file;             // optional CA bundle for verification
  // Open a connection per probe (tests that the target accepts new ones) instead of
  // keeping one alive across probes.
  bool fresh_connection = false;
};
struct TcpCheck {
  std::string address;             // "host:port" or "[v6]:port"
};
struct DnsCheck {
  std::string server;              // "ip" or "ip:port" or "[v6]:port"; default port 53
  std::string name;                // name to query
  uint16_t qtype = 1;              // A
  uint8_t expect_rcode = 0;        // NOERROR
  // Optional: one answer must equal it; of the qtype's family (A: the first 4 bytes).
  std::optional<std::array<uint8_t, 16>> expect_address;
};

// The config's names for a DNS check's fields: "A", "AAAA", "TYPE65" -> type number;
// "NOERROR", "SERVFAIL", "RCODE11" -> rcode; nullopt when unknown.
std::optional<uint16_t> qtype_number(const std::string& qtype);
std::optional<uint8_t> rcode_number(const std::string& rcode);
// 28 -> "AAAA", 2 -> "SERVFAIL"; unnamed ones as "TYPE<n>" and "RCODE<n>".
std::string qtype_name(uint16_t qtype);
std::string rcode_name(int rcode);

struct CheckSpec {
  enum class Kind : uint8_t { http, tcp, dns } kind = Kind::http;
  HttpCheck http;
  TcpCheck tcp;
  DnsCheck dns;
  Millis interval{2000};
  Millis timeout{1000};
  unsigned rise = 2;
  unsigned fall = 3;
  // The `check` label of its metrics, unique within the cluster: `name:` in the
  // config, else the kind and its index among the cluster's checks of that kind
  // ("http0"), so that editing a URL keeps the series.
  std::string name;
  // A human-readable identity, e.g. "http http://127.0.0.1:8081/healthz"; checks whose
  // identity is unchanged across a reload keep their state.
  std::string describe() const;
};

// The `check` labels of a cluster's checks, in order: each check's `name` where
// set, else its kind and index among the checks of that kind before it ("http0",
// "tcp0", "http1"). The config loader refuses a cluster where two are equal.
std::vector<std::string> check_names(const std::vector<CheckSpec>& checks);

enum class InitialState : uint8_t { probe, up, down };

struct ClusterSpec {
  std::string name;
  std::vector<CheckSpec> checks;   // none: always up (unless drained)
  bool require_any = false;        // up when any check is up (default: all)
  // probe: run every check once before reporting ready (default); up/down: start so.
  InitialState initial_state = InitialState::probe;
  // Ingress given by name (a cloud load balancer's, say): resolved with c-ares
  // before DNS answers and again at the records' TTL; the addresses go in the view.
  std::vector<std::string> ingress_hosts;
  // Per check, by CheckSpec::describe(): up or down to start in instead of
  // initial_state (`gslbd --replace` starts each check as the replaced process had it).
  std::map<std::string, InitialState> check_initial_states;
};

struct Ingress {
  std::vector<std::array<uint8_t, 4>> ipv4;
  std::vector<std::array<uint8_t, 16>> ipv6;
};

// Immutable snapshot, shared by DNS workers. Cheap to read per query.
struct HealthView {
  std::vector<Ingress> resolved;      // per cluster: addresses of its ingress_hosts
  std::vector<uint8_t> up;            // per cluster: 1 = answerable (up and not drained)
  std::vector<uint8_t> transitioning; // per cluster: 1 = failing-but-not-down or recovering
  uint64_t config_epoch = 0;          // the epoch passed to Monitor::configure()
  // Increases with every view the Monitor hands out (published or returned), so a
  // holder that receives views from two paths can keep the newest.
  uint64_t generation = 0;
};

enum class Severity : uint8_t { info, warning, error };
// What an event is about, beside its line, for logs that index fields (journald's
// CLUSTER=, SERVICE=, CHECK=, REASON=, so that `journalctl CLUSTER=eu-west` finds
// it); empty: the event is not about one.
struct LogFields {
  std::string cluster;
  std::string service;
  std::string check;    // the check's `check` label (CheckSpec::name)
  // Bounded, like a metric label: the Failure or LocalError name behind a probe
  // verdict ("timeout", "status", "descriptors"), "drained"/"undrained" for a drain.
  std::string reason;
};
// Where state changes and problems are reported: one event a line, from any thread.
using Log = std::function<void(Severity, const std::string& line, const LogFields& fields)>;

// A cluster's health after its local rise/fall (drains aside), for the instances
// that vote on it (sync/).
struct LocalVerdict {
  std::string cluster;
  bool up = false;
  std::string reason;      // the deciding check's last result, "HTTP 503"
  double latency_ms = 0;   // that probe's latency
};

// server.health_metrics: every per-cluster and per-check series (full), or, for
// /metrics at thousands of checks (compact), per check its up gauge alone, only in
// clusters of several checks, and a cluster's change counters from their first
// change on.
enum class MetricsDetail : uint8_t { full, compact };

struct MonitorOptions {
  std::string state_file;   // drain state, kept across restarts; empty: not kept
  std::string resolver;     // "ip[:port]" for ingress host names; empty: /etc/resolv.conf
  Log log;  // empty: stderr
  // Replaces socket(2) for every probe (a test injects EMFILE); empty: socket(2).
  std::function<int(int domain, int type, int protocol)> open_socket_for_test;
  // Each change of a cluster's local verdict, on the probe thread, outside the
  // Monitor's lock (it may call the Monitor back); empty: none.
  std::function<void(const LocalVerdict&)> on_verdict;
};

// Descriptors the probes of `clusters` hold at most at once, which is also the
// probe engine's own budget (the share the daemon reserves for it; a probe past it
// fails as a local error): one socket per TCP
// check, one per HTTP check (its connection, kept alive or not) and one more for
// curl's resolver when its URL names a host,
// two per DNS check and ingress host resolver (UDP, and TCP after a truncated
// answer), plus curl's and c-ares' own few.
std::size_t probe_descriptors(const std::vector<ClusterSpec>& clusters);

// Owns the probe thread. Public methods are safe to call from any thread.
class Monitor {
 public:
  using Publish = std::function<void(std::shared_ptr<const HealthView>)>;

  // `publish` is the one way views come out: from the probe thread whenever the
  // view changes (within 100 ms of the state change), and from the calling thread
  // inside configure() and wait_initial(). It must not call either of those.
  // `registry` gets the health metrics families.
  Monitor(MonitorOptions options, Publish publish, prometheus::Registry& registry);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Replaces the cluster set (at start and on reload). Clusters and checks whose
  // name/identity did not change keep their state and counters. The first view for
  // this set (config_epoch = `epoch`) is published before it returns, so a caller
  // holds it when it installs the new config; clusters with initial_state probe
  // that are new are reported down until probed.
  void configure(std::vector<ClusterSpec> clusters, uint64_t epoch);

  // A reload's new server.state_file and server.resolver. The drains in effect are
  // written to a new state file at once (a restart reading it keeps them; an error
  // is logged and counted); host names are resolved through the new resolver from
  // the next configure() on.
  void set_files(const std::string& state_file, const std::string& resolver);

  // Blocks until every new check with initial_state probe has completed one probe
  // and every ingress host name has been resolved once, or the deadline passes,
  // then publishes the view of that moment.
  void wait_initial(std::chrono::steady_clock::time_point deadline);

  // Drain by name, persisted to the state file first: when the file cannot be
  // written nothing changes (not_saved, with `error`).
  // not_stored is the daemon's, never the Monitor's: with sync on, the store the
  // drains live in (etcd) did not acknowledge it.
  struct DrainResult {
    enum class Outcome : uint8_t { done, no_such_cluster, not_saved, not_stored } outcome = Outcome::done;
    std::string error;
  };
  // `requester` says who asked, for the log line ("HTTP client 127.0.0.1:40312
  // (no token)"); empty: nobody to name.
  DrainResult set_drained(const std::string& cluster, bool drained, const std::string& requester = {});

  // Every cluster's local verdict now (clusters not probed yet left out).
  std::vector<LocalVerdict> verdicts() const;

  // Health agreed with other instances: a cluster named here is answerable when
  // its agreed value is up and it is not drained, whatever its local verdict; the
  // others follow their local verdict. Replaces the previous map; the view follows
  // within the publish period (100 ms).
  void set_agreed(std::map<std::string, bool> agreed);

  // Replaces the whole drained set (from etcd), written to the state file as the
  // cache a start reads while etcd is unreachable. A file error is logged and
  // counted; the drains apply anyway (etcd, not the file, holds them).
  void set_drains(const std::set<std::string>& drained);

  // JSON for GET /status: every cluster, drained, up, each check's last result,
  // latency and reason.
  std::string status_json() const;

  // Appends the per-cluster and per-check health families to a Prometheus text
  // exposition (the others are on the registry), at the detail last set.
  void append_metrics(std::string* out) const;
  // From now on (at start and on a reload); full until set.
  void set_metrics_detail(MetricsDetail detail);

  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gslb::health
