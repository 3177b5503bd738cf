#include "healthcheck/probe_sockets.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace gslb::health {

const char* to_string(LocalError e) {
  switch (e) {
    case LocalError::none: return "none";
    case LocalError::descriptors: return "descriptors";
    case LocalError::buffers: return "buffers";
    case LocalError::memory: return "memory";
    case LocalError::no_local_address: return "no_local_address";
    case LocalError::probe_budget: return "probe_budget";
    case LocalError::lag: return "lag";
  }
  return "unknown";
}

std::optional<LocalError> local_error_of(int err) {
  switch (err) {
    case EMFILE:
    case ENFILE: return LocalError::descriptors;
    case ENOBUFS: return LocalError::buffers;
    case ENOMEM: return LocalError::memory;
    case EADDRNOTAVAIL: return LocalError::no_local_address;
    default: return std::nullopt;
  }
}

ProbeSockets::ProbeSockets(std::size_t budget, OpenFn open) : budget_(budget), open_(std::move(open)) {}

namespace {

// Under a budget really spent, a reclaim (one fstat per socket held) runs once in
// this many refusals, not on every probe.
constexpr std::size_t kReclaimEvery = 64;

ino_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

}  // namespace

ProbeSockets::Opened ProbeSockets::open(int domain, int type, int protocol) {
  if (budget_ != 0 && in_use_ >= budget_) {
    if (refused_in_a_row_ % kReclaimEvery == 0) reclaim();
    if (in_use_ >= budget_) {
      ++refused_in_a_row_;
      return {-1, LocalError::probe_budget, EMFILE};
    }
  }
  const int fd = open_ ? open_(domain, type, protocol) : ::socket(domain, type, protocol);
  if (fd < 0) {
    const int err = errno;
    return {-1, local_error_of(err).value_or(LocalError::none), err};
  }
  refused_in_a_row_ = 0;
  const auto slot = static_cast<std::size_t>(fd);
  if (slot >= owned_.size()) owned_.resize(slot + 1, 0);
  // The kernel hands out free numbers only: one still marked ours was closed
  // without us, and is counted once, as this socket.
  if (owned_[slot] == 0) ++in_use_;
  const ino_t inode = inode_of(fd);
  owned_[slot] = inode != 0 ? inode : ~ino_t{0};
  return {fd, LocalError::none, 0};
}

void ProbeSockets::close(int fd) {
  if (fd < 0) return;
  ::close(fd);
  const auto slot = static_cast<std::size_t>(fd);
  if (slot < owned_.size() && owned_[slot] != 0) {
    owned_[slot] = 0;
    --in_use_;
  }
}

void ProbeSockets::reclaim() {
  for (std::size_t fd = 0; fd < owned_.size(); ++fd) {
    if (owned_[fd] == 0 || inode_of(static_cast<int>(fd)) == owned_[fd]) continue;
    owned_[fd] = 0;
    --in_use_;
  }
}

}  // namespace gslb::health
