// What every probe kind (HTTP, TCP, DNS) reports, and the interface the scheduler
// drives them through.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace gslb::health {

struct ProbeResult {
  bool ok = false;
  std::string reason;                 // "ok" on success, else why: "HTTP 503", ...
  std::chrono::nanoseconds latency{0};
};

inline ProbeResult probe_ok(std::chrono::nanoseconds latency) {
  return {true, "ok", latency};
}
inline ProbeResult probe_failed(std::string reason, std::chrono::nanoseconds latency) {
  return {false, std::move(reason), latency};
}
inline std::string timeout_reason(std::chrono::milliseconds timeout) {
  return "timeout after " + std::to_string(timeout.count()) + "ms";
}

// Handlers already queued on the io_context can outlive the object that started
// them (cancel() cannot recall a completed operation); they hold a token and return
// early once it expired.
class Lifetime {
 public:
  std::weak_ptr<void> token() const { return alive_; }

 private:
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// One in-flight-at-most probe of one target. Owned by the probe thread: start(),
// cancel() and the destructor run there, and `done` is invoked there, never from
// inside start() itself. Destroying a probe cancels it without calling `done`.
class Probe {
 public:
  using Done = std::function<void(ProbeResult)>;
  virtual ~Probe() = default;
  virtual void start(Done done) = 0;
};

}  // namespace gslb::health
