// DNS check through c-ares: one query to the check's own server, expecting an rcode
// and optionally an address among the answers. Each probe has its own c-ares
// channel (the server differs per check) whose sockets Asio watches through
// ARES_OPT_SOCK_STATE_CB, so a silent server costs a timer, not a thread.
//
// Probe thread only.
#pragma once

#include <ares.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>
#include <string>

#include "healthcheck/fd_watch.h"
#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"
#include "healthcheck/probe_sockets.h"

namespace gslb::health {

class DnsProbe final : public Probe {
 public:
  DnsProbe(boost::asio::io_context& io, ProbeSockets& sockets, DnsCheck check, Millis timeout, Log log);
  ~DnsProbe() override;
  DnsProbe(const DnsProbe&) = delete;
  DnsProbe& operator=(const DnsProbe&) = delete;

  void start(Done done) override;

 private:
  static void on_sock_state(void* self, ares_socket_t fd, int readable, int writable);
  // c-ares' socket calls (ares_set_socket_functions): opened through the budget, and
  // a local errno on any of them remembered for evaluate().
  static const ares_socket_functions kSocketFunctions;
  void note(int err);
  static void on_answer(void* self, int status, int timeouts, unsigned char* abuf, int alen);
  ProbeResult evaluate(int status, const unsigned char* abuf, int alen) const;
  void finish(ProbeResult result);
  std::chrono::nanoseconds elapsed() const;

  boost::asio::io_context& io_;
  ProbeSockets& sockets_;
  DnsCheck check_;
  Millis timeout_;
  FdWatch fds_;
  boost::asio::steady_timer timer_;
  ares_channel channel_ = nullptr;
  std::string setup_error_;      // why the channel could not be made; every probe fails with it
  Done done_;
  bool timed_out_ = false;
  LocalError local_ = LocalError::none;   // a socket call of this probe failed for a local reason
  bool destroying_ = false;
  std::chrono::steady_clock::time_point started_;
  Lifetime lifetime_;
};

}  // namespace gslb::health
