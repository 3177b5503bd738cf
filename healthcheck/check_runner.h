// Schedules one check's probes: the first at a given delay, then every interval
// ±10% measured from the previous start, never two at once, so that hundreds of
// checks with the same interval do not fire in lockstep. Each start is told to the
// LagMeter, and a timeout reported late is excused as a local error (excuse_timeout).
//
// Probe thread only. Destroying it cancels the probe in flight without a report.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "healthcheck/lag.h"
#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"

namespace gslb::health {

// The first probes of the checks that start-up waits for (new, initial_state probe)
// start at this rate at most (per second) instead of all in the same millisecond:
// 10,000 checks take 2 s, about what one round of them costs at a 1 s interval
// anyway, and start-up waits that plus one timeout, well inside its 10 s cap.
constexpr double kFirstRoundRate = 5000;

struct FirstProbe {
  Millis interval;
  bool waited_for;   // readiness waits for its first result
};
// The delay of each check's first probe, evenly spaced: the checks waited for over
// the span their number takes at kFirstRoundRate (never more than their interval),
// the others over one interval, so that neither a start nor a reload probes
// everything at once.
std::vector<Millis> first_probe_delays(const std::vector<FirstProbe>& checks);

// Probes come due on their timers and start here, at most kStartsPerTurn at a
// time, each turn queued behind the work already ready (the answers of probes in
// flight among it). A burst of due probes started at once would queue ahead of
// those answers when the engine is behind: read after their timeouts, they would
// fail, lose their kept-alive connections and cost new ones the next time, and the
// engine would fall further behind (measured at 10,000 HTTP checks: 183,000
// connections and 17,000 requests in 30 s, 409 of 10,000 healthy clusters up).
// Held back, probes start late instead, which the LagMeter reports, and every
// probe started is read in time.
class StartQueue {
 public:
  explicit StartQueue(boost::asio::io_context& io) : io_(io) {}
  StartQueue(const StartQueue&) = delete;
  StartQueue& operator=(const StartQueue&) = delete;

  // Runs `start` in a later turn, unless `alive` has expired by then.
  void push(std::weak_ptr<void> alive, std::function<void()> start);

  static constexpr std::size_t kStartsPerTurn = 16;

 private:
  void queue_turn();
  void turn();

  boost::asio::io_context& io_;
  std::deque<std::pair<std::weak_ptr<void>, std::function<void()>>> due_;
  bool turn_queued_ = false;
  Lifetime lifetime_;
};

class CheckRunner {
 public:
  using Report = std::function<void(const ProbeResult&)>;

  CheckRunner(boost::asio::io_context& io, std::unique_ptr<Probe> probe, Millis interval, Millis timeout,
              Millis first_delay, std::mt19937& rng, LagMeter& lag, StartQueue& starts, Report report);
  CheckRunner(const CheckRunner&) = delete;
  CheckRunner& operator=(const CheckRunner&) = delete;

 private:
  void schedule(std::chrono::steady_clock::time_point at);
  void fire();

  std::unique_ptr<Probe> probe_;
  boost::asio::steady_timer timer_;
  Millis interval_;
  Millis timeout_;
  std::mt19937& rng_;
  LagMeter& lag_;
  StartQueue& starts_;
  Report report_;
  std::chrono::steady_clock::time_point due_;       // when the timer was set to fire
  std::chrono::steady_clock::time_point started_;
  unsigned excused_in_a_row_ = 0;                  // timeouts excused as lag since the last other result
  Lifetime lifetime_;
};

}  // namespace gslb::health
