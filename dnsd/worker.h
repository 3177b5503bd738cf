// One DNS worker: per listen address an SO_REUSEPORT UDP socket with its own
// thread (UdpServer), and an SO_REUSEPORT TCP listener; all TCP of the worker runs
// on one thread with its own io_context. Everything answers from the published
// snapshot.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "dnsd/config.h"
#include "dnsd/listen_socket.h"
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
  // `inherited`: sockets a replaced process handed over, used before binding new ones.
  Worker(const ServerConfig& config, const Published<Snapshot>& snapshot, const std::vector<WorkerStats*>& stats,
         InheritedSockets* inherited = nullptr);
  static unsigned threads(const ServerConfig& config);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void stop();

  // Refuses to start on a port another process listens on (SO_REUSEPORT would let
  // a second gslbd share it silently): throws std::runtime_error naming the address.
  static void check_ports_free(const ServerConfig& config);

  // Its listening sockets, for a replacement to take over.
  std::vector<ListenFd> sockets() const;
  // After a replacement took the sockets over: stop reading UDP and accepting TCP;
  // every open TCP connection gets the answers to the queries it has sent in full,
  // then an orderly close (RFC 7766: the client retries the rest on a new
  // connection, which the replacement accepts). Returns at once; join_released()
  // waits until every connection is closed (a few seconds at most).
  void release();
  void join_released();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::unique_ptr<UdpServer>> udp_;
  std::vector<std::string> udp_listen_;  // the address of each of udp_
  std::thread thread_;
};

}  // namespace gslb::dns
