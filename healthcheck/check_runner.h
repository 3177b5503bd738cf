// Schedules one check's probes: the first at a given delay, then every interval
// ±10% measured from the previous start, never two at once, so that hundreds of
// checks with the same interval do not fire in lockstep.
//
// Probe thread only. Destroying it cancels the probe in flight without a report.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <random>

#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"

namespace gslb::health {

class CheckRunner {
 public:
  using Report = std::function<void(const ProbeResult&)>;

  CheckRunner(boost::asio::io_context& io, std::unique_ptr<Probe> probe, Millis interval,
              Millis first_delay, std::mt19937& rng, Report report);
  CheckRunner(const CheckRunner&) = delete;
  CheckRunner& operator=(const CheckRunner&) = delete;

 private:
  void schedule(std::chrono::steady_clock::time_point at);
  void fire();

  std::unique_ptr<Probe> probe_;
  boost::asio::steady_timer timer_;
  Millis interval_;
  std::mt19937& rng_;
  Report report_;
  std::chrono::steady_clock::time_point started_;
  Lifetime lifetime_;
};

}  // namespace gslb::health
