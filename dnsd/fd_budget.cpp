#include "dnsd/fd_budget.h"

#include <sys/resource.h>

#include <vector>

namespace gslb::dns {

namespace {

// Per worker: an epoll instance, its eventfd and timerfd, and the accept reserve.
constexpr uint64_t kPerWorker = 4;
// Per listen address and worker: the UDP and TCP sockets, and one connection
// accepted before the least recently active one is evicted at the cap.
constexpr uint64_t kPerListen = 3;
// The HTTP listener, its accept-before-evict headroom and its accept reserve.
constexpr uint64_t kHttpListener = 3;
// stdin/out/err, the control and probe threads' event loops, the signal pipe.
constexpr uint64_t kProcess = 16;
// Files a reload reads while the old state still serves: the config, zone files,
// GeoIP sources, the state file.
constexpr uint64_t kReserve = 32;

uint64_t to_u64(rlim_t v) { return v == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(v); }

}  // namespace

FdBudget fd_budget(const Config& config) {
  const ServerConfig& s = config.server;
  FdBudget b;
  b.dns_tcp = uint64_t{s.workers} * s.tcp_max_connections;
  b.http = s.has_http ? s.http_max_connections : 0;
  std::vector<health::ClusterSpec> specs;
  for (const ClusterConfig& c : config.clusters) specs.push_back(c.health);
  b.probes = health::probe_descriptors(specs);
  b.sockets = uint64_t{s.workers} * (kPerWorker + kPerListen * s.listen.size()) + (s.has_http ? kHttpListener : 0) +
              kProcess;
  b.reserve = kReserve;
  return b;
}

uint64_t raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur != limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return to_u64(limit.rlim_cur);
}

uint64_t open_files_hard_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return to_u64(limit.rlim_max);
}

void check_fd_budget(const Config& config, uint64_t limit) {
  const FdBudget b = fd_budget(config);
  if (b.total() <= limit) return;
  const ServerConfig& s = config.server;
  throw ConfigError(config.path + ": server.tcp_max_connections: the descriptor budget (server.workers " +
                    std::to_string(s.workers) + " x server.tcp_max_connections " +
                    std::to_string(s.tcp_max_connections) + " + server.http_max_connections " + std::to_string(b.http) +
                    " + probes " + std::to_string(b.probes) + " + sockets " + std::to_string(b.sockets) +
                    " + reserve " + std::to_string(b.reserve) + " = " + std::to_string(b.total()) +
                    ") exceeds the open-files limit " + std::to_string(limit) +
                    " (RLIMIT_NOFILE): lower server.tcp_max_connections, server.workers or "
                    "server.http_max_connections, or raise the limit (LimitNOFILE= under systemd, ulimit -n)");
}

}  // namespace gslb::dns
