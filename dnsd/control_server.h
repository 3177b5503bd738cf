// The control socket (server.control_socket): a Unix stream socket on the control
// thread's io_context, never on a DNS worker. One request line per connection,
// words separated by spaces:
//   status | drain CLUSTER | undrain CLUSTER | explain NAME CLIENT | reload | replace
//   takeover   (a starting `gslbd --replace` asks for the listening sockets)
// and one response: "ok\n" or "error\n", then the body, then the server closes.
// Status, drain and explain are the HTTP API's own routes (HttpRoutes), so both
// ways in share one code path; only who may ask differs (the socket file's mode).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "dnsd/http_api.h"
#include "dnsd/unix_socket.h"

namespace gslb::dns {

// One accepted connection, kept open as long as a handler holds it.
class ControlConnection {
 public:
  virtual ~ControlConnection() = default;
  virtual int fd() const = 0;
  // The next line the client sends (without its newline); ok false when it closes first.
  virtual void read_line(std::function<void(bool ok, std::string line)> then) = 0;
  // Sends the response and closes; `then` runs once it is written.
  virtual void reply(bool ok, std::string body, std::function<void()> then = {}) = 0;
};

struct ControlActions {
  using Done = std::function<void(bool ok, std::string text)>;
  std::function<void(Done)> reload;   // done when the reload it asked for has an outcome
  std::function<void(Done)> replace;  // done when a spawned replacement took over, or failed
  std::function<void(std::shared_ptr<ControlConnection>)> takeover;
};

// Refuses to start beside a live daemon: throws std::runtime_error naming the PID
// that holds the control socket at `path`. A socket file nobody listens on is left
// from a crash and is no obstacle.
void refuse_if_control_socket_live(const std::string& path);

class ControlServer {
 public:
  // Listens on `path` (a stale socket file is replaced), or on `inherited`, the
  // listener a replaced process handed over. Throws std::runtime_error.
  ControlServer(boost::asio::io_context& ctx, const std::string& path, UniqueFd inherited, HttpRoutes routes,
                ControlActions actions);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  int listener_fd() const;
  // Stops accepting and leaves the socket file to the process that took it over.
  void hand_over();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gslb::dns
