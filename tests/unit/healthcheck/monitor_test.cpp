// The real Monitor against stub targets on 127.0.0.1. Every wait polls a condition
// with a deadline; nothing sleeps for a fixed time to synchronise.
#include <doctest/doctest.h>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "healthcheck/monitor.h"
#include "test_servers.h"
#include "tls_server.h"

namespace gslb::health {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::DnsResponder;
using test::HttpServer;

constexpr auto kPatience = 10s;

// Collects published views; waits for one that satisfies a predicate.
struct Views {
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<const HealthView> latest;
  int count = 0;

  Monitor::Publish callback() {
    return [this](std::shared_ptr<const HealthView> v) {
      std::lock_guard lock(mu);
      if (latest && v->generation <= latest->generation) return;
      latest = std::move(v);
      ++count;
      cv.notify_all();
    };
  }
  bool wait(const std::function<bool(const HealthView&)>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kPatience, [&] { return latest && pred(*latest); });
  }
  bool wait_up(std::size_t cluster, bool up) {
    return wait([&](const HealthView& v) { return cluster < v.up.size() && v.up[cluster] == up; });
  }
};

bool eventually(const std::function<bool()>& pred) {
  const auto deadline = Clock::now() + kPatience;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);   // polling interval, not synchronisation
  }
  return pred();
}

CheckSpec fast(CheckSpec spec) {
  spec.interval = 100ms;
  spec.timeout = 300ms;
  spec.rise = 2;
  spec.fall = 3;
  return spec;
}
CheckSpec http_check(const std::string& url) {
  CheckSpec spec;
  spec.kind = CheckSpec::Kind::http;
  spec.http.url = url;
  return fast(spec);
}
CheckSpec tcp_check(const std::string& address) {
  CheckSpec spec;
  spec.kind = CheckSpec::Kind::tcp;
  spec.tcp.address = address;
  return fast(spec);
}
CheckSpec dns_check(const std::string& server) {
  CheckSpec spec;
  spec.kind = CheckSpec::Kind::dns;
  spec.dns.server = server;
  spec.dns.name = "app.example.";
  return fast(spec);
}
// prefix + i, appended: GCC 12 at -O3 reports a false -Wrestrict overlap inside
// operator+(const char*, std::string&&), a known GCC 12 false positive.
std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}
ClusterSpec cluster(std::string name, std::vector<CheckSpec> checks) {
  return ClusterSpec{std::move(name), std::move(checks), false, InitialState::probe, {}, {}};
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gslb-health-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

struct Harness {
  prometheus::Registry registry;
  Views views;
  Monitor monitor;
  explicit Harness(MonitorOptions options = {})
      : monitor(std::move(options), views.callback(), registry) {}

  void start(std::vector<ClusterSpec> clusters, uint64_t epoch = 1) {
    monitor.configure(std::move(clusters), epoch);
    monitor.wait_initial(Clock::now() + kPatience);
  }
  bool status_has(const std::string& text) {
    return eventually([&] { return monitor.status_json().find(text) != std::string::npos; });
  }
  std::string metrics() {
    std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
    monitor.append_metrics(&text);
    return text;
  }
};

// The sum of a metric's samples whose label text contains `labels` (e.g.
// "reason=\"descriptors\""), from the text exposition.
double metric_sum(const std::string& text, const std::string& name, const std::string& labels = "") {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) != 0 || line.find(labels) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

TEST_CASE("HTTP: 200 is up, 503 goes down after fall probes, recovers after rise") {
  HttpServer server;
  Harness h;
  h.start({cluster("eu-west", {http_check(server.url())})});
  REQUIRE(h.views.latest->up == std::vector<uint8_t>{1});
  CHECK(h.views.latest->config_epoch == 1);

  // Counted, not timed: the view turns on the fall-th result, never before it (the
  // schedule itself is HealthState's, tested on an injected clock in state_test).
  server.set_mode(HttpServer::Mode::fail);
  REQUIRE(h.views.wait_up(0, false));
  CHECK(server.failures() >= 3);
  CHECK(h.monitor.status_json().find("\"last_result\":\"HTTP 503\"") != std::string::npos);

  const int ok_before = server.successes();
  server.set_mode(HttpServer::Mode::ok);
  REQUIRE(h.views.wait_up(0, true));
  CHECK(server.successes() - ok_before >= 2);

  // A hanging target: each probe ends at its timeout and counts as a failure.
  const int requests_before = server.requests();
  server.set_mode(HttpServer::Mode::hang);
  REQUIRE(h.views.wait_up(0, false));
  CHECK(server.requests() - requests_before >= 3);
  CHECK(h.monitor.status_json().find("timeout after") != std::string::npos);
  server.set_mode(HttpServer::Mode::ok);
  REQUIRE(h.views.wait_up(0, true));

  const std::string m = h.metrics();
  CHECK(m.find("gslb_cluster_up{cluster=\"eu-west\"} 1") != std::string::npos);
  CHECK(m.find("gslb_cluster_state_changes_total{cluster=\"eu-west\",state=\"down\"} 2") !=
        std::string::npos);
  CHECK(m.find("result=\"failure\"") != std::string::npos);
  CHECK(metric_sum(m, "gslb_probe_duration_seconds_count", "kind=\"http\"") >= 6);
  CHECK(metric_sum(m, "gslb_check_duration_seconds", "check=\"http0\"") > 0);
}

TEST_CASE("HTTP: a hanging server fails by timeout, a closing one by its reason") {
  HttpServer hanging, closing, wrong_body;
  hanging.set_mode(HttpServer::Mode::hang);
  closing.set_mode(HttpServer::Mode::close);
  CheckSpec body = http_check(wrong_body.url());
  body.http.body = "healthy";
  Harness h;
  h.start({cluster("hang", {http_check(hanging.url())}),
           cluster("close", {http_check(closing.url())}),
           cluster("body", {body})});
  CHECK(h.views.latest->up == std::vector<uint8_t>{0, 0, 0});
  const std::string status = h.monitor.status_json();
  CHECK(status.find("\"last_result\":\"timeout after 300ms\"") != std::string::npos);
  CHECK(status.find("\"last_result\":\"connection closed without a response\"") !=
        std::string::npos);
  CHECK(status.find("\"last_result\":\"body missing 'healthy'\"") != std::string::npos);
}

TEST_CASE("HTTP keep-alive: probes share one connection; fresh_connection opens one per probe") {
  HttpServer kept, fresh;
  kept.set_keep_alive(true);
  fresh.set_keep_alive(true);
  CheckSpec per_probe = http_check(fresh.url());
  per_probe.http.fresh_connection = true;
  Harness h;
  h.start({cluster("kept", {http_check(kept.url())}), cluster("fresh", {per_probe})});
  REQUIRE(eventually([&] { return kept.requests() >= 5 && fresh.requests() >= 5; }));
  CHECK(kept.connections() == 1);
  // A probe may be in flight between the two reads: its connection is counted first.
  const int requests = fresh.requests();
  CHECK(fresh.connections() >= requests);
  CHECK(fresh.connections() <= requests + 1);
  CHECK(h.views.latest->up == std::vector<uint8_t>{1, 1});
}

TEST_CASE("HTTP keep-alive: a reused connection closed before any response byte is reopened, not a failure") {
  HttpServer server;
  server.set_keep_alive(true);
  server.set_mode(HttpServer::Mode::close_reused);
  Harness h;
  h.start({cluster("eu-west", {http_check(server.url())})});
  // Every probe after the first finds its kept connection closed under the request.
  REQUIRE(eventually([&] { return server.successes() >= 6; }));
  CHECK(server.connections() >= 6);
  CHECK(metric_sum(h.metrics(), "gslb_checks_total", "result=\"failure\"") == 0);
  CHECK(h.views.latest->up == std::vector<uint8_t>{1});
}

TEST_CASE("HTTP keep-alive: a response cut short on a reused connection is a failure") {
  HttpServer server;
  server.set_keep_alive(true);
  Harness h;
  h.start({cluster("eu-west", {http_check(server.url())})});
  REQUIRE(h.views.latest->up == std::vector<uint8_t>{1});
  server.set_mode(HttpServer::Mode::truncate);
  REQUIRE(h.views.wait_up(0, false));
  CHECK(metric_sum(h.metrics(), "gslb_checks_total", "result=\"failure\"") >= 3);
}

TEST_CASE("HTTPS: verification on by default, passes with the right CA, or off") {
  TempDir dir;
  test::TlsServer server(dir.path);
  // scripts/install-deps installs both: missing, they fail the test, never skip it.
  REQUIRE_MESSAGE(server.ok(), "openssl or python3 unavailable");
  // The Python server does its TLS handshakes one at a time, and sanitizer builds
  // slow OpenSSL down: allow far more than a loopback handshake needs.
  CheckSpec verified = http_check(server.url());
  verified.timeout = 5s;
  CheckSpec with_ca = verified;
  with_ca.http.ca_file = server.ca_file();
  CheckSpec unverified = verified;
  unverified.http.tls_verify = false;
  Harness h;
  h.start({cluster("verify", {verified}), cluster("ca", {with_ca}),
           cluster("noverify", {unverified})});
  CHECK(h.views.latest->up == std::vector<uint8_t>{0, 1, 1});
  CHECK(h.monitor.status_json().find("\"last_result\":\"TLS verification failed: ") !=
        std::string::npos);
}

TEST_CASE("HTTP: the Host header is sent as configured") {
  HttpServer server;
  CheckSpec spec = http_check(server.url());
  spec.http.host = "app.global.example.com";
  Harness h;
  h.start({cluster("eu-west", {spec})});
  CHECK(h.views.latest->up == std::vector<uint8_t>{1});
  CHECK(server.last_host() == "app.global.example.com");
}

TEST_CASE("wait_initial returns once the first probes are in, not at its deadline") {
  HttpServer server;
  Harness h;
  CheckSpec slow = http_check(server.url());
  slow.interval = 60s;
  h.monitor.configure({cluster("eu-west", {slow})}, 1);
  // Returning at all proves it: the deadline is past the test's own timeout.
  h.monitor.wait_initial(Clock::now() + 24h);
  CHECK(h.views.latest->up == std::vector<uint8_t>{1});
  CHECK(server.requests() == 1);
}

TEST_CASE("TCP: open port up (v4 and v6), closed port refused") {
  HttpServer server;
  // A listening socket completes handshakes from its backlog without accept().
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor v6(io, {boost::asio::ip::make_address("::1"), 0});
  Harness h;
  const std::string closed = "127.0.0.1:" + std::to_string(test::closed_port());
  h.start({cluster("open", {tcp_check("127.0.0.1:" + std::to_string(server.port()))}),
           cluster("closed", {tcp_check(closed)}),
           cluster("v6-bracketed-bad", {tcp_check("[::1")}),
           cluster("v6", {tcp_check("[::1]:" + std::to_string(v6.local_endpoint().port()))})});
  CHECK(h.views.latest->up == std::vector<uint8_t>{1, 0, 0, 1});
  const std::string status = h.monitor.status_json();
  CHECK(status.find("\"last_result\":\"connection refused\"") != std::string::npos);
  CHECK(status.find("\"last_result\":\"bad address '[::1'\"") != std::string::npos);
}

TEST_CASE("DNS: answer, expected address, SERVFAIL, silence") {
  DnsResponder good, failing, silent;
  const std::string closed = "127.0.0.1:" + std::to_string(test::closed_udp_port());
  failing.set_mode(DnsResponder::Mode::servfail);
  silent.set_mode(DnsResponder::Mode::silent);
  CheckSpec with_address = dns_check(good.server());
  with_address.dns.expect_address = std::array<uint8_t, 16>{192, 0, 2, 1};
  CheckSpec wrong_address = dns_check(good.server());
  wrong_address.dns.expect_address = std::array<uint8_t, 16>{192, 0, 2, 99};
  Harness h;
  h.start({cluster("good", {dns_check(good.server()), with_address}),
           cluster("wrong", {wrong_address}),
           cluster("servfail", {dns_check(failing.server())}),
           cluster("silent", {dns_check(silent.server())}),
           cluster("closed", {dns_check(closed)})});
  CHECK(h.views.latest->up == std::vector<uint8_t>{1, 0, 0, 0, 0});
  const std::string status = h.monitor.status_json();
  CHECK(status.find("\"last_result\":\"answer missing 192.0.2.99\"") != std::string::npos);
  CHECK(status.find("\"last_result\":\"rcode SERVFAIL\"") != std::string::npos);
  CHECK(status.find("\"last_result\":\"timeout after 300ms\"") != std::string::npos);
  CHECK(status.find("\"last_result\":\"connection refused\"") != std::string::npos);

  // A responder that recovers is taken back after `rise` good answers.
  failing.set_mode(DnsResponder::Mode::answer);
  CHECK(h.views.wait_up(2, true));
}

using Outcome = Monitor::DrainResult::Outcome;

// The value of one exposed series, or -1 when it is absent.
double value(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + series.size() + 2));
}

TEST_CASE("drain: published at once, persisted, restored at startup") {
  TempDir dir;
  const std::string state_file = dir.path + "/drain";
  std::vector<ClusterSpec> clusters = {cluster("eu-west", {}), cluster("us-east", {})};
  {
    Harness h({state_file, "", {}, {}, {}});
    h.start(clusters);
    CHECK(h.views.latest->up == std::vector<uint8_t>{1, 1});
    CHECK(h.monitor.set_drained("us-east", true).outcome == Outcome::done);
    CHECK(h.monitor.set_drained("nowhere", true).outcome == Outcome::no_such_cluster);
    CHECK(h.views.wait_up(1, false));
    CHECK(h.monitor.status_json() ==
          "{\"clusters\":[{\"name\":\"eu-west\",\"up\":true,\"drained\":false,\"health\":\"up\","
          "\"checks\":[]},{\"name\":\"us-east\",\"up\":false,\"drained\":true,\"health\":\"up\","
          "\"checks\":[]}]}");
  }
  {
    Harness h({state_file, "", {}, {}, {}});
    h.start(clusters);
    CHECK(h.views.latest->up == std::vector<uint8_t>{1, 0});
    CHECK(h.monitor.set_drained("us-east", false).outcome == Outcome::done);
    CHECK(h.views.wait_up(1, true));
  }
  {
    std::ofstream(state_file) << "garbage\n";
    Harness h({state_file, "", {}, {}, {}});   // reported on stderr, not fatal
    h.start(clusters);
    CHECK(h.views.latest->up == std::vector<uint8_t>{1, 1});
  }
}

TEST_CASE("a drain that cannot be saved changes nothing and is counted") {
  TempDir dir;
  Harness h({dir.path + "/missing-directory/drain", "", {}, {}, {}});
  h.start({cluster("eu-west", {})});
  const auto r = h.monitor.set_drained("eu-west", true);
  CHECK(r.outcome == Outcome::not_saved);
  CHECK(r.error.find("missing-directory/drain.tmp") != std::string::npos);
  CHECK(h.monitor.status_json().find("\"drained\":false") != std::string::npos);
  const std::string m = h.metrics();
  CHECK(m.find("gslb_cluster_drained{cluster=\"eu-west\"} 0") != std::string::npos);
  CHECK(m.find("gslb_cluster_up{cluster=\"eu-west\"} 1") != std::string::npos);
  CHECK(m.find("gslb_state_file_errors_total 1") != std::string::npos);
  CHECK(m.find("gslb_cluster_state_changes_total{cluster=\"eu-west\",state=\"drained\"} 0") != std::string::npos);
}

TEST_CASE("check metrics: a stable check label, up gauges, failures by reason, healthy vs drained") {
  HttpServer web;
  TempDir dir;
  CheckSpec named = tcp_check("127.0.0.1:" + std::to_string(test::closed_port()));
  named.name = "api";
  Harness h({dir.path + "/drain", "", {}, {}, {}});
  h.start({cluster("eu-west", {http_check(web.url()), named})});
  CHECK(h.views.latest->up == std::vector<uint8_t>{0});
  std::string m = h.metrics();
  CHECK(m.find("gslb_check_up{check=\"http0\",cluster=\"eu-west\"} 1") != std::string::npos);
  CHECK(m.find("gslb_check_up{check=\"api\",cluster=\"eu-west\"} 0") != std::string::npos);
  CHECK(value(m, "gslb_check_failures_total{check=\"api\",cluster=\"eu-west\",reason=\"refused\"}") >= 1);
  CHECK(m.find("gslb_check_failures_total{check=\"api\",cluster=\"eu-west\",reason=\"timeout\"} 0") != std::string::npos);
  // a TCP check's series are the reasons a TCP probe reports
  CHECK(m.find("gslb_check_failures_total{check=\"api\",cluster=\"eu-west\",reason=\"status\"}") == std::string::npos);
  CHECK(m.find("gslb_check_failures_total{check=\"http0\",cluster=\"eu-west\",reason=\"status\"} 0") != std::string::npos);
  CHECK(value(m, "gslb_check_duration_seconds{check=\"api\",cluster=\"eu-west\"}") > 0);
  CHECK(m.find("gslb_cluster_healthy{cluster=\"eu-west\"} 0") != std::string::npos);

  // Drained while down: healthy and drained are told apart, up is their conjunction.
  REQUIRE(h.monitor.set_drained("eu-west", true).outcome == Outcome::done);
  h.monitor.configure({cluster("eu-west", {http_check(web.url())})}, 2);
  REQUIRE(eventually([&] { return h.metrics().find("gslb_cluster_healthy{cluster=\"eu-west\"} 1") != std::string::npos; }));
  m = h.metrics();
  CHECK(m.find("gslb_cluster_drained{cluster=\"eu-west\"} 1") != std::string::npos);
  CHECK(m.find("gslb_cluster_up{cluster=\"eu-west\"} 0") != std::string::npos);
  CHECK(m.find("check=\"api\"") == std::string::npos);   // the check that left, with its series
}

TEST_CASE("reconfigure keeps state by identity and drops metrics of clusters that left") {
  HttpServer server;
  server.set_mode(HttpServer::Mode::fail);
  Harness h;
  h.start({cluster("eu-west", {http_check(server.url())}),
           cluster("us-east", {http_check(server.url())})});
  CHECK(h.views.latest->up == std::vector<uint8_t>{0, 0});
  CHECK(h.metrics().find("cluster=\"us-east\"") != std::string::npos);

  // eu-west moves to index 1 and keeps its "down"; ap-south is new and starts up.
  ClusterSpec ap = cluster("ap-south", {});
  h.monitor.configure({ap, cluster("eu-west", {http_check(server.url())})}, 2);
  {
    // published before configure() returned
    std::lock_guard lock(h.views.mu);
    CHECK(h.views.latest->up == std::vector<uint8_t>{1, 0});
    CHECK(h.views.latest->config_epoch == 2);
  }
  CHECK(h.metrics().find("cluster=\"us-east\"") == std::string::npos);

  server.set_mode(HttpServer::Mode::ok);
  CHECK(h.views.wait([](const HealthView& v) {
    return v.config_epoch == 2 && v.up == std::vector<uint8_t>{1, 1};
  }));
}

TEST_CASE("many clusters failing together are coalesced into few views") {
  HttpServer server;
  std::vector<ClusterSpec> clusters;
  for (int i = 0; i < 50; ++i) {
    ClusterSpec c = cluster(numbered("c", i), {http_check(server.url())});
    c.initial_state = InitialState::up;
    clusters.push_back(std::move(c));
  }
  Harness h;
  h.monitor.configure(std::move(clusters), 1);
  const int before = h.views.count;
  server.set_mode(HttpServer::Mode::fail);
  REQUIRE(h.views.wait([](const HealthView& v) { return v.up == std::vector<uint8_t>(50, 0); }));
  // 50 clusters x (transitioning + down) = 100 changes, published at most every 100 ms.
  const int published = h.views.count - before;
  MESSAGE(published << " views published for 100 cluster changes");
  CHECK(published <= 10);
}

TEST_CASE("hundreds of checks against hanging targets run concurrently") {
  HttpServer hanging;
  hanging.set_mode(HttpServer::Mode::hang);
  std::vector<ClusterSpec> clusters;
  for (int i = 0; i < 200; ++i) {
    CheckSpec spec = http_check(hanging.url(numbered("/c", i)));
    spec.timeout = 500ms;
    clusters.push_back(cluster(numbered("c", i), {spec}));
  }
  Harness h;
  h.start(std::move(clusters));
  CHECK(h.views.latest->up == std::vector<uint8_t>(200, 0));
  // Every first probe was in flight at once (serially: one at a time, 500 ms each).
  CHECK(hanging.max_hanging() >= 200);
}

// A listener whose accept queue is full: the kernel drops every new SYN, so a
// connect to it never completes, as to a host that went away.
struct Blackhole {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int filler = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  Blackhole() {
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 0) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    // A backlog of 0 holds one connection nobody accepts.
    REQUIRE(::connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~Blackhole() {
    ::close(filler);
    ::close(listener);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/healthz"; }
  bool swallows_connects() const {
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    pollfd p{probe, POLLOUT, 0};
    const bool pending = ::poll(&p, 1, 200) == 0;
    ::close(probe);
    return pending;
  }
};

// libcurl 7.88 closes a socket whose connect it abandoned without the close
// callback; counted by number, each such probe kept one of the probe engine's
// descriptors (10 here) until every probe was refused as over budget.
TEST_CASE("probes that time out connecting do not use up the probe engine's descriptors") {
  Blackhole hole;
  REQUIRE(hole.swallows_connects());
  HttpServer server;
  CheckSpec lost = http_check(hole.url());
  lost.interval = 50ms;
  lost.timeout = 100ms;
  CheckSpec fresh = http_check(server.url());
  fresh.http.fresh_connection = true;
  Harness h;
  h.start({cluster("lost", {lost}), cluster("fresh", {fresh})});
  CHECK(eventually([&] {
    return metric_sum(h.metrics(), "gslb_checks_total", "cluster=\"lost\",result=\"failure\"") >= 30;
  }));
  const int ok_before = server.successes();
  CHECK(eventually([&] { return server.successes() >= ok_before + 3; }));
  const std::string m = h.metrics();
  CHECK(metric_sum(m, "gslb_check_local_errors_total") == 0);
  CHECK(h.monitor.status_json().find("timeout after") != std::string::npos);
  CHECK(h.views.latest->up == std::vector<uint8_t>{0, 1});
}

TEST_CASE("a socket that cannot be opened (EMFILE) is a local error; a refusal takes the check down") {
  HttpServer server;
  DnsResponder dns;
  std::atomic<int> inject{0};   // errno every socket open fails with; 0: open normally
  std::mutex log_mu;
  std::vector<std::string> lines;
  MonitorOptions options;
  options.log = [&](Severity, const std::string& line, const LogFields&) {
    std::lock_guard lock(log_mu);
    lines.push_back(line);
  };
  options.open_socket_for_test = [&](int domain, int type, int protocol) {
    if (const int err = inject.load()) {
      errno = err;
      return -1;
    }
    return ::socket(domain, type, protocol);
  };
  Harness h(std::move(options));
  h.start({cluster("http", {http_check(server.url())}),
           cluster("tcp", {tcp_check("127.0.0.1:" + std::to_string(server.port()))}),
           cluster("dns", {dns_check(dns.server())})});
  REQUIRE(h.views.latest->up == std::vector<uint8_t>{1, 1, 1});

  const double changes_before = metric_sum(h.metrics(), "gslb_cluster_state_changes_total");
  inject = EMFILE;
  // Each check (fall 3, every ~100 ms) gets well past `fall` local errors.
  CHECK(eventually([&] {
    return metric_sum(h.metrics(), "gslb_check_local_errors_total", "reason=\"descriptors\"") >= 3 * 8;
  }));
  const std::string during = h.metrics();
  inject = 0;
  CHECK(metric_sum(during, "gslb_checks_total", "result=\"failure\"") == 0);
  CHECK(metric_sum(during, "gslb_cluster_state_changes_total") == changes_before);
  CHECK(h.views.latest->up == std::vector<uint8_t>{1, 1, 1});
  CHECK(h.status_has("\"consecutive\":2"));   // the run of successes before the burst goes on
  CHECK(eventually([&] {
    std::lock_guard lock(log_mu);
    return std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
             return l.find("check local errors ended") != std::string::npos;
           }) == 1;
  }));
  {
    std::lock_guard lock(log_mu);
    CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
            return l.find("check local errors: ") != std::string::npos;
          }) == 1);   // once per burst, not once per probe
  }

  // A failure the target could cause counts towards `fall`: each check goes down
  // at its third failure in a row, the local errors before it not counted.
  inject = ECONNREFUSED;
  CHECK(h.views.wait([](const HealthView& v) { return v.up == std::vector<uint8_t>{0, 0, 0}; }));
  inject = 0;
  {
    std::lock_guard lock(log_mu);
    for (const std::string name : {"http", "tcp", "dns"})
      CHECK(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
              return l.rfind("cluster " + name + " down: ", 0) == 0 && l.find("(3/3 failures)") != std::string::npos;
            }) == 1);
  }
  CHECK(h.views.wait([](const HealthView& v) { return v.up == std::vector<uint8_t>{1, 1, 1}; }));
}

}  // namespace
}  // namespace gslb::health
