// The health state machine, fed results directly with a fake clock.
#include <doctest/doctest.h>

#include "healthcheck/state.h"

namespace gslb::health {
namespace {

using TimePoint = HealthState::TimePoint;

const std::string kHttp = "http http://127.0.0.1:8081/healthz";
const std::string kTcp = "tcp 127.0.0.1:8443";

ClusterDef cluster(std::string name, std::vector<std::string> checks,
                   InitialState initial = InitialState::probe, bool any = false) {
  ClusterDef def{std::move(name), {}, any, initial};
  for (auto& id : checks) def.checks.push_back({std::move(id), 2, 3, {}, {}});
  return def;
}

ProbeResult ok() { return probe_ok(std::chrono::milliseconds(3)); }
ProbeResult fail(std::string reason = "HTTP 503") {
  return probe_failed(Failure::status, std::move(reason), std::chrono::milliseconds(3));
}

// A fake clock: each fed result happens one second after the previous one.
struct Fixture {
  HealthState state;
  TimePoint now{};
  std::vector<std::string> log;

  void feed(std::size_t c, std::size_t k, const ProbeResult& r, int times = 1) {
    for (int i = 0; i < times; ++i) {
      now += std::chrono::seconds(1);
      if (auto change = state.record(c, k, r, now)) log.push_back(change->log_line);
    }
  }
  bool up(std::size_t c) const { return state.answerable(c); }
};

TEST_CASE("probe-initial checks: the first result decides at once") {
  Fixture f;
  f.state.configure({cluster("eu-west", {kHttp}), cluster("us-east", {kHttp})}, f.now);
  CHECK_FALSE(f.state.initial_done());
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 0});
  CHECK(f.state.health(0) == Status::unknown);

  f.feed(0, 0, ok());
  f.feed(1, 0, fail());
  CHECK(f.state.initial_done());
  CHECK(f.state.up_vector() == std::vector<uint8_t>{1, 0});
  CHECK(f.state.health(1) == Status::down);
  REQUIRE(f.log.size() == 2);
  CHECK(f.log[0] == "cluster eu-west up: " + kHttp + ": ok (first probe)");
  CHECK(f.log[1] == "cluster us-east down: " + kHttp + ": HTTP 503 (first probe)");
}

TEST_CASE("fall consecutive failures take an up check down, transitioning before") {
  Fixture f;
  f.state.configure({cluster("eu-west", {kHttp})}, f.now);
  f.feed(0, 0, ok());
  f.log.clear();

  f.feed(0, 0, fail(), 2);
  CHECK(f.up(0));
  CHECK(f.state.transitioning(0));
  CHECK(f.state.check(0, 0).consecutive == 2);
  CHECK(f.log.empty());

  f.feed(0, 0, fail());
  CHECK_FALSE(f.up(0));
  CHECK_FALSE(f.state.transitioning(0));
  REQUIRE(f.log.size() == 1);
  CHECK(f.log[0] == "cluster eu-west down: " + kHttp + ": HTTP 503 (3/3 failures)");
  CHECK(f.state.check(0, 0).since == f.now);
}

TEST_CASE("a change carries its cluster, check and bounded reason as log fields") {
  HealthState state;
  ClusterDef def = cluster("eu-west", {kTcp, kHttp}, InitialState::up);
  def.checks[1].name = "web";
  state.configure({def}, {});
  std::optional<ClusterChange> change;
  for (int i = 0; i < 3 && !change; ++i)
    change = state.record(0, 1, probe_failed(Failure::timeout, "timeout after 300ms", {}), {});
  REQUIRE(change);
  CHECK(change->fields.cluster == "eu-west");
  CHECK(change->fields.check == "web");
  CHECK(change->fields.reason == "timeout");
  CHECK(change->fields.service.empty());
  for (int i = 0; i < 2; ++i) change = state.record(0, 1, ok(), {});
  REQUIRE(change);
  CHECK(change->fields.check == "web");
  CHECK(change->fields.reason.empty());   // a recovery has no failure to name

  const auto drain = state.set_drained("eu-west", true);
  REQUIRE(drain.change);
  CHECK(drain.change->fields.cluster == "eu-west");
  CHECK(drain.change->fields.check.empty());
  CHECK(drain.change->fields.reason == "drained");
  CHECK(state.set_drained("eu-west", false).change->fields.reason == "undrained");
}

TEST_CASE("a check's own initial state overrides its cluster's (a replacement's view)") {
  Fixture f;
  // As gslbd --replace seeds it: the cluster was down, its TCP check failing and
  // its HTTP check passing; a check without a state of its own starts as the cluster.
  ClusterDef def = cluster("eu-west", {kTcp, kHttp, "tcp 127.0.0.1:9"}, InitialState::down);
  def.checks[0].initial = InitialState::down;
  def.checks[1].initial = InitialState::up;
  f.state.configure({def}, f.now);
  CHECK(f.state.initial_done());
  CHECK(f.state.health(0) == Status::down);
  CHECK(f.state.check(0, 0).status == Status::down);
  CHECK(f.state.check(0, 1).status == Status::up);
  CHECK(f.state.check(0, 2).status == Status::down);
  f.feed(0, 2, ok(), 2);
  CHECK_FALSE(f.up(0));
  // rise passes of the failing check bring it back; the passing one needs none.
  f.feed(0, 0, ok(), 2);
  CHECK(f.up(0));
}

TEST_CASE("a success between failures restarts the count") {
  Fixture f;
  f.state.configure({cluster("eu-west", {kHttp})}, f.now);
  f.feed(0, 0, ok());
  for (int round = 0; round < 5; ++round) {
    f.feed(0, 0, fail(), 2);
    f.feed(0, 0, ok());
  }
  CHECK(f.up(0));
  CHECK_FALSE(f.state.transitioning(0));
}

TEST_CASE("rise consecutive successes bring a down check up, recovering before") {
  Fixture f;
  f.state.configure({cluster("eu-west", {kHttp})}, f.now);
  f.feed(0, 0, fail("connection refused"));
  f.log.clear();

  f.feed(0, 0, ok());
  CHECK_FALSE(f.up(0));
  CHECK(f.state.transitioning(0));
  f.feed(0, 0, fail("connection refused"));
  f.feed(0, 0, ok());
  CHECK_FALSE(f.up(0));
  f.feed(0, 0, ok());
  CHECK(f.up(0));
  REQUIRE(f.log.size() == 1);
  CHECK(f.log[0] == "cluster eu-west up: " + kHttp + ": ok (2/2 successes)");
}

TEST_CASE("initial_state up and down start so without waiting") {
  Fixture f;
  f.state.configure({cluster("a", {kHttp}, InitialState::up),
                     cluster("b", {kHttp}, InitialState::down)},
                    f.now);
  CHECK(f.state.initial_done());
  CHECK(f.state.up_vector() == std::vector<uint8_t>{1, 0});
  // Then ordinary hysteresis applies: one failure does not take "a" down.
  f.feed(0, 0, fail());
  f.feed(1, 0, ok());
  CHECK(f.state.up_vector() == std::vector<uint8_t>{1, 0});
  CHECK(f.state.transitioning_vector() == std::vector<uint8_t>{1, 1});
}

TEST_CASE("cluster up needs all checks, or any with require_any") {
  Fixture f;
  f.state.configure({cluster("all", {kHttp, kTcp}, InitialState::up),
                     cluster("any", {kHttp, kTcp}, InitialState::up, /*any=*/true)},
                    f.now);
  f.feed(0, 1, fail(), 3);
  f.feed(1, 1, fail(), 3);
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 1});
  f.feed(1, 0, fail("timeout after 1000ms"), 3);
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 0});
  CHECK(f.log.back() == "cluster any down: " + kHttp + ": timeout after 1000ms (3/3 failures)");
}

TEST_CASE("a cluster without checks is up") {
  Fixture f;
  f.state.configure({cluster("static", {})}, f.now);
  CHECK(f.state.initial_done());
  CHECK(f.up(0));
}

TEST_CASE("drained clusters are not up; drain of unknown names is refused") {
  Fixture f;
  f.state.configure({cluster("eu-west", {kHttp}, InitialState::up)}, f.now);
  auto r = f.state.set_drained("eu-west", true);
  CHECK(r.found);
  REQUIRE(r.change);
  CHECK_FALSE(r.change->up);
  CHECK_FALSE(f.up(0));
  CHECK(f.state.health(0) == Status::up);
  CHECK_FALSE(f.state.set_drained("eu-west", true).change);   // no change, no event
  CHECK_FALSE(f.state.set_drained("nowhere", true).found);

  // Health keeps moving underneath and is logged as such.
  f.feed(0, 0, fail(), 3);
  CHECK(f.log.back() == "cluster eu-west down (drained): " + kHttp + ": HTTP 503 (3/3 failures)");
  f.feed(0, 0, ok(), 2);
  r = f.state.set_drained("eu-west", false);
  REQUIRE(r.change);
  CHECK(r.change->up);
  CHECK(f.up(0));
}

TEST_CASE("reconfigure keeps state by cluster name and check identity") {
  Fixture f;
  f.state.configure({cluster("eu-west", {kHttp}), cluster("us-east", {kHttp})}, f.now);
  f.feed(0, 0, ok());
  f.feed(1, 0, fail());
  f.feed(0, 0, fail());   // eu-west: 1/3 failures

  // Order changes, a check is added to eu-west, us-east is gone, ap-south is new.
  f.state.configure({cluster("ap-south", {kTcp}), cluster("eu-west", {kTcp, kHttp})}, f.now);
  CHECK(f.state.size() == 2);
  CHECK(f.state.def(1).name == "eu-west");
  CHECK(f.state.check(1, 1).consecutive == 1);
  CHECK(f.state.check(1, 1).status == Status::up);
  // The new, unprobed check keeps eu-west up instead of hiding it until probed...
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 1});
  // ...but readiness still waits for it and for the new cluster.
  CHECK_FALSE(f.state.initial_done());
  f.feed(1, 1, fail(), 2);
  CHECK_FALSE(f.up(1));
  f.feed(1, 0, ok());
  f.feed(0, 0, ok());
  CHECK(f.state.initial_done());
}

TEST_CASE("duplicate identities are matched in order") {
  Fixture f;
  f.state.configure({cluster("c", {kHttp, kHttp}, InitialState::up)}, f.now);
  f.feed(0, 1, fail());
  f.state.configure({cluster("c", {kHttp, kHttp})}, f.now);
  CHECK(f.state.check(0, 0).consecutive == 0);
  CHECK(f.state.check(0, 1).consecutive == 1);
}

TEST_CASE("results for indices outside the configuration are ignored") {
  Fixture f;
  f.state.configure({cluster("c", {kHttp})}, f.now);
  CHECK_FALSE(f.state.record(5, 0, ok(), f.now));
  CHECK_FALSE(f.state.record(0, 5, ok(), f.now));
  CHECK_FALSE(f.state.check(0, 0).has_result);
}

}  // namespace
}  // namespace gslb::health

namespace gslb::health {
namespace {

TEST_CASE("an agreed value overrides the local health; a drain still wins") {
  Fixture f;
  f.state.configure({cluster("eu-west", {kHttp}), cluster("us-east", {kHttp})}, f.now);
  f.feed(0, 0, fail());
  f.feed(1, 0, ok());
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 1});
  f.state.set_agreed({{"eu-west", true}, {"us-east", false}, {"elsewhere", false}});
  CHECK(f.state.up_vector() == std::vector<uint8_t>{1, 0});
  CHECK(f.state.health(0) == Status::down);  // the local verdict is kept as it was
  f.state.set_drained("eu-west", true);
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 0});
  f.state.set_agreed({});  // back to local health
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 1});
}

TEST_CASE("the whole drained set is replaced, one change per configured cluster that moved") {
  Fixture f;
  f.state.configure({cluster("eu-west", {}), cluster("us-east", {})}, f.now);
  f.state.set_drained("us-east", true);
  const auto changes = f.state.replace_drained({"eu-west", "not-here"});
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].cause == ClusterChange::Cause::drained);
  CHECK(changes[0].cluster == 0);
  CHECK(changes[1].cause == ClusterChange::Cause::undrained);
  CHECK(changes[1].cluster == 1);
  CHECK(f.state.drained() == std::set<std::string>{"eu-west", "not-here"});
  CHECK(f.state.up_vector() == std::vector<uint8_t>{0, 1});
  CHECK(f.state.replace_drained({"eu-west", "not-here"}).empty());
}

}  // namespace
}  // namespace gslb::health
