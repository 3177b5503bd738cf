#include "healthcheck/tcp_probe.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>

namespace gslb::health {

namespace asio = boost::asio;
using asio::ip::tcp;

std::optional<HostPort> split_host_port(const std::string& address) {
  HostPort hp;
  std::string rest;
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos) return std::nullopt;
    hp.host = address.substr(1, close - 1);
    rest = address.substr(close + 1);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    hp.host = address.substr(0, colon);
    rest = address.substr(colon);
  }
  if (rest.size() < 2 || rest.front() != ':' || hp.host.empty()) return std::nullopt;
  hp.port = rest.substr(1);
  if (hp.port.find_first_not_of("0123456789") != std::string::npos || hp.port.size() > 5)
    return std::nullopt;
  return hp;
}

TcpProbe::TcpProbe(asio::io_context& io, TcpCheck check, Millis timeout)
    : check_(std::move(check)),
      timeout_(timeout),
      target_(split_host_port(check_.address)),
      resolver_(io),
      socket_(io),
      timer_(io) {}

std::chrono::nanoseconds TcpProbe::elapsed() const {
  return std::chrono::steady_clock::now() - started_;
}

void TcpProbe::start(Done done) {
  done_ = std::move(done);
  timed_out_ = false;
  started_ = std::chrono::steady_clock::now();
  const auto alive = lifetime_.token();
  if (!target_) {
    asio::post(resolver_.get_executor(), [this, alive] {
      if (!alive.expired()) finish(probe_failed(Failure::local, "bad address '" + check_.address + "'", elapsed()));
    });
    return;
  }
  timer_.expires_after(timeout_);
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !done_) return;
    // Cancelling makes the pending resolve or connect complete with operation_aborted.
    timed_out_ = true;
    resolver_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  });
  boost::system::error_code not_numeric;
  const auto address = asio::ip::make_address(target_->host, not_numeric);
  if (!not_numeric) {
    const auto port = static_cast<unsigned short>(std::stoul(target_->port));
    return connect({tcp::endpoint(address, port)});
  }
  // Names go through Asio's resolver thread, bounded by the same timer.
  resolver_.async_resolve(
      target_->host, target_->port,
      [this, alive](const boost::system::error_code& ec, const tcp::resolver::results_type& found) {
        if (alive.expired() || !done_) return;
        if (timed_out_) return finish(probe_failed(Failure::timeout, timeout_reason(timeout_), elapsed()));
        if (ec) return finish(probe_failed(Failure::resolve, "resolve failed: " + ec.message(), elapsed()));
        std::vector<tcp::endpoint> endpoints;
        for (const auto& entry : found) endpoints.push_back(entry.endpoint());
        connect(std::move(endpoints));
      });
}

void TcpProbe::connect(std::vector<tcp::endpoint> endpoints) {
  // async_connect keeps a reference to the sequence until it completes.
  endpoints_ = std::move(endpoints);
  asio::async_connect(
      socket_, endpoints_,
      [this, alive = lifetime_.token()](const boost::system::error_code& ec, const tcp::endpoint&) {
        if (alive.expired() || !done_) return;
        if (timed_out_) return finish(probe_failed(Failure::timeout, timeout_reason(timeout_), elapsed()));
        if (ec == asio::error::connection_refused)
          return finish(probe_failed(Failure::refused, "connection refused", elapsed()));
        if (ec) return finish(probe_failed(Failure::connect, "connect failed: " + ec.message(), elapsed()));
        finish(probe_ok(elapsed()));
      });
}

void TcpProbe::finish(ProbeResult result) {
  timer_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
  Done done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace gslb::health
