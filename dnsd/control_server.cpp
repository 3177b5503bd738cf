#include "dnsd/control_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <sstream>
#include <vector>


namespace gslb::dns {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

// A request line longer than this is no command of ours.
constexpr size_t kMaxLine = 4096;

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class Connection : public ControlConnection, public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(local::socket socket) : socket_(std::move(socket)) {}

  int fd() const override { return const_cast<local::socket&>(socket_).native_handle(); }

  void read_line(std::function<void(bool, std::string)> then) override {
    asio::async_read_until(socket_, asio::dynamic_buffer(in_, kMaxLine), '\n',
                           [self = shared_from_this(), then = std::move(then)](const boost::system::error_code& ec, size_t n) {
                             if (ec) return then(false, "");
                             std::string line = self->in_.substr(0, n - 1);
                             self->in_.erase(0, n);
                             if (!line.empty() && line.back() == '\r') line.pop_back();
                             then(true, std::move(line));
                           });
  }

  void reply(bool ok, std::string body, std::function<void()> then = {}) override {
    out_ = (ok ? "ok\n" : "error\n") + std::move(body);
    if (!out_.empty() && out_.back() != '\n') out_ += '\n';
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this(), then = std::move(then)](const boost::system::error_code&, size_t) {
                        boost::system::error_code ignored;
                        self->socket_.shutdown(local::socket::shutdown_both, ignored);
                        self->socket_.close(ignored);
                        if (then) then();
                      });
  }

 private:
  local::socket socket_;
  std::string in_, out_;
};

}  // namespace

void refuse_if_control_socket_live(const std::string& path) {
  std::string error;
  const UniqueFd fd = connect_unix(path, &error);
  if (fd.get() < 0) return;
  // Asked, not SO_PEERCRED alone: a listener handed over by --replace still reports
  // the process that created it.
  std::string reply;
  pid_t pid = 0;
  if (send_message(fd.get(), "pid\n") && read_all(fd.get(), std::chrono::seconds(2), &reply, &error) &&
      reply.rfind("ok\n", 0) == 0)
    pid = static_cast<pid_t>(std::atoll(reply.c_str() + 3));
  if (pid == 0) pid = peer_pid(fd.get());
  throw std::runtime_error("another gslbd" + (pid ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                           " is running on control socket " + path +
                           "; stop it, or take over from it with gslbd --replace");
}

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  Impl(asio::io_context& ctx, HttpRoutes r, ControlActions a)
      : acceptor(ctx), routes(std::move(r)), actions(std::move(a)) {}

  void accept() {
    acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec, local::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) {
        auto c = std::make_shared<Connection>(std::move(socket));
        c->read_line([self, c](bool ok, std::string line) {
          if (ok) self->dispatch(c, line);
        });
      }
      self->accept();
    });
  }

  void dispatch(const std::shared_ptr<Connection>& c, const std::string& line) {
    const std::vector<std::string> w = words(line);
    const std::string cmd = w.empty() ? "" : w[0];
    if (cmd == "status" && w.size() == 1) return c->reply(true, routes.status());
    if (cmd == "pid" && w.size() == 1) return c->reply(true, std::to_string(getpid()));
    if ((cmd == "drain" || cmd == "undrain") && w.size() == 2) {
      const pid_t pid = peer_pid(c->fd());
      return routes.set_drained(
          w[1], cmd == "drain", "gslbd ctl on the control socket" + (pid ? " (pid " + std::to_string(pid) + ")" : std::string()),
          [c, cmd, cluster = w[1]](const health::Monitor::DrainResult& result) {
            using Outcome = health::Monitor::DrainResult::Outcome;
            if (result.outcome == Outcome::no_such_cluster) return c->reply(false, "no cluster named " + cluster);
            if (result.outcome == Outcome::not_saved)
              return c->reply(false, "not " + cmd + "ed: the drain state cannot be saved: " + result.error);
            if (result.outcome == Outcome::not_stored)
              return c->reply(false, "not " + cmd + "ed: etcd did not store it: " + result.error);
            c->reply(true, "cluster " + cluster + (cmd == "drain" ? " drained" : " undrained"));
          });
    }
    if (cmd == "explain" && w.size() == 3) {
      const HttpResponse r = routes.explain(w[1], w[2]);
      return c->reply(r.status == 200, r.body);
    }
    if ((cmd == "reload" || cmd == "replace") && w.size() == 1) {
      auto& action = cmd == "reload" ? actions.reload : actions.replace;
      return action([c](bool ok, std::string text) { c->reply(ok, std::move(text)); });
    }
    if (cmd == "takeover" && w.size() == 1) return actions.takeover(c);
    c->reply(false, "unknown command \"" + line.substr(0, 100) +
                        "\"; expected status, drain CLUSTER, undrain CLUSTER, explain NAME CLIENT, reload or replace");
  }

  local::acceptor acceptor;
  HttpRoutes routes;
  ControlActions actions;
  std::string path;
  bool owns_path = false;
};

ControlServer::ControlServer(asio::io_context& ctx, const std::string& path, UniqueFd inherited, HttpRoutes routes,
                             ControlActions actions)
    : impl_(std::make_shared<Impl>(ctx, std::move(routes), std::move(actions))) {
  impl_->path = path;
  boost::system::error_code ec;
  if (inherited.get() >= 0) {
    impl_->acceptor.assign(local(), inherited.release(), ec);
    if (ec) throw std::runtime_error("control socket " + path + ": " + ec.message());
  } else {
    // Only a stale file gets here (refuse_if_control_socket_live ran first).
    ::unlink(path.c_str());
    // Owner only: the socket drains, reloads and replaces without a token.
    const mode_t old_mask = ::umask(0177);
    impl_->acceptor.open(local(), ec);
    if (!ec) impl_->acceptor.bind(local::endpoint(path), ec);
    ::umask(old_mask);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on control socket " + path + ": " + ec.message());
  }
  impl_->owns_path = true;
  impl_->accept();
}

ControlServer::~ControlServer() {
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  if (impl_->owns_path) ::unlink(impl_->path.c_str());
}

int ControlServer::listener_fd() const { return impl_->acceptor.native_handle(); }

void ControlServer::hand_over() {
  impl_->owns_path = false;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace gslb::dns
