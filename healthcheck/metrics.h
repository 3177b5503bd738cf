// The health metrics: the few families of fixed size on the daemon's Prometheus
// registry, and the per-cluster and per-check series as plain counters that
// write_text() puts in the exposition format at each scrape.
//
// Per-check series are not prometheus-cpp objects: at 10,000 checks their 200,000
// label sets took tens of MB and a scrape built a copy of each before writing it.
//
// Not thread-safe: the Monitor uses it under its state mutex only; a scrape copies
// the series there and writes them outside it.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"
#include "healthcheck/state.h"

namespace gslb::health {

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);

  // Takes a new cluster set: clusters keep their series by name, checks by their
  // `check` label within the cluster; the others start at zero.
  void configure(const std::vector<ClusterSpec>& clusters);
  void probe_result(std::size_t cluster, std::size_t check, const ProbeResult& result);
  void local_error(LocalError reason);
  // Counts a health or drain change by its cause.
  void state_change(const ClusterChange& change);
  // Sets the cluster's gauges (up, healthy, drained) and its checks' up gauges.
  void show(const HealthState& state, std::size_t cluster);
  void state_file_error() { state_file_errors_.Increment(); }
  void lag(double seconds) { lag_.Set(seconds); }

  static constexpr std::size_t kReasons = std::size(kFailures);
  static constexpr std::size_t kCauses = 4;   // by ClusterChange::Cause
  struct ClusterSeries {
    std::array<uint64_t, kCauses> changes{};
    bool up = false;
    bool healthy = false;
    bool drained = false;
  };
  struct CheckSeries {
    uint64_t success = 0;
    uint64_t failure = 0;
    std::array<uint64_t, kReasons> failures{};   // by kFailures order
    double last_duration = 0;
    // A bit per kFailures entry whose series is shown: the reasons its kind reports
    // (from the start, so that rate() sees the first failure) and any other counted.
    uint16_t reasons = 0;
    bool up = false;
  };
  // The label text of every series, made at configure() and shared by the copies.
  struct Names {
    std::vector<std::string> clusters;    // `cluster="eu-west"`, escaped
    std::vector<std::string> checks;      // `check="http0",cluster="eu-west"`, escaped
    std::vector<std::size_t> first_check; // per cluster, its first index in `checks`; one more at the end
  };
  struct Series {
    std::shared_ptr<const Names> names = std::make_shared<Names>();
    std::vector<ClusterSeries> clusters;
    std::vector<CheckSeries> checks;
  };
  const Series& series() const { return series_; }
  // Appends the per-cluster and per-check families of `series` to a text
  // exposition (format 0.0.4) at `detail`.
  static void write_text(const Series& series, MetricsDetail detail, std::string* out);

 private:
  Series series_;
  std::vector<CheckSpec::Kind> kinds_;   // per check, as in series_.checks
  prometheus::Family<prometheus::Histogram>& duration_;
  std::array<prometheus::Histogram*, 3> kind_duration_;   // by CheckSpec::Kind
  prometheus::Family<prometheus::Counter>& kind_failures_;
  std::array<std::array<prometheus::Counter*, kReasons>, 3> kind_failure_;   // by kind, kFailures order
  prometheus::Counter& state_file_errors_;
  prometheus::Family<prometheus::Counter>& local_errors_;
  prometheus::Gauge& lag_;
};

}  // namespace gslb::health
