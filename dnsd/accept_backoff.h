// What a TCP accept loop (DNS workers, the HTTP listener) does when accept(2)
// fails. Out of descriptors (EMFILE, ENFILE) the listener pauses — 10 ms, doubling
// up to 1 s while it keeps failing — instead of spinning on a backlog it cannot
// take; and, as nginx and Knot do, a descriptor held in reserve is freed to accept
// one waiting connection and close it at once, so that client hears a close
// instead of waiting in the backlog. A connection aborted by its peer is skipped
// at once; any other error pauses too. Never a busy loop.
//
// Owned by the thread that runs `ctx`; every method is called there.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "dnsd/worker_stats.h"

namespace gslb::dns {

class AcceptBackoff {
 public:
  AcceptBackoff(boost::asio::io_context& ctx, AcceptCounters& counters);
  ~AcceptBackoff();
  AcceptBackoff(const AcceptBackoff&) = delete;
  AcceptBackoff& operator=(const AcceptBackoff&) = delete;

  // After an accept on `acceptor` failed with `ec`: counts it, and runs `next` (the
  // next async_accept) at once or after the pause.
  void failed(boost::asio::ip::tcp::acceptor& acceptor, const boost::system::error_code& ec, std::function<void()> next);
  // After an accept that worked: the next failure pauses for the shortest time again.
  void succeeded() { delay_ = std::chrono::milliseconds(0); }

 private:
  void shed_one(boost::asio::ip::tcp::acceptor& acceptor);

  boost::asio::steady_timer timer_;
  AcceptCounters& counters_;
  int reserve_ = -1;   // a descriptor held back for shed_one()
  std::chrono::milliseconds delay_{0};
};

}  // namespace gslb::dns
