#include "healthcheck/monitor.h"

#include <ares.h>
#include <curl/curl.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <arpa/inet.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "healthcheck/check_runner.h"
#include "healthcheck/curl_multi.h"
#include "healthcheck/dns_probe.h"
#include "healthcheck/http_probe.h"
#include "healthcheck/ingress_resolver.h"
#include "healthcheck/lag.h"
#include "healthcheck/metrics.h"
#include "healthcheck/probe_sockets.h"
#include "healthcheck/state.h"
#include "healthcheck/state_file.h"
#include "healthcheck/tcp_probe.h"

namespace gslb::health {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Views are published at most this long after the change, and at most once per
// this period, so a flapping fleet costs the DNS workers a bounded re-fetch rate.
constexpr auto kPublishPeriod = std::chrono::milliseconds(100);
// Results arriving together (a whole region failing) are gathered into one view.
constexpr auto kCoalesce = std::chrono::milliseconds(10);
// HTTP checks per libcurl multi handle. libcurl 7.88 walks every connection in a
// multi's cache on each curl_multi_remove_handle, once per probe: with 10,000 kept
// connections in one cache that was 28 % of the probe thread (perf), so the checks
// are dealt out over multi handles of this many (each costs about an easy handle).
constexpr std::size_t kChecksPerMulti = 64;
// How often the lag gauge is refreshed and a burst of late probes is looked for.
constexpr auto kLagPoll = std::chrono::seconds(1);


// libcurl and c-ares global state must be set up once, before any handle exists.
void init_libraries() {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ares_library_init(ARES_LIB_INIT_ALL);
  });
}

// A zero timeout would mean "none" to libcurl; a probe must always end.
Millis make_timeout(const CheckSpec& spec) { return std::max(spec.timeout, Millis(1)); }

std::vector<ClusterDef> state_defs(const std::vector<ClusterSpec>& specs) {
  std::vector<ClusterDef> defs;
  for (const auto& spec : specs) {
    ClusterDef def{spec.name, {}, spec.require_any, spec.initial_state};
    const std::vector<std::string> names = check_names(spec.checks);
    for (std::size_t k = 0; k < spec.checks.size(); ++k) {
      const CheckSpec& check = spec.checks[k];
      std::string identity = check.describe();
      std::optional<InitialState> initial;
      if (const auto seeded = spec.check_initial_states.find(identity); seeded != spec.check_initial_states.end())
        initial = seeded->second;
      def.checks.push_back({std::move(identity), std::max(1u, check.rise), std::max(1u, check.fall), names[k], initial});
    }
    defs.push_back(std::move(def));
  }
  return defs;
}


// The local verdict of a cluster whose health is known; `r` is the result that
// decided it.
LocalVerdict verdict_of(const HealthState& state, std::size_t cluster, const ProbeResult& r) {
  return {state.def(cluster).name, state.health(cluster) == Status::up, r.reason,
          std::chrono::duration<double, std::milli>(r.latency).count()};
}

}  // namespace

// Shared by the callers' threads, which touch it under the mutexes below, and the
// probe thread, which alone runs the io_context and owns everything after `stopped`.
struct Monitor::Impl {
  Impl(MonitorOptions opts, Publish pub, prometheus::Registry& registry);

  // Any thread, mu held: a new view of the current state with the next generation.
  std::shared_ptr<const HealthView> make_view_locked();

  // Probe thread.
  void rebuild_runners(uint64_t gen, const std::vector<ClusterSpec>& specs,
                       const std::vector<std::vector<bool>>& first_now);
  void on_resolved(uint64_t gen, std::size_t cluster, const Ingress& addresses, const std::string& errors);
  bool initial_done_locked() const { return state.initial_done() && unresolved == 0; }
  // mu held: counts a local error; the line to log when it starts a burst (and
  // what it is about in `fields`).
  std::string local_error_locked(std::size_t cluster, std::size_t check, const ProbeResult& r, LogFields* fields);
  std::unique_ptr<Probe> make_probe(const CheckSpec& spec, CurlMulti* multi);
  void on_result(uint64_t gen, std::size_t cluster, std::size_t check, const ProbeResult& r);
  void schedule_publish();
  void publish_now();
  void poll_lag();
  void shutdown();
  // For the probe thread's parts; they die before the Impl does.
  Log log_sink() const {
    return [this](Severity severity, const std::string& line, const LogFields& fields) { log(severity, line, fields); };
  }
  void log(Severity severity, const std::string& line, const LogFields& fields = {}) const {
    if (options.log) {
      options.log(severity, line, fields);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }

  MonitorOptions options;
  Publish publish;

  std::atomic<MetricsDetail> metrics_detail{MetricsDetail::full};   // read by scrapes, unlocked

  // Lock order: file_mu, then publish_mu, then mu.
  std::mutex file_mu;      // serializes drain-file writers so the last change is written last
  std::mutex publish_mu;   // views go out in generation order, whichever thread publishes
  mutable std::mutex mu;   // guards the members from here down to `stopped`
  std::condition_variable first_results;
  HealthState state;
  Metrics metrics;
  uint64_t epoch = 0;
  uint64_t config_gen = 0;     // results of runners from an older configure() are dropped
  uint64_t view_generation = 0;
  std::vector<uint8_t> last_up;            // of the last view published or handed out
  std::vector<uint8_t> last_transitioning;
  // Ingress addresses by cluster, and the host names they came from (so a reload
  // that keeps a cluster's names keeps its addresses instead of starting empty).
  std::vector<Ingress> resolved;
  std::vector<std::pair<std::string, std::vector<std::string>>> resolved_for;
  std::vector<bool> pending_resolution;  // per cluster: host names not yet resolved once
  std::size_t unresolved = 0;            // how many are pending
  bool resolved_changed = false;
  // Local probe errors since the last probe that had none: a burst is logged when
  // it starts and when it ends, and counted in between.
  uint64_t local_burst = 0;
  bool stopped = false;

  // Probe thread only (constructed before the thread starts, torn down on it).
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  // Before curl: curl closes its last sockets through it.
  ProbeSockets sockets{0, options.open_socket_for_test};
  std::vector<std::unique_ptr<CurlMulti>> curls;   // HTTP check j uses curls[j / kChecksPerMulti]
  std::mt19937 rng{std::random_device{}()};
  LagMeter lag;
  StartQueue starts{io};
  asio::steady_timer lag_timer{io};
  std::vector<std::unique_ptr<CheckRunner>> runners;
  std::vector<std::unique_ptr<IngressResolver>> resolvers;
  asio::steady_timer publish_timer{io};
  bool publish_scheduled = false;
  Clock::time_point last_publish{};
  std::thread thread;
};

Monitor::Impl::Impl(MonitorOptions opts, Publish pub, prometheus::Registry& registry)
    : options(std::move(opts)), publish(std::move(pub)), metrics(registry) {
  init_libraries();
  if (!options.state_file.empty()) {
    DrainFile file = read_drain_file(options.state_file);
    if (!file.error.empty()) {
      metrics.state_file_error();
      log(Severity::error, "healthcheck: ignoring drain state file: " + file.error);
    }
    for (const auto& name : file.drained)
      log(Severity::info, "cluster " + name + " drained (state file)", {name, {}, {}, "drained"});
    state.restore_drained(std::move(file.drained));
  }
  asio::post(io, [this] { poll_lag(); });
  thread = std::thread([this] { io.run(); });
}

std::shared_ptr<const HealthView> Monitor::Impl::make_view_locked() {
  auto view = std::make_shared<HealthView>();
  view->up = state.up_vector();
  view->transitioning = state.transitioning_vector();
  view->resolved = resolved;
  view->config_epoch = epoch;
  view->generation = ++view_generation;
  return view;
}

std::unique_ptr<Probe> Monitor::Impl::make_probe(const CheckSpec& spec, CurlMulti* multi) {
  const Millis timeout = make_timeout(spec);
  switch (spec.kind) {
    case CheckSpec::Kind::http: return std::make_unique<HttpProbe>(*multi, sockets, spec.http, timeout);
    case CheckSpec::Kind::tcp: return std::make_unique<TcpProbe>(io, sockets, spec.tcp, timeout);
    case CheckSpec::Kind::dns: return std::make_unique<DnsProbe>(io, sockets, spec.dns, timeout, log_sink());
  }
  return nullptr;
}

void Monitor::Impl::rebuild_runners(uint64_t gen, const std::vector<ClusterSpec>& new_specs,
                                    const std::vector<std::vector<bool>>& first_now) {
  runners.clear();
  resolvers.clear();
  sockets.set_budget(probe_descriptors(new_specs));
  for (std::size_t c = 0; c < new_specs.size(); ++c) {
    if (new_specs[c].ingress_hosts.empty()) continue;
    resolvers.push_back(std::make_unique<IngressResolver>(
        io, new_specs[c].ingress_hosts, options.resolver,
        [this, gen, c](const Ingress& addresses, const std::string& errors) { on_resolved(gen, c, addresses, errors); },
        log_sink()));
    resolvers.back()->start();
  }
  std::size_t http_checks = 0;
  for (const auto& cluster : new_specs)
    for (const auto& check : cluster.checks) http_checks += check.kind == CheckSpec::Kind::http;
  // No probe uses them now: those left over close their cached connections.
  curls.resize((http_checks + kChecksPerMulti - 1) / kChecksPerMulti);
  for (auto& multi : curls) {
    if (!multi) multi = std::make_unique<CurlMulti>(io, log_sink());
    // Connections in use count against the cache's size too, fresh ones included.
    multi->set_max_connections(kChecksPerMulti);
  }
  std::size_t http_index = 0;
  std::vector<FirstProbe> first;
  for (std::size_t c = 0; c < new_specs.size(); ++c)
    for (std::size_t k = 0; k < new_specs[c].checks.size(); ++k)
      first.push_back({std::max(new_specs[c].checks[k].interval, Millis(1)), first_now[c][k]});
  const std::vector<Millis> delays = first_probe_delays(first);
  std::size_t i = 0;
  for (std::size_t c = 0; c < new_specs.size(); ++c) {
    for (std::size_t k = 0; k < new_specs[c].checks.size(); ++k, ++i) {
      const CheckSpec& spec = new_specs[c].checks[k];
      CurlMulti* multi = spec.kind == CheckSpec::Kind::http ? curls[http_index++ / kChecksPerMulti].get() : nullptr;
      runners.push_back(std::make_unique<CheckRunner>(
          io, make_probe(spec, multi), first[i].interval, make_timeout(spec), delays[i], rng, lag, starts,
          [this, gen, c, k](const ProbeResult& r) { on_result(gen, c, k, r); }));
    }
  }
}

void Monitor::Impl::poll_lag() {
  const LagMeter::Report report = lag.poll(Clock::now());
  {
    std::lock_guard lock(mu);
    metrics.lag(report.worst_seconds);
  }
  if (!report.line.empty()) log(report.warning ? Severity::warning : Severity::info, report.line);
  lag_timer.expires_after(kLagPoll);
  lag_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll_lag();
  });
}

void Monitor::Impl::on_result(uint64_t gen, std::size_t cluster, std::size_t check,
                              const ProbeResult& r) {
  std::optional<ClusterChange> change;
  std::optional<LocalVerdict> verdict;
  bool view_changed = false;
  std::string local_line;
  LogFields local_fields;
  {
    std::lock_guard lock(mu);
    if (gen != config_gen) return;
    local_line = local_error_locked(cluster, check, r, &local_fields);
    if (r.local == LocalError::none) metrics.probe_result(cluster, check, r);
    change = state.record(cluster, check, r, Clock::now());
    if (change) metrics.state_change(*change);
    if (change) verdict = verdict_of(state, cluster, r);
    metrics.show(state, cluster);
    // Only this cluster can have moved: O(its checks), not O(clusters), per result.
    view_changed = cluster < last_up.size() &&
                   (last_up[cluster] != state.answerable(cluster) ||
                    last_transitioning[cluster] != state.transitioning(cluster));
    if (initial_done_locked()) first_results.notify_all();
  }
  if (!local_line.empty()) log(Severity::warning, local_line, local_fields);
  if (change)
    log(change->cause == ClusterChange::Cause::became_unhealthy ? Severity::warning : Severity::info, change->log_line,
        change->fields);
  if (verdict && options.on_verdict) options.on_verdict(*verdict);
  if (view_changed) schedule_publish();
}

std::string Monitor::Impl::local_error_locked(std::size_t cluster, std::size_t check, const ProbeResult& r,
                                              LogFields* fields) {
  if (r.local == LocalError::none) {
    if (local_burst == 0) return "";
    const std::string line = "healthcheck: check local errors ended after " + std::to_string(local_burst) +
                             " probe(s) without a verdict; checks probe normally again";
    local_burst = 0;
    return line;
  }
  metrics.local_error(r.local);
  if (local_burst++ > 0) return "";
  *fields = {state.def(cluster).name, {}, state.def(cluster).checks[check].name, to_string(r.local)};
  return "healthcheck: check local errors: " + state.def(cluster).checks[check].identity + ": " + r.reason +
         "; no check changes state for a local error (counted in gslb_check_local_errors_total until probes "
         "work again)";
}

void Monitor::Impl::on_resolved(uint64_t gen, std::size_t cluster, const Ingress& addresses,
                                const std::string& errors) {
  std::string line;
  LogFields fields;
  {
    std::lock_guard lock(mu);
    if (gen != config_gen || cluster >= resolved.size()) return;
    fields = {resolved_for[cluster].first, {}, {}, errors.empty() ? std::string() : to_string(Failure::resolve)};
    Ingress& now = resolved[cluster];
    if (now.ipv4 != addresses.ipv4 || now.ipv6 != addresses.ipv6) {
      now = addresses;
      resolved_changed = true;
      line = "cluster " + resolved_for[cluster].first + " ingress resolved to " + std::to_string(addresses.ipv4.size()) +
             " IPv4 and " + std::to_string(addresses.ipv6.size()) + " IPv6 address(es)";
    }
    if (!errors.empty()) line += (line.empty() ? "cluster " + resolved_for[cluster].first + " ingress" : std::string(";")) +
                                 " lookup failed: " + errors;
    if (pending_resolution[cluster]) {
      pending_resolution[cluster] = false;
      --unresolved;
      if (initial_done_locked()) first_results.notify_all();
    }
  }
  if (!line.empty()) log(errors.empty() ? Severity::info : Severity::warning, line, fields);
  schedule_publish();
}

void Monitor::Impl::schedule_publish() {
  if (publish_scheduled) return;
  publish_scheduled = true;
  publish_timer.expires_at(std::max(Clock::now() + kCoalesce, last_publish + kPublishPeriod));
  publish_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) publish_now();
  });
}

void Monitor::Impl::publish_now() {
  publish_scheduled = false;
  last_publish = Clock::now();
  std::lock_guard publishing(publish_mu);
  std::shared_ptr<const HealthView> view;
  {
    std::lock_guard lock(mu);
    const auto up = state.up_vector();
    const auto transitioning = state.transitioning_vector();
    if (up == last_up && transitioning == last_transitioning && !resolved_changed) return;
    resolved_changed = false;
    view = make_view_locked();
    last_up = view->up;
    last_transitioning = view->transitioning;
  }
  if (publish) publish(view);
}

void Monitor::Impl::shutdown() {
  runners.clear();
  resolvers.clear();
  curls.clear();
  publish_timer.cancel();
  lag_timer.cancel();
  // A getaddrinfo() stuck in Asio's resolver thread would otherwise hold run() open.
  io.stop();
}

namespace {

// Whether an HTTP check's URL names its host (curl resolves it on a thread of its
// own, woken through a socket) rather than giving an address, which needs neither.
bool names_a_host(const std::string& url) {
  CURLU* parsed = curl_url();
  char* host = nullptr;
  bool name = true;
  if (curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    std::string text = host;
    if (text.size() > 2 && text.front() == '[') text = text.substr(1, text.size() - 2);
    std::array<unsigned char, 16> address;
    name = inet_pton(AF_INET, text.c_str(), address.data()) != 1 && inet_pton(AF_INET6, text.c_str(), address.data()) != 1;
  }
  curl_free(host);
  curl_url_cleanup(parsed);
  return name;
}

}  // namespace

std::size_t probe_descriptors(const std::vector<ClusterSpec>& clusters) {
  // curl's multi handle and c-ares' channels keep a few of their own (wakeup pairs,
  // /etc/resolv.conf while a channel starts).
  constexpr std::size_t kLibraries = 8;
  std::size_t n = kLibraries;
  for (const auto& c : clusters) {
    n += 2 * c.ingress_hosts.size();
    for (const auto& check : c.checks) {
      switch (check.kind) {
        case CheckSpec::Kind::tcp: n += 1; break;
        // Its connection, kept or not (at most one at a time), and the resolver's.
        case CheckSpec::Kind::http: n += names_a_host(check.http.url) ? 2 : 1; break;
        case CheckSpec::Kind::dns: n += 2; break;
      }
    }
  }
  return n;
}

Monitor::Monitor(MonitorOptions options, Publish publish, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(publish), registry)) {}

Monitor::~Monitor() { stop(); }

void Monitor::configure(std::vector<ClusterSpec> clusters, uint64_t epoch) {
  std::lock_guard publishing(impl_->publish_mu);
  std::shared_ptr<const HealthView> view;
  uint64_t gen = 0;
  std::vector<std::vector<bool>> first_now;
  {
    std::lock_guard lock(impl_->mu);
    gen = ++impl_->config_gen;
    impl_->epoch = epoch;
    impl_->state.configure(state_defs(clusters), Clock::now());
    // Addresses carry over for a cluster whose name and host names are unchanged.
    std::vector<Ingress> resolved(clusters.size());
    std::vector<std::pair<std::string, std::vector<std::string>>> resolved_for;
    impl_->pending_resolution.assign(clusters.size(), false);
    impl_->unresolved = 0;
    for (std::size_t c = 0; c < clusters.size(); ++c) {
      resolved_for.emplace_back(clusters[c].name, clusters[c].ingress_hosts);
      if (clusters[c].ingress_hosts.empty()) continue;
      bool kept = false;
      for (std::size_t o = 0; o < impl_->resolved_for.size(); ++o) {
        if (impl_->resolved_for[o] == resolved_for.back()) {
          resolved[c] = impl_->resolved[o];
          kept = true;
        }
      }
      if (!kept) {
        impl_->pending_resolution[c] = true;
        ++impl_->unresolved;
      }
    }
    impl_->resolved = std::move(resolved);
    impl_->resolved_for = std::move(resolved_for);
    impl_->metrics.configure(clusters);
    for (std::size_t c = 0; c < clusters.size(); ++c) {
      impl_->metrics.show(impl_->state, c);
      std::vector<bool> row;
      for (std::size_t k = 0; k < clusters[c].checks.size(); ++k)
        row.push_back(impl_->state.check(c, k).awaiting_first);
      first_now.push_back(std::move(row));
    }
    view = impl_->make_view_locked();
    impl_->last_up = view->up;
    impl_->last_transitioning = view->transitioning;
    if (impl_->initial_done_locked()) impl_->first_results.notify_all();
  }
  asio::post(impl_->io, [impl = impl_.get(), gen, specs = std::move(clusters),
                         first_now = std::move(first_now)] {
    impl->rebuild_runners(gen, specs, first_now);
  });
  // Still under publish_mu: no view of the probe thread's can overtake this one.
  if (impl_->publish) impl_->publish(view);
}

void Monitor::wait_initial(Clock::time_point deadline) {
  {
    std::unique_lock lock(impl_->mu);
    impl_->first_results.wait_until(lock, deadline, [&] { return impl_->initial_done_locked(); });
  }
  std::lock_guard publishing(impl_->publish_mu);
  std::shared_ptr<const HealthView> view;
  {
    std::lock_guard lock(impl_->mu);
    view = impl_->make_view_locked();
    impl_->last_up = view->up;
    impl_->last_transitioning = view->transitioning;
  }
  if (impl_->publish) impl_->publish(view);
}

void Monitor::set_files(const std::string& state_file, const std::string& resolver) {
  // Posted: the probe thread reads the resolver, and a configure() after this call
  // posts its rebuild behind it.
  asio::post(impl_->io, [impl = impl_.get(), resolver] { impl->options.resolver = resolver; });
  std::lock_guard writing(impl_->file_mu);
  if (state_file == impl_->options.state_file) return;
  impl_->options.state_file = state_file;
  if (state_file.empty()) return;
  std::set<std::string> names;
  {
    std::lock_guard lock(impl_->mu);
    names = impl_->state.drained();
  }
  if (const std::string error = write_drain_file(state_file, names); !error.empty()) {
    {
      std::lock_guard lock(impl_->mu);
      impl_->metrics.state_file_error();
    }
    impl_->log(Severity::error, "healthcheck: cannot write the new drain state file: " + error);
  }
}

Monitor::DrainResult Monitor::set_drained(const std::string& cluster, bool drained, const std::string& requester) {
  std::lock_guard writing(impl_->file_mu);
  std::set<std::string> names;
  {
    std::lock_guard lock(impl_->mu);
    const HealthState& state = impl_->state;
    bool found = false;
    for (std::size_t c = 0; c < state.size() && !found; ++c) found = state.def(c).name == cluster;
    if (!found) return {DrainResult::Outcome::no_such_cluster, {}};
    names = state.drained();
  }
  if (drained ? !names.insert(cluster).second : names.erase(cluster) == 0) return {};
  // Written before the change is applied (file_mu keeps drains in order meanwhile):
  // a drain the next start would not remember must not happen.
  if (!impl_->options.state_file.empty()) {
    const std::string error = write_drain_file(impl_->options.state_file, names);
    if (!error.empty()) {
      std::lock_guard lock(impl_->mu);
      impl_->metrics.state_file_error();
      return {DrainResult::Outcome::not_saved, error};
    }
  }
  HealthState::DrainResult result;
  {
    std::lock_guard lock(impl_->mu);
    result = impl_->state.set_drained(cluster, drained);
    if (!result.change) return {};
    impl_->metrics.state_change(*result.change);
    impl_->metrics.show(impl_->state, result.change->cluster);
  }
  impl_->log(Severity::info, result.change->log_line + (requester.empty() ? "" : "; requested by " + requester),
             result.change->fields);
  asio::post(impl_->io, [impl = impl_.get()] { impl->schedule_publish(); });
  return {};
}

std::vector<LocalVerdict> Monitor::verdicts() const {
  std::lock_guard lock(impl_->mu);
  const HealthState& state = impl_->state;
  std::vector<LocalVerdict> out;
  for (std::size_t c = 0; c < state.size(); ++c) {
    if (state.health(c) == Status::unknown) continue;
    LocalVerdict v{state.def(c).name, state.health(c) == Status::up, "no checks", 0};
    // The reason is a check's whose status is the cluster's (for down, one that failed).
    for (std::size_t k = 0; k < state.def(c).checks.size(); ++k) {
      const CheckState& cs = state.check(c, k);
      if (!cs.has_result || cs.status != state.health(c)) continue;
      v.reason = cs.last_reason;
      v.latency_ms = std::chrono::duration<double, std::milli>(cs.last_latency).count();
      break;
    }
    out.push_back(std::move(v));
  }
  return out;
}

void Monitor::set_agreed(std::map<std::string, bool> agreed) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->state.set_agreed(std::move(agreed));
    for (std::size_t c = 0; c < impl_->state.size(); ++c) impl_->metrics.show(impl_->state, c);
  }
  asio::post(impl_->io, [impl = impl_.get()] { impl->schedule_publish(); });
}

void Monitor::set_drains(const std::set<std::string>& drained) {
  std::lock_guard writing(impl_->file_mu);
  if (!impl_->options.state_file.empty()) {
    if (const std::string error = write_drain_file(impl_->options.state_file, drained); !error.empty()) {
      {
        std::lock_guard lock(impl_->mu);
        impl_->metrics.state_file_error();
      }
      impl_->log(Severity::error, "healthcheck: cannot write the drain state file (the drains from etcd apply anyway): " +
                                      error);
    }
  }
  std::vector<ClusterChange> changes;
  {
    std::lock_guard lock(impl_->mu);
    changes = impl_->state.replace_drained(drained);
    for (const ClusterChange& change : changes) {
      impl_->metrics.state_change(change);
      impl_->metrics.show(impl_->state, change.cluster);
    }
  }
  for (const ClusterChange& change : changes) impl_->log(Severity::info, change.log_line + " (from etcd)", change.fields);
  asio::post(impl_->io, [impl = impl_.get()] { impl->schedule_publish(); });
}

std::string Monitor::status_json() const {
  std::lock_guard lock(impl_->mu);
  const HealthState& state = impl_->state;
  nlohmann::ordered_json clusters = nlohmann::ordered_json::array();
  for (std::size_t c = 0; c < state.size(); ++c) {
    nlohmann::ordered_json checks = nlohmann::ordered_json::array();
    for (std::size_t k = 0; k < state.def(c).checks.size(); ++k) {
      const CheckState& cs = state.check(c, k);
      nlohmann::ordered_json check = {{"check", state.def(c).checks[k].identity},
                              {"up", cs.status == Status::up},
                              {"state", to_string(cs.status)},
                              {"last_result", nullptr},
                              {"latency_ms", nullptr},
                              {"consecutive", cs.consecutive}};
      if (cs.has_result) {
        check["last_result"] = cs.last_reason;
        check["latency_ms"] = std::chrono::duration<double, std::milli>(cs.last_latency).count();
      }
      checks.push_back(std::move(check));
    }
    clusters.push_back({{"name", state.def(c).name},
                        {"up", state.answerable(c)},
                        {"drained", state.is_drained(c)},
                        {"health", to_string(state.health(c))},
                        {"checks", std::move(checks)}});
  }
  return nlohmann::ordered_json{{"clusters", std::move(clusters)}}.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void Monitor::append_metrics(std::string* out) const {
  // Copied under the lock (~130 bytes a check, ~1.3 MB at 10,000 checks), written
  // outside it: at 10,000 checks the text takes tens of ms, which would hold the
  // probe thread's results.
  Metrics::Series series;
  {
    std::lock_guard lock(impl_->mu);
    series = impl_->metrics.series();
  }
  Metrics::write_text(series, impl_->metrics_detail.load(), out);
}

void Monitor::set_metrics_detail(MetricsDetail detail) { impl_->metrics_detail = detail; }

void Monitor::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  asio::post(impl_->io, [impl = impl_.get()] { impl->shutdown(); });
  impl_->work.reset();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace gslb::health
