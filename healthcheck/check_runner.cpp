#include "healthcheck/check_runner.h"

#include <algorithm>

namespace gslb::health {

CheckRunner::CheckRunner(boost::asio::io_context& io, std::unique_ptr<Probe> probe,
                         Millis interval, Millis first_delay, std::mt19937& rng, Report report)
    : probe_(std::move(probe)),
      timer_(io),
      interval_(interval),
      rng_(rng),
      report_(std::move(report)) {
  schedule(std::chrono::steady_clock::now() + first_delay);
}

void CheckRunner::schedule(std::chrono::steady_clock::time_point at) {
  timer_.expires_at(at);
  timer_.async_wait([this, alive = lifetime_.token()](const boost::system::error_code& ec) {
    if (!ec && !alive.expired()) fire();
  });
}

void CheckRunner::fire() {
  started_ = std::chrono::steady_clock::now();
  probe_->start([this, alive = lifetime_.token()](ProbeResult result) {
    if (alive.expired()) return;
    report_(result);
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    const auto next = started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     interval_ * jitter(rng_));
    // A probe slower than its interval is followed by the next one at once, not by
    // a burst of the ones it "missed".
    schedule(std::max(next, std::chrono::steady_clock::now()));
  });
}

}  // namespace gslb::health
