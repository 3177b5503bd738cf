#include "healthcheck/lag.h"

#include <algorithm>

namespace gslb::health {

namespace {

std::string millis_text(LagMeter::Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

}  // namespace

void LagMeter::started(TimePoint due, TimePoint now, Millis interval) {
  const Duration lag = std::max(now - due, Duration(0));
  Slot& slot = slots_[static_cast<std::size_t>(slot_of(now)) % kSlots];
  if (slot.number != slot_of(now)) slot = {slot_of(now), Duration(0)};
  slot.worst = std::max(slot.worst, lag);
  if (lag <= std::max<Duration>(interval / 10, kLateFloor)) return;
  ++late_;
  last_late_ = now;
  burst_worst_ = std::max(burst_worst_, lag);
}

LagMeter::Duration LagMeter::worst_between(int64_t first, int64_t last) const {
  Duration worst{0};
  first = std::max(first, last - static_cast<int64_t>(kSlots) + 1);
  for (int64_t n = first; n <= last; ++n) {
    const Slot& slot = slots_[static_cast<std::size_t>(n) % kSlots];
    if (slot.number == n) worst = std::max(worst, slot.worst);
  }
  return worst;
}

bool excuse_timeout(std::chrono::steady_clock::time_point started, std::chrono::steady_clock::time_point now,
                    Millis timeout, unsigned excused_in_a_row) {
  if (excused_in_a_row >= kMaxExcusedTimeouts) return false;
  const LagMeter::Duration late = now - started - timeout;
  return late > std::max<LagMeter::Duration>(timeout / 4, LagMeter::kLateFloor);
}

LagMeter::Report LagMeter::poll(TimePoint now) {
  Report report;
  report.worst_seconds =
      std::chrono::duration<double>(worst_between(slot_of(now - kWindow) + 1, slot_of(now))).count();
  if (!behind_ && late_ > 0) {
    behind_ = true;
    report.warning = true;
    report.line = "healthcheck: the probe engine is behind: " + std::to_string(late_) +
                  " probe(s) started late, worst by " + millis_text(burst_worst_) +
                  " (gslb_probe_lag_seconds); a late probe is no failure, and a timeout reported late counts as a "
                  "local error (lag), not against its check, up to " + std::to_string(kMaxExcusedTimeouts) +
                  " in a row";
  } else if (behind_ && now - last_late_ > kQuiet) {
    behind_ = false;
    report.line = "healthcheck: the probe engine caught up: " + std::to_string(late_) +
                  " probe(s) started late, worst by " + millis_text(burst_worst_);
    late_ = 0;
    burst_worst_ = Duration(0);
  }
  return report;
}

}  // namespace gslb::health
