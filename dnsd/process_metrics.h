// The standard process_* metrics (those Prometheus's own client libraries export),
// read from /proc/self at scrape time: prometheus-cpp has no process collector.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace gslb::dns {

// Appends process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_virtual_memory_bytes, process_resident_memory_bytes and
// process_start_time_seconds; a value /proc cannot give is left out.
void append_process_metrics(std::vector<prometheus::MetricFamily>* families);

}  // namespace gslb::dns
