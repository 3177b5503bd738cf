#include "dnsd/accept_backoff.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace gslb::dns {

namespace {

// The first pause is short enough that a transient shortage costs clients little;
// the longest bounds a listener that stays starved at one accept attempt a second.
constexpr std::chrono::milliseconds kFirstPause{10};
constexpr std::chrono::milliseconds kLongestPause{1000};

int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

}  // namespace

AcceptBackoff::AcceptBackoff(boost::asio::io_context& ctx, AcceptCounters& counters)
    : timer_(ctx), counters_(counters), reserve_(open_reserve()) {}

AcceptBackoff::~AcceptBackoff() {
  if (reserve_ >= 0) ::close(reserve_);
}

void AcceptBackoff::failed(boost::asio::ip::tcp::acceptor& acceptor, const boost::system::error_code& ec,
                           std::function<void()> next) {
  const int err = ec.category() == boost::system::system_category() ? ec.value() : 0;
  if (err == ECONNABORTED || err == EPROTO) {
    counters_.other.add();
    return next();   // that connection is gone; the backlog moved on by one
  }
  if (err == EMFILE || err == ENFILE) {
    counters_.descriptors.add();
    shed_one(acceptor);
  } else {
    counters_.other.add();
  }
  delay_ = std::clamp(delay_ * 2, kFirstPause, kLongestPause);
  timer_.expires_after(delay_);
  timer_.async_wait([next = std::move(next)](const boost::system::error_code& wait) {
    if (!wait) next();
  });
}

void AcceptBackoff::shed_one(boost::asio::ip::tcp::acceptor& acceptor) {
  if (reserve_ < 0) {
    reserve_ = open_reserve();   // taken back when descriptors were free again
    return;
  }
  ::close(reserve_);
  boost::system::error_code ignored;
  // Non-blocking so that an empty backlog (another thread took the connection) cannot stall the loop.
  acceptor.native_non_blocking(true, ignored);
  const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) ::close(fd);
  reserve_ = open_reserve();
}

}  // namespace gslb::dns
