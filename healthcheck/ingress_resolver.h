// Resolves a cluster's ingress host names (a cloud load balancer's name, say) to
// addresses with c-ares, A and AAAA, and resolves them again when the answers' TTL
// runs out. One channel per cluster, its sockets watched by Asio like the DNS probe's.
//
// Probe thread only: constructor, destructor and the update callback run there.
#pragma once

#include <ares.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "healthcheck/fd_watch.h"
#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"

namespace gslb::health {

class IngressResolver {
 public:
  // Called after every round with the addresses of all host names (a name whose
  // lookup failed keeps its last known addresses) and the failures, "" if none.
  using Update = std::function<void(const Ingress& addresses, const std::string& errors)>;

  IngressResolver(boost::asio::io_context& io, std::vector<std::string> hosts, const std::string& server,
                  Update update, Log log);
  ~IngressResolver();
  IngressResolver(const IngressResolver&) = delete;
  IngressResolver& operator=(const IngressResolver&) = delete;

  void start();

 private:
  struct Lookup {
    IngressResolver* self;
    size_t host;
    bool v6;
  };
  struct HostState {
    std::vector<std::array<uint8_t, 4>> ipv4;
    std::vector<std::array<uint8_t, 16>> ipv6;
  };
  static void on_sock_state(void* self, ares_socket_t fd, int readable, int writable);
  static void on_answer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  void round();
  void answered(const Lookup& lookup, int status, const unsigned char* abuf, int alen);
  void finish_round();
  void arm_ares_timer();

  boost::asio::io_context& io_;
  std::vector<std::string> hosts_;
  Update update_;
  FdWatch fds_;
  boost::asio::steady_timer next_round_;
  boost::asio::steady_timer ares_timer_;  // drives c-ares's own retransmissions
  ares_channel channel_ = nullptr;
  std::string setup_error_;
  std::vector<HostState> state_;
  std::vector<Lookup> lookups_;           // stable while a round is in flight
  size_t outstanding_ = 0;
  uint32_t round_ttl_ = 0;
  std::string round_errors_;
  bool destroying_ = false;
  Lifetime lifetime_;
};

}  // namespace gslb::health
