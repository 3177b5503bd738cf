#include "healthcheck/tcp_probe.h"

#include <boost/asio/post.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

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

TcpProbe::TcpProbe(asio::io_context& io, ProbeSockets& sockets, TcpCheck check, Millis timeout)
    : sockets_(sockets),
      check_(std::move(check)),
      timeout_(timeout),
      target_(split_host_port(check_.address)),
      resolver_(io),
      socket_(io),
      timer_(io) {}

TcpProbe::~TcpProbe() { close_socket(); }

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
    socket_.cancel(ignored);
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
  endpoints_ = std::move(endpoints);
  next_ = 0;
  connect_next(asio::error::host_not_found);
}

void TcpProbe::connect_next(const boost::system::error_code& last) {
  if (next_ == endpoints_.size()) {
    if (last == asio::error::connection_refused) return finish(probe_failed(Failure::refused, "connection refused", elapsed()));
    if (const auto local = local_error_of(last.value()); local && last.category() == boost::system::system_category())
      return finish(probe_local(*local, "connect failed: " + last.message(), elapsed()));
    return finish(probe_failed(Failure::connect, "connect failed: " + last.message(), elapsed()));
  }
  const tcp::endpoint& target = endpoints_[next_++];
  // Opened here rather than by Asio so that it counts against the probe budget and
  // a failure to open is told apart from a failure to connect.
  const auto opened = sockets_.open(target.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (opened.fd < 0) {
    const boost::system::error_code why(opened.err, boost::system::system_category());
    if (opened.error != LocalError::none) return finish(probe_local(opened.error, "socket: " + why.message(), elapsed()));
    return finish(probe_failed(Failure::local, "socket: " + why.message(), elapsed()));
  }
  boost::system::error_code ec;
  socket_.assign(target.protocol(), opened.fd, ec);
  if (ec) {
    sockets_.close(opened.fd);
    return finish(probe_failed(Failure::local, "socket: " + ec.message(), elapsed()));
  }
  socket_.async_connect(target, [this, alive = lifetime_.token()](const boost::system::error_code& result) {
    if (alive.expired() || !done_) return;
    close_socket();
    if (timed_out_) return finish(probe_failed(Failure::timeout, timeout_reason(timeout_), elapsed()));
    if (!result) return finish(probe_ok(elapsed()));
    connect_next(result);
  });
}

void TcpProbe::close_socket() {
  if (!socket_.is_open()) return;
  // release(), so that the descriptor is closed (and counted) by the budget.
  boost::system::error_code ignored;
  socket_.cancel(ignored);
  sockets_.close(socket_.release(ignored));
}

void TcpProbe::finish(ProbeResult result) {
  timer_.cancel();
  close_socket();
  Done done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace gslb::health
