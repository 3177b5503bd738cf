// Every socket a probe opens goes through one ProbeSockets: it keeps the probe
// engine inside its own descriptor budget (the one the daemon reserved for it, so
// DNS and HTTP clients cannot take it), and says why an open failed, so that a
// local shortage is reported as such and not as the target being down.
//
// It knows each socket it opened by its inode, not only by its number: libcurl
// 7.88 (Debian 12) closes a socket whose connect had not completed (a probe that
// timed out connecting) with close(2) instead of CURLOPT_CLOSESOCKETFUNCTION
// (curl PR #11439, fixed in 8.2.0). Counted by number alone, every such probe
// leaked one from the budget until no probe could open a socket.
//
// Probe thread only.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <vector>

#include "healthcheck/probe.h"

namespace gslb::health {

class ProbeSockets {
 public:
  // socket(2)'s signature: a descriptor, or -1 with errno set.
  using OpenFn = std::function<int(int domain, int type, int protocol)>;

  // budget 0: no limit of our own. `open` replaces socket(2) (tests inject failures).
  explicit ProbeSockets(std::size_t budget, OpenFn open = {});
  ProbeSockets(const ProbeSockets&) = delete;
  ProbeSockets& operator=(const ProbeSockets&) = delete;

  struct Opened {
    int fd = -1;
    LocalError error = LocalError::none;  // why fd is -1 when the cause is ours
    int err = 0;                          // errno when fd is -1
  };
  Opened open(int domain, int type, int protocol);
  // Closes a descriptor open() returned.
  void close(int fd);
  // Sockets open() returned that are still open.
  std::size_t in_use() const { return in_use_; }
  // A new cluster set brings a new budget; sockets already open stay open.
  void set_budget(std::size_t budget) { budget_ = budget; }

 private:
  // Forgets the sockets that were closed behind our back (their number free, or
  // now another file's).
  void reclaim();

  std::size_t budget_;
  OpenFn open_;
  std::size_t in_use_ = 0;
  std::vector<ino_t> owned_;        // by descriptor: our socket's inode there, or 0
  std::size_t refused_in_a_row_ = 0;  // opens refused at the budget since the last success
};

}  // namespace gslb::health
