#include "healthcheck/metrics.h"

#include <charconv>
#include <map>

namespace gslb::health {

namespace {

constexpr CheckSpec::Kind kKinds[] = {CheckSpec::Kind::http, CheckSpec::Kind::tcp, CheckSpec::Kind::dns};

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

std::size_t reason_index(Failure f) {
  for (std::size_t r = 0; r < Metrics::kReasons; ++r)
    if (kFailures[r] == f) return r;
  return Metrics::kReasons;
}

// Probe durations range from sub-millisecond loopback connects to the timeout
// (seconds); the buckets cover that span in roughly 2.5x steps.
const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

template <typename Builder>
auto& build(Builder builder, const char* name, const char* help, prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}

// `key="value"` with the value escaped as the text format wants it.
std::string label(const char* key, const std::string& value) {
  std::string out = std::string(key) + "=\"";
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + '"';
}

// One family of the text exposition: its header, then a sample a call.
class Family {
 public:
  Family(std::string* out, const char* name, const char* type, const char* help) : out_(*out), name_(name) {
    ((((out_ += "# HELP ") += name) += ' ') += help) += '\n';
    ((((out_ += "# TYPE ") += name) += ' ') += type) += '\n';
  }
  // `more` goes after `labels` inside the braces (`,reason="timeout"`).
  template <typename Number>
  void sample(const std::string& labels, const char* more, Number value) {
    ((((out_ += name_) += '{') += labels) += more) += "} ";
    char text[32];
    out_.append(text, std::to_chars(text, text + sizeof text, value).ptr);
    out_ += '\n';
  }

 private:
  std::string& out_;
  const char* name_;
};

constexpr const char* kCauseLabels[Metrics::kCauses] = {",state=\"up\"", ",state=\"down\"", ",state=\"drained\"",
                                                        ",state=\"undrained\""};

}  // namespace

Metrics::Metrics(prometheus::Registry& registry)
    : duration_(build(prometheus::BuildHistogram(), "gslb_probe_duration_seconds",
                      "Duration of health probes, by kind of check", registry)),
      kind_failures_(build(prometheus::BuildCounter(), "gslb_probe_failures_total",
                           "Failed health probes of every check, by kind of check and reason", registry)),
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
  for (const auto kind : kKinds) {
    const auto k = static_cast<std::size_t>(kind);
    kind_duration_[k] = &duration_.Add({{"kind", kind_label(kind)}}, duration_buckets());
    for (std::size_t r = 0; r < kReasons; ++r)
      kind_failure_[k][r] = reports(kind, kFailures[r])
                                ? &kind_failures_.Add({{"kind", kind_label(kind)}, {"reason", to_string(kFailures[r])}})
                                : nullptr;
  }
}

void Metrics::configure(const std::vector<ClusterSpec>& clusters) {
  // The clusters kept, by their label text; their checks are matched by theirs.
  std::map<std::string, std::size_t> old_index;
  const Names& old_names = *series_.names;
  auto names = std::make_shared<Names>();
  Series next;
  std::vector<CheckSpec::Kind> kinds;
  for (std::size_t c = 0; c < old_names.clusters.size(); ++c) old_index.emplace(old_names.clusters[c], c);
  for (const auto& spec : clusters) {
    const std::string cluster = label("cluster", spec.name);
    const auto old = old_index.find(cluster);
    names->clusters.push_back(cluster);
    names->first_check.push_back(names->checks.size());
    next.clusters.push_back(old != old_index.end() ? series_.clusters[old->second] : ClusterSeries{});
    const std::vector<std::string> check_labels = check_names(spec.checks);
    for (std::size_t k = 0; k < spec.checks.size(); ++k) {
      const std::string check = label("check", check_labels[k]) + "," + cluster;
      CheckSeries series;
      if (old != old_index.end()) {
        for (std::size_t o = old_names.first_check[old->second]; o < old_names.first_check[old->second + 1]; ++o)
          if (old_names.checks[o] == check) series = series_.checks[o];
      }
      for (std::size_t r = 0; r < kReasons; ++r)
        if (reports(spec.checks[k].kind, kFailures[r])) series.reasons |= static_cast<uint16_t>(1u << r);
      names->checks.push_back(check);
      next.checks.push_back(series);
      kinds.push_back(spec.checks[k].kind);
    }
  }
  names->first_check.push_back(names->checks.size());
  next.names = std::move(names);
  series_ = std::move(next);
  kinds_ = std::move(kinds);
}

void Metrics::probe_result(std::size_t cluster, std::size_t check, const ProbeResult& result) {
  if (cluster + 1 >= series_.names->first_check.size()) return;
  const std::size_t i = series_.names->first_check[cluster] + check;
  if (i >= series_.names->first_check[cluster + 1]) return;
  CheckSeries& k = series_.checks[i];
  const auto kind = static_cast<std::size_t>(kinds_[i]);
  ++(result.ok ? k.success : k.failure);
  if (const std::size_t r = reason_index(result.failure); r < kReasons) {
    ++k.failures[r];
    k.reasons |= static_cast<uint16_t>(1u << r);
    if (!kind_failure_[kind][r])
      kind_failure_[kind][r] =
          &kind_failures_.Add({{"kind", kind_label(kinds_[i])}, {"reason", to_string(kFailures[r])}});
    kind_failure_[kind][r]->Increment();
  }
  const double seconds = std::chrono::duration<double>(result.latency).count();
  k.last_duration = seconds;
  kind_duration_[kind]->Observe(seconds);
}

void Metrics::show(const HealthState& state, std::size_t cluster) {
  if (cluster >= series_.clusters.size() || cluster >= state.size()) return;
  ClusterSeries& c = series_.clusters[cluster];
  c.up = state.answerable(cluster);
  c.healthy = state.health(cluster) == Status::up;
  c.drained = state.is_drained(cluster);
  const std::size_t first = series_.names->first_check[cluster];
  const std::size_t checks = series_.names->first_check[cluster + 1] - first;
  for (std::size_t k = 0; k < checks && k < state.def(cluster).checks.size(); ++k)
    series_.checks[first + k].up = state.check(cluster, k).status == Status::up;
}

void Metrics::local_error(LocalError reason) { local_errors_.Add({{"reason", to_string(reason)}}).Increment(); }

void Metrics::state_change(const ClusterChange& change) {
  if (change.cluster >= series_.clusters.size()) return;
  ++series_.clusters[change.cluster].changes[static_cast<std::size_t>(change.cause)];
}

void Metrics::write_text(const Series& series, MetricsDetail detail, std::string* out) {
  const Names& names = *series.names;
  const bool full = detail == MetricsDetail::full;
  // About what a scrape writes (full: 400 bytes a cluster and 1,000 a check), so
  // that the text is not copied as it grows.
  out->reserve(out->size() + (full ? 400 : 200) * names.clusters.size() + (full ? 1000 : 0) * names.checks.size());
  auto per_cluster = [&](const char* name, const char* help, bool ClusterSeries::*field) {
    Family f(out, name, "gauge", help);
    for (std::size_t c = 0; c < names.clusters.size(); ++c) f.sample(names.clusters[c], "", int(series.clusters[c].*field));
  };
  per_cluster("gslb_cluster_up", "1 when the cluster is answerable: healthy and not drained", &ClusterSeries::up);
  per_cluster("gslb_cluster_healthy", "1 when the cluster's checks say it is up, drained or not",
              &ClusterSeries::healthy);
  per_cluster("gslb_cluster_drained", "1 when an operator drained the cluster", &ClusterSeries::drained);
  {
    Family f(out, "gslb_cluster_state_changes_total", "counter",
             "Cluster health or drain changes, by the resulting state");
    // Compact: a cluster's change counters appear at its first change.
    for (std::size_t c = 0; c < names.clusters.size(); ++c)
      for (std::size_t cause = 0; cause < kCauses; ++cause)
        if (full || series.clusters[c].changes[cause] > 0)
          f.sample(names.clusters[c], kCauseLabels[cause], series.clusters[c].changes[cause]);
  }
  {
    Family f(out, "gslb_check_up", "gauge",
             "1 when the check is up (past its rise threshold), 0 when down or not probed yet");
    // Compact: a cluster's only check says what gslb_cluster_healthy says.
    for (std::size_t c = 0; c < names.clusters.size(); ++c) {
      const std::size_t first = names.first_check[c], end = names.first_check[c + 1];
      if (!full && end - first < 2) continue;
      for (std::size_t k = first; k < end; ++k) f.sample(names.checks[k], "", int(series.checks[k].up));
    }
  }
  if (!full) return;
  {
    Family f(out, "gslb_checks_total", "counter", "Health probes by cluster, check and result");
    for (std::size_t k = 0; k < names.checks.size(); ++k) {
      f.sample(names.checks[k], ",result=\"success\"", series.checks[k].success);
      f.sample(names.checks[k], ",result=\"failure\"", series.checks[k].failure);
    }
  }
  {
    Family f(out, "gslb_check_failures_total", "counter", "Failed health probes by cluster, check and reason");
    std::array<std::string, kReasons> reason_labels;
    for (std::size_t r = 0; r < kReasons; ++r) reason_labels[r] = ",reason=\"" + std::string(to_string(kFailures[r])) + "\"";
    for (std::size_t k = 0; k < names.checks.size(); ++k)
      for (std::size_t r = 0; r < kReasons; ++r)
        if (series.checks[k].reasons & (1u << r)) f.sample(names.checks[k], reason_labels[r].c_str(), series.checks[k].failures[r]);
  }
  {
    Family f(out, "gslb_check_duration_seconds", "gauge", "Duration of the check's last probe");
    for (std::size_t k = 0; k < names.checks.size(); ++k) f.sample(names.checks[k], "", series.checks[k].last_duration);
  }
}

}  // namespace gslb::health
