#include "dnsd/metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <sstream>

#include "dnsd/process_metrics.h"

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

prometheus::Gauge& single_gauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::MetricFamily gauge_family(const char* name, const char* help) {
  prometheus::MetricFamily f = family(name, help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

}  // namespace

Metrics::Metrics(unsigned blocks)
    : registry_(std::make_shared<prometheus::Registry>()),
      last_reload_ok_(single_gauge(*registry_, "gslb_config_last_reload_successful",
                                   "1 when the last configuration load (start or reload) succeeded, else 0")),
      last_load_time_(single_gauge(*registry_, "gslb_config_last_reload_timestamp_seconds",
                                   "When the configuration now serving was loaded, in seconds since the epoch")),
      info_(prometheus::BuildGauge()
                .Name("gslb_config_info")
                .Help("The configuration now serving: the highest SOA serial of its zones and its file's SHA-256; always 1")
                .Register(*registry_)),
      geo_prefixes_(single_gauge(*registry_, "gslb_geo_prefixes",
                                 "Address ranges in the compiled routing table now serving")),
      geo_build_(single_gauge(*registry_, "gslb_geo_build_seconds",
                              "How long compiling the routing table now serving took")) {
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

void Metrics::loaded(const ServingState& serving) {
  last_reload_ok_.Set(1);
  last_load_time_.Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  if (info_now_ != nullptr) info_.Remove(info_now_);
  info_now_ = &info_.Add({{"serial", std::to_string(serving.serial)}, {"hash", serving.config_sha256}});
  info_now_->Set(1);
  geo_prefixes_.Set(static_cast<double>(serving.routing->prefix_count()));
  geo_build_.Set(serving.geo_build_seconds);
}

void Metrics::reload_result(bool ok) {
  (ok ? reload_ok_ : reload_failed_)->Increment();
  if (!ok) last_reload_ok_.Set(0);
}

std::string Metrics::scrape(const Snapshot& now) const {
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

  // Every service now configured has its fail-open count, zero included, so that an
  // alert on its increase sees the first one.
  std::vector<bool> current(MetricSlots::kMax, false);
  for (const Service& svc : now.serving->services) current[svc.metrics_slot] = true;
  auto service_queries = family("gslb_service_queries_total", "DNS queries for service names, by service, query type and response code");
  auto fail_open = family("gslb_fail_open_answers_total",
                          "Service answers given while every cluster of the service was down (when_all_down: fail_open)");
  for (unsigned s = 0; s < MetricSlots::kMax; ++s) {
    const std::string service = slot_name(names.services, s);
    for (unsigned t = 0; t < kTypeBuckets; ++t) {
      for (unsigned r = 0; r < kRcodeBuckets; ++r) {
        uint64_t sum = 0;
        for (const auto& w : blocks_) sum += w->service_queries[s][t][r].get();
        if (sum == 0) continue;
        service_queries.metric.push_back(
            counter_metric({{"service", service}, {"qtype", kCountedTypeNames[t]}, {"rcode", kRcodeNames[r]}}, sum));
      }
    }
    uint64_t sum = 0;
    for (const auto& w : blocks_) sum += w->fail_open[s].get();
    if (sum > 0 || current[s]) fail_open.metric.push_back(counter_metric({{"service", service}}, sum));
  }
  families.push_back(std::move(service_queries));
  families.push_back(std::move(fail_open));

  auto clusters = gauge_family("gslb_service_clusters", "Clusters configured for the service");
  auto clusters_up = gauge_family("gslb_service_clusters_up", "Clusters of the service that are answerable: healthy and not drained");
  for (const Service& svc : now.serving->services) {
    const auto n_up = static_cast<double>(svc.clusters_up(*now.health));
    prometheus::ClientMetric total, answerable;
    total.label = answerable.label = {{"service", svc.name_text}};
    total.gauge.value = static_cast<double>(svc.clusters.size());
    answerable.gauge.value = n_up;
    clusters.metric.push_back(total);
    clusters_up.metric.push_back(answerable);
  }
  families.push_back(std::move(clusters));
  families.push_back(std::move(clusters_up));

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
  single("gslb_trimmed_answers_total",
         "Service answers that carry only the addresses that fit the client's payload or a TCP message (best clusters' first)",
         &WorkerStats::trimmed);
  single("gslb_dropped_packets_total", "Packets given no response (not a query, or send buffer full)", &WorkerStats::dropped);
  single("gslb_udp_receive_errors_total", "UDP receive calls that failed (each retried after 10 ms)",
         &WorkerStats::receive_errors);
  single("gslb_tcp_connections_evicted_total",
         "TCP connections closed to make room for a new one at the connection cap (least recently active first)",
         &WorkerStats::tcp_connections_evicted);
  single("gslb_rrl_dropped_total", "UDP responses dropped by response rate limiting", &WorkerStats::rrl_dropped);
  single("gslb_rrl_slipped_total", "UDP responses sent truncated by response rate limiting (slip)", &WorkerStats::rrl_slipped);
  auto accepts = family("gslb_accept_errors_total",
                        "accept() failures by listener and reason; out of descriptors, the listener pauses and "
                        "closes one waiting connection");
  for (const auto& [reason, field] : {std::pair{"descriptors", &AcceptCounters::descriptors},
                                      std::pair{"other", &AcceptCounters::other}}) {
    uint64_t dns = 0;
    for (const auto& w : blocks_) dns += (w->accept_errors.*field).get();
    accepts.metric.push_back(counter_metric({{"listener", "dns"}, {"reason", reason}}, dns));
    accepts.metric.push_back(counter_metric({{"listener", "http"}, {"reason", reason}}, (http_accept_errors_.*field).get()));
  }
  families.push_back(std::move(accepts));
  auto transport = family("gslb_transport_queries_total", "DNS queries by transport");
  for (auto [label, field] : {std::pair{"udp", &WorkerStats::udp_queries}, std::pair{"tcp", &WorkerStats::tcp_queries}}) {
    uint64_t sum = 0;
    for (const auto& w : blocks_) sum += ((*w).*field).get();
    transport.metric.push_back(counter_metric({{"transport", label}}, sum));
  }
  families.push_back(std::move(transport));

  append_process_metrics(&families);

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace gslb::dns
