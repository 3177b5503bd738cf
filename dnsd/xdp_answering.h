// server.xdp: the xdp module's AF_XDP listener, answering each queue's UDP with a
// UdpAnswerer (the same path, state, counters and rate limiting as UdpServer).
// Control thread only; the queues' threads are the listener's.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dnsd/config.h"
#include "dnsd/published.h"
#include "dnsd/serving_state.h"
#include "dnsd/udp_answerer.h"
#include "dnsd/worker_stats.h"
#include "xdp/xdp.h"

namespace gslb::dns {

// One queue's payload side: what UdpServer does with a datagram, minus the socket.
class XdpQueueResponder final : public xdp::Responder {
 public:
  XdpQueueResponder(unsigned limiter_share, const Published<Snapshot>& snapshot, WorkerStats& stats);
  void begin_batch() override { answerer_.begin_batch(); }
  void idle() override { answerer_.begin_batch(); }
  size_t answer(const uint8_t* query, size_t size, bool v6, const uint8_t* source, uint8_t* out,
                size_t capacity) noexcept override;
  void dropped(unsigned n) noexcept override { answerer_.stats().dropped.add(n); }

 private:
  UdpAnswerer answerer_;
};

class XdpAnswering {
 public:
  // Resolves the interface's queues first, so that the caller can size the
  // counters; throws std::runtime_error for an unknown interface or queue.
  explicit XdpAnswering(const ServerConfig& config);
  ~XdpAnswering();
  unsigned queues() const { return static_cast<unsigned>(queues_.size()); }
  // Loads and attaches the program and opens the sockets; `stats` holds queues()
  // counter blocks. Throws std::runtime_error with the reason.
  void open(const Published<Snapshot>& snapshot, const std::vector<WorkerStats*>& stats);
  std::string describe() const;  // for the start-up log
  void start();  // the listener stops and detaches when destroyed

 private:
  std::string interface_;
  std::vector<uint16_t> ports_;
  std::vector<unsigned> queues_;
  std::unique_ptr<xdp::Listener> listener_;
};

}  // namespace gslb::dns
