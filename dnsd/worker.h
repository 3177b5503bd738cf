// One DNS worker: per listen address an SO_REUSEPORT UDP socket with its own
// thread (UdpServer), and an SO_REUSEPORT TCP listener; all TCP of the worker runs
// on one thread with its own io_context. Everything answers from the published
// snapshot.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "dnsd/config.h"
#include "dnsd/published.h"
#include "dnsd/serving_state.h"
#include "dnsd/udp_server.h"
#include "dnsd/worker_stats.h"

namespace gslb::dns {

class Worker {
 public:
  // Opens and binds every socket on the calling thread, so that a bind failure is
  // reported at start with the address; throws std::runtime_error.
  // `stats` holds threads(config) counter blocks, one per thread (each has one writer).
  Worker(const ServerConfig& config, const Published<Snapshot>& snapshot, const std::vector<WorkerStats*>& stats);
  static unsigned threads(const ServerConfig& config);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::unique_ptr<UdpServer>> udp_;
  std::thread thread_;
};

}  // namespace gslb::dns
