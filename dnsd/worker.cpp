#include "dnsd/worker.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <stdexcept>

#include "dnsd/answer.h"
#include "dnsd/rate_limit.h"

namespace gslb::dns {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

// Packets read and answered per system call. 32 amortises the recvmmsg/sendmmsg
// cost well (gdnsd uses 16) while a full batch of buffers still fits in L2.
constexpr unsigned kBatch = 32;
// Largest UDP query read; larger datagrams are truncated by the kernel and dropped.
constexpr size_t kMaxUdpQuery = 4096;
// Largest UDP response: the config caps max_udp_size at 4096.
constexpr size_t kMaxUdpResponse = 4096;
// Batches handled per readiness event before yielding to TCP work on the same
// io_context, so that a UDP flood cannot starve TCP clients of this worker.
constexpr unsigned kRoundsPerWake = 8;
// Responses queued on one TCP connection before we stop reading its queries: a
// client that pipelines without reading its answers holds at most this much.
constexpr size_t kMaxTcpPendingOutput = 256 * 1024;

void set_int_option(int fd, int level, int name, int value, const std::string& what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0)
    throw std::runtime_error(what + ": setsockopt: " + std::strerror(errno));
}

template <class Endpoint>
Endpoint to_asio(const gslb::dns::Endpoint& e) {
  if (e.v6) {
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), e.address, 16);
    return Endpoint(asio::ip::address_v6(b), e.port);
  }
  asio::ip::address_v4::bytes_type b;
  std::memcpy(b.data(), e.address, 4);
  return Endpoint(asio::ip::address_v4(b), e.port);
}

uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

bool same_rrl(const RateLimitConfig& a, const RateLimitConfig& b) {
  if (a.responses_per_second != b.responses_per_second || a.slip != b.slip || a.ipv4_prefix != b.ipv4_prefix ||
      a.ipv6_prefix != b.ipv6_prefix || a.exempt.size() != b.exempt.size())
    return false;
  for (size_t i = 0; i < a.exempt.size(); ++i)
    if (a.exempt[i].v6 != b.exempt[i].v6 || a.exempt[i].length != b.exempt[i].length ||
        std::memcmp(a.exempt[i].address, b.exempt[i].address, 16) != 0)
      return false;
  return true;
}

void client_from_sockaddr(const sockaddr_storage& ss, ClientInfo* c) {
  if (ss.ss_family == AF_INET6) {
    c->v6 = true;
    std::memcpy(c->address, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
  } else {
    c->v6 = false;
    std::memset(c->address, 0, sizeof c->address);
    std::memcpy(c->address, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, 4);
  }
}

}  // namespace

struct Worker::Impl {
  Impl(const ServerConfig& config, const Published<Snapshot>& snapshot, WorkerStats& stats)
      : config_(config), snapshot_(snapshot), stats_(stats) {}

  // A copy: reloads cannot change the settings a worker was started with (its
  // sockets). The TCP limits can change, and are read from the serving state.
  const ServerConfig config_;
  const ServerConfig& live_server() {
    snapshot_.refresh();
    return snapshot_->serving->config.server;
  }

  // --- UDP ---------------------------------------------------------------
  struct UdpBuffers {
    mmsghdr in[kBatch];
    iovec in_iov[kBatch];
    sockaddr_storage addr[kBatch];
    mmsghdr out[kBatch];
    iovec out_iov[kBatch];
    alignas(64) uint8_t query[kBatch][kMaxUdpQuery];
    alignas(64) uint8_t response[kBatch][kMaxUdpResponse];
  };

  struct UdpListener {
    explicit UdpListener(asio::io_context& ctx) : socket(ctx) {}
    udp::socket socket;
  };

  void open_udp(const Endpoint& e) {
    auto l = std::make_unique<UdpListener>(ctx_);
    const udp::endpoint ep = to_asio<udp::endpoint>(e);
    l->socket.open(ep.protocol());
    const int fd = l->socket.native_handle();
    set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "udp " + e.text);
    if (e.v6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "udp " + e.text);
    boost::system::error_code ec;
    l->socket.bind(ep, ec);
    if (ec) throw std::runtime_error("cannot listen on udp " + e.text + ": " + ec.message());
    l->socket.non_blocking(true);
    udp_.push_back(std::move(l));
  }

  void wait_udp(UdpListener* l) {
    l->socket.async_wait(udp::socket::wait_read, [this, l](const boost::system::error_code& ec) {
      if (ec) return;
      serve_udp(l);
      wait_udp(l);
    });
  }

  void serve_udp(UdpListener* l) {
    UdpBuffers& b = *udp_buffers_;
    const int fd = l->socket.native_handle();
    for (unsigned round = 0; round < kRoundsPerWake; ++round) {
      for (unsigned i = 0; i < kBatch; ++i) {
        b.in_iov[i] = {b.query[i], kMaxUdpQuery};
        b.in[i].msg_hdr = {};
        b.in[i].msg_hdr.msg_name = &b.addr[i];
        b.in[i].msg_hdr.msg_namelen = sizeof b.addr[i];
        b.in[i].msg_hdr.msg_iov = &b.in_iov[i];
        b.in[i].msg_hdr.msg_iovlen = 1;
      }
      const int received = recvmmsg(fd, b.in, kBatch, MSG_DONTWAIT, nullptr);
      if (received <= 0) return;
      snapshot_.refresh();
      if (snapshot_->serving.get() != rrl_for_) refresh_rate_limiter();
      const ServingState& serving = *snapshot_->serving;
      const uint64_t now_ms = rrl_->enabled() ? monotonic_ms() : 0;
      const health::HealthView& health = *snapshot_->health;
      unsigned replies = 0;
      for (int i = 0; i < received; ++i) {
        if (b.in[i].msg_hdr.msg_flags & MSG_TRUNC) {
          stats_.dropped.add();
          continue;
        }
        ClientInfo client;
        client_from_sockaddr(b.addr[i], &client);
        Outcome outcome;
        const size_t len = answer_query(b.query[i], b.in[i].msg_len, client, serving, health, b.response[replies],
                                        kMaxUdpResponse, &outcome);
        if (len == 0) {
          stats_.dropped.add();
          continue;
        }
        stats_.count(outcome, false);
        size_t send_len = len;
        if (rrl_->enabled()) {
          const RateLimiter::Verdict v = rrl_->check(client.v6, client.address, now_ms);
          if (v == RateLimiter::Verdict::drop) {
            stats_.rrl_dropped.add();
            continue;
          }
          if (v == RateLimiter::Verdict::slip) {
            send_len = truncate_response(b.response[replies], len);
            stats_.rrl_slipped.add();
          }
        }
        b.out_iov[replies] = {b.response[replies], send_len};
        b.out[replies].msg_hdr = {};
        b.out[replies].msg_hdr.msg_name = &b.addr[i];
        b.out[replies].msg_hdr.msg_namelen = b.in[i].msg_hdr.msg_namelen;
        b.out[replies].msg_hdr.msg_iov = &b.out_iov[replies];
        b.out[replies].msg_hdr.msg_iovlen = 1;
        ++replies;
      }
      for (unsigned sent = 0; sent < replies;) {
        const int n = sendmmsg(fd, b.out + sent, replies - sent, MSG_DONTWAIT);
        if (n <= 0) {
          // A full socket buffer drops the rest, as the network would; the client retries.
          stats_.dropped.add(replies - sent);
          break;
        }
        sent += static_cast<unsigned>(n);
      }
      if (received < static_cast<int>(kBatch)) return;
    }
  }

  // Rate limiting settings may change on a reload; the buckets start afresh then.
  void refresh_rate_limiter() {
    rrl_for_ = snapshot_->serving.get();
    const RateLimitConfig& wanted = snapshot_->serving->config.server.rrl;
    if (!rrl_ || !same_rrl(rrl_config_, wanted)) {
      rrl_config_ = wanted;
      rrl_ = std::make_unique<RateLimiter>(wanted, config_.workers);
    }
  }

  // --- TCP (RFC 7766) -------------------------------------------------------
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    Connection(Impl& w, tcp::socket socket) : w_(w), socket_(std::move(socket)), deadline_(w.ctx_) {}

    void start() {
      lru_ = w_.tcp_lru_.insert(w_.tcp_lru_.end(), this);
      client_.tcp = true;
      boost::system::error_code ec;
      const tcp::endpoint peer = socket_.remote_endpoint(ec);
      if (ec) return close();
      if (peer.address().is_v6()) {
        client_.v6 = true;
        const auto b = peer.address().to_v6().to_bytes();
        std::memcpy(client_.address, b.data(), 16);
      } else {
        const auto b = peer.address().to_v4().to_bytes();
        std::memcpy(client_.address, b.data(), 4);
      }
      socket_.set_option(tcp::no_delay(true), ec);
      in_.resize(65535 + 2);
      arm_deadline();
      read();
    }

    ~Connection() {
      if (!closed_) w_.tcp_lru_.erase(lru_);
    }

    void close() {
      if (closed_) return;
      closed_ = true;
      w_.tcp_lru_.erase(lru_);
      boost::system::error_code ec;
      deadline_.cancel();
      socket_.shutdown(tcp::socket::shutdown_both, ec);
      socket_.close(ec);
    }

   private:
    // Idle timeout and slow-reader bound in one: the deadline moves only when a
    // whole query has arrived or a write has completed. Those are also what make
    // a connection recently active, last in line for eviction at the cap.
    void arm_deadline() {
      if (!closed_) w_.tcp_lru_.splice(w_.tcp_lru_.end(), w_.tcp_lru_, lru_);
      deadline_.expires_after(w_.live_server().tcp_idle_timeout);
      deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->close();
      });
    }

    void read() {
      if (reading_ || closed_ || peer_done_ || out_.size() > kMaxTcpPendingOutput) return;
      reading_ = true;
      socket_.async_read_some(asio::buffer(in_.data() + in_len_, in_.size() - in_len_),
                              [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                                self->reading_ = false;
                                if (ec) return self->close_after_writes();
                                self->in_len_ += n;
                                self->process();
                              });
    }

    void process() {
      size_t at = 0;
      bool answered = false;
      while (in_len_ - at >= 2) {
        const size_t len = (size_t(in_[at]) << 8) | in_[at + 1];
        if (len == 0) {
          // A zero-length frame can carry no query: answer what came before it, then close.
          peer_done_ = true;
          in_len_ = at;
          break;
        }
        if (in_len_ - at < 2 + len) break;
        w_.snapshot_.refresh();
        Outcome outcome;
        uint8_t* resp = w_.tcp_scratch_.data() + 2;
        const size_t n = answer_query(in_.data() + at + 2, len, client_, *w_.snapshot_->serving,
                                      *w_.snapshot_->health, resp, 65535, &outcome);
        at += 2 + len;
        if (n == 0) {
          w_.stats_.dropped.add();
          continue;
        }
        w_.stats_.count(outcome, true);
        w_.tcp_scratch_[0] = static_cast<uint8_t>(n >> 8);
        w_.tcp_scratch_[1] = static_cast<uint8_t>(n);
        out_.insert(out_.end(), w_.tcp_scratch_.begin(), w_.tcp_scratch_.begin() + static_cast<long>(n + 2));
        answered = true;
      }
      std::memmove(in_.data(), in_.data() + at, in_len_ - at);
      in_len_ -= at;
      if (answered) arm_deadline();
      write();
      if (peer_done_) {
        close_after_writes();
      } else {
        read();
      }
    }

    void write() {
      if (writing_ || out_.empty() || closed_) return;
      writing_ = true;
      sending_.swap(out_);
      out_.clear();
      asio::async_write(socket_, asio::buffer(sending_),
                        [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                          self->writing_ = false;
                          self->sending_.clear();
                          if (ec) return self->close();
                          self->arm_deadline();
                          if (self->peer_done_ && self->out_.empty()) return self->close();
                          self->write();
                          self->read();
                        });
    }

    void close_after_writes() {
      peer_done_ = true;
      if (!writing_ && out_.empty()) close();
    }

    Impl& w_;
    tcp::socket socket_;
    asio::steady_timer deadline_;
    ClientInfo client_;
    std::vector<uint8_t> in_;
    size_t in_len_ = 0;
    std::vector<uint8_t> out_, sending_;
    bool reading_ = false, writing_ = false, closed_ = false, peer_done_ = false;
    std::list<Connection*>::iterator lru_;  // place in Impl::tcp_lru_ while open
  };

  void open_tcp(const Endpoint& e) {
    auto a = std::make_unique<tcp::acceptor>(ctx_);
    const tcp::endpoint ep = to_asio<tcp::endpoint>(e);
    a->open(ep.protocol());
    const int fd = a->native_handle();
    set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "tcp " + e.text);
    set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "tcp " + e.text);
    if (e.v6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "tcp " + e.text);
    boost::system::error_code ec;
    a->bind(ep, ec);
    if (ec) throw std::runtime_error("cannot listen on tcp " + e.text + ": " + ec.message());
    a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on tcp " + e.text + ": " + ec.message());
    tcp_.push_back(std::move(a));
  }

  void accept(tcp::acceptor* a) {
    a->async_accept([this, a](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        // At the cap the least recently active connection makes room (as Knot
        // does): idle and slow clients cannot lock everyone else out of TCP,
        // while a client that is being answered keeps its connection.
        while (!tcp_lru_.empty() && tcp_lru_.size() >= live_server().tcp_max_connections) {
          tcp_lru_.front()->close();
          stats_.tcp_connections_evicted.add();
        }
        std::make_shared<Connection>(*this, std::move(socket))->start();
      }
      accept(a);
    });
  }

  LocalCopy<Snapshot> snapshot_;
  WorkerStats& stats_;
  asio::io_context ctx_{1};
  std::vector<std::unique_ptr<UdpListener>> udp_;
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_;
  std::unique_ptr<UdpBuffers> udp_buffers_ = std::make_unique<UdpBuffers>();
  std::vector<uint8_t> tcp_scratch_ = std::vector<uint8_t>(65535 + 2);
  std::list<Connection*> tcp_lru_;  // open connections, least recently active first
  RateLimitConfig rrl_config_;
  std::unique_ptr<RateLimiter> rrl_;
  const ServingState* rrl_for_ = nullptr;  // the state rrl_ was configured from
};

Worker::Worker(const ServerConfig& config, const Published<Snapshot>& snapshot, WorkerStats& stats)
    : impl_(std::make_unique<Impl>(config, snapshot, stats)) {
  impl_->refresh_rate_limiter();
  for (const Endpoint& e : config.listen) {
    impl_->open_udp(e);
    impl_->open_tcp(e);
  }
}

Worker::~Worker() { stop(); }

void Worker::start() {
  for (auto& l : impl_->udp_) impl_->wait_udp(l.get());
  for (auto& a : impl_->tcp_) impl_->accept(a.get());
  thread_ = std::thread([this] { impl_->ctx_.run(); });
}

void Worker::stop() {
  impl_->ctx_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gslb::dns
