// TCP check: the target accepts a connection within the timeout.
//
// Probe thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>
#include <string>
#include <vector>

#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"
#include "healthcheck/probe_sockets.h"

namespace gslb::health {

struct HostPort {
  std::string host;
  std::string port;
};
// "host:port", "1.2.3.4:port" or "[v6]:port"; nullopt when malformed.
std::optional<HostPort> split_host_port(const std::string& address);

class TcpProbe final : public Probe {
 public:
  TcpProbe(boost::asio::io_context& io, ProbeSockets& sockets, TcpCheck check, Millis timeout);
  ~TcpProbe() override;
  TcpProbe(const TcpProbe&) = delete;
  TcpProbe& operator=(const TcpProbe&) = delete;

  void start(Done done) override;

 private:
  void connect(std::vector<boost::asio::ip::tcp::endpoint> endpoints);
  // Tries endpoints_[next_] onwards; `last` is why the previous one failed.
  void connect_next(const boost::system::error_code& last);
  void close_socket();
  void finish(ProbeResult result);
  std::chrono::nanoseconds elapsed() const;

  ProbeSockets& sockets_;
  TcpCheck check_;
  Millis timeout_;
  std::optional<HostPort> target_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::size_t next_ = 0;
  Done done_;
  bool timed_out_ = false;
  std::chrono::steady_clock::time_point started_;
  Lifetime lifetime_;
};

}  // namespace gslb::health
