#include "healthcheck/metrics.h"

#include <set>

namespace gslb::health {

namespace {

const char* kind_label(CheckSpec::Kind kind) {
  switch (kind) {
    case CheckSpec::Kind::http: return "http";
    case CheckSpec::Kind::tcp: return "tcp";
    case CheckSpec::Kind::dns: return "dns";
  }
  return "unknown";
}

// Probe durations range from sub-millisecond loopback connects to the timeout
// (seconds); the buckets cover that span in roughly 2.5x steps.
const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

template <typename T>
void remove_unused(prometheus::Family<T>& family, const std::set<T*>& before,
                   const std::set<T*>& after) {
  for (T* metric : before)
    if (after.count(metric) == 0) family.Remove(metric);
}

}  // namespace

Metrics::Metrics(prometheus::Registry& registry)
    : up_(prometheus::BuildGauge()
              .Name("gslb_cluster_up")
              .Help("1 when the cluster is answerable: healthy and not drained")
              .Register(registry)),
      checks_(prometheus::BuildCounter()
                  .Name("gslb_checks_total")
                  .Help("Health probes by cluster, check and result")
                  .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("gslb_probe_duration_seconds")
                    .Help("Duration of health probes")
                    .Register(registry)),
      changes_(prometheus::BuildCounter()
                   .Name("gslb_cluster_state_changes_total")
                   .Help("Cluster health or drain changes, by the resulting state")
                   .Register(registry)) {}

void Metrics::configure(const std::vector<ClusterSpec>& clusters) {
  std::set<prometheus::Gauge*> gauges_before, gauges_after;
  std::set<prometheus::Counter*> counters_before, counters_after;
  std::set<prometheus::Histogram*> histograms_before, histograms_after;
  for (const auto& c : clusters_) {
    gauges_before.insert(c.up);
    counters_before.insert({c.became_up, c.became_down, c.drained, c.undrained});
    for (const auto& k : c.checks) {
      counters_before.insert({k.success, k.failure});
      histograms_before.insert(k.duration);
    }
  }

  std::vector<ClusterMetrics> next;
  for (const auto& spec : clusters) {
    ClusterMetrics c;
    c.up = &up_.Add({{"cluster", spec.name}});
    c.became_up = &changes_.Add({{"cluster", spec.name}, {"state", "up"}});
    c.became_down = &changes_.Add({{"cluster", spec.name}, {"state", "down"}});
    c.drained = &changes_.Add({{"cluster", spec.name}, {"state", "drained"}});
    c.undrained = &changes_.Add({{"cluster", spec.name}, {"state", "undrained"}});
    gauges_after.insert(c.up);
    counters_after.insert({c.became_up, c.became_down, c.drained, c.undrained});
    for (const auto& check : spec.checks) {
      const std::string id = check.describe();
      CheckMetrics k;
      k.success = &checks_.Add({{"cluster", spec.name}, {"check", id}, {"result", "success"}});
      k.failure = &checks_.Add({{"cluster", spec.name}, {"check", id}, {"result", "failure"}});
      k.duration = &duration_.Add({{"cluster", spec.name}, {"kind", kind_label(check.kind)}},
                                  duration_buckets());
      counters_after.insert({k.success, k.failure});
      histograms_after.insert(k.duration);
      c.checks.push_back(k);
    }
    next.push_back(std::move(c));
  }
  clusters_ = std::move(next);

  remove_unused(up_, gauges_before, gauges_after);
  // Both counter families share the pointer sets; Remove ignores foreign pointers.
  remove_unused(checks_, counters_before, counters_after);
  remove_unused(changes_, counters_before, counters_after);
  remove_unused(duration_, histograms_before, histograms_after);
}

void Metrics::probe_result(std::size_t cluster, std::size_t check, const ProbeResult& result) {
  if (cluster >= clusters_.size() || check >= clusters_[cluster].checks.size()) return;
  const CheckMetrics& k = clusters_[cluster].checks[check];
  (result.ok ? k.success : k.failure)->Increment();
  k.duration->Observe(std::chrono::duration<double>(result.latency).count());
}

void Metrics::cluster_up(std::size_t cluster, bool up) {
  if (cluster < clusters_.size()) clusters_[cluster].up->Set(up ? 1 : 0);
}

void Metrics::state_change(const ClusterChange& change) {
  if (change.cluster >= clusters_.size()) return;
  ClusterMetrics& c = clusters_[change.cluster];
  switch (change.cause) {
    case ClusterChange::Cause::became_healthy: c.became_up->Increment(); break;
    case ClusterChange::Cause::became_unhealthy: c.became_down->Increment(); break;
    case ClusterChange::Cause::drained: c.drained->Increment(); break;
    case ClusterChange::Cause::undrained: c.undrained->Increment(); break;
  }
  cluster_up(change.cluster, change.up);
}

}  // namespace gslb::health
