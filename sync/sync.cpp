// The sync state machine: a session with etcd (lease, own votes, list, watch) that
// is rebuilt from scratch whenever any part of it fails, and the agreed view
// computed from what the session last knew.
//
// Keys under the prefix (values are JSON):
//   votes/<cluster>/<instance>  {"up":true,"reason":"HTTP 200","since":1700000000,"latency_ms":3.2}  (lease)
//   instances/<instance>        {"since":1700000000,"host":"ns1","pid":4711,"boot_id":...,"token":...}  (lease)
//   drain/<cluster>             {"drained":true}                                               (no lease)
//
// instances/<instance> is claimed with a transaction (created only when absent), and
// its value says which process holds the name: a second gslbd configured with the
// same instance name is refused instead of voting as the same instance, while this
// process's earlier session, its predecessor (gslbd --replace) or a crashed gslbd of
// this host (restarted within lease_ttl) take the key over. The holder puts back any
// of its keys that etcd shows deleted or put under another lease (a replaced
// process's last write, or its lease ending after the replacement wrote): whatever
// order the two processes' writes reach etcd in, the holder's keys are the ones left.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "sync/etcd_client.h"
#include "sync/sync.h"

namespace gslb::sync {

namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// Reconnection attempts back off from the first to the last, trying the next
// endpoint each time; capped so that etcd's return is noticed within a second.
constexpr Millis kFirstRetry{100};
constexpr Millis kMaxRetry{1000};
// The longest the sync thread sleeps with nothing due: bounds how late a stop is seen
// should a wakeup be lost.
constexpr Millis kMaxPoll{1000};
// A clean stop revokes the lease (the votes vanish at once, not a lease_ttl later),
// waiting at most this long for etcd.
constexpr Millis kRevokeWait{500};

const char* const kErrorKinds[] = {"connect", "lease", "write", "watch", "compacted", "garbage", "duplicate"};

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t as_int(const nlohmann::json& j) {
  // The gateway writes 64-bit integers as strings.
  if (j.is_string()) return std::atoll(j.get<std::string>().c_str());
  if (j.is_number_integer()) return j.get<int64_t>();
  return 0;
}

struct Vote {
  bool up = false;
  std::string reason;
  int64_t since = 0;
  double latency_ms = 0;
};

std::optional<Vote> parse_vote(const std::string& value) {
  const nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object() || !j.contains("up") || !j["up"].is_boolean()) return std::nullopt;
  Vote v;
  v.up = j["up"].get<bool>();
  if (j.contains("reason") && j["reason"].is_string()) v.reason = j["reason"].get<std::string>();
  if (j.contains("since") && j["since"].is_number()) v.since = j["since"].get<int64_t>();
  if (j.contains("latency_ms") && j["latency_ms"].is_number()) v.latency_ms = j["latency_ms"].get<double>();
  return v;
}

// Who holds an instance name, as written in instances/<instance>. boot_id tells this
// machine from a clone with the same host name; the token, this process from an
// earlier one with the same pid (a container's pid 1).
struct Owner {
  std::string host, boot_id, token;
  int64_t pid = 0;
};

Owner this_process() {
  Owner me;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) me.host = host;
  std::ifstream(std::string("/proc/sys/kernel/random/boot_id")) >> me.boot_id;
  std::random_device random;
  char token[17];
  std::snprintf(token, sizeof token, "%08x%08x", random(), random());
  me.token = token;
  me.pid = getpid();
  return me;
}

std::optional<Owner> parse_owner(const std::string& value) {
  const nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) return std::nullopt;
  Owner o;
  o.token = j["token"].get<std::string>();
  if (j.contains("host") && j["host"].is_string()) o.host = j["host"].get<std::string>();
  if (j.contains("boot_id") && j["boot_id"].is_string()) o.boot_id = j["boot_id"].get<std::string>();
  if (j.contains("pid") && j["pid"].is_number_integer()) o.pid = j["pid"].get<int64_t>();
  return o;
}

std::string describe(const Owner& o) { return "host " + o.host + ", pid " + std::to_string(o.pid); }

std::optional<bool> parse_drain(const std::string& value) {
  const nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object() || !j.contains("drained") || !j["drained"].is_boolean()) return std::nullopt;
  return j["drained"].get<bool>();
}

}  // namespace

struct Sync::Impl {
  Impl(SyncConfig c, Callbacks cb, prometheus::Registry& registry);

  // Any thread.
  void post(std::function<void()> task);
  void log(Severity s, const std::string& line) const {
    if (callbacks.log) {
      callbacks.log(s, line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }

  // Sync thread.
  void run();
  void connect();
  void fail(const char* kind, const std::string& error);
  // Another live gslbd holds the instance name (`held`, its instances/ value).
  void refuse(const std::string& held);
  void end_session();
  void claim(uint64_t s, bool first);
  void write_votes(uint64_t s, bool first);
  bool may_take(const std::string& held) const;
  std::string owner_value() const;
  void list(uint64_t s);
  void start_watch(uint64_t s, int64_t from);
  void on_watch(uint64_t s, const nlohmann::json& message);
  // A key of this instance's as etcd shows it now (deleted: value empty).
  struct OwnKey {
    std::string key;
    bool deleted = false;
    int64_t lease = 0, revision = 0;
    std::string value;
  };
  std::optional<OwnKey> own_key(const std::string& key, const nlohmann::json& kv, bool deleted) const;
  void check_own(uint64_t s, const OwnKey& k);
  void keepalive();
  // `then` runs once etcd has the write (not when it fails: the session ends).
  void put_vote(const std::string& cluster, std::function<void()> then = {});
  // mu held: one key's new value (or its deletion: value nullopt).
  void apply_locked(const std::string& key, const std::optional<std::string>& value);
  void clear_locked();
  // Recomputes the agreed view and the metrics; hands out what changed.
  void refresh();
  std::string key(const std::string& kind, const std::string& rest) const { return config.etcd.prefix + kind + rest; }
  Millis request_timeout() const { return std::clamp(config.etcd.lease_ttl / 3, Millis(300), Millis(2000)); }

  Callbacks callbacks;
  EtcdClient client;
  const Owner me = this_process();
  int64_t predecessor = 0;  // replaces(): set before the thread starts

  mutable std::mutex mu;  // guards everything below up to the thread
  SyncConfig config;
  std::vector<std::function<void()>> tasks;
  bool stopping = false;
  std::vector<std::string> clusters;
  struct Local {
    Verdict verdict;
    int64_t since = 0;
  };
  std::map<std::string, Local> local;                          // own verdicts by cluster
  std::map<std::string, std::map<std::string, Vote>> votes;    // cluster -> instance -> vote (others)
  std::set<std::string> instances;                             // live, from instances/ keys
  std::set<std::string> drained;
  std::set<std::string> garbage_logged;                        // keys whose bad value was logged
  bool connected = false;
  std::string conflict;        // Status::conflict
  int64_t revision = 0;
  bool have_revision = false;  // a watch may resume from revision + 1
  // While disconnected: the agreed view at the loss, less the clusters whose local
  // verdict changed since (they follow it).
  std::map<std::string, bool> frozen;
  std::map<std::string, bool> agreed;   // as last handed out
  std::set<std::string> drained_out;    // as last handed out
  bool drained_known = false;           // etcd's drain set has been handed out once

  // Sync thread only.
  uint64_t session = 0;        // callbacks of an older session are dropped
  int64_t lease = 0;
  uint64_t watch_id = 0;
  int64_t claimed_at = 0;      // revision of the session's claim: older events of own keys are done with
  std::string superseded;      // who took the instance key over (a replacement): votes are its to write
  std::set<uint64_t> drain_calls;  // drain() calls in flight: a session's end does not cancel them
  std::optional<Clock::time_point> keepalive_at, retry_at;
  Clock::time_point lease_renewed{};   // granted or last kept alive
  Millis backoff = kFirstRetry;
  bool outage_logged = false;
  bool ever_connected = false;

  // Metrics.
  prometheus::Gauge& connected_gauge;
  prometheus::Gauge& live_gauge;
  prometheus::Family<prometheus::Gauge>& votes_family;
  std::map<std::pair<std::string, bool>, prometheus::Gauge*> vote_gauges;
  prometheus::Counter& writes;
  prometheus::Family<prometheus::Counter>& errors;

  std::thread thread;
};

Sync::Impl::Impl(SyncConfig c, Callbacks cb, prometheus::Registry& registry)
    : callbacks(std::move(cb)),
      client(c.etcd.endpoints, c.etcd.tls),
      config(std::move(c)),
      connected_gauge(prometheus::BuildGauge()
                          .Name("gslb_sync_connected")
                          .Help("1 while this instance's session with etcd (lease, watch) is up; 0 while it "
                                "answers on its local verdicts merged with the last agreed state")
                          .Register(registry)
                          .Add({})),
      live_gauge(prometheus::BuildGauge()
                     .Name("gslb_sync_live_instances")
                     .Help("Instances whose etcd lease is alive, this one included, as last seen")
                     .Register(registry)
                     .Add({})),
      votes_family(prometheus::BuildGauge()
                       .Name("gslb_sync_votes")
                       .Help("Live instances' votes per cluster and verdict, this instance's own included")
                       .Register(registry)),
      writes(prometheus::BuildCounter()
                 .Name("gslb_sync_writes_total")
                 .Help("Writes of this instance's votes and drains to etcd")
                 .Register(registry)
                 .Add({})),
      errors(prometheus::BuildCounter()
                 .Name("gslb_sync_errors_total")
                 .Help("etcd failures by kind: connect, lease, write, watch, compacted (a re-list), garbage "
                       "(a value under the prefix that does not parse), duplicate (a connection refused because another live "
                       "gslbd holds this instance's name)")
                 .Register(registry)) {
  for (const char* kind : kErrorKinds) errors.Add({{"kind", kind}});
}

void Sync::Impl::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu);
    tasks.push_back(std::move(task));
  }
  client.wakeup();
}

void Sync::Impl::run() {
  connect();
  for (;;) {
    std::vector<std::function<void()>> due;
    {
      std::lock_guard lock(mu);
      if (stopping) break;
      due.swap(tasks);
    }
    for (auto& task : due) task();
    const auto now = Clock::now();
    if (retry_at && *retry_at <= now) {
      retry_at.reset();
      connect();
    }
    if (keepalive_at && *keepalive_at <= now) keepalive();
    auto next = now + kMaxPoll;
    for (const auto& at : {retry_at, keepalive_at})
      if (at) next = std::min(next, *at);
    client.poll(std::max(Millis(0), std::chrono::ceil<Millis>(next - Clock::now())));
  }
  // Best effort: votes that vanish now instead of at lease expiry.
  if (lease != 0 && connected) {
    bool done = false;
    client.cancel_all();
    client.call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}, kRevokeWait,
                [&done](EtcdClient::Reply) { done = true; });
    const auto until = Clock::now() + kRevokeWait;
    while (!done && Clock::now() < until) client.poll(Millis(50));
  }
  client.cancel_all();
}

void Sync::Impl::connect() {
  const uint64_t s = ++session;
  const long ttl = static_cast<long>(std::chrono::ceil<std::chrono::seconds>(config.etcd.lease_ttl).count());
  client.call("/v3/lease/grant", {{"TTL", ttl}}, request_timeout(), [this, s](EtcdClient::Reply r) {
    if (s != session) return;
    if (!r.error.empty()) return fail("connect", r.error);
    lease = as_int(r.body.value("ID", nlohmann::json()));
    if (lease == 0) return fail("connect", "lease grant without an ID: " + r.body.dump());
    lease_renewed = Clock::now();
    keepalive_at = lease_renewed + config.etcd.lease_ttl / 3;
    claim(s, true);
  });
}

void Sync::Impl::fail(const char* kind, const std::string& error) {
  errors.Add({{"kind", kind}}).Increment();
  const bool was_connected = connected;
  if (!outage_logged) {
    outage_logged = true;
    if (was_connected || ever_connected) {
      log(Severity::warning, "sync: lost etcd (" + client.endpoint() + ": " + error +
                                 "); answering on local verdicts merged with the last agreed state until it is back");
    } else {
      log(Severity::warning, "sync: etcd not reachable (" + client.endpoint() + ": " + error +
                                 "); answering on local verdicts until it is");
    }
  }
  end_session();
  client.next_endpoint();
  retry_at = Clock::now() + backoff;
  backoff = std::min(backoff * 2, kMaxRetry);
  refresh();
}

void Sync::Impl::refuse(const std::string& held) {
  errors.Add({{"kind", "duplicate"}}).Increment();
  const auto owner = parse_owner(held);
  const std::string who = owner ? describe(*owner) : "unknown";
  bool first_time;
  {
    std::lock_guard lock(mu);
    first_time = conflict != who;
    conflict = who;
  }
  // The replacement that took this process's keys over is no duplicate.
  if (first_time && who != superseded)
    log(Severity::error, "sync: instance name " + config.etcd.instance + " is held in etcd by another gslbd (" + who +
                             "): this one does not join (no votes written, answering on its local verdicts) and "
                             "tries again every second until the name is free; give each gslbd its own "
                             "sync.etcd.instance");
  const int64_t unused = lease;
  end_session();
  client.call("/v3/lease/revoke", {{"ID", std::to_string(unused)}}, request_timeout(), [](EtcdClient::Reply) {});
  retry_at = Clock::now() + kMaxRetry;
  refresh();
}

void Sync::Impl::end_session() {
  {
    std::lock_guard lock(mu);
    if (connected) frozen = agreed;
    connected = false;
  }
  connected_gauge.Set(0);
  ++session;
  client.cancel_all(drain_calls);
  watch_id = 0;
  lease = 0;
  keepalive_at.reset();
}

std::string Sync::Impl::owner_value() const {
  return nlohmann::json{{"since", unix_now()}, {"host", me.host}, {"pid", me.pid}, {"boot_id", me.boot_id},
                        {"token", me.token}}
      .dump();
}

// The instance key may be taken over from this process itself (an earlier session's
// lease not yet expired), from its predecessor, from a gslbd of this host that is
// gone (kill -9, restarted within lease_ttl), or when no gslbd's identity is in it
// (written by hand). Anything else is another live gslbd with the same name.
bool Sync::Impl::may_take(const std::string& held) const {
  const auto o = parse_owner(held);
  if (!o || o->token == me.token) return true;
  if (o->host != me.host || o->boot_id != me.boot_id) return false;
  if (o->pid == predecessor || o->pid == me.pid || o->pid <= 0) return true;
  return kill(static_cast<pid_t>(o->pid), 0) != 0 && errno == ESRCH;
}

void Sync::Impl::claim(uint64_t s, bool first) {
  const std::string k = b64(key("instances/", config.etcd.instance));
  const nlohmann::json put = {{"key", k}, {"value", b64(owner_value())}, {"lease", std::to_string(lease)}};
  const nlohmann::json txn = {
      {"compare", nlohmann::json::array({{{"result", "EQUAL"}, {"target", "CREATE"}, {"key", k}, {"create_revision", "0"}}})},
      {"success", nlohmann::json::array({{{"request_put", put}}})},
      {"failure", nlohmann::json::array({{{"request_range", {{"key", k}}}}})}};
  auto claimed = [this, s, first](const EtcdClient::Reply& r) {
    claimed_at = as_int(r.body.value("header", nlohmann::json::object()).value("revision", nlohmann::json()));
    superseded.clear();
    write_votes(s, first);
  };
  writes.Increment();
  client.call("/v3/kv/txn", txn, request_timeout(), [this, s, put, claimed](EtcdClient::Reply r) {
    if (s != session) return;
    if (!r.error.empty()) return fail("write", r.error);
    if (r.body.value("succeeded", false)) return claimed(r);
    std::string held;
    for (const auto& response : r.body.value("responses", nlohmann::json::array()))
      for (const auto& kv : response.value("response_range", nlohmann::json::object()).value("kvs", nlohmann::json::array()))
        unb64(kv.value("value", ""), &held);
    if (!may_take(held)) return refuse(held);
    writes.Increment();
    client.call("/v3/kv/put", put, request_timeout(), [this, s, claimed](EtcdClient::Reply taken) {
      if (s != session) return;
      if (!taken.error.empty()) return fail("write", taken.error);
      claimed(taken);
    });
  });
}

// Every own verdict with the session's lease; the session's first write goes on to
// the list (or the watch's resumption) once etcd has them all.
void Sync::Impl::write_votes(uint64_t s, bool first) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu);
    for (const auto& [cluster, l] : local) names.push_back(cluster);
  }
  auto watch = [this, s] {
    bool resume;
    int64_t from;
    {
      std::lock_guard lock(mu);
      resume = have_revision;
      from = revision + 1;
    }
    if (resume) {
      start_watch(s, from);
    } else {
      list(s);
    }
  };
  if (first && names.empty()) return watch();
  auto left = std::make_shared<std::size_t>(names.size());
  for (const std::string& cluster : names)
    put_vote(cluster, first ? std::function<void()>([left, watch] {
      if (--*left == 0) watch();
    })
                            : nullptr);
}

void Sync::Impl::list(uint64_t s) {
  const std::string& prefix = config.etcd.prefix;
  client.call("/v3/kv/range", {{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))}}, request_timeout(),
              [this, s](EtcdClient::Reply r) {
                if (s != session) return;
                if (!r.error.empty()) return fail("connect", r.error);
                int64_t rev;
                std::vector<OwnKey> own;
                {
                  std::lock_guard lock(mu);
                  clear_locked();
                  for (const auto& kv : r.body.value("kvs", nlohmann::json::array())) {
                    std::string k, v;
                    if (!unb64(kv.value("key", ""), &k) || !unb64(kv.value("value", ""), &v)) continue;
                    apply_locked(k, v);
                    if (auto o = own_key(k, kv, false)) own.push_back(std::move(*o));
                  }
                  revision = rev = as_int(r.body["header"].value("revision", nlohmann::json()));
                  have_revision = true;
                }
                start_watch(s, rev + 1);
                for (const OwnKey& o : own) check_own(s, o);
              });
}

void Sync::Impl::start_watch(uint64_t s, int64_t from) {
  const std::string& prefix = config.etcd.prefix;
  const nlohmann::json request = {{"create_request",
                                   {{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))},
                                    {"start_revision", std::to_string(from)}}}};
  watch_id = client.watch(
      request, [this, s](const nlohmann::json& m) { on_watch(s, m); },
      [this, s](EtcdClient::Reply r) {
        if (s == session) fail("watch", r.error);
      });
}

void Sync::Impl::on_watch(uint64_t s, const nlohmann::json& message) {
  if (s != session) return;
  if (message.contains("error")) return fail("watch", message["error"].dump());
  const nlohmann::json& r = message.value("result", nlohmann::json::object());
  if (r.value("canceled", false)) {
    const int64_t compacted = as_int(r.value("compact_revision", nlohmann::json()));
    if (compacted == 0) return fail("watch", "watch canceled: " + r.dump());
    // The revision to resume from is gone: list everything again and watch from there.
    errors.Add({{"kind", "compacted"}}).Increment();
    log(Severity::info, "sync: etcd compacted past revision " + std::to_string(compacted - 1) +
                            " of the watch; listing the prefix again");
    client.cancel(watch_id);
    watch_id = 0;
    return list(s);
  }
  std::vector<OwnKey> own;
  {
    std::lock_guard lock(mu);
    for (const auto& e : r.value("events", nlohmann::json::array())) {
      const nlohmann::json& kv = e.value("kv", nlohmann::json::object());
      std::string k, v;
      if (!unb64(kv.value("key", ""), &k)) continue;
      const bool deleted = e.value("type", "PUT") == "DELETE";
      if (deleted) {
        apply_locked(k, std::nullopt);
      } else if (unb64(kv.value("value", ""), &v)) {
        apply_locked(k, v);
      }
      if (auto o = own_key(k, kv, deleted)) own.push_back(std::move(*o));
      revision = std::max(revision, as_int(kv.value("mod_revision", nlohmann::json())));
    }
    if (r.contains("header")) revision = std::max(revision, as_int(r["header"].value("revision", nlohmann::json())));
  }
  if (r.value("created", false) && !connected) {
    {
      std::lock_guard lock(mu);
      connected = true;
      conflict.clear();
      frozen.clear();
    }
    connected_gauge.Set(1);
    backoff = kFirstRetry;
    outage_logged = false;
    ever_connected = true;
    std::size_t live;
    {
      std::lock_guard lock(mu);
      live = instances.size();
    }
    log(Severity::info, "sync: connected to etcd at " + client.endpoint() + " as instance " + config.etcd.instance +
                            " (lease " + std::to_string(lease) + ", " + std::to_string(live) +
                            " live instance(s), revision " + std::to_string(revision) + ")");
  }
  for (const OwnKey& o : own) check_own(s, o);
  refresh();
}

std::optional<Sync::Impl::OwnKey> Sync::Impl::own_key(const std::string& k, const nlohmann::json& kv,
                                                      bool deleted) const {
  const std::string& instance = config.etcd.instance;
  const std::string of_votes = config.etcd.prefix + "votes/";
  const bool vote = k.size() > of_votes.size() + instance.size() + 1 && k.compare(0, of_votes.size(), of_votes) == 0 &&
                    k.compare(k.size() - instance.size() - 1, std::string::npos, "/" + instance) == 0;
  if (!vote && k != key("instances/", instance)) return std::nullopt;
  OwnKey o{k, deleted, as_int(kv.value("lease", nlohmann::json())), as_int(kv.value("mod_revision", nlohmann::json())), {}};
  if (!deleted) unb64(kv.value("value", ""), &o.value);
  return o;
}

// Own keys that someone else changed: a replaced gslbd's last vote or the end of its
// lease (after this process wrote), an etcdctl del, or this process's replacement
// taking the instance key over.
void Sync::Impl::check_own(uint64_t s, const OwnKey& o) {
  if (s != session || lease == 0 || o.revision <= claimed_at) return;  // older: the claim rewrote them all
  if (!o.deleted && o.lease == lease) return;                          // this session's own write
  if (o.key == key("instances/", config.etcd.instance)) {
    if (o.deleted || may_take(o.value)) {
      if (!superseded.empty())
        log(Severity::info, "sync: the gslbd that took instance " + config.etcd.instance + " over (" + superseded +
                                ") is gone; this process writes its votes again");
      return claim(s, false);
    }
    if (superseded.empty()) {
      const auto owner = parse_owner(o.value);
      superseded = owner ? describe(*owner) : "unknown";
      log(Severity::info, "sync: instance " + config.etcd.instance + " taken over in etcd by " + superseded +
                              " (a gslbd replacing this one): this process writes no more votes");
    }
    return;
  }
  if (!superseded.empty()) return;
  const std::string cluster =
      o.key.substr(config.etcd.prefix.size() + 6, o.key.size() - config.etcd.prefix.size() - 6 - config.etcd.instance.size() - 1);
  {
    std::lock_guard lock(mu);
    if (local.count(cluster) == 0) return;
  }
  put_vote(cluster);
}

void Sync::Impl::keepalive() {
  keepalive_at = Clock::now() + config.etcd.lease_ttl / 3;
  const uint64_t s = session;
  client.call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}, request_timeout(), [this, s](EtcdClient::Reply r) {
    if (s != session) return;
    if (r.error.empty()) {
      // No TTL in the answer: the lease is gone (it expired while we could not reach etcd).
      if (as_int(r.body.value("result", nlohmann::json::object()).value("TTL", nlohmann::json())) <= 0)
        return fail("lease", "lease " + std::to_string(lease) + " expired");
      lease_renewed = Clock::now();
      return;
    }
    // One slow or lost keep-alive (a busy member, a leader election) is not a lost
    // lease: try again soon, and end the session only when the lease may run out
    // before another attempt could renew it.
    if (Clock::now() - lease_renewed + 2 * request_timeout() < config.etcd.lease_ttl) {
      errors.Add({{"kind", "lease"}}).Increment();
      keepalive_at = Clock::now() + kFirstRetry;
      return;
    }
    fail("lease", r.error);
  });
}

void Sync::Impl::put_vote(const std::string& cluster, std::function<void()> then) {
  // Written with the others when the session is (re)built; none while a replacement
  // holds the instance.
  if (lease == 0 || !superseded.empty()) return;
  std::string k, v;
  {
    std::lock_guard lock(mu);
    const auto it = local.find(cluster);
    k = key("votes/", cluster + "/" + config.etcd.instance);
    if (it != local.end())
      v = nlohmann::json{{"up", it->second.verdict.up}, {"reason", it->second.verdict.reason},
                         {"since", it->second.since}, {"latency_ms", it->second.verdict.latency_ms}}
              .dump();
  }
  const uint64_t s = session;
  writes.Increment();
  auto done = [this, s, then](EtcdClient::Reply r) {
    if (s != session) return;
    if (!r.error.empty()) return fail("write", r.error);
    if (then) then();
  };
  if (v.empty()) {
    client.call("/v3/kv/deleterange", {{"key", b64(k)}}, request_timeout(), done);
  } else {
    client.call("/v3/kv/put", {{"key", b64(k)}, {"value", b64(v)}, {"lease", std::to_string(lease)}}, request_timeout(),
                done);
  }
}

void Sync::Impl::clear_locked() {
  votes.clear();
  instances.clear();
  drained.clear();
}

void Sync::Impl::apply_locked(const std::string& k, const std::optional<std::string>& value) {
  const std::string& prefix = config.etcd.prefix;
  if (k.compare(0, prefix.size(), prefix) != 0) return;
  const std::string rest = k.substr(prefix.size());
  auto garbage = [&](const std::string& why) {
    errors.Add({{"kind", "garbage"}}).Increment();
    if (garbage_logged.insert(k).second)
      log(Severity::warning, "sync: ignoring " + k + " in etcd: " + why + " (said once per key)");
  };
  if (rest.rfind("votes/", 0) == 0) {
    const std::string path = rest.substr(6);
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == path.size()) return garbage("not votes/CLUSTER/INSTANCE");
    const std::string cluster = path.substr(0, slash), instance = path.substr(slash + 1);
    auto& of = votes[cluster];
    of.erase(instance);
    if (!value) return;
    const auto vote = parse_vote(*value);
    if (!vote) return garbage("a vote is {\"up\":true|false,\"reason\":...,\"since\":...,\"latency_ms\":...}");
    if (instance != config.etcd.instance) of[instance] = *vote;
  } else if (rest.rfind("drain/", 0) == 0) {
    const std::string cluster = rest.substr(6);
    drained.erase(cluster);
    if (!value) return;
    const auto d = parse_drain(*value);
    if (!d) return garbage("a drain is {\"drained\":true}");
    if (*d) drained.insert(cluster);
  } else if (rest.rfind("instances/", 0) == 0) {
    if (value) {
      instances.insert(rest.substr(10));
    } else {
      instances.erase(rest.substr(10));
    }
  } else if (value) {
    garbage("not a key gslbd writes (votes/, drain/, instances/)");
  }
}

void Sync::Impl::refresh() {
  std::map<std::string, bool> now;
  std::optional<std::set<std::string>> drains;
  bool agreed_changed;
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mu);
    live_gauge.Set(static_cast<double>(instances.size()));
    for (const std::string& cluster : clusters) {
      std::vector<bool> ballot;
      const auto it = votes.find(cluster);
      if (it != votes.end())
        for (const auto& [instance, v] : it->second) ballot.push_back(v.up);
      const auto own = local.find(cluster);
      if (own != local.end()) ballot.push_back(own->second.verdict.up);
      const auto ups = static_cast<double>(std::count(ballot.begin(), ballot.end(), true));
      for (const bool up : {true, false}) {
        auto& g = vote_gauges[{cluster, up}];
        if (!g) g = &votes_family.Add({{"cluster", cluster}, {"verdict", up ? "up" : "down"}});
        g->Set(up ? ups : static_cast<double>(ballot.size()) - ups);
      }
      if (connected) {
        if (const auto a = agreed_up(ballot, config.down_when)) now[cluster] = *a;
      } else if (const auto f = frozen.find(cluster); f != frozen.end()) {
        now[cluster] = f->second;
      }
    }
    agreed_changed = now != agreed;
    for (const auto& [cluster, up] : now) {
      const auto before = agreed.find(cluster);
      if (before != agreed.end() && before->second == up) continue;
      const auto own = local.find(cluster);
      std::string line = "sync: cluster " + cluster + " agreed " + (up ? "up" : "down") + " (" +
                         to_string(config.down_when) + " of " + std::to_string(votes[cluster].size() + (own != local.end())) +
                         " vote(s)";
      if (own != local.end() && own->second.verdict.up != up)
        line += std::string("; locally ") + (own->second.verdict.up ? "up" : "down");
      lines.push_back(line + ")");
    }
    agreed = now;
    if (connected && (!drained_known || drained != drained_out)) {
      drained_known = true;
      drained_out = drained;
      drains = drained;
    }
  }
  for (const std::string& line : lines) log(Severity::info, line);
  if (agreed_changed && callbacks.agreed) callbacks.agreed(now);
  if (drains && callbacks.drained) callbacks.drained(*drains);
}

Sync::Sync(SyncConfig config, Callbacks callbacks, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(callbacks), registry)) {}

Sync::~Sync() { stop(); }

void Sync::start() {
  if (!impl_->thread.joinable()) impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void Sync::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->client.wakeup();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void Sync::set_clusters(std::vector<std::string> names) {
  impl_->post([impl = impl_.get(), names = std::move(names)] {
    std::vector<std::string> gone;
    {
      std::lock_guard lock(impl->mu);
      for (auto it = impl->local.begin(); it != impl->local.end();) {
        if (std::find(names.begin(), names.end(), it->first) == names.end()) {
          gone.push_back(it->first);
          it = impl->local.erase(it);
        } else {
          ++it;
        }
      }
      impl->clusters = names;
      // A cluster a reload removed leaves no series behind.
      for (auto it = impl->vote_gauges.begin(); it != impl->vote_gauges.end();) {
        if (std::find(names.begin(), names.end(), it->first.first) == names.end()) {
          impl->votes_family.Remove(it->second);
          it = impl->vote_gauges.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const std::string& cluster : gone) impl->put_vote(cluster);
    impl->refresh();
  });
}

void Sync::set_rule(DownRule rule) {
  impl_->post([impl = impl_.get(), rule] {
    {
      std::lock_guard lock(impl->mu);
      if (impl->config.down_when == rule) return;
      impl->config.down_when = rule;
    }
    impl->log(Severity::info, "sync: down_when is now " + to_string(rule));
    impl->refresh();
  });
}

void Sync::local_verdict(Verdict verdict) {
  impl_->post([impl = impl_.get(), verdict = std::move(verdict)] {
    const std::string cluster = verdict.cluster;
    {
      std::lock_guard lock(impl->mu);
      auto& l = impl->local[cluster];
      const bool changed = l.since == 0 || l.verdict.up != verdict.up;
      if (changed) l.since = unix_now();
      l.verdict = verdict;
      // Disconnected: a cluster whose own verdict moved follows it from now on.
      if (changed && !impl->connected && impl->frozen.erase(cluster) > 0)
        impl->log(Severity::info, "sync: cluster " + cluster + " follows its local verdict (" +
                                      (verdict.up ? "up" : "down") + ") until etcd is back");
    }
    impl->put_vote(cluster);
    impl->refresh();
  });
}

void Sync::replaces(int64_t pid) { impl_->predecessor = pid; }

void Sync::drain(const std::string& cluster, bool drained, std::chrono::milliseconds timeout, DrainDone done) {
  const Clock::time_point deadline = Clock::now() + timeout;
  impl_->post([impl = impl_.get(), cluster, drained, deadline, done = std::move(done)] {
    if (!impl->connected) {
      if (!impl->conflict.empty())
        return done("this instance has not joined: another gslbd holds its instance name (" + impl->conflict + ")");
      return done("etcd is not reachable; try again when it is");
    }
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left <= Millis(0)) return done("the etcd client was too busy to send it in time; try again");
    const std::string k = impl->key("drain/", cluster);
    auto id = std::make_shared<uint64_t>(0);
    auto finished = [impl, cluster, drained, done, id](EtcdClient::Reply r) {
      impl->drain_calls.erase(*id);
      if (!r.error.empty()) {
        impl->errors.Add({{"kind", "write"}}).Increment();
        // A request etcd applied whose answer was lost still takes effect everywhere.
        return done("etcd: " + r.error +
                    " (should etcd have stored it nonetheless, every instance applies it: GET /status shows the "
                    "drains in effect)");
      }
      // Applied here before the answer, so that this instance's next answer has it;
      // the watch brings the same change again, which changes nothing.
      {
        std::lock_guard lock(impl->mu);
        if (drained) {
          impl->drained.insert(cluster);
        } else {
          impl->drained.erase(cluster);
        }
      }
      impl->refresh();
      done("");
    };
    impl->writes.Increment();
    const Millis wait = std::min(impl->request_timeout(), left);
    if (drained) {
      *id = impl->client.call("/v3/kv/put", {{"key", b64(k)}, {"value", b64(R"({"drained":true})")}}, wait, finished);
    } else {
      *id = impl->client.call("/v3/kv/deleterange", {{"key", b64(k)}}, wait, finished);
    }
    impl->drain_calls.insert(*id);
  });
}

Status Sync::status() const {
  std::lock_guard lock(impl_->mu);
  Status st;
  st.connected = impl_->connected;
  st.instance = impl_->config.etcd.instance;
  st.conflict = impl_->conflict;
  st.live_instances = static_cast<unsigned>(impl_->instances.size());
  st.revision = impl_->revision;
  const int64_t now = unix_now();
  for (const std::string& name : impl_->clusters) {
    Status::Cluster c;
    c.name = name;
    const auto own = impl_->local.find(name);
    if (own != impl_->local.end()) {
      c.local = own->second.verdict.up;
      c.votes.push_back({impl_->config.etcd.instance, own->second.verdict.up, own->second.verdict.reason,
                         static_cast<double>(now - own->second.since)});
    }
    if (const auto it = impl_->votes.find(name); it != impl_->votes.end())
      for (const auto& [instance, v] : it->second)
        c.votes.push_back({instance, v.up, v.reason, static_cast<double>(std::max<int64_t>(0, now - v.since))});
    if (const auto a = impl_->agreed.find(name); a != impl_->agreed.end()) c.agreed = a->second;
    st.clusters.push_back(std::move(c));
  }
  return st;
}

}  // namespace gslb::sync
