// HTTP/1.1 transport for the operator API (/metrics, /healthz, /status, /explain,
// drain), on Boost.Beast: keep-alive, bounded headers and bodies, an idle timeout,
// and a connection cap with least-recently-active eviction (like DNS TCP). What a
// request means is the handler's business (dnsd/http_api.h); this file only moves
// messages. Runs on the control thread's io_context; every method is called there.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dnsd/config.h"

namespace prometheus { class Registry; }

namespace gslb::dns {

struct AcceptCounters;

struct HttpRequest {
  std::string method;         // as sent, e.g. "GET"
  std::string target;         // raw request-target, not percent-decoded
  std::string authorization;  // header values; empty when absent
  std::string origin;
  bool has_origin = false;
  std::string own_origin;     // "http://" + the address the client connected to
  std::string peer;           // the client's address bytes (4 or 16), a map key
  std::string peer_text;      // its address and port for logs: "127.0.0.1:40312"
  bool accepts_gzip = false;  // Accept-Encoding takes gzip (Prometheus asks for it)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Allow
};

// A JSON error response: {"error": message}.
HttpResponse http_error(int status, const std::string& message);

struct HttpLimits {
  unsigned max_connections = 64;
  std::chrono::milliseconds idle_timeout{10000};
};

class HttpServer {
 public:
  // HEAD is handed to the handler as such; the server sends its response without
  // the body (Content-Length still says how long the body would be). The handler
  // calls `respond` once, at once or later (a drain waiting for etcd), always on
  // the control thread; meanwhile the connection reads nothing more and the server
  // goes on serving the others. A connection closed meanwhile drops the response.
  using Respond = std::function<void(HttpResponse)>;
  using Handler = std::function<void(const HttpRequest&, Respond respond)>;
  // Throws std::runtime_error when it cannot listen. `registry` gets the
  // listener's counters; accept failures are counted in `accept_errors`.
  // `inherited`: the listener of the process this one replaces, used instead of binding.
  HttpServer(boost::asio::io_context& ctx, const Endpoint& listen, HttpLimits limits, Handler handler,
             prometheus::Registry& registry, AcceptCounters& accept_errors, int inherited = -1);
  ~HttpServer();

  // Takes effect for the next accepted connection and the next read.
  void set_limits(HttpLimits limits);
  int listener_fd() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gslb::dns
