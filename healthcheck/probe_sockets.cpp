#include "healthcheck/probe_sockets.h"

#include <sys/socket.h>
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

ProbeSockets::Opened ProbeSockets::open(int domain, int type, int protocol) {
  if (budget_ != 0 && in_use_ >= budget_) return {-1, LocalError::probe_budget, EMFILE};
  const int fd = open_ ? open_(domain, type, protocol) : ::socket(domain, type, protocol);
  if (fd < 0) {
    const int err = errno;
    return {-1, local_error_of(err).value_or(LocalError::none), err};
  }
  ++in_use_;
  return {fd, LocalError::none, 0};
}

void ProbeSockets::close(int fd) {
  if (fd < 0) return;
  ::close(fd);
  if (in_use_ > 0) --in_use_;
}

}  // namespace gslb::health
