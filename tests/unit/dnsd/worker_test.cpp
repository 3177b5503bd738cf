// A worker over real loopback sockets: it answers UDP and TCP, and a replaced
// serving state is let go even when no query arrives to refresh the threads' copies.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "dnsd/worker.h"
#include "fixture.h"

namespace {

using namespace gslb;
using Clock = std::chrono::steady_clock;

// The listen address is replaced by a free port when the worker is built.
const char* kZone = R"(
server:
  listen: ["127.0.0.1:5300"]
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 1, minimum: 60 }
    ns: [ns1.example.test.]
    records: |
      ns1 3600 IN A 192.0.2.53
      www 300  IN A 192.0.2.80
)";

// A port free for both TCP and UDP right now: the kernel's pick of an ephemeral TCP
// port, kept only if UDP can bind it too.
uint16_t free_port() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    const bool ok = bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                    getsockname(t, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
                    bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(t);
    close(u);
    if (ok) return ntohs(a.sin_port);
  }
  FAIL("no free port");
  return 0;
}

dns::Endpoint loopback(uint16_t port) {
  dns::Endpoint e;
  e.text = "127.0.0.1:" + std::to_string(port);
  e.address[0] = 127;
  e.address[3] = 1;
  e.port = port;
  return e;
}

// One exchange over a fresh socket; the response, or empty after a 2 s timeout.
std::vector<uint8_t> exchange(int type, uint16_t port, const std::vector<uint8_t>& query) {
  const int fd = socket(AF_INET, type, 0);
  timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<uint8_t> out(65535);
  ssize_t n = -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    if (type == SOCK_DGRAM) {
      if (send(fd, query.data(), query.size(), 0) == static_cast<ssize_t>(query.size())) n = recv(fd, out.data(), out.size(), 0);
    } else {
      std::vector<uint8_t> framed = {static_cast<uint8_t>(query.size() >> 8), static_cast<uint8_t>(query.size())};
      framed.insert(framed.end(), query.begin(), query.end());
      uint8_t len[2];
      if (send(fd, framed.data(), framed.size(), 0) == static_cast<ssize_t>(framed.size()) &&
          recv(fd, len, 2, MSG_WAITALL) == 2)
        n = recv(fd, out.data(), (size_t(len[0]) << 8) | len[1], MSG_WAITALL);
    }
  }
  close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// The response's answer section as the fixture prints it; empty without a response.
std::vector<std::string> answer_section(std::vector<uint8_t> wire) {
  test::Answer a;
  a.wire = std::move(wire);
  if (a.wire.empty() || ldns_wire2pkt(&a.pkt, a.wire.data(), a.wire.size()) != LDNS_STATUS_OK) return {};
  return a.section(LDNS_SECTION_ANSWER);
}

const std::vector<std::string> kWww = {"www.example.test.\t300\tIN\tA\t192.0.2.80"};

struct Running {
  dns::Published<dns::Snapshot> published;
  std::vector<dns::WorkerStats> stats;
  std::unique_ptr<dns::Worker> worker;
  uint16_t port = free_port();

  explicit Running(const test::Served& served) {
    publish(served);
    dns::ServerConfig config = served.state->config.server;
    config.listen = {loopback(port)};
    stats = std::vector<dns::WorkerStats>(dns::Worker::threads(config));
    std::vector<dns::WorkerStats*> blocks;
    for (auto& s : stats) blocks.push_back(&s);
    worker = std::make_unique<dns::Worker>(config, published, blocks);
    worker->start();
  }
  void publish(const test::Served& served) {
    published.publish(std::make_shared<const dns::Snapshot>(
        dns::Snapshot{served.state, std::make_shared<const health::HealthView>(served.health)}));
  }
};

}  // namespace

TEST_CASE("a worker answers over UDP and TCP and counts each in its thread's block") {
  Running r(test::serve(kZone));
  const auto query = test::make_query("www.example.test.", LDNS_RR_TYPE_A);
  CHECK(answer_section(exchange(SOCK_DGRAM, r.port, query)) == kWww);
  CHECK(answer_section(exchange(SOCK_STREAM, r.port, query)) == kWww);
  // Block 0 is the TCP thread's, block 1 the UDP socket's: one writer each.
  CHECK(r.stats[0].tcp_queries.get() == 1);
  CHECK(r.stats[0].udp_queries.get() == 0);
  CHECK(r.stats[1].udp_queries.get() == 1);
  CHECK(r.stats[1].tcp_queries.get() == 0);
}

TEST_CASE("a replaced serving state is released without any query arriving") {
  test::Served first = test::serve(kZone);
  Running r(first);  // every thread of the worker holds a copy of `first` from here
  std::weak_ptr<const dns::ServingState> old = first.state;
  first.state.reset();
  r.publish(test::serve(kZone));
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!old.expired() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(old.expired());
  // And the worker still answers from the new state.
  const auto query = test::make_query("www.example.test.", LDNS_RR_TYPE_A);
  CHECK(answer_section(exchange(SOCK_DGRAM, r.port, query)) == kWww);
}

TEST_CASE("gslbd --replace finds a handed-over socket by its address, however either config spells it") {
  dns::InheritedSockets sockets;
  const int udp = socket(AF_INET6, SOCK_DGRAM, 0), tcp = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(udp >= 0);
  REQUIRE(tcp >= 0);
  sockets.add("udp", "[0:0::1]:5300", dns::UniqueFd(udp));
  sockets.add("tcp", "127.0.0.1", dns::UniqueFd(tcp));  // port 53, as server.listen allows
  const auto endpoint = [](const std::string& text) {
    dns::Endpoint e;
    REQUIRE(dns::parse_endpoint(text, 53, &e));
    return e;
  };
  CHECK(sockets.take("udp", endpoint("[::1]:5301")).get() == -1);
  CHECK(sockets.take("tcp", endpoint("[::1]:5300")).get() == -1);  // another kind
  CHECK(sockets.take("udp", endpoint("[::1]:5300")).get() == udp);
  CHECK(sockets.take("tcp", endpoint("127.0.0.1:53")).get() == tcp);
  CHECK(sockets.left().empty());
}
