// The control socket's plumbing, shared by the daemon (its server side and the
// handover) and by `gslbd ctl`: connecting to a Unix stream socket, who is on the
// other end (SO_PEERCRED), and messages that carry descriptors (SCM_RIGHTS).
// Blocking calls with a deadline: the callers are a command-line client and a
// starting process, neither of which has anything else to do meanwhile.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace gslb::dns {

// Owns a descriptor; closes it when destroyed.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    const int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Connects to the stream socket at `path`. An invalid UniqueFd and `*error` (errno
// text) when nothing listens there; `*no_daemon` then says whether that is because
// no one is (ENOENT, ECONNREFUSED: a stale socket file) rather than a fault.
UniqueFd connect_unix(const std::string& path, std::string* error, bool* no_daemon = nullptr);

// The process on the other end of a connected Unix socket; 0 when unknown.
pid_t peer_pid(int fd);

// Sends all of `data` (the descriptors, if any, with its first byte).
bool send_message(int fd, const std::string& data, const std::vector<int>& fds = {});

// Reads until `delimiter` has arrived (kept in *out) or the peer closes; descriptors
// that come along are appended to *fds. False on timeout or error, with *error set.
bool read_until(int fd, char delimiter, std::chrono::milliseconds timeout, std::string* out, std::string* error,
                std::vector<UniqueFd>* fds = nullptr);

// Reads everything until the peer closes.
bool read_all(int fd, std::chrono::milliseconds timeout, std::string* out, std::string* error);

}  // namespace gslb::dns
