// The descriptor budget: every descriptor gslbd may hold at once, by what holds it.
// Client connections are capped (DNS TCP per worker, HTTP) and evicted at their
// caps, so the budget is also a reservation: the probes' share cannot be taken by
// clients. A config whose budget exceeds the open-files limit is refused.
#pragma once

#include <cstdint>
#include <string>

#include "dnsd/config.h"

namespace gslb::dns {

struct FdBudget {
  uint64_t dns_tcp = 0;   // server.workers x server.tcp_max_connections
  uint64_t http = 0;      // server.http_max_connections (0 without server.http)
  uint64_t probes = 0;    // health::probe_descriptors: the probe engine's own budget
  uint64_t sockets = 0;   // listeners, event loops, accept reserves, stdio
  uint64_t reserve = 0;   // files opened while reloading (config, zone files, GeoIP sources)
  uint64_t total() const { return dns_tcp + http + probes + sockets + reserve; }
};

FdBudget fd_budget(const Config& config);

// Raises the soft RLIMIT_NOFILE to the hard limit (as far as it goes); returns the
// soft limit in force then. The daemon calls it once at start.
uint64_t raise_open_files_limit();
// The limit the daemon would run under: the hard RLIMIT_NOFILE.
uint64_t open_files_hard_limit();

// Throws ConfigError ("file: server.tcp_max_connections: ...") naming the keys to
// change when the budget does not fit `limit`.
void check_fd_budget(const Config& config, uint64_t limit);

}  // namespace gslb::dns
