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

namespace gslb::health {

struct HostPort {
  std::string host;
  std::string port;
};
// "host:port", "1.2.3.4:port" or "[v6]:port"; nullopt when malformed.
std::optional<HostPort> split_host_port(const std::string& address);

class TcpProbe final : public Probe {
 public:
  TcpProbe(boost::asio::io_context& io, TcpCheck check, Millis timeout);

  void start(Done done) override;

 private:
  void connect(std::vector<boost::asio::ip::tcp::endpoint> endpoints);
  void finish(ProbeResult result);
  std::chrono::nanoseconds elapsed() const;

  TcpCheck check_;
  Millis timeout_;
  std::optional<HostPort> target_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  Done done_;
  bool timed_out_ = false;
  std::chrono::steady_clock::time_point started_;
  Lifetime lifetime_;
};

}  // namespace gslb::health
