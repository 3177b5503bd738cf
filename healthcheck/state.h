// The health state machine: rise/fall hysteresis per check, cluster up/down from
// its checks, drains. Pure: no I/O, no threads, time is passed in by the caller, so
// tests feed results and a fake clock directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"

namespace gslb::health {

enum class Status : uint8_t { unknown, up, down };
const char* to_string(Status s);

struct CheckDef {
  std::string identity;   // CheckSpec::describe(), kept-state key across reloads
  unsigned rise = 2;
  unsigned fall = 3;
  std::string name;       // CheckSpec::name, the check's label in logs and metrics
  std::optional<InitialState> initial;  // instead of its cluster's initial_state
};

struct ClusterDef {
  std::string name;
  std::vector<CheckDef> checks;
  bool require_any = false;
  InitialState initial_state = InitialState::probe;
};

struct CheckState {
  Status status = Status::unknown;
  // Consecutive results equal to the last one (successes if last_ok, else failures).
  unsigned consecutive = 0;
  bool last_ok = false;
  bool has_result = false;
  bool awaiting_first = false;   // a probe-initial check without its first result yet
  std::string last_reason;
  std::chrono::nanoseconds last_latency{0};
  std::chrono::steady_clock::time_point since{};   // last status change

  // Failing while up, or succeeding while down, without having crossed the threshold.
  bool transitioning() const {
    return has_result && ((status == Status::up && !last_ok) ||
                          (status == Status::down && last_ok));
  }
};

// A cluster's health or drain flag moved.
struct ClusterChange {
  // What changed: the cluster's health (counted as state "up"/"down" by the new
  // health, drained or not), or its drain (counted as "drained"/"undrained").
  enum class Cause : uint8_t { became_healthy, became_unhealthy, drained, undrained };
  std::size_t cluster = 0;
  Cause cause = Cause::became_healthy;
  bool up = false;        // answerable now: healthy and not drained
  std::string log_line;   // "cluster eu-west down: http ...: HTTP 503 (3/3 failures)"
  // The cluster; for a health change the check that caused it and, when it went
  // down, the probe's Failure name; for a drain "drained" or "undrained".
  LogFields fields;
};

// Owned by whoever serializes access to it (the Monitor holds it under its mutex).
class HealthState {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Replaces the cluster set. Clusters keep their state by name, checks by identity
  // within their cluster (the n-th occurrence of a duplicated identity matches the
  // n-th). Returns nothing to log: a new configuration is not a state change.
  void configure(std::vector<ClusterDef> clusters, TimePoint now);

  // Applies one probe result; returns the cluster change it caused, if any. A local
  // error (result.local set) is no result: it changes nothing.
  std::optional<ClusterChange> record(std::size_t cluster, std::size_t check,
                                      const ProbeResult& result, TimePoint now);

  // Changes the drain flag of a configured cluster; a change event when the flag
  // moved (draining a cluster that is already down is still worth a log line).
  struct DrainResult {
    bool found = false;
    std::optional<ClusterChange> change;
  };
  DrainResult set_drained(const std::string& cluster, bool drained);
  // Drained names, including those read at startup for clusters not configured yet.
  const std::set<std::string>& drained() const { return drained_; }
  void restore_drained(std::set<std::string> names) { drained_ = std::move(names); }
  // Replaces the drained set; a change event per configured cluster that moved.
  std::vector<ClusterChange> replace_drained(const std::set<std::string>& names);
  // Health agreed with other instances, by cluster name: overrides the local
  // health in answerable() for the clusters it names (sync/).
  void set_agreed(std::map<std::string, bool> agreed) { agreed_ = std::move(agreed); }

  std::size_t size() const { return clusters_.size(); }
  const ClusterDef& def(std::size_t cluster) const { return clusters_[cluster].def; }
  const CheckState& check(std::size_t cluster, std::size_t check) const {
    return clusters_[cluster].checks[check];
  }
  Status health(std::size_t cluster) const { return clusters_[cluster].health; }
  bool answerable(std::size_t cluster) const;
  bool transitioning(std::size_t cluster) const;
  bool is_drained(std::size_t cluster) const;
  // Every check that started in probe mode has had its first result. O(1): the
  // Monitor asks after every result.
  bool initial_done() const { return awaiting_ == 0; }

  std::vector<uint8_t> up_vector() const;
  std::vector<uint8_t> transitioning_vector() const;

 private:
  struct Cluster {
    ClusterDef def;
    std::vector<CheckState> checks;
    Status health = Status::unknown;
  };
  static Status derive(const Cluster& c);

  std::vector<Cluster> clusters_;
  std::set<std::string> drained_;
  std::size_t awaiting_ = 0;   // checks with awaiting_first set
  std::map<std::string, bool> agreed_;
};

}  // namespace gslb::health
