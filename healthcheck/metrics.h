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
  void cluster_up(std::size_t cluster, bool up);
  // Counts the change by its cause and sets the cluster's up gauge.
  void state_change(const ClusterChange& change);

 private:
  struct CheckMetrics {
    prometheus::Counter* success;
    prometheus::Counter* failure;
    prometheus::Histogram* duration;
  };
  struct ClusterMetrics {
    prometheus::Gauge* up;
    prometheus::Counter* became_up;
    prometheus::Counter* became_down;
    prometheus::Counter* drained;
    prometheus::Counter* undrained;
    std::vector<CheckMetrics> checks;
  };

  prometheus::Family<prometheus::Gauge>& up_;
  prometheus::Family<prometheus::Counter>& checks_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& changes_;
  std::vector<ClusterMetrics> clusters_;
};

}  // namespace gslb::health
