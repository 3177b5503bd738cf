#include "dnsd/unix_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gslb::dns {

namespace {

// The most descriptors one handover carries: SCM_MAX_FD in Linux.
constexpr size_t kMaxFds = 253;

bool wait_readable(int fd, std::chrono::steady_clock::time_point deadline, std::string* error) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *error = "timed out";
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) {
      *error = std::strerror(errno);
      return false;
    }
  }
}

// One recvmsg; appends bytes to *out and descriptors to *fds. 0 at the peer's close.
ssize_t receive(int fd, std::string* out, std::vector<UniqueFd>* fds) {
  char buf[4096];
  iovec iov{buf, sizeof buf};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fds) {
        fds->emplace_back(received);
      } else {
        close(received);
      }
    }
  }
  out->append(buf, static_cast<size_t>(n));
  return n;
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

UniqueFd connect_unix(const std::string& path, std::string* error, bool* no_daemon) {
  if (no_daemon) *no_daemon = false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = path + ": path too long for a Unix socket";
    return {};
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return {};
  }
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    *error = path + ": " + std::strerror(e);
    if (no_daemon) *no_daemon = e == ENOENT || e == ECONNREFUSED;
    return {};
  }
  return fd;
}

pid_t peer_pid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

bool send_message(int fd, const std::string& data, const std::vector<int>& fds) {
  if (fds.size() > kMaxFds) return false;
  size_t sent = 0;
  while (sent < data.size()) {
    iovec iov{const_cast<char*>(data.data() + sent), data.size() - sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    if (sent == 0 && !fds.empty()) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 1000);
      continue;
    }
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool read_until(int fd, char delimiter, std::chrono::milliseconds timeout, std::string* out, std::string* error,
                std::vector<UniqueFd>* fds) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out->find(delimiter) == std::string::npos) {
    if (!wait_readable(fd, deadline, error)) return false;
    const ssize_t n = receive(fd, out, fds);
    if (n < 0) {
      *error = std::strerror(errno);
      return false;
    }
    if (n == 0) {
      *error = "connection closed";
      return false;
    }
  }
  return true;
}

bool read_all(int fd, std::chrono::milliseconds timeout, std::string* out, std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!wait_readable(fd, deadline, error)) return false;
    const ssize_t n = receive(fd, out, nullptr);
    if (n < 0) {
      *error = std::strerror(errno);
      return false;
    }
    if (n == 0) return true;
  }
}

}  // namespace gslb::dns
