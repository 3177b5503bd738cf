// The probe schedule without a clock: when first probes go, and the lag meter on a
// fake clock (late starts, bursts logged once at each end, timeouts discounted only
// when the engine was stalled during the probe).
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <string>

#include "healthcheck/check_runner.h"
#include "healthcheck/lag.h"

namespace gslb::health {
namespace {

using namespace std::chrono_literals;
using TimePoint = LagMeter::TimePoint;

TEST_CASE("first probes: those start-up waits for at 5,000 a second, the others over one interval") {
  // 10,000 checks waited for: spread over 2 s, but never past their 1 s interval.
  std::vector<FirstProbe> many(10000, FirstProbe{1000ms, true});
  std::vector<Millis> delays = first_probe_delays(many);
  CHECK(delays.front() == 0ms);
  CHECK(*std::max_element(delays.begin(), delays.end()) == 999ms);
  // evenly: no millisecond gets more than its share (10 here)
  std::vector<int> per_ms(1000);
  for (const Millis d : delays) ++per_ms[static_cast<std::size_t>(d.count())];
  CHECK(*std::max_element(per_ms.begin(), per_ms.end()) <= 11);

  // A few waited for go at once: start-up is not slowed for them.
  delays = first_probe_delays(std::vector<FirstProbe>(3, FirstProbe{60000ms, true}));
  CHECK(delays == std::vector<Millis>{0ms, 0ms, 0ms});

  // 1,000 waited for (200 ms at the rate) and 4 others (spread over their own 2 s interval).
  std::vector<FirstProbe> mixed(1000, FirstProbe{10000ms, true});
  for (int i = 0; i < 4; ++i) mixed.push_back({2000ms, false});
  delays = first_probe_delays(mixed);
  CHECK(delays[999] == 199ms);
  CHECK(std::vector<Millis>(delays.begin() + 1000, delays.end()) == std::vector<Millis>{0ms, 500ms, 1000ms, 1500ms});
}

TEST_CASE("due probes start 16 a turn, behind the work queued before each turn") {
  boost::asio::io_context io;
  StartQueue starts(io);
  std::vector<std::string> ran;
  auto alive = std::make_shared<int>(0), gone = std::make_shared<int>(0);
  for (int i = 0; i < 40; ++i) starts.push(i == 3 ? gone : alive, [&ran, i] { ran.push_back(std::to_string(i)); });
  // Ready work (an answer read, say) queued after the first turn: it runs before the
  // second, not after all 40 starts.
  boost::asio::post(io, [&ran] { ran.push_back("io"); });
  gone.reset();   // a runner destroyed meanwhile is not started
  io.run();
  std::vector<std::string> expected;
  for (int i = 0; i < 16; ++i)
    if (i != 3) expected.push_back(std::to_string(i));
  expected.push_back("io");
  for (int i = 16; i < 40; ++i) expected.push_back(std::to_string(i));
  CHECK(ran == expected);
}

TEST_CASE("on-time probes: no lag, no line, no stall") {
  LagMeter meter;
  TimePoint now{};
  for (int i = 0; i < 50; ++i) {
    now += 100ms;
    meter.started(now - 2ms, now, 1000ms);
  }
  const auto report = meter.poll(now);
  CHECK(report.line.empty());
  CHECK(report.worst_seconds == doctest::Approx(0.002));
}

TEST_CASE("a burst of late probes is logged once when it starts and once when it ends") {
  LagMeter meter;
  TimePoint now = TimePoint{} + 100s;
  // Two seconds of probes starting 400 ms late against a 1 s interval.
  for (int i = 0; i < 20; ++i) {
    now += 100ms;
    meter.started(now - 400ms, now, 1000ms);
    if (i == 9) {
      const auto first = meter.poll(now);
      CHECK(first.warning);
      CHECK(first.line.find("probe engine is behind: 10 probe(s) started late, worst by 400 ms") != std::string::npos);
      CHECK(first.worst_seconds == doctest::Approx(0.4));
    }
  }
  CHECK(meter.poll(now).line.empty());   // still behind: said once
  // Back on time; the burst ends kQuiet after the last late start.
  const TimePoint last_late = now;
  while (now - last_late < LagMeter::kQuiet) {
    now += 100ms;
    meter.started(now, now, 1000ms);
    CHECK(meter.poll(now).line.empty());
  }
  now += 100ms;
  const auto caught_up = meter.poll(now);
  CHECK_FALSE(caught_up.warning);
  CHECK(caught_up.line == "healthcheck: the probe engine caught up: 20 probe(s) started late, worst by 400 ms");
  CHECK(meter.poll(now).line.empty());
  // The gauge forgets after kWindow.
  now += LagMeter::kWindow;
  CHECK(meter.poll(now).worst_seconds == 0);
}

TEST_CASE("lateness within a tenth of the interval (at least 100 ms) is no burst") {
  LagMeter meter;
  TimePoint now{};
  now += 1s;
  meter.started(now - 90ms, now, 500ms);      // floor: 100 ms
  meter.started(now - 900ms, now, 10000ms);   // a tenth of 10 s
  CHECK(meter.poll(now).line.empty());
  meter.started(now - 1100ms, now, 10000ms);
  CHECK(meter.poll(now).warning);
}

TEST_CASE("a timeout is excused only when it is reported late, and only twice in a row") {
  const TimePoint start = TimePoint{} + 10s;
  // On time (however late other probes start): the target did not answer.
  CHECK_FALSE(excuse_timeout(start, start + 1000ms, 1000ms, 0));
  CHECK_FALSE(excuse_timeout(start, start + 1250ms, 1000ms, 0));   // a quarter late: not more
  CHECK(excuse_timeout(start, start + 1300ms, 1000ms, 0));
  CHECK_FALSE(excuse_timeout(start, start + 400ms + 100ms, 400ms, 0));   // floor: 100 ms
  CHECK(excuse_timeout(start, start + 400ms + 101ms, 400ms, 0));
  // A target that never answers while the engine stays behind: excused twice, then a failure.
  CHECK(excuse_timeout(start, start + 1500ms, 1000ms, 1));
  CHECK_FALSE(excuse_timeout(start, start + 1500ms, 1000ms, kMaxExcusedTimeouts));
}

}  // namespace
}  // namespace gslb::health
