// The packet layer alone: query frames built here, replies checked field by field
// (what a client's kernel checks before it delivers the answer).
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "xdp/xdp.h"

namespace {

using gslb::xdp::reply_in_place;
using Bytes = std::vector<uint8_t>;

const uint8_t kServerMac[6] = {2, 0, 0, 0, 0, 1}, kClientMac[6] = {2, 0, 0, 0, 0, 2};
const uint8_t kServer4[4] = {198, 18, 0, 1}, kClient4[4] = {198, 18, 0, 2};
const uint8_t kServer6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kClient6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void put16(Bytes& b, size_t at, size_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

uint32_t sum16(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (; n >= 2; p += 2, n -= 2) s += get16(p);
  if (n) s += static_cast<uint32_t>(p[0]) << 8;
  return s;
}
uint16_t folded(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// Ethernet + IP + UDP from the client (port 40000) to the server (port 53).
Bytes query_frame(bool v6, const Bytes& payload) {
  Bytes f(14);
  std::memcpy(f.data(), kServerMac, 6);
  std::memcpy(f.data() + 6, kClientMac, 6);
  put16(f, 12, v6 ? 0x86dd : 0x0800);
  const size_t udp_len = 8 + payload.size();
  if (v6) {
    Bytes ip(40);
    ip[0] = 0x60;
    put16(ip, 4, udp_len);
    ip[6] = 17;
    ip[7] = 64;
    std::memcpy(ip.data() + 8, kClient6, 16);
    std::memcpy(ip.data() + 24, kServer6, 16);
    f.insert(f.end(), ip.begin(), ip.end());
  } else {
    Bytes ip(20);
    ip[0] = 0x45;
    put16(ip, 2, 20 + udp_len);
    ip[8] = 64;
    ip[9] = 17;
    std::memcpy(ip.data() + 12, kClient4, 4);
    std::memcpy(ip.data() + 16, kServer4, 4);
    f.insert(f.end(), ip.begin(), ip.end());
  }
  Bytes udp(8);
  put16(udp, 0, 40000);
  put16(udp, 2, 53);
  put16(udp, 4, udp_len);
  f.insert(f.end(), udp.begin(), udp.end());
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// Answers with the query followed by `extra` bytes of 0xAB; remembers what it saw.
struct Echo : gslb::xdp::Responder {
  size_t extra = 3;
  unsigned calls = 0;
  bool v6 = false;
  Bytes source, query;
  size_t capacity = 0;
  void begin_batch() override {}
  void idle() override {}
  size_t answer(const uint8_t* q, size_t size, bool is_v6, const uint8_t* src, uint8_t* out, size_t cap) noexcept override {
    ++calls;
    v6 = is_v6;
    source.assign(src, src + (is_v6 ? 16 : 4));
    query.assign(q, q + size);
    capacity = cap;
    std::memcpy(out, q, size);
    std::memset(out + size, 0xAB, extra);
    return size + extra;
  }
  void dropped(unsigned) noexcept override {}
};

size_t run(Bytes& frame, Echo& echo, unsigned mtu = 1500, size_t room = 3840) {
  const size_t length = frame.size();
  frame.resize(room);
  Bytes scratch(room);
  return reply_in_place(frame.data(), length, room, mtu, echo, scratch.data());
}

}  // namespace

TEST_CASE("an IPv4 query becomes its reply in place: addresses, ports and MACs swapped, IP checksum valid") {
  const Bytes payload = {0x12, 0x34, 1, 0, 0, 1};
  Bytes f = query_frame(false, payload);
  Echo echo;
  const size_t n = run(f, echo);
  REQUIRE(n == 14 + 20 + 8 + payload.size() + 3);
  CHECK_FALSE(echo.v6);
  CHECK(echo.source == Bytes(kClient4, kClient4 + 4));
  CHECK(echo.query == payload);
  CHECK(echo.capacity == 1500 - 28);
  CHECK(std::memcmp(f.data(), kClientMac, 6) == 0);
  CHECK(std::memcmp(f.data() + 6, kServerMac, 6) == 0);
  const uint8_t* ip = f.data() + 14;
  CHECK(get16(ip + 2) == n - 14);
  CHECK(get16(ip + 6) == 0x4000);
  CHECK(folded(sum16(ip, 20)) == 0xffff);
  CHECK(std::memcmp(ip + 12, kServer4, 4) == 0);
  CHECK(std::memcmp(ip + 16, kClient4, 4) == 0);
  const uint8_t* udp = ip + 20;
  CHECK(get16(udp) == 53);
  CHECK(get16(udp + 2) == 40000);
  CHECK(get16(udp + 4) == n - 34);
  CHECK(get16(udp + 6) == 0);
  CHECK(std::memcmp(udp + 8, payload.data(), payload.size()) == 0);
  CHECK(udp[8 + payload.size()] == 0xAB);
}

TEST_CASE("an IPv6 reply carries a valid UDP checksum over the pseudo-header") {
  for (size_t extra : {size_t{3}, size_t{4}}) {  // odd and even payload lengths
    CAPTURE(extra);
    Bytes f = query_frame(true, {0xab, 0xcd, 1, 0, 0, 1, 0, 0});
    Echo echo;
    echo.extra = extra;
    const size_t n = run(f, echo);
    REQUIRE(n == 14 + 40 + 8 + 8 + extra);
    CHECK(echo.v6);
    CHECK(echo.source == Bytes(kClient6, kClient6 + 16));
    CHECK(echo.capacity == 1500 - 48);
    const uint8_t* ip = f.data() + 14;
    CHECK(std::memcmp(ip + 8, kServer6, 16) == 0);
    CHECK(std::memcmp(ip + 24, kClient6, 16) == 0);
    const size_t udp_len = n - 54;
    CHECK(get16(ip + 4) == udp_len);
    const uint32_t pseudo = sum16(ip + 8, 32) + static_cast<uint32_t>(udp_len) + 17;
    CHECK(get16(ip + 40 + 6) != 0);
    CHECK(folded(pseudo + sum16(ip + 40, udp_len)) == 0xffff);
  }
}

TEST_CASE("the reply fits the MTU and the frame, whichever is smaller") {
  Bytes f = query_frame(false, {1, 2, 3, 4});
  Echo echo;
  run(f, echo, 1280, 3840);
  CHECK(echo.capacity == 1280 - 28);
  f = query_frame(false, {1, 2, 3, 4});
  run(f, echo, 9000, 1000);
  CHECK(echo.capacity == 1000 - 42);
  // An answer that claims more than it was given is not sent.
  f = query_frame(false, {1, 2, 3, 4});
  echo.extra = 2000;
  CHECK(run(f, echo, 9000, 3840) == 14 + 28 + 2004);
  f = query_frame(false, {1, 2, 3, 4});
  Bytes scratch(3840);
  f.resize(3840);
  CHECK(reply_in_place(f.data(), 46, 2000, 9000, echo, scratch.data()) == 0);
}

TEST_CASE("frames that are not whole UDP datagrams get no reply and never reach the responder") {
  const Bytes payload = {0x12, 0x34, 1, 0, 0, 1};
  struct Case {
    const char* what;
    bool v6;
    size_t at;      // byte to change (after the frame is built)
    int value;      // new value; -1: cut the frame to `at` bytes
  };
  const Case cases[] = {
      {"shorter than Ethernet", false, 10, -1},
      {"ARP", false, 12, 0x08},  // 0x0806 after the next line's low byte
      {"IPv4 cut inside the UDP header", false, 38, -1},
      {"IPv4 with options", false, 14, 0x46},
      {"IPv4 TCP", false, 23, 6},
      {"IPv4 total length past the frame", false, 16, 0x7f},
      {"UDP length past the IPv4 total", false, 38, 0x7f},
      {"UDP length below its header", false, 39, 4},
      {"IPv6 cut inside the header", true, 40, -1},
      {"IPv6 extension header", true, 20, 0},
      {"IPv6 payload length past the frame", true, 18, 0x7f},
      {"not version 6", true, 14, 0x40},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Bytes f = query_frame(c.v6, payload);
    if (c.value < 0)
      f.resize(c.at);
    else
      f[c.at] = static_cast<uint8_t>(c.value);
    if (std::string(c.what) == "ARP") f[13] = 0x06;
    Echo echo;
    CHECK(run(f, echo) == 0);
    CHECK(echo.calls == 0);
  }
}

TEST_CASE("no answer from the responder sends nothing") {
  struct Silent : Echo {
    size_t answer(const uint8_t*, size_t, bool, const uint8_t*, uint8_t*, size_t) noexcept override { return 0; }
  } silent;
  Bytes f = query_frame(false, {1, 2, 3});
  CHECK(run(f, silent) == 0);
}
