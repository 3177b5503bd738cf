// The operator API on top of HttpServer: which route a request names, who may
// change state (bearer token, Origin, a limit on failed attempts), and the JSON
// answers. Reads the daemon only through the callbacks in HttpRoutes, so it can be
// tested without one. Control thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dnsd/http_server.h"
#include "healthcheck/monitor.h"

namespace prometheus {
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace gslb::dns {

// What the routes read and change.
struct HttpRoutes {
  std::function<std::string()> metrics;  // Prometheus text exposition
  std::function<std::string()> status;   // the JSON document of GET /status
  // GET /explain?name=&client=: the response, 400 for a bad name or address.
  std::function<HttpResponse(const std::string& name, const std::string& client)> explain;
  // 404 for no such cluster, 500 when the drain state cannot be saved, 503 when
  // etcd (sync on) did not store it. `requester`
  // names who asked, for the log line: "HTTP client 127.0.0.1:40312 (token presented)".
  // `done` gets the outcome on the control thread, at once or once etcd answered.
  using DrainDone = std::function<void(const health::Monitor::DrainResult&)>;
  std::function<void(const std::string& cluster, bool drained, const std::string& requester, DrainDone done)>
      set_drained;
};

// A request-target split into its path segments (each percent-decoded after the
// split, so "%2F" stays inside a segment) and its query (with '+' as space).
struct HttpTarget {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
};
// False when the target is not an origin-form path or has a bad %-escape.
bool parse_target(const std::string& target, HttpTarget* out);

// Bounds guesses at the token: each client address may fail kBurst times in a row,
// then once per kRefill. Time is passed in, so tests run on their own clock.
class FailedAuthLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr double kBurst = 10;
  static constexpr Clock::duration kRefill = std::chrono::seconds(1);
  // Distinct client addresses remembered; past that (after forgetting the ones back
  // at a full allowance) new addresses share one allowance.
  static constexpr size_t kMaxClients = 1024;

  // How long until `client` may try again; zero when it may now.
  Clock::duration wait(const std::string& client, Clock::time_point now);
  void failed(const std::string& client, Clock::time_point now);

 private:
  struct Allowance {
    double left = kBurst;
    Clock::time_point at;
  };
  Allowance& of(const std::string& client, Clock::time_point now);
  std::map<std::string, Allowance> clients_;
};

class HttpApi {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // `registry` gets the API's counters.
  HttpApi(HttpRoutes routes, prometheus::Registry& registry, Clock clock = std::chrono::steady_clock::now);

  // The bearer token drain and undrain require; nullopt: none (set at start and
  // after each reload, so the current config's token is the one checked).
  void set_token(std::optional<std::string> token) { token_ = std::move(token); }

  // Every route answers at once but drain and undrain, which may wait for etcd.
  void handle(const HttpRequest& request, const HttpServer::Respond& respond);

 private:
  HttpResponse read_route(const HttpRequest& request, const HttpTarget& target);
  std::optional<HttpResponse> refuse_change(const HttpRequest& request);

  HttpRoutes routes_;
  Clock clock_;
  std::optional<std::string> token_;
  FailedAuthLimiter limiter_;
  prometheus::Family<prometheus::Counter>& failures_;  // gslb_http_auth_failures_total{reason}
  prometheus::Counter& wrong_token_;
  prometheus::Counter& rate_limited_;
  prometheus::Counter& cross_origin_;
};

}  // namespace gslb::dns
