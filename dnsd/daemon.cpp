#include "dnsd/daemon.h"

#include <malloc.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "dnsd/build_thread.h"
#include "dnsd/config.h"
#include "dnsd/control_server.h"
#include "dnsd/explain.h"
#include "dnsd/fd_budget.h"
#include "dnsd/handover.h"
#include "dnsd/http_api.h"
#include "dnsd/http_server.h"
#include "dnsd/log.h"
#include "dnsd/metrics.h"
#include "dnsd/published.h"
#include "dnsd/sd_notify.h"
#include "dnsd/serving_state.h"
#include "dnsd/sync_status.h"
#include "dnsd/worker.h"
#include "dnsd/xdp_answering.h"

namespace gslb::dns {

namespace asio = boost::asio;

namespace {

// How long start-up waits for every cluster's first probe before DNS answers.
// Bounded so that an unreachable probe target cannot keep the server silent;
// clusters still unknown then are reported down (logged), never silently up.
constexpr auto kInitialProbeWait = std::chrono::seconds(10);

// The longest a drain or undrain through the API waits for etcd (sync on) before
// it is refused as not stored. Only that request waits: the HTTP server and the
// control socket go on answering the others.
constexpr auto kDrainStoreWait = std::chrono::milliseconds(2000);

// SIGHUPs that keep coming (a config management loop, a script) rebuild at most
// this often; a single SIGHUP is built at once.
constexpr auto kReloadSpacing = std::chrono::milliseconds(1000);

std::vector<health::ClusterSpec> health_specs(const Config& c) {
  std::vector<health::ClusterSpec> specs;
  for (const ClusterConfig& cl : c.clusters) specs.push_back(cl.health);
  return specs;
}

std::vector<std::string> cluster_names(const Config& c) {
  std::vector<std::string> names;
  for (const ClusterConfig& cl : c.clusters) names.push_back(cl.name);
  return names;
}

sync::Verdict sync_verdict(const health::LocalVerdict& v) { return {v.cluster, v.up, v.reason, v.latency_ms}; }

template <class S>
void log_at(S severity, const std::string& line, const LogFields& fields = {}) {
  switch (severity) {
    case S::info: log_info(line, fields); break;
    case S::warning: log_warning(line, fields); break;
    case S::error: log_error(line, fields); break;
  }
}

std::string summary(const ServingState& s) {
  std::ostringstream o;
  size_t records = 0;
  for (const auto& z : s.zones) records += z->record_count;
  size_t checks = 0;
  for (const auto& c : s.config.clusters) checks += c.health.checks.size();
  o << s.zones.size() << " zone(s)";
  if (s.zones_kept) o << " (" << s.zones_kept << " unchanged, kept as loaded)";
  o << " with " << records << " record(s), " << s.services.size() << " service(s), "
    << s.clusters.size() << " cluster(s), " << checks << " check(s), " << s.routing->prefix_count()
    << " geo prefix range(s)";
  return o.str();
}

std::optional<std::string> http_token(const ServerConfig& s) {
  if (s.http_token.empty()) return std::nullopt;
  return s.http_token;
}

HttpLimits http_limits(const ServerConfig& s) { return {s.http_max_connections, s.http_idle_timeout}; }

// build_serving_state, and how long it took: the start and reload log lines say it,
// the figure an operator wants after a SIGHUP with a large GeoIP source.
std::shared_ptr<const ServingState> timed_build(Config config, uint64_t epoch, MetricNames* slots, long long* ms,
                                                const ServingState* previous = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  auto serving = build_serving_state(std::move(config), epoch, slots, std::chrono::system_clock::now(), previous);
  *ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  return serving;
}

// What start-up and --check-config both do with the file, short of binding sockets
// and probing: load it, check the descriptor budget, build the serving state.
std::shared_ptr<const ServingState> load_and_build(const std::string& path, uint64_t open_files, uint64_t epoch,
                                                   MetricNames* slots, long long* ms) {
  Config config = load_config(path);
  check_fd_budget(config, open_files);
  return timed_build(std::move(config), epoch, slots, ms);
}

class Daemon {
 public:
  explicit Daemon(const DaemonOptions& options) : options_(options) {}

  int run() {
    // One malloc arena for every thread: a state built on the build thread and freed
    // on the control thread otherwise strands its pages in the build thread's arena,
    // where malloc_trim gives back far less (measured: +15 MB RSS per tor-geoipdb
    // reload). Nothing allocates on the answer path, so the shared arena costs no
    // contention there.
    mallopt(M_ARENA_MAX, 1);
    // Installed first: a SIGHUP or SIGTERM that arrives during start-up is queued
    // for the loop below instead of killing the process with the default action
    // (a supervisor may signal as soon as it sees the "serving" line).
    asio::signal_set signals(ctx_, SIGINT, SIGTERM, SIGHUP);
    std::shared_ptr<const ServingState> serving;
    long long build_ms = 0;
    open_files_ = raise_open_files_limit();
    try {
      serving = load_and_build(options_.config_path, open_files_, ++epoch_, &slots_, &build_ms);
      const ServerConfig& server = serving->config.server;
      if (options_.replace) {
        std::string error;
        takeover_ = request_takeover(server.control_socket, &error);
        if (!error.empty()) throw std::runtime_error(error + "; it keeps serving");
        if (!takeover_) log_info("no gslbd on " + server.control_socket + " to replace: starting afresh");
      }
      if (!takeover_) {
        refuse_if_control_socket_live(server.control_socket);
        Worker::check_ports_free(server);
      }
      if (!server.xdp.interface.empty()) xdp_ = std::make_unique<XdpAnswering>(server);
      metrics_ = std::make_unique<Metrics>(server.workers * Worker::threads(server) + (xdp_ ? xdp_->queues() : 0));
    } catch (const std::exception& e) {
      log_error(std::string(options_.replace ? "replacement refused, the running gslbd keeps serving: " : "cannot start: ") +
                e.what());
      return 1;
    }
    metrics_->update_names(slots_);
    metrics_->loaded(*serving);
    server_config_ = serving->config.server;
    sync_config_ = serving->config.sync;

    // Before the Monitor, whose probe thread reports verdicts to it; its thread
    // starts once the Monitor it hands agreed health and drains to exists.
    if (sync_config_)
      sync_ = std::make_unique<sync::Sync>(
          *sync_config_,
          sync::Callbacks{[this](const std::map<std::string, bool>& agreed) { monitor_->set_agreed(agreed); },
                          [this](const std::set<std::string>& drained) { monitor_->set_drains(drained); },
                          [](sync::Severity severity, const std::string& line) { log_at(severity, line); }},
          metrics_->registry());
    health::MonitorOptions monitor_options{server_config_.state_file, server_config_.resolver,
                                           [](health::Severity severity, const std::string& line,
                                              const LogFields& fields) { log_at(severity, line, fields); },
                                           {}, {}};
    if (sync_)
      monitor_options.on_verdict = [this](const health::LocalVerdict& v) {
        std::lock_guard lock(verdict_mutex_);
        sync_->local_verdict(sync_verdict(v));
      };
    monitor_ = std::make_unique<health::Monitor>(
        std::move(monitor_options),
        [this](std::shared_ptr<const health::HealthView> view) { on_health(std::move(view)); }, metrics_->registry());
    monitor_->set_metrics_detail(server_config_.health_metrics);
    std::vector<health::ClusterSpec> specs = health_specs(serving->config);
    if (takeover_) seed_health(specs, *takeover_);
    monitor_->configure(std::move(specs), serving->epoch);
    if (sync_) {
      if (takeover_) sync_->replaces(takeover_->old_pid);
      sync_->set_clusters(cluster_names(serving->config));
      {
        // Under the lock the probe thread reports changes with: a verdict read here
        // cannot reach the sync thread after a newer one.
        std::lock_guard lock(verdict_mutex_);
        for (const health::LocalVerdict& v : monitor_->verdicts()) sync_->local_verdict(sync_verdict(v));
      }
      sync_->start();
    }
    if (takeover_)
      for (const Takeover::Cluster& c : takeover_->clusters)
        if (c.drained) monitor_->set_drained(c.name, true, "the replaced gslbd (pid " + std::to_string(takeover_->old_pid) + ")");
    monitor_->wait_initial(std::chrono::steady_clock::now() + kInitialProbeWait);
    const std::string served = summary(*serving);
    // Moved: a reload can only free this state once nothing else holds it.
    install(std::move(serving));

    try {
      const unsigned threads = Worker::threads(server_config_);
      for (unsigned i = 0; i < server_config_.workers; ++i) {
        std::vector<WorkerStats*> stats;
        for (unsigned t = 0; t < threads; ++t) stats.push_back(&metrics_->block(i * threads + t));
        workers_.push_back(std::make_unique<Worker>(server_config_, snapshot_, stats,
                                                    takeover_ ? &takeover_->sockets : nullptr));
      }
      if (xdp_) {
        std::vector<WorkerStats*> stats;
        for (unsigned q = 0; q < xdp_->queues(); ++q) stats.push_back(&metrics_->block(server_config_.workers * threads + q));
        xdp_->open(snapshot_, stats);
      }
      const HttpRoutes routes{
          [this] {
            std::string text = metrics_->scrape(*snapshot_.get());
            monitor_->append_metrics(&text);
            return text;
          },
          [this] { return sync_ ? with_sync(monitor_->status_json(), sync_->status()) : monitor_->status_json(); },
          [this](const std::string& name, const std::string& client) {
            HttpResponse r = explain(*snapshot_.get(), name, client);
            return sync_ ? with_sync(std::move(r), sync_->status()) : r;
          },
          [this](const std::string& cluster, bool drained, const std::string& requester, HttpRoutes::DrainDone done) {
            set_drained(cluster, drained, requester, std::move(done));
          }};
      if (server_config_.has_http) {
        api_ = std::make_unique<HttpApi>(routes, metrics_->registry());
        api_->set_token(http_token(server_config_));
        UniqueFd inherited = takeover_ ? takeover_->sockets.take("http", server_config_.http) : UniqueFd();
        http_ = std::make_unique<HttpServer>(ctx_, server_config_.http, http_limits(server_config_),
                                             [this](const HttpRequest& r, HttpServer::Respond respond) {
                                               api_->handle(r, respond);
                                             },
                                             metrics_->registry(),
                                             metrics_->http_accept_errors(), inherited.get());
        inherited.release();
      }
      control_ = std::make_unique<ControlServer>(
          ctx_, server_config_.control_socket,
          takeover_ ? takeover_->sockets.take("control", server_config_.control_socket) : UniqueFd(), routes,
          ControlActions{[this](ControlActions::Done done) { request_reload(std::move(done)); },
                         [this](ControlActions::Done done) { spawn_replacement(std::move(done)); },
                         [this](std::shared_ptr<ControlConnection> c) { hand_over(std::move(c)); }});
    } catch (const std::exception& e) {
      log_error(std::string(takeover_ ? "replacement failed, the running gslbd keeps serving: " : "") + e.what());
      monitor_->stop();
      if (sync_) sync_->stop();
      return 1;
    }
    for (auto& w : workers_) w->start();
    if (xdp_) xdp_->start();
    if (takeover_) {
      for (const std::string& unused : takeover_->sockets.left())
        log_warning("the replaced gslbd's socket " + unused + " is not used by this configuration: closed");
      takeover_->sockets = InheritedSockets();
      std::string error;
      // Both answer until the old one has this: nothing queued is left unread.
      if (!release_old(*takeover_, &error))
        log_warning("the replaced gslbd (pid " + std::to_string(takeover_->old_pid) + ") did not confirm it stops: " + error);
    }
    reloads_ = std::make_unique<BuildThread>(ctx_, [this] { return build_reload(); }, kReloadSpacing);

    std::string listen;
    for (const Endpoint& e : server_config_.listen) listen += (listen.empty() ? "" : ", ") + e.text;
    log_info("gslbd " GSLBD_VERSION " serving " + served + " (built in " + std::to_string(build_ms) +
             " ms); DNS on " + listen + " (udp+tcp, " +
             std::to_string(server_config_.workers) + " worker(s))" +
             (xdp_ ? "; " + xdp_->describe() : "") +
             (server_config_.has_http ? "; HTTP on " + server_config_.http.text : "") +
             (takeover_ ? "; took over from pid " + std::to_string(takeover_->old_pid) : ""));
    // Now, not earlier: systemd's start (and a replacement's MAINPID) waits for it,
    // and DNS answers from here on with every cluster's first health known.
    sd_notify_state("READY=1\nSTATUS=serving " + served);
    takeover_.reset();

    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        request_reload({});
        signals.async_wait(on_signal);
        return;
      }
      log_info(std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
      sd_notify_state("STOPPING=1");
      ctx_.stop();
    };
    signals.async_wait(on_signal);
    ctx_.run();

    reloads_.reset();  // a build in progress ends first; its result is dropped
    control_.reset();
    http_.reset();
    xdp_.reset();  // detaches the program: the kernel answers the port again
    for (auto& w : workers_) w->stop();
    monitor_->stop();
    if (sync_) sync_->stop();  // after the Monitor: nothing reports verdicts any more
    log_info(handed_to_ ? "handed over to pid " + std::to_string(handed_to_) + "; stopped" : std::string("stopped"));
    return 0;
  }

 private:
  // The drain API. With sync on, the drain lives in etcd and applies everywhere
  // from there; it is refused when etcd does not store it, and nothing changes.
  // `done` runs on the control thread.
  void set_drained(const std::string& cluster, bool drained, const std::string& requester, HttpRoutes::DrainDone done) {
    if (!sync_) return done(monitor_->set_drained(cluster, drained, requester));
    std::vector<std::string> names;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      names = cluster_names(serving_->config);
    }
    using Outcome = health::Monitor::DrainResult::Outcome;
    if (std::find(names.begin(), names.end(), cluster) == names.end()) return done({Outcome::no_such_cluster, {}});
    // Kept here, not in the sync thread's callback: a request dropped when the Sync
    // stops first is then freed on this thread with the connection it holds.
    const uint64_t id = ++drain_seq_;
    drains_waiting_.emplace(id, std::move(done));
    sync_->drain(cluster, drained, kDrainStoreWait, [this, id, cluster, drained, requester](std::string error) {
      asio::post(ctx_, [this, id, cluster, drained, requester, error = std::move(error)] {
        const auto it = drains_waiting_.find(id);
        if (it == drains_waiting_.end()) return;
        const HttpRoutes::DrainDone d = std::move(it->second);
        drains_waiting_.erase(it);
        const LogFields fields{cluster, {}, {}, drained ? "drained" : "undrained"};
        if (!error.empty()) {
          log_warning("sync: " + std::string(drained ? "drain" : "undrain") + " of cluster " + cluster +
                          " refused, etcd did not store it: " + error + "; requested by " + requester, fields);
          return d({Outcome::not_stored, error});
        }
        log_info("sync: cluster " + cluster + (drained ? " drained" : " undrained") +
                     " in etcd, for every instance; requested by " + requester, fields);
        d({});
      });
    });
  }

  // SIGHUP and `gslbd ctl reload`. `done` (may be empty) gets the outcome of a
  // reload that reads the file after this request: one already building may have
  // read it before the edit that prompted the request.
  void request_reload(ControlActions::Done done) {
    const uint64_t seq = ++reload_seq_;
    if (done) reload_waiters_.emplace_back(seq, std::move(done));
    reload_requested_ = true;
    sd_notify_state(sd_reloading() + "\nSTATUS=reloading " + options_.config_path);
    reloads_->request();
  }

  // On the control thread, once a reload that saw requests up to `seq` is done.
  void reload_finished(uint64_t seq, bool ok, const std::string& text) {
    sd_notify_state(std::string("READY=1\nSTATUS=") +
                    (ok ? "reloaded: " : "reload refused, still serving the previous configuration: ") + text);
    std::vector<ControlActions::Done> done;
    std::erase_if(reload_waiters_, [&](auto& w) {
      if (w.first > seq) return false;
      done.push_back(std::move(w.second));
      return true;
    });
    for (auto& d : done) d(ok, ok ? "reloaded: " + text : "reload refused: " + text);
  }

  // `gslbd ctl replace`: this process starts its replacement itself, so that under
  // systemd the new one is in the unit's cgroup and can become its main process.
  void spawn_replacement(ControlActions::Done done) {
    if (replace_done_) return done(false, "a replacement is already starting");
    std::vector<std::string> args = {options_.executable, "--replace", "-c", options_.config_path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) return done(false, std::string("cannot start a replacement: fork: ") + std::strerror(errno));
    if (pid == 0) {
      // Only async-signal-safe calls here: this process has threads.
      close_range(3, ~0U, 0);
      execv(argv[0], argv.data());
      _exit(127);
    }
    log_info("started replacement pid " + std::to_string(pid) + ": " + options_.executable + " --replace -c " +
             options_.config_path);
    replace_done_ = std::move(done);
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return;  // no exit report then; a takeover still completes it
    replacement_exit_.assign(pidfd);
    replacement_exit_.async_wait(asio::posix::descriptor_base::wait_read, [this, pid](const boost::system::error_code& ec) {
      if (ec) return;
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) != pid) return;
      boost::system::error_code ignored;
      replacement_exit_.close(ignored);
      const std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                                : "was killed by signal " + std::to_string(WTERMSIG(status));
      log_error("replacement pid " + std::to_string(pid) + " " + how + " before taking over; still serving");
      if (auto d = std::exchange(replace_done_, nullptr))
        d(false, "the replacement (pid " + std::to_string(pid) + ") " + how +
                     " before taking over (its reason is in the log); the running gslbd keeps serving");
    });
  }

  // The running side of `gslbd --replace` (see dnsd/handover.h).
  void hand_over(std::shared_ptr<ControlConnection> c) {
    if (handed_to_) return c->reply(false, "already handed over to pid " + std::to_string(handed_to_));
    std::vector<ListenFd> sockets;
    for (const auto& w : workers_)
      for (ListenFd& s : w->sockets()) sockets.push_back(std::move(s));
    if (http_) sockets.push_back({"http", server_config_.http.text, http_->listener_fd()});
    sockets.push_back({"control", server_config_.control_socket, control_->listener_fd()});
    std::vector<int> fds;
    for (const ListenFd& s : sockets) fds.push_back(s.fd);
    const pid_t peer = peer_pid(c->fd());
    if (!send_message(c->fd(), takeover_message(getpid(), sockets, monitor_->status_json()), fds)) {
      log_warning("could not hand the sockets to pid " + std::to_string(peer));
      return;
    }
    log_info("handed the listening sockets to pid " + std::to_string(peer) + "; serving until it is ready");
    c->read_line([this, c, peer](bool ok, std::string line) {
      pid_t pid = 0;
      if (ok && line.rfind("release ", 0) == 0) pid = static_cast<pid_t>(std::atoll(line.c_str() + 8));
      if (pid <= 0) {
        log_warning("replacement pid " + std::to_string(peer) + " went away before taking over; still serving");
        return;
      }
      handed_to_ = pid;
      // From the main process, which the unit follows (NotifyAccess=main suffices).
      sd_notify_state("MAINPID=" + std::to_string(pid) + "\nSTATUS=handed over to pid " + std::to_string(pid));
      log_info("pid " + std::to_string(pid) + " answers now; finishing open TCP connections and exiting");
      if (auto d = std::exchange(replace_done_, nullptr)) d(true, "replaced by pid " + std::to_string(pid));
      c->reply(true, "", [this] { release_and_stop(); });
    });
  }

  void release_and_stop() {
    control_->hand_over();
    http_.reset();
    for (auto& w : workers_) w->release();
    for (auto& w : workers_) w->join_released();
    // Posted behind the replies already written, so that their handlers run first.
    asio::post(ctx_, [this] { ctx_.stop(); });
  }

  // After monitor_->configure() for the state's epoch, which has published the
  // state's first health view (on_health keeps it as latest_view_).
  void install(std::shared_ptr<const ServingState> serving) {
    set_log_level(serving->config.server.log_level);
    // Compiling GeoIP sources leaves tens of MB of parser scratch in malloc's free
    // lists; hand it back so RSS reflects what serving really keeps.
    malloc_trim(0);
    std::lock_guard<std::mutex> lock(mutex_);
    if (serving_) retired_.push_back(serving_);
    serving_ = std::move(serving);
    health_ = latest_view_;
    publish_locked();
    reclaim_after_workers();
    schedule_resign(serving_->resign_at);
  }

  // Signed zones are built again, from the running config, when their signatures
  // reach the refresh point: before any expires, and never from a query.
  void schedule_resign(std::chrono::system_clock::time_point at) {
    resign_.cancel();
    if (at == std::chrono::system_clock::time_point::max()) return;
    resign_.expires_after(std::max(at - std::chrono::system_clock::now(), std::chrono::system_clock::duration::zero()));
    resign_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      resign_requested_ = true;
      reloads_->request();
    });
  }

  // A replaced state stays here until no serving thread holds it (each takes the
  // newest within a second, idle or not). Destroying it on the control thread keeps
  // the milliseconds that freeing a large geo table takes off the answering threads,
  // and trimming afterwards gives its memory back (glibc keeps large freed blocks).
  void reclaim_after_workers() {
    reclaim_.expires_after(std::chrono::milliseconds(500));
    reclaim_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      std::vector<std::shared_ptr<const ServingState>> unused;
      bool more;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& s : retired_)
          if (s.use_count() == 1) unused.push_back(std::move(s));
        std::erase(retired_, nullptr);
        more = !retired_.empty();
      }
      if (!unused.empty()) {
        unused.clear();  // destroyed here, outside the lock the probe thread takes
        malloc_trim(0);
      }
      if (more) reclaim_after_workers();
    });
  }

  void on_health(std::shared_ptr<const health::HealthView> view) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!latest_view_ || view->generation > latest_view_->generation) latest_view_ = view;
    if (!serving_ || view->config_epoch != serving_->epoch) return;
    if (health_ && view->generation < health_->generation) return;
    health_ = std::move(view);
    publish_locked();
  }

  // mutex_ held: the workers get serving_ with health_. A service whose every
  // cluster went down (it now fails open or answers SERVFAIL) is logged once when
  // that begins and once when it ends, with its SERVICE= field.
  void publish_locked() {
    snapshot_.publish(std::make_shared<Snapshot>(Snapshot{serving_, health_}));
    if (!health_) return;
    std::set<std::string> down;
    for (const Service& svc : serving_->services) {
      const bool was = services_down_.count(svc.name_text) > 0;
      if (svc.clusters.empty() || svc.clusters_up(*health_) > 0) {
        if (was) log_info("service " + svc.name_text + ": a cluster is up again, answering normally", {{}, svc.name_text, {}, {}});
        continue;
      }
      down.insert(svc.name_text);
      if (!was)
        log_warning("service " + svc.name_text + ": every cluster is down, " +
                        (svc.servfail_when_all_down ? "answering SERVFAIL (when_all_down: servfail)"
                                                    : "answering with all of them (fail open)"),
                    {{}, svc.name_text, {}, "all_down"});
    }
    services_down_ = std::move(down);
  }

  // On the build thread: everything slow about a reload (reading the files, compiling
  // GeoIP sources and zones). Reads epoch_, slots_ and server_config_, which change only
  // in the finishing step, and that never runs during a build. Returns that step.
  BuildThread::Finish build_reload() {
    // A SIGHUP reads the file (and re-signs too); a re-sign alone rebuilds what runs.
    const bool from_file = reload_requested_.exchange(false);
    if (!from_file && resign_requested_.exchange(false)) return build_resign();
    const uint64_t seq = reload_seq_.load();
    log_info("reloading " + options_.config_path);
    try {
      Config config = load_config(options_.config_path);
      check_fd_budget(config, open_files_);
      const ServerConfig& now = server_config_;
      std::vector<std::string> needs_restart = restart_only_changes(now, config.server);
      for (std::string& key : restart_only_changes(sync_config_, config.sync)) needs_restart.push_back(std::move(key));
      if (!needs_restart.empty()) throw ConfigError(restart_refusal(config, needs_restart));
      auto slots = std::make_shared<MetricNames>(slots_);
      long long build_ms = 0;
      std::shared_ptr<const ServingState> previous;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        previous = serving_;
      }
      std::shared_ptr<const ServingState> serving =
          timed_build(std::move(config), epoch_ + 1, slots.get(), &build_ms, previous.get());
      previous.reset();
      return [this, serving = std::move(serving), slots, build_ms, seq]() mutable {
        reload_finished(seq, true, install_reload(std::move(serving), std::move(*slots), build_ms));
      };
    } catch (const std::exception& e) {
      return [this, why = std::string(e.what()), seq] {
        metrics_->reload_result(false);
        log_error("reload failed, still serving the previous configuration: " + why);
        reload_finished(seq, false, why);
        // A re-sign that came during the failed reload still has to happen.
        if (resign_requested_) reloads_->request();
      };
    }
  }

  BuildThread::Finish build_resign() {
    Config config;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      config = serving_->config;
    }
    try {
      auto slots = std::make_shared<MetricNames>(slots_);
      long long build_ms = 0;
      std::shared_ptr<const ServingState> serving = timed_build(std::move(config), epoch_ + 1, slots.get(), &build_ms);
      return [this, serving = std::move(serving), slots, build_ms]() mutable {
        epoch_ = serving->epoch;
        slots_ = std::move(*slots);
        monitor_->configure(health_specs(serving->config), serving->epoch);
        install(std::move(serving));
        log_info("re-signed the signed zones; built in " + std::to_string(build_ms) + " ms");
      };
    } catch (const std::exception& e) {
      // The keys went missing or unreadable since they were loaded: the running
      // signatures stay until they expire; try again in a minute, loudly.
      return [this, why = std::string(e.what())] {
        log_error("re-signing failed, retrying in 60 s: " + why);
        schedule_resign(std::chrono::system_clock::now() + std::chrono::seconds(60));
      };
    }
  }

  // On the control thread, after build_reload: the new state goes live.
  // Returns what it logs after "reloaded: ".
  std::string install_reload(std::shared_ptr<const ServingState> serving, MetricNames slots, long long build_ms) {
    epoch_ = serving->epoch;
    slots_ = std::move(slots);
    metrics_->update_names(slots_);
    metrics_->loaded(*serving);
    monitor_->set_files(serving->config.server.state_file, serving->config.server.resolver);
    monitor_->set_metrics_detail(serving->config.server.health_metrics);
    monitor_->configure(health_specs(serving->config), serving->epoch);
    if (sync_) {
      sync_->set_clusters(cluster_names(serving->config));
      sync_->set_rule(serving->config.sync->down_when);
    }
    const std::string text = summary(*serving);
    if (api_) api_->set_token(http_token(serving->config.server));
    if (http_) http_->set_limits(http_limits(serving->config.server));
    install(std::move(serving));
    metrics_->reload_result(true);
    // The build ran beside the workers, which answered from the old state meanwhile.
    const std::string outcome = text + "; built in " + std::to_string(build_ms) + " ms";
    log_info("reloaded: " + outcome);
    return outcome;
  }

  DaemonOptions options_;
  asio::io_context ctx_{1};
  uint64_t epoch_ = 0;
  uint64_t open_files_ = 0;   // RLIMIT_NOFILE after raising it at start: reloads must fit it too
  MetricNames slots_;
  ServerConfig server_config_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<health::Monitor> monitor_;
  std::optional<sync::SyncConfig> sync_config_;  // as started: a reload may change down_when only
  // After monitor_: destroyed (its thread joined) before the Monitor it calls.
  std::unique_ptr<sync::Sync> sync_;
  uint64_t drain_seq_ = 0;
  std::map<uint64_t, HttpRoutes::DrainDone> drains_waiting_;  // drains sent to etcd, by sequence (control thread)
  std::mutex verdict_mutex_;  // orders local verdicts handed to sync_ (see run())
  Published<Snapshot> snapshot_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<XdpAnswering> xdp_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<BuildThread> reloads_;
  std::unique_ptr<ControlServer> control_;
  std::optional<Takeover> takeover_;  // --replace, until serving
  pid_t handed_to_ = 0;               // the replacement that took over
  ControlActions::Done replace_done_;  // a `gslbd ctl replace` waiting
  asio::posix::stream_descriptor replacement_exit_{ctx_};  // pidfd of the spawned replacement
  // Reload requests (SIGHUP, ctl) counted on the control thread; a build reads it.
  std::atomic<uint64_t> reload_seq_{0};
  std::vector<std::pair<uint64_t, ControlActions::Done>> reload_waiters_;

  asio::steady_timer reclaim_{ctx_};
  asio::steady_timer resign_{ctx_};
  // What the next build is for: set on the control thread, taken on the build thread.
  std::atomic<bool> reload_requested_{false}, resign_requested_{false};

  std::mutex mutex_;  // guards the five below: the control and probe threads both publish
  std::vector<std::shared_ptr<const ServingState>> retired_;  // replaced, maybe still in use
  std::shared_ptr<const ServingState> serving_;
  std::shared_ptr<const health::HealthView> health_;
  std::shared_ptr<const health::HealthView> latest_view_;
  std::set<std::string> services_down_;  // services last logged with every cluster down
};

}  // namespace

int run_daemon(const DaemonOptions& options) { return Daemon(options).run(); }

int check_config(const std::string& config_path) {
  try {
    MetricNames slots;
    long long build_ms = 0;
    auto serving = load_and_build(config_path, open_files_hard_limit(), 1, &slots, &build_ms);
    const Config& c = serving->config;
    std::cout << config_path << ": OK: " << summary(*serving) << "\n";
    for (const auto& z : serving->zones) std::cout << "  zone " << z->origin_text << ": " << z->record_count << " record(s)\n";
    for (const auto& s : c.services) {
      std::cout << "  service " << s.name << ": ttl " << s.ttl << ", answers " << s.answers << ", clusters";
      for (const auto& cl : s.clusters) std::cout << " " << cl;
      std::cout << "\n";
    }
    for (const auto& cl : c.clusters) {
      std::cout << "  cluster " << cl.name << ": " << cl.ipv4.size() + cl.ipv6.size() << " ingress address(es), ";
      if (!cl.health.ingress_hosts.empty()) std::cout << cl.health.ingress_hosts.size() << " ingress host name(s), ";
      std::cout << cl.health.checks.size() << " check(s)\n";
      for (const auto& chk : cl.health.checks) std::cout << "    " << chk.describe() << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

}  // namespace gslb::dns
