// Prometheus exposition: the per-worker DNS counters summed at scrape time, plus
// whatever other modules registered on the shared registry.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "dnsd/serving_state.h"
#include "dnsd/worker_stats.h"

namespace gslb::dns {

// Owns the registry, the serving threads' counter blocks and the label names.
// Each serving thread writes its own block; scrape() reads them all. Label names are added on
// the control thread (under the mutex) and read by scrape().
class Metrics {
 public:
  explicit Metrics(unsigned blocks);

  prometheus::Registry& registry() { return *registry_; }
  WorkerStats& block(unsigned i) { return *blocks_[i]; }
  // The HTTP listener's accept failures (written by the control thread only).
  AcceptCounters& http_accept_errors() { return http_accept_errors_; }

  // Label names for the slots; call with the lock held via update_names.
  void update_names(const MetricNames& names);
  // A configuration now serving (at start or by a reload): its identity, its
  // routing table, and the time it was loaded.
  void loaded(const ServingState& serving);
  void reload_result(bool ok);

  // `now` is what the workers answer from: its services' clusters and their health.
  std::string scrape(const Snapshot& now) const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::deque<std::unique_ptr<WorkerStats>> blocks_;
  AcceptCounters http_accept_errors_;
  mutable std::mutex names_mutex_;
  MetricNames names_;
  prometheus::Counter* reload_ok_;
  prometheus::Counter* reload_failed_;
  prometheus::Gauge& last_reload_ok_;
  prometheus::Gauge& last_load_time_;
  prometheus::Family<prometheus::Gauge>& info_;
  prometheus::Gauge* info_now_ = nullptr;
  prometheus::Gauge& geo_prefixes_;
  prometheus::Gauge& geo_build_;
};

}  // namespace gslb::dns
