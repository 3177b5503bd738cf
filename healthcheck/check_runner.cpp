#include "healthcheck/check_runner.h"

#include <boost/asio/post.hpp>

#include <algorithm>

namespace gslb::health {

std::vector<Millis> first_probe_delays(const std::vector<FirstProbe>& checks) {
  using Seconds = std::chrono::duration<double>;
  std::size_t waited = 0;
  for (const FirstProbe& c : checks) waited += c.waited_for;
  const std::size_t others = checks.size() - waited;
  const Seconds first_round(static_cast<double>(waited) / kFirstRoundRate);
  std::size_t waited_index = 0, other_index = 0;
  std::vector<Millis> delays;
  delays.reserve(checks.size());
  for (const FirstProbe& c : checks) {
    const Seconds span = c.waited_for ? std::min<Seconds>(first_round, c.interval) : Seconds(c.interval);
    const double phase = c.waited_for ? static_cast<double>(waited_index++) / static_cast<double>(waited)
                                      : static_cast<double>(other_index++) / static_cast<double>(others);
    delays.push_back(std::chrono::duration_cast<Millis>(span * phase));
  }
  return delays;
}

void StartQueue::push(std::weak_ptr<void> alive, std::function<void()> start) {
  due_.emplace_back(std::move(alive), std::move(start));
  queue_turn();
}

void StartQueue::queue_turn() {
  if (turn_queued_ || due_.empty()) return;
  turn_queued_ = true;
  boost::asio::post(io_, [this, alive = lifetime_.token()] {
    if (!alive.expired()) turn();
  });
}

void StartQueue::turn() {
  turn_queued_ = false;
  for (std::size_t n = 0; n < kStartsPerTurn && !due_.empty(); ++n) {
    auto [alive, start] = std::move(due_.front());
    due_.pop_front();
    if (!alive.expired()) start();
  }
  queue_turn();
}

CheckRunner::CheckRunner(boost::asio::io_context& io, std::unique_ptr<Probe> probe, Millis interval,
                         Millis timeout, Millis first_delay, std::mt19937& rng, LagMeter& lag, StartQueue& starts,
                         Report report)
    : probe_(std::move(probe)),
      timer_(io),
      interval_(interval),
      timeout_(timeout),
      rng_(rng),
      lag_(lag),
      starts_(starts),
      report_(std::move(report)) {
  schedule(std::chrono::steady_clock::now() + first_delay);
}

void CheckRunner::schedule(std::chrono::steady_clock::time_point at) {
  due_ = at;
  timer_.expires_at(at);
  timer_.async_wait([this, alive = lifetime_.token()](const boost::system::error_code& ec) {
    // A lambda of one pointer: std::function holds it without allocating.
    if (!ec && !alive.expired()) starts_.push(alive, [this] { fire(); });
  });
}

void CheckRunner::fire() {
  started_ = std::chrono::steady_clock::now();
  lag_.started(due_, started_, interval_);
  probe_->start([this, alive = lifetime_.token()](ProbeResult result) {
    if (alive.expired()) return;
    const auto now = std::chrono::steady_clock::now();
    if (result.failure == Failure::timeout && excuse_timeout(started_, now, timeout_, excused_in_a_row_)) {
      ++excused_in_a_row_;
      result = probe_local(LocalError::lag, result.reason + ", reported late: the probe engine is behind", result.latency);
    } else {
      excused_in_a_row_ = 0;
    }
    report_(result);
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    const auto next = started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     interval_ * jitter(rng_));
    // A probe slower than its interval is followed by the next one at once, not by
    // a burst of the ones it "missed".
    schedule(std::max(next, now));
  });
}

}  // namespace gslb::health
