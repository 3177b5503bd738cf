// What every probe kind (HTTP, TCP, DNS) reports, and the interface the scheduler
// drives them through.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace gslb::health {

// Why a probe failed, as a small fixed set: the `reason` label of
// gslb_check_failures_total, which must not grow with error texts or targets.
enum class Failure : uint8_t {
  none,        // the probe succeeded
  timeout,     // no complete answer within the check's timeout
  refused,     // connection refused (TCP RST, ICMP port unreachable)
  connect,     // any other failure to connect: unreachable, reset, ...
  resolve,     // the target's name did not resolve
  tls,         // TLS handshake or certificate verification failed
  protocol,    // connected, but no valid response: closed early, malformed
  status,      // HTTP status not in `expect`
  body,        // HTTP body without the expected substring
  dns_rcode,   // DNS answer with another rcode than expected
  dns_answer,  // DNS answer without the expected address
  local,       // the probe could not be run here: bad target, no socket, ...
};
constexpr Failure kFailures[] = {Failure::timeout, Failure::refused, Failure::connect, Failure::resolve,
                                 Failure::tls, Failure::protocol, Failure::status, Failure::body,
                                 Failure::dns_rcode, Failure::dns_answer, Failure::local};
const char* to_string(Failure f);

// A probe that failed for a reason of our own (this host ran out of something)
// says nothing about its target: the check's state stays where it was, and the
// failure is counted in gslb_check_local_errors_total{reason}.
enum class LocalError : uint8_t {
  none,
  descriptors,        // EMFILE, ENFILE
  buffers,            // ENOBUFS
  memory,             // ENOMEM, or a library out of memory
  no_local_address,   // EADDRNOTAVAIL: no source address or ephemeral port left
  probe_budget,       // the probe engine is at its own descriptor budget
  lag,                // timed out, reported late: the probe engine is behind (excuse_timeout)
};
constexpr LocalError kLocalErrors[] = {LocalError::descriptors, LocalError::buffers, LocalError::memory,
                                       LocalError::no_local_address, LocalError::probe_budget, LocalError::lag};
const char* to_string(LocalError e);
// The local reason behind an errno value; nullopt when the errno is about the target.
std::optional<LocalError> local_error_of(int err);

struct ProbeResult {
  bool ok = false;
  std::string reason;                 // "ok" on success, else why: "HTTP 503", ...
  std::chrono::nanoseconds latency{0};
  Failure failure = Failure::none;
  LocalError local = LocalError::none;  // set: no verdict on the target (ok is false)
};

inline ProbeResult probe_ok(std::chrono::nanoseconds latency) {
  return {true, "ok", latency, Failure::none};
}
inline ProbeResult probe_failed(Failure failure, std::string reason, std::chrono::nanoseconds latency) {
  return {false, std::move(reason), latency, failure};
}
inline ProbeResult probe_local(LocalError why, std::string reason, std::chrono::nanoseconds latency) {
  return {false, std::move(reason), latency, Failure::local, why};
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
