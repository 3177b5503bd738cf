#include "dnsd/udp_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "dnsd/listen_socket.h"
#include "dnsd/udp_answerer.h"

namespace gslb::dns {

namespace {

// Packets read and answered per system call. 32 amortises the recvmmsg/sendmmsg
// cost well (gdnsd uses 16) while a full batch of buffers still fits in L2.
constexpr unsigned kBatch = 32;
// Largest UDP query read; larger datagrams are truncated by the kernel and dropped.
constexpr size_t kMaxUdpQuery = 4096;
// Largest UDP response: the config caps max_udp_size at 4096.
constexpr size_t kMaxUdpResponse = 4096;
// How long a receive blocks before the thread looks for a newer snapshot anyway, so
// that a socket without traffic does not keep a replaced zone and geo table alive.
constexpr timeval kIdleRefresh = {1, 0};

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

// Closes the socket with the loop, also when the loop's construction fails part way.
struct SocketFd {
  explicit SocketFd(int f) : fd(f) {}
  ~SocketFd() { close(fd); }
  SocketFd(const SocketFd&) = delete;
  SocketFd& operator=(const SocketFd&) = delete;
  const int fd;
};

// A receive error other than the idle timeout or a signal (ENOMEM, say) is retried
// after this pause, so that a persistent one cannot spin a core.
constexpr timespec kErrorPause = {0, 10 * 1000 * 1000};

int new_socket(const Endpoint& e) {
  const int fd = socket(e.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("cannot listen on udp " + e.text + ": socket: " + std::strerror(errno));
  return fd;
}

void bind_socket(int fd, const Endpoint& e) {
  const std::string what = "udp " + e.text;
  set_socket_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, what);
  set_socket_option(fd, SOL_SOCKET, SO_RCVTIMEO, kIdleRefresh, what);
  if (e.v6) set_socket_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, what);
  const auto ep = to_asio<boost::asio::ip::udp::endpoint>(e);
  if (bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0)
    throw std::runtime_error("cannot listen on " + what + ": " + std::strerror(errno));
}

}  // namespace

struct UdpServer::Loop {
  Loop(const Endpoint& listen, unsigned limiter_share, const Published<Snapshot>& snapshot, WorkerStats& stats,
       int inherited)
      : socket_(inherited >= 0 ? inherited : new_socket(listen)), fd(socket_.fd), answerer_(limiter_share, snapshot, stats) {
    if (inherited >= 0) {
      set_socket_option(fd, SOL_SOCKET, SO_RCVTIMEO, kIdleRefresh, "udp " + listen.text);
    } else {
      bind_socket(fd, listen);
    }
    for (unsigned i = 0; i < kBatch; ++i) {
      b_->in_iov[i] = {b_->query[i], kMaxUdpQuery};
      b_->in[i].msg_hdr.msg_name = &b_->addr[i];
      b_->in[i].msg_hdr.msg_iov = &b_->in_iov[i];
      b_->in[i].msg_hdr.msg_iovlen = 1;
      b_->out[i].msg_hdr.msg_iov = &b_->out_iov[i];
      b_->out[i].msg_hdr.msg_iovlen = 1;
    }
  }

  void run() {
    UdpBuffers& b = *b_;
    for (;;) {
      // recvmmsg writes back the name length and flags of each message it fills.
      for (unsigned i = 0; i < kBatch; ++i) {
        b.in[i].msg_hdr.msg_namelen = sizeof b.addr[i];
        b.in[i].msg_hdr.msg_flags = 0;
      }
      const int received = recvmmsg(fd, b.in, kBatch, MSG_WAITFORONE, nullptr);
      // Read is answered, also when stopping: after a handover nobody else would.
      if (received > 0) send(answer(received));
      if (stopping.load(std::memory_order_acquire)) return;
      if (received <= 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          answerer_.stats().receive_errors.add();
          nanosleep(&kErrorPause, nullptr);
        }
        answerer_.begin_batch();  // the idle timeout: let go of a replaced state
      }
    }
  }

  // Answers the received batch into b_->out; returns how many responses to send.
  unsigned answer(int received) {
    UdpBuffers& b = *b_;
    answerer_.begin_batch();
    unsigned replies = 0;
    for (int i = 0; i < received; ++i) {
      if (b.in[i].msg_hdr.msg_flags & MSG_TRUNC) {
        answerer_.stats().dropped.add();
        continue;
      }
      ClientInfo client;
      client_from_sockaddr(b.addr[i], &client);
      const size_t len = answerer_.answer(b.query[i], b.in[i].msg_len, client, b.response[replies], kMaxUdpResponse);
      if (len == 0) continue;
      b.out_iov[replies] = {b.response[replies], len};
      b.out[replies].msg_hdr.msg_name = &b.addr[i];
      b.out[replies].msg_hdr.msg_namelen = b.in[i].msg_hdr.msg_namelen;
      ++replies;
    }
    return replies;
  }

  void send(unsigned replies) {
    for (unsigned sent = 0; sent < replies;) {
      const int n = sendmmsg(fd, b_->out + sent, replies - sent, MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<unsigned>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        // A full socket buffer drops the rest, as the network would; the client retries.
        answerer_.stats().dropped.add(replies - sent);
        return;
      }
      // This one response cannot go (source port 0, a firewall's EPERM): skip it, not
      // the answers to everyone after it in the batch.
      answerer_.stats().dropped.add();
      ++sent;
    }
  }

  struct UdpBuffers {
    mmsghdr in[kBatch] = {};
    iovec in_iov[kBatch];
    sockaddr_storage addr[kBatch];
    mmsghdr out[kBatch] = {};
    iovec out_iov[kBatch];
    alignas(64) uint8_t query[kBatch][kMaxUdpQuery];
    alignas(64) uint8_t response[kBatch][kMaxUdpResponse];
  };

  SocketFd socket_;
  const int fd;
  std::atomic<bool> stopping{false};
  bool released = false;  // control thread only

 private:
  UdpAnswerer answerer_;
  std::unique_ptr<UdpBuffers> b_ = std::make_unique<UdpBuffers>();
};

UdpServer::UdpServer(const Endpoint& listen, unsigned limiter_share, const Published<Snapshot>& snapshot,
                     WorkerStats& stats, UniqueFd inherited)
    : loop_(std::make_unique<Loop>(listen, limiter_share, snapshot, stats, inherited.release())) {}

UdpServer::~UdpServer() { stop(); }

void UdpServer::start() {
  thread_ = std::thread([this] { loop_->run(); });
}

void UdpServer::stop() {
  if (!thread_.joinable()) return;
  loop_->stopping.store(true, std::memory_order_release);
  // Shutting down the read side wakes a recvmmsg blocked on this socket (it returns
  // at once from then on), whichever thread is in it. Not once released: the
  // shutdown would be the replacement's too (it is one socket).
  if (!loop_->released) shutdown(loop_->fd, SHUT_RD);
  thread_.join();
}

void UdpServer::release() {
  loop_->released = true;
  loop_->stopping.store(true, std::memory_order_release);
}

int UdpServer::fd() const { return loop_->fd; }

}  // namespace gslb::dns
