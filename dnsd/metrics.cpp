#include "dnsd/metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#ifndef GSLBD_VERSION
#define GSLBD_VERSION "unknown"
#endif

namespace gslb::dns {

namespace {

prometheus::ClientMetric counter_metric(std::vector<prometheus::ClientMetric::Label> labels, uint64_t value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = static_cast<double>(value);
  return m;
}

prometheus::MetricFamily family(const char* name, const char* help) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Counter;
  return f;
}

std::string slot_name(const MetricSlots& slots, unsigned slot) {
  if (slot == MetricSlots::kMax - 1) return "";
  return slot < slots.names().size() ? slots.names()[slot] : "";
}

}  // namespace

Metrics::Metrics(unsigned blocks) : registry_(std::make_shared<prometheus::Registry>()) {
  for (unsigned i = 0; i < blocks; ++i) blocks_.push_back(std::make_unique<WorkerStats>());
  auto& reloads = prometheus::BuildCounter()
                      .Name("gslb_config_reloads_total")
                      .Help("Configuration reloads (SIGHUP) by result")
                      .Register(*registry_);
  reload_ok_ = &reloads.Add({{"result", "success"}});
  reload_failed_ = &reloads.Add({{"result", "failure"}});
  prometheus::BuildGauge()
      .Name("gslb_build_info")
      .Help("Build information; the value is always 1")
      .Register(*registry_)
      .Add({{"version", GSLBD_VERSION}})
      .Set(1);
}

void Metrics::update_names(const MetricNames& names) {
  std::lock_guard<std::mutex> lock(names_mutex_);
  names_ = names;
}

void Metrics::reload_result(bool ok) { (ok ? reload_ok_ : reload_failed_)->Increment(); }

std::string Metrics::scrape() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  MetricNames names;
  {
    std::lock_guard<std::mutex> lock(names_mutex_);
    names = names_;
  }

  auto queries = family("gslb_queries_total", "DNS queries answered, by zone, query type and response code");
  for (unsigned z = 0; z < MetricSlots::kMax; ++z) {
    for (unsigned t = 0; t < kTypeBuckets; ++t) {
      for (unsigned r = 0; r < kRcodeBuckets; ++r) {
        uint64_t sum = 0;
        for (const auto& w : blocks_) sum += w->queries[z][t][r].get();
        if (sum == 0) continue;
        queries.metric.push_back(counter_metric(
            {{"zone", slot_name(names.zones, z)}, {"qtype", kCountedTypeNames[t]}, {"rcode", kRcodeNames[r]}}, sum));
      }
    }
  }
  families.push_back(std::move(queries));

  auto answers = family("gslb_answers_total", "Service answers, by service and the cluster answered");
  for (unsigned s = 0; s < MetricSlots::kMax; ++s) {
    for (unsigned c = 0; c < MetricSlots::kMax; ++c) {
      uint64_t sum = 0;
      for (const auto& w : blocks_) sum += w->answers[s][c].get();
      if (sum == 0) continue;
      answers.metric.push_back(
          counter_metric({{"service", slot_name(names.services, s)}, {"cluster", slot_name(names.clusters, c)}}, sum));
    }
  }
  families.push_back(std::move(answers));

  auto single = [&](const char* name, const char* help, Counter WorkerStats::*field) {
    auto f = family(name, help);
    uint64_t sum = 0;
    for (const auto& w : blocks_) sum += ((*w).*field).get();
    f.metric.push_back(counter_metric({}, sum));
    families.push_back(std::move(f));
  };
  single("gslb_truncated_responses_total", "UDP responses sent with TC=1 because the answer did not fit", &WorkerStats::truncated);
  single("gslb_dropped_packets_total", "Packets given no response (not a query, or send buffer full)", &WorkerStats::dropped);
  single("gslb_udp_receive_errors_total", "UDP receive calls that failed (each retried after 10 ms)",
         &WorkerStats::receive_errors);
  single("gslb_tcp_connections_evicted_total",
         "TCP connections closed to make room for a new one at the connection cap (least recently active first)",
         &WorkerStats::tcp_connections_evicted);
  single("gslb_rrl_dropped_total", "UDP responses dropped by response rate limiting", &WorkerStats::rrl_dropped);
  single("gslb_rrl_slipped_total", "UDP responses sent truncated by response rate limiting (slip)", &WorkerStats::rrl_slipped);
  auto transport = family("gslb_transport_queries_total", "DNS queries by transport");
  for (auto [label, field] : {std::pair{"udp", &WorkerStats::udp_queries}, std::pair{"tcp", &WorkerStats::tcp_queries}}) {
    uint64_t sum = 0;
    for (const auto& w : blocks_) sum += ((*w).*field).get();
    transport.metric.push_back(counter_metric({{"transport", label}}, sum));
  }
  families.push_back(std::move(transport));

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace gslb::dns
