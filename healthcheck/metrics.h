// The health metric families on the daemon's Prometheus registry, with one bound
// label set per configured cluster and check.
//
// Not thread-safe: the Monitor uses it under its state mutex only, so that label sets
// are never removed while a probe result is being counted into them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <vector>

#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"
#include "healthcheck/state.h"

namespace gslb::health {

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);

  // Binds the label sets of a new cluster set and removes those that left.
  void configure(const std::vector<ClusterSpec>& clusters);
  void probe_result(std::size_t cluster, std::size_t check, const ProbeResult& result);
  void local_error(LocalError reason);
  // Counts a health or drain change by its cause.
  void state_change(const ClusterChange& change);
  // Sets the cluster's gauges (up, healthy, drained) and its checks' up gauges.
  void show(const HealthState& state, std::size_t cluster);
  void state_file_error() { state_file_errors_.Increment(); }
  void lag(double seconds) { lag_.Set(seconds); }

 private:
  static constexpr std::size_t kReasons = std::size(kFailures);
  struct CheckMetrics {
    prometheus::Labels labels;   // cluster and check, for a failure reason bound late
    prometheus::Gauge* up;
    prometheus::Counter* success;
    prometheus::Counter* failure;
    // By kFailures order; null for a reason its kind does not report until it does.
    std::array<prometheus::Counter*, kReasons> failures;
    prometheus::Gauge* last_duration;
    prometheus::Histogram* duration;   // its kind's, shared
  };
  struct ClusterMetrics {
    prometheus::Gauge* up;
    prometheus::Gauge* healthy;
    prometheus::Gauge* drained;
    prometheus::Counter* became_up;
    prometheus::Counter* became_down;
    prometheus::Counter* drains;
    prometheus::Counter* undrains;
    std::vector<CheckMetrics> checks;
  };

  prometheus::Family<prometheus::Gauge>& up_;
  prometheus::Family<prometheus::Gauge>& healthy_;
  prometheus::Family<prometheus::Gauge>& drained_;
  prometheus::Family<prometheus::Gauge>& check_up_;
  prometheus::Family<prometheus::Counter>& checks_;
  prometheus::Family<prometheus::Counter>& failures_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Gauge>& last_duration_;
  std::array<prometheus::Histogram*, 3> kind_duration_;   // by CheckSpec::Kind
  prometheus::Family<prometheus::Counter>& changes_;
  prometheus::Counter& state_file_errors_;
  prometheus::Family<prometheus::Counter>& local_errors_;
  prometheus::Gauge& lag_;
  std::vector<ClusterMetrics> clusters_;
};

}  // namespace gslb::health
