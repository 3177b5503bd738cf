// UDP answering for one socket: a thread blocked in recvmmsg(MSG_WAITFORONE) that
// answers whatever arrived and sends it back with one sendmmsg (gdnsd's model).
// There is no event loop in between: each wakeup costs two system calls, where an
// epoll-driven loop pays epoll_wait and Asio's epoll_ctl re-arm on top. An idle
// socket's thread still wakes once a second to let go of a replaced snapshot.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "dnsd/config.h"
#include "dnsd/published.h"
#include "dnsd/unix_socket.h"
#include "dnsd/serving_state.h"
#include "dnsd/worker_stats.h"

namespace gslb::dns {

class UdpServer {
 public:
  // Opens and binds an SO_REUSEPORT socket on the calling thread, so that a bind
  // failure is reported at start with the address; throws std::runtime_error.
  // `limiter_share`: how many sockets a client of this address family can reach
  // (workers × listen addresses of the family); each enforces that share of the
  // configured response rate, so that all of them together allow no more.
  // `inherited`: a socket bound to `listen` by the process this one replaces, used
  // instead of a new one.
  UdpServer(const Endpoint& listen, unsigned limiter_share, const Published<Snapshot>& snapshot, WorkerStats& stats,
            UniqueFd inherited = {});
  ~UdpServer();
  UdpServer(const UdpServer&) = delete;
  UdpServer& operator=(const UdpServer&) = delete;

  void start();
  // Wakes the blocked receive (shutdown of the read side) and joins the thread.
  void stop();
  // The socket now has another reader (a replacement): stop reading without
  // touching it, within a second (the receive timeout); a batch already read is
  // answered first. stop() then joins.
  void release();
  int fd() const;

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace gslb::dns
