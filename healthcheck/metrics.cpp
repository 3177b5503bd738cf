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

// The failure reasons each kind of probe reports (http_probe.cpp, tcp_probe.cpp,
// dns_probe.cpp). Their series exist from the start, so that rate() sees a check's
// first failure; the others would be zeros forever (six of eleven for a TCP check).
bool reports(CheckSpec::Kind kind, Failure f) {
  switch (f) {
    case Failure::timeout:
    case Failure::refused:
    case Failure::local: return true;
    case Failure::connect:
    case Failure::resolve: return kind != CheckSpec::Kind::dns;
    case Failure::protocol: return kind != CheckSpec::Kind::tcp;
    case Failure::tls:
    case Failure::status:
    case Failure::body: return kind == CheckSpec::Kind::http;
    case Failure::dns_rcode:
    case Failure::dns_answer: return kind == CheckSpec::Kind::dns;
    case Failure::none: break;
  }
  return false;
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

template <typename Builder>
auto& build(Builder builder, const char* name, const char* help, prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}

// Every metric pointer a cluster set holds, by type, so that configure() can remove
// the label sets that a new set no longer has.
struct Bound {
  std::set<prometheus::Gauge*> gauges;
  std::set<prometheus::Counter*> counters;
};

}  // namespace

Metrics::Metrics(prometheus::Registry& registry)
    : up_(build(prometheus::BuildGauge(), "gslb_cluster_up",
                "1 when the cluster is answerable: healthy and not drained", registry)),
      healthy_(build(prometheus::BuildGauge(), "gslb_cluster_healthy",
                     "1 when the cluster's checks say it is up, drained or not", registry)),
      drained_(build(prometheus::BuildGauge(), "gslb_cluster_drained",
                     "1 when an operator drained the cluster", registry)),
      check_up_(build(prometheus::BuildGauge(), "gslb_check_up",
                      "1 when the check is up (past its rise threshold), 0 when down or not probed yet", registry)),
      checks_(build(prometheus::BuildCounter(), "gslb_checks_total",
                    "Health probes by cluster, check and result", registry)),
      failures_(build(prometheus::BuildCounter(), "gslb_check_failures_total",
                      "Failed health probes by cluster, check and reason", registry)),
      duration_(build(prometheus::BuildHistogram(), "gslb_probe_duration_seconds",
                      "Duration of health probes, by kind of check", registry)),
      last_duration_(build(prometheus::BuildGauge(), "gslb_check_duration_seconds",
                           "Duration of the check's last probe", registry)),
      changes_(build(prometheus::BuildCounter(), "gslb_cluster_state_changes_total",
                     "Cluster health or drain changes, by the resulting state", registry)),
      state_file_errors_(build(prometheus::BuildCounter(), "gslb_state_file_errors_total",
                               "Drain state file reads or writes that failed", registry)
                             .Add({})),
      local_errors_(build(prometheus::BuildCounter(), "gslb_check_local_errors_total",
                          "Probes that reached no verdict because this host lacked something (descriptors, buffers, "
                          "memory, a local address, the probe budget); they change no check's state",
                          registry)),
      lag_(build(prometheus::BuildGauge(), "gslb_probe_lag_seconds",
                 "How late the latest probes started against their schedule: the worst of the last 10 s", registry)
               .Add({})) {
  for (const LocalError reason : kLocalErrors) local_errors_.Add({{"reason", to_string(reason)}});
  // One histogram per kind, not per check: 17 series per check were most of
  // /metrics (28.8 MB at 10,000 checks); the per-check figure is the last duration.
  for (const auto kind : {CheckSpec::Kind::http, CheckSpec::Kind::tcp, CheckSpec::Kind::dns})
    kind_duration_[static_cast<std::size_t>(kind)] = &duration_.Add({{"kind", kind_label(kind)}}, duration_buckets());
}

void Metrics::configure(const std::vector<ClusterSpec>& clusters) {
  Bound before, after;
  for (const auto& c : clusters_) {
    before.gauges.insert({c.up, c.healthy, c.drained});
    before.counters.insert({c.became_up, c.became_down, c.drains, c.undrains});
    for (const auto& k : c.checks) {
      before.gauges.insert(k.up);
      before.counters.insert({k.success, k.failure});
      before.gauges.insert(k.last_duration);
      before.counters.insert(k.failures.begin(), k.failures.end());
    }
  }

  std::vector<ClusterMetrics> next;
  for (const auto& spec : clusters) {
    const prometheus::Labels cluster{{"cluster", spec.name}};
    auto with = [&](const char* key, const std::string& value) {
      prometheus::Labels l = cluster;
      l.emplace(key, value);
      return l;
    };
    ClusterMetrics c;
    c.up = &up_.Add(cluster);
    c.healthy = &healthy_.Add(cluster);
    c.drained = &drained_.Add(cluster);
    c.became_up = &changes_.Add(with("state", "up"));
    c.became_down = &changes_.Add(with("state", "down"));
    c.drains = &changes_.Add(with("state", "drained"));
    c.undrains = &changes_.Add(with("state", "undrained"));
    after.gauges.insert({c.up, c.healthy, c.drained});
    after.counters.insert({c.became_up, c.became_down, c.drains, c.undrains});
    const std::vector<std::string> names = check_names(spec.checks);
    for (std::size_t i = 0; i < spec.checks.size(); ++i) {
      const CheckSpec& check = spec.checks[i];
      const prometheus::Labels labels = with("check", names[i]);
      auto plus = [&](const char* key, const std::string& value) {
        prometheus::Labels l = labels;
        l.emplace(key, value);
        return l;
      };
      CheckMetrics k;
      k.labels = labels;
      k.up = &check_up_.Add(labels);
      k.success = &checks_.Add(plus("result", "success"));
      k.failure = &checks_.Add(plus("result", "failure"));
      for (std::size_t r = 0; r < kReasons; ++r)
        k.failures[r] = reports(check.kind, kFailures[r]) ? &failures_.Add(plus("reason", to_string(kFailures[r]))) : nullptr;
      k.last_duration = &last_duration_.Add(labels);
      k.duration = kind_duration_[static_cast<std::size_t>(check.kind)];
      after.gauges.insert({k.up, k.last_duration});
      after.counters.insert({k.success, k.failure});
      after.counters.insert(k.failures.begin(), k.failures.end());
      c.checks.push_back(std::move(k));
    }
    next.push_back(std::move(c));
  }
  clusters_ = std::move(next);

  remove_unused(up_, before.gauges, after.gauges);
  remove_unused(healthy_, before.gauges, after.gauges);
  remove_unused(drained_, before.gauges, after.gauges);
  remove_unused(check_up_, before.gauges, after.gauges);
  remove_unused(last_duration_, before.gauges, after.gauges);
  // The counter families share the pointer sets; Remove ignores foreign pointers.
  remove_unused(checks_, before.counters, after.counters);
  remove_unused(failures_, before.counters, after.counters);
  remove_unused(changes_, before.counters, after.counters);
}

void Metrics::probe_result(std::size_t cluster, std::size_t check, const ProbeResult& result) {
  if (cluster >= clusters_.size() || check >= clusters_[cluster].checks.size()) return;
  CheckMetrics& k = clusters_[cluster].checks[check];
  (result.ok ? k.success : k.failure)->Increment();
  for (std::size_t r = 0; r < kReasons; ++r) {
    if (kFailures[r] != result.failure) continue;
    if (!k.failures[r]) {
      prometheus::Labels labels = k.labels;
      labels.emplace("reason", to_string(kFailures[r]));
      k.failures[r] = &failures_.Add(labels);
    }
    k.failures[r]->Increment();
  }
  const double seconds = std::chrono::duration<double>(result.latency).count();
  k.last_duration->Set(seconds);
  k.duration->Observe(seconds);
}

void Metrics::show(const HealthState& state, std::size_t cluster) {
  if (cluster >= clusters_.size() || cluster >= state.size()) return;
  ClusterMetrics& c = clusters_[cluster];
  c.up->Set(state.answerable(cluster) ? 1 : 0);
  c.healthy->Set(state.health(cluster) == Status::up ? 1 : 0);
  c.drained->Set(state.is_drained(cluster) ? 1 : 0);
  for (std::size_t k = 0; k < c.checks.size() && k < state.def(cluster).checks.size(); ++k)
    c.checks[k].up->Set(state.check(cluster, k).status == Status::up ? 1 : 0);
}

void Metrics::local_error(LocalError reason) { local_errors_.Add({{"reason", to_string(reason)}}).Increment(); }

void Metrics::state_change(const ClusterChange& change) {
  if (change.cluster >= clusters_.size()) return;
  ClusterMetrics& c = clusters_[change.cluster];
  switch (change.cause) {
    case ClusterChange::Cause::became_healthy: c.became_up->Increment(); break;
    case ClusterChange::Cause::became_unhealthy: c.became_down->Increment(); break;
    case ClusterChange::Cause::drained: c.drains->Increment(); break;
    case ClusterChange::Cause::undrained: c.undrains->Increment(); break;
  }
}

}  // namespace gslb::health
