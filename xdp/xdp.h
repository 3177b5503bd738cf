// The xdp module's whole interface: answer UDP datagrams to our ports on one network
// interface through AF_XDP, bypassing the kernel's UDP stack (as Knot's XDP mode does).
//
// An XDP program on the interface sends UDP to our ports into one AF_XDP socket per
// receive queue and passes everything else to the kernel (ARP, ND, ICMP, TCP, other
// UDP). Each queue has its own thread, which parses Ethernet/IPv4/IPv6/UDP, hands the
// UDP payload to that queue's Responder, and rewrites the frame in place into the
// reply. Knows nothing of DNS: the Responder does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gslb::xdp {

// The payload side of one queue; called only by that queue's thread, so an
// implementation keeps its own per-thread state (counters, scratch, a snapshot).
class Responder {
 public:
  virtual ~Responder() = default;
  // Once per received batch, before its answer() calls.
  virtual void begin_batch() = 0;
  // When the queue has had nothing to do for a second.
  virtual void idle() = 0;
  // `query`: a UDP payload from `source` (16 bytes if `v6`, else 4). Writes the reply
  // payload into `out` (at most `capacity` bytes: what fits the interface's MTU) and
  // returns its size; 0 sends nothing. Never allocates, locks or throws.
  virtual size_t answer(const uint8_t* query, size_t size, bool v6, const uint8_t* source, uint8_t* out,
                        size_t capacity) noexcept = 0;
  // Frames that got no reply for a reason of the packet layer (truncated headers,
  // a full transmit ring): `n` more.
  virtual void dropped(unsigned n) noexcept = 0;
};

// The interface's receive queues to answer on: `wanted` as given (each checked to
// exist), or every one when `wanted` is empty. Throws std::runtime_error naming the
// interface when it does not exist or lacks a queue.
std::vector<unsigned> resolve_queues(const std::string& interface, const std::vector<unsigned>& wanted);

struct Options {
  std::string interface;
  std::vector<unsigned> queues;  // from resolve_queues
  std::vector<uint16_t> ports;   // UDP destination ports answered (any destination address)
};

class Listener {
 public:
  // Checks the capabilities it needs, loads the XDP program, opens one AF_XDP socket
  // per queue (zero-copy where the driver has it, else copy mode) and attaches the
  // program (native mode, else generic). `responders`: one per queue, same order.
  // Throws std::runtime_error with the precise reason; nothing stays attached then.
  Listener(const Options& options, std::vector<std::unique_ptr<Responder>> responders);
  // Stops the threads, then detaches the program.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // How it runs, for the start-up log: "native mode, copy mode, queues 0,1".
  std::string describe() const;
  void start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The packet layer, exposed for tests: turns the query frame at `frame` (`length`
// bytes, `room` bytes of buffer from `frame` on) into its reply in place, asking
// `responder` for the payload; `scratch` holds a copy of the query payload (at least
// `room` bytes). Returns the reply frame's length, or 0 when nothing is to be sent.
size_t reply_in_place(uint8_t* frame, size_t length, size_t room, unsigned mtu, Responder& responder,
                      uint8_t* scratch) noexcept;

}  // namespace gslb::xdp
