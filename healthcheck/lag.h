// How late probes start against their schedule, and whether the probe engine is
// behind. A probe that starts late is no failed probe (its timeout counts from its
// actual start); one whose own timeout fired late may have had its answer waiting
// unread, so it is excused as a local error — a few times in a row at most, so
// that a target that never answers still goes down when the engine stays behind.
//
// Pure: every time is passed in, so tests drive it with a fake clock. Probe thread
// only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

#include "healthcheck/monitor.h"

namespace gslb::health {

// A probe that ran from `started` and was reported timed out at `now`, after
// `excused_in_a_row` timeouts of its check excused just before: excused when the
// report came a quarter of `timeout` (at least LagMeter::kLateFloor) after the
// timeout was due — the engine was too busy to read an answer that may have come
// in time — unless kMaxExcusedTimeouts in a row are excused already. Another
// check's lateness does not excuse it: a target that blackholes probes is down
// however far behind the engine is.
inline constexpr unsigned kMaxExcusedTimeouts = 2;
bool excuse_timeout(std::chrono::steady_clock::time_point started, std::chrono::steady_clock::time_point now,
                    Millis timeout, unsigned excused_in_a_row);

class LagMeter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  // A probe with `interval` was due at `due` and started at `now`. It is late when
  // it starts more than a tenth of its interval (at least kLateFloor) after that:
  // its run of intervals then misses the ±10 % the scheduler keeps.
  void started(TimePoint due, TimePoint now, Millis interval);


  // Called about once a second: the worst start lag of the last kWindow (the
  // gslb_probe_lag_seconds gauge), and the line to log when a burst of late probes
  // starts (a warning) or ends (kQuiet without a late probe).
  struct Report {
    double worst_seconds = 0;
    std::string line;
    bool warning = false;
  };
  Report poll(TimePoint now);

  static constexpr Duration kLateFloor = std::chrono::milliseconds(100);
  static constexpr Duration kWindow = std::chrono::seconds(10);
  static constexpr Duration kQuiet = std::chrono::seconds(5);

 private:
  // The worst lag of the probes started in each kSlot of the last kSlots, as a ring
  // indexed by slot number.
  static constexpr Duration kSlot = std::chrono::milliseconds(100);
  static constexpr std::size_t kSlots = 128;   // 12.8 s: more than kWindow
  struct Slot {
    int64_t number = -1;
    Duration worst{0};
  };
  static int64_t slot_of(TimePoint t) { return t.time_since_epoch() / kSlot; }
  Duration worst_between(int64_t first, int64_t last) const;

  std::array<Slot, kSlots> slots_{};
  // The current burst of late probes, if any.
  bool behind_ = false;
  TimePoint last_late_{};
  uint64_t late_ = 0;
  Duration burst_worst_{0};
};

}  // namespace gslb::health
