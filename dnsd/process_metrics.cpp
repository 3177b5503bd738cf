#include "dnsd/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace gslb::dns {

namespace {

void add(std::vector<prometheus::MetricFamily>* families, const char* name, const char* help,
         prometheus::MetricType type, double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(m);
  families->push_back(std::move(f));
}

// The fields of /proc/self/stat after the command name, which is in parentheses and
// may itself hold spaces and parentheses (proc(5)); field 3 (state) is fields[0].
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields;
  const auto close = text.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(text.substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// Seconds since the epoch at which the system booted (btime in /proc/stat).
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  return -1;
}

double open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  double n = 0;
  while (const dirent* e = readdir(dir))
    if (e->d_name[0] != '.') ++n;
  closedir(dir);
  return n - 1;  // the descriptor this listing holds open
}

}  // namespace

void append_process_metrics(std::vector<prometheus::MetricFamily>* families) {
  using prometheus::MetricType;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const std::vector<std::string> f = stat_fields();
  // proc(5) numbering: utime 14, stime 15, starttime 22, vsize 23, rss 24.
  constexpr std::size_t kUtime = 14 - 3, kStime = 15 - 3, kStart = 22 - 3, kVsize = 23 - 3, kRss = 24 - 3;
  if (f.size() > kRss) {
    add(families, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds", MetricType::Counter,
        (std::stod(f[kUtime]) + std::stod(f[kStime])) / ticks);
    add(families, "process_virtual_memory_bytes", "Virtual memory size in bytes", MetricType::Gauge, std::stod(f[kVsize]));
    add(families, "process_resident_memory_bytes", "Resident memory size in bytes", MetricType::Gauge,
        std::stod(f[kRss]) * static_cast<double>(sysconf(_SC_PAGESIZE)));
    const double boot = boot_time();
    if (boot >= 0)
      add(families, "process_start_time_seconds", "Start time of the process since unix epoch in seconds",
          MetricType::Gauge, boot + std::stod(f[kStart]) / ticks);
  }
  const double fds = open_fds();
  if (fds >= 0) add(families, "process_open_fds", "Number of open file descriptors", MetricType::Gauge, fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    add(families, "process_max_fds", "Maximum number of open file descriptors", MetricType::Gauge,
        static_cast<double>(limit.rlim_cur));
}

}  // namespace gslb::dns
