// `gslbd --replace`: the new process's side of taking over from a running one, and
// the message the running one answers with. Over the control socket:
//   new → old  "takeover\n"
//   old → new  one JSON line {"pid", "sockets": [{"kind", "listen"}...], "status"}
//              with the listening sockets' descriptors (SCM_RIGHTS) in that order;
//              "status" is the GET /status document (each cluster's health, drain)
//   ... the new process starts answering on those sockets ...
//   new → old  "release PID\n"
//   old → new  "ok\n"; the old process stops reading and exits once its TCP
//              connections are done.
// Until "release" the old process serves as before: a replacement that fails or
// dies on the way leaves it running.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dnsd/listen_socket.h"
#include "dnsd/unix_socket.h"
#include "healthcheck/monitor.h"

namespace gslb::dns {

std::string takeover_message(pid_t pid, const std::vector<ListenFd>& sockets, const std::string& status_json);

struct Takeover {
  UniqueFd connection;
  pid_t old_pid = 0;
  InheritedSockets sockets;
  // Per cluster name, as the old process last saw it.
  struct Cluster {
    std::string name;
    std::string health;  // "up", "down" or "unknown"
    bool drained = false;
    std::map<std::string, std::string> checks;  // identity (CheckSpec::describe()) -> its state, as health
  };
  std::vector<Cluster> clusters;
};

// Asks the daemon on `control_socket` for its sockets and state. nullopt with
// *error empty when no daemon listens there; with *error set when one does but the
// exchange failed.
std::optional<Takeover> request_takeover(const std::string& control_socket, std::string* error);

// Tells the old process to stop; false with *error when it did not confirm.
bool release_old(Takeover& t, std::string* error);

// Each cluster the old process knew up or down starts so here, instead of unknown
// until probed: the new process answers its first query with the old one's view.
// Each check starts as the old process had it, so that a cluster down for one
// failing check comes back when that check passes, not when all its checks have
// passed `rise` times; checks the old one had no result for start as their cluster.
void seed_health(std::vector<health::ClusterSpec>& clusters, const Takeover& t);

}  // namespace gslb::dns
