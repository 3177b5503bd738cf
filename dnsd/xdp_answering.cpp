#include "dnsd/xdp_answering.h"

#include <algorithm>
#include <cstring>


namespace gslb::dns {

XdpQueueResponder::XdpQueueResponder(unsigned limiter_share, const Published<Snapshot>& snapshot, WorkerStats& stats)
    : answerer_(limiter_share, snapshot, stats) {}

size_t XdpQueueResponder::answer(const uint8_t* query, size_t size, bool v6, const uint8_t* source, uint8_t* out,
                                 size_t capacity) noexcept {
  ClientInfo client;
  client.v6 = v6;
  std::memcpy(client.address, source, v6 ? 16 : 4);
  return answerer_.answer(query, size, client, out, capacity);
}

XdpAnswering::XdpAnswering(const ServerConfig& config)
    : interface_(config.xdp.interface), queues_(xdp::resolve_queues(config.xdp.interface, config.xdp.queues)) {
  for (const Endpoint& e : config.listen)
    if (std::find(ports_.begin(), ports_.end(), e.port) == ports_.end()) ports_.push_back(e.port);
}

XdpAnswering::~XdpAnswering() = default;

void XdpAnswering::open(const Published<Snapshot>& snapshot, const std::vector<WorkerStats*>& stats) {
  std::vector<std::unique_ptr<xdp::Responder>> responders;
  // The interface hashes a client's flows over every queue, each with its own limiter.
  for (unsigned i = 0; i < queues(); ++i) responders.push_back(std::make_unique<XdpQueueResponder>(queues(), snapshot, *stats[i]));
  listener_ = std::make_unique<xdp::Listener>(xdp::Options{interface_, queues_, ports_}, std::move(responders));
}

std::string XdpAnswering::describe() const { return "UDP on " + interface_ + " via AF_XDP (" + listener_->describe() + ")"; }

void XdpAnswering::start() { listener_->start(); }

}  // namespace gslb::dns
