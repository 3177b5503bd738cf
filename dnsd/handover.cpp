#include "dnsd/handover.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dnsd/json.h"

namespace gslb::dns {

namespace {

// The old process answers at once; a stuck one must not stall the start forever.
constexpr auto kExchangeTimeout = std::chrono::seconds(10);

}  // namespace

std::string takeover_message(pid_t pid, const std::vector<ListenFd>& sockets, const std::string& status_json) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ListenFd& s : sockets) list.push_back({{"kind", s.kind}, {"listen", s.listen}});
  return json_text({{"pid", pid}, {"sockets", std::move(list)}, {"status", nlohmann::ordered_json::parse(status_json)}});
}

std::optional<Takeover> request_takeover(const std::string& control_socket, std::string* error) {
  error->clear();
  std::string why;
  bool no_daemon = false;
  Takeover t;
  t.connection = connect_unix(control_socket, &why, &no_daemon);
  if (t.connection.get() < 0) {
    if (!no_daemon) *error = "cannot reach the running gslbd: " + why;
    return std::nullopt;
  }
  std::string line;
  std::vector<UniqueFd> fds;
  if (!send_message(t.connection.get(), "takeover\n") ||
      !read_until(t.connection.get(), '\n', kExchangeTimeout, &line, &why, &fds)) {
    *error = "the running gslbd on " + control_socket + " did not hand over its sockets: " + why;
    return std::nullopt;
  }
  try {
    if (line.rfind("error\n", 0) == 0) throw std::runtime_error(line.substr(6));
    const auto doc = nlohmann::json::parse(line);
    t.old_pid = doc.at("pid").get<pid_t>();
    const auto& sockets = doc.at("sockets");
    if (sockets.size() != fds.size())
      throw std::runtime_error(std::to_string(sockets.size()) + " sockets announced, " + std::to_string(fds.size()) +
                               " received");
    for (size_t i = 0; i < fds.size(); ++i)
      t.sockets.add(sockets[i].at("kind").get<std::string>(), sockets[i].at("listen").get<std::string>(),
                    std::move(fds[i]));
    for (const auto& c : doc.at("status").at("clusters")) {
      Takeover::Cluster& cluster = t.clusters.emplace_back();
      cluster.name = c.at("name").get<std::string>();
      cluster.health = c.at("health").get<std::string>();
      cluster.drained = c.at("drained").get<bool>();
      for (const auto& check : c.at("checks")) cluster.checks[check.at("check").get<std::string>()] = check.at("state").get<std::string>();
    }
  } catch (const std::exception& e) {
    *error = "the running gslbd on " + control_socket + " answered the takeover with something unexpected: " + e.what();
    return std::nullopt;
  }
  return t;
}

bool release_old(Takeover& t, std::string* error) {
  std::string reply;
  if (!send_message(t.connection.get(), "release " + std::to_string(getpid()) + "\n") ||
      !read_until(t.connection.get(), '\n', kExchangeTimeout, &reply, error)) {
    return false;
  }
  if (reply.rfind("ok\n", 0) != 0) {
    *error = reply;
    return false;
  }
  return true;
}

namespace {

// "up" or "down" as the state to start in; nothing for "unknown".
std::optional<health::InitialState> known(const std::string& health) {
  if (health == "up") return health::InitialState::up;
  if (health == "down") return health::InitialState::down;
  return std::nullopt;
}

}  // namespace

void seed_health(std::vector<health::ClusterSpec>& clusters, const Takeover& t) {
  for (health::ClusterSpec& spec : clusters) {
    for (const Takeover::Cluster& old : t.clusters) {
      if (old.name != spec.name) continue;
      if (const auto state = known(old.health)) spec.initial_state = *state;
      for (const auto& [identity, health] : old.checks)
        if (const auto state = known(health)) spec.check_initial_states[identity] = *state;
    }
  }
}

}  // namespace gslb::dns
