#include "dnsd/worker.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <list>
#include <stdexcept>

#include "dnsd/accept_backoff.h"
#include "dnsd/answer.h"
#include "dnsd/listen_socket.h"

namespace gslb::dns {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Responses queued on one TCP connection before we stop reading its queries: a
// client that pipelines without reading its answers holds at most this much.
constexpr size_t kMaxTcpPendingOutput = 256 * 1024;
// After a handover, how long a connection of the old process may take to flush its
// answers and see the client's close.
constexpr auto kReleaseTimeout = std::chrono::seconds(2);

}  // namespace

struct Worker::Impl {
  Impl(const Published<Snapshot>& snapshot, WorkerStats& stats) : snapshot_(snapshot), stats_(stats) {}

  // The TCP limits can change on a reload, so they are read from the serving state.
  const ServerConfig& live_server() {
    snapshot_.refresh();
    return snapshot_->serving->config.server;
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
      w_.stop_when_released();
    }

    // Released (the replacement serves from now on): what was read in full is
    // answered already; anything that arrives now is left to the client's retry.
    // Once the answers are written, FIN, then the client's close ends it; reading
    // on meanwhile keeps the kernel from answering the client's late data with RST.
    void finish() {
      if (closed_ || releasing_) return;
      releasing_ = true;
      in_len_ = 0;
      arm_deadline();
      half_close_when_written();
      read();
    }

   private:
    // Idle timeout and slow-reader bound in one: the deadline moves only when a
    // whole query has arrived or a write has completed. Those are also what make
    // a connection recently active, last in line for eviction at the cap.
    void arm_deadline() {
      if (!closed_) w_.tcp_lru_.splice(w_.tcp_lru_.end(), w_.tcp_lru_, lru_);
      if (releasing_) {
        deadline_.expires_after(kReleaseTimeout);
      } else {
        deadline_.expires_after(w_.live_server().tcp_idle_timeout);
      }
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
                                if (self->releasing_) return self->read();  // discarded: see finish()
                                self->in_len_ += n;
                                self->process();
                              });
    }

    void half_close_when_written() {
      if (!releasing_ || writing_ || !out_.empty() || closed_ || half_closed_) return;
      half_closed_ = true;
      boost::system::error_code ec;
      socket_.shutdown(tcp::socket::shutdown_send, ec);
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
        client_.now = unix_seconds();
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
                          self->half_close_when_written();
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
    bool releasing_ = false, half_closed_ = false;
    std::list<Connection*>::iterator lru_;  // place in Impl::tcp_lru_ while open
  };

  void open_tcp(const Endpoint& e, UniqueFd inherited) {
    auto a = std::make_unique<tcp::acceptor>(ctx_);
    const tcp::endpoint ep = to_asio<tcp::endpoint>(e);
    if (inherited.get() >= 0) {
      boost::system::error_code ec;
      a->assign(ep.protocol(), inherited.get(), ec);
      if (ec) throw std::runtime_error("tcp " + e.text + ": cannot use the handed-over socket: " + ec.message());
      inherited.release();
      tcp_.push_back(std::move(a));
      tcp_listen_.push_back(e.text);
      return;
    }
    a->open(ep.protocol());
    const int fd = a->native_handle();
    set_socket_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "tcp " + e.text);
    set_socket_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "tcp " + e.text);
    if (e.v6) set_socket_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "tcp " + e.text);
    boost::system::error_code ec;
    a->bind(ep, ec);
    if (ec) throw std::runtime_error("cannot listen on tcp " + e.text + ": " + ec.message());
    a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on tcp " + e.text + ": " + ec.message());
    tcp_.push_back(std::move(a));
    tcp_listen_.push_back(e.text);
  }

  // On the worker thread.
  void release() {
    released_ = true;
    boost::system::error_code ec;
    for (auto& a : tcp_) a->close(ec);  // ours only: the replacement holds the socket too
    idle_refresh_.cancel();
    release_deadline_.expires_after(kReleaseTimeout + std::chrono::seconds(1));
    release_deadline_.async_wait([this](const boost::system::error_code& e) {
      if (!e) ctx_.stop();
    });
    // finish() may close a connection, which edits the list.
    std::vector<std::shared_ptr<Connection>> open;
    for (Connection* c : tcp_lru_) open.push_back(c->shared_from_this());
    for (auto& c : open) c->finish();
    stop_when_released();
  }

  void stop_when_released() {
    if (released_ && tcp_lru_.empty()) ctx_.stop();
  }

  void accept(tcp::acceptor* a) {
    a->async_accept([this, a](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) return accept_backoff_.failed(*a, ec, [this, a] { accept(a); });
      accept_backoff_.succeeded();
      // At the cap the least recently active connection makes room (as Knot
      // does): idle and slow clients cannot lock everyone else out of TCP,
      // while a client that is being answered keeps its connection.
      while (!tcp_lru_.empty() && tcp_lru_.size() >= live_server().tcp_max_connections) {
        tcp_lru_.front()->close();
        stats_.tcp_connections_evicted.add();
      }
      std::make_shared<Connection>(*this, std::move(socket))->start();
      accept(a);
    });
  }

  // Without TCP traffic the copy would keep a replaced zone and geo table alive.
  void refresh_when_idle() {
    idle_refresh_.expires_after(std::chrono::seconds(1));
    idle_refresh_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || released_) return;
      snapshot_.refresh();
      refresh_when_idle();
    });
  }

  LocalCopy<Snapshot> snapshot_;
  WorkerStats& stats_;
  // Declared before ctx_ so that it outlives it: destroying ctx_ destroys the
  // handlers that still own connections, and an open connection leaves this list
  // in its destructor.
  std::list<Connection*> tcp_lru_;  // open connections, least recently active first
  asio::io_context ctx_{1};
  asio::steady_timer idle_refresh_{ctx_};
  AcceptBackoff accept_backoff_{ctx_, stats_.accept_errors};
  asio::steady_timer release_deadline_{ctx_};
  bool released_ = false;
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_;
  std::vector<std::string> tcp_listen_;  // the address of each of tcp_
  std::vector<uint8_t> tcp_scratch_ = std::vector<uint8_t>(65535 + 2);
};

unsigned Worker::threads(const ServerConfig& config) { return 1 + static_cast<unsigned>(config.listen.size()); }

Worker::Worker(const ServerConfig& config, const Published<Snapshot>& snapshot, const std::vector<WorkerStats*>& stats,
               InheritedSockets* inherited)
    : impl_(std::make_unique<Impl>(snapshot, *stats.at(0))) {
  auto take = [&](const char* kind, const Endpoint& e) { return inherited ? inherited->take(kind, e) : UniqueFd(); };
  for (size_t i = 0; i < config.listen.size(); ++i) {
    const auto same_family = std::count_if(config.listen.begin(), config.listen.end(),
                                           [&](const Endpoint& e) { return e.v6 == config.listen[i].v6; });
    const unsigned limiter_share = config.workers * static_cast<unsigned>(same_family);
    udp_.push_back(std::make_unique<UdpServer>(config.listen[i], limiter_share, snapshot, *stats.at(1 + i),
                                               take("udp", config.listen[i])));
    udp_listen_.push_back(config.listen[i].text);
    impl_->open_tcp(config.listen[i], take("tcp", config.listen[i]));
  }
}

Worker::~Worker() { stop(); }

void Worker::start() {
  for (auto& u : udp_) u->start();
  for (auto& a : impl_->tcp_) impl_->accept(a.get());
  impl_->refresh_when_idle();
  thread_ = std::thread([this] { impl_->ctx_.run(); });
}

void Worker::check_ports_free(const ServerConfig& config) {
  // A socket without SO_REUSEPORT cannot bind where any socket is bound, ours or
  // another process's; it is closed again at once.
  for (const Endpoint& e : config.listen) {
    if (e.port == 0) continue;
    for (const bool is_tcp : {false, true}) {
      const auto ep = to_asio<tcp::endpoint>(e);
      const UniqueFd fd(socket(e.v6 ? AF_INET6 : AF_INET, (is_tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
      if (fd.get() < 0) continue;
      const std::string what = std::string(is_tcp ? "tcp " : "udp ") + e.text;
      // A TCP port that only has connections in TIME_WAIT left is free.
      if (is_tcp) set_socket_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, what);
      if (e.v6) set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, what);
      if (bind(fd.get(), ep.data(), static_cast<socklen_t>(ep.size())) != 0 && errno == EADDRINUSE)
        throw std::runtime_error("cannot listen on " + what + ": another process is using it (is another gslbd running?)");
    }
  }
}

std::vector<ListenFd> Worker::sockets() const {
  std::vector<ListenFd> out;
  for (size_t i = 0; i < udp_.size(); ++i) out.push_back({"udp", udp_listen_[i], udp_[i]->fd()});
  for (size_t i = 0; i < impl_->tcp_.size(); ++i)
    out.push_back({"tcp", impl_->tcp_listen_[i], impl_->tcp_[i]->native_handle()});
  return out;
}

void Worker::release() {
  for (auto& u : udp_) u->release();
  asio::post(impl_->ctx_, [impl = impl_.get()] { impl->release(); });
}

void Worker::join_released() {
  if (thread_.joinable()) thread_.join();
  for (auto& u : udp_) u->stop();
}

void Worker::stop() {
  for (auto& u : udp_) u->stop();
  impl_->ctx_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gslb::dns
