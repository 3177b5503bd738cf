// One DNS worker: a thread with its own io_context, its own SO_REUSEPORT UDP
// socket and TCP listener per listen address, answering from the published snapshot.
#pragma once

#include <memory>
#include <thread>

#include "dnsd/config.h"
#include "dnsd/published.h"
#include "dnsd/serving_state.h"
#include "dnsd/worker_stats.h"

namespace gslb::dns {

class Worker {
 public:
  // Opens and binds every socket on the calling thread, so that a bind failure is
  // reported at start with the address; throws std::runtime_error.
  Worker(const ServerConfig& config, const Published<Snapshot>& snapshot, WorkerStats& stats);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace gslb::dns
