// Ethernet/IP/UDP parsing and the in-place reply. The XDP program only redirects
// IPv4 without options and IPv6 without extension headers to UDP ports of ours, but
// every length is checked again here: a frame's contents are the sender's.
#include <algorithm>
#include <cstring>

#include "xdp/xdp.h"

namespace gslb::xdp {

namespace {

constexpr size_t kEthernet = 14;
constexpr size_t kIpv4 = 20;
constexpr size_t kIpv6 = 40;
constexpr size_t kUdp = 8;
constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd;
constexpr uint8_t kProtoUdp = 17;
// Replies leave with the TTL / hop limit Linux uses by default.
constexpr uint8_t kTtl = 64;

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

template <size_t N>
void swap_bytes(uint8_t* a, uint8_t* b) {
  uint8_t t[N];
  std::memcpy(t, a, N);
  std::memcpy(a, b, N);
  std::memcpy(b, t, N);
}

// RFC 1071 one's-complement sum of big-endian 16-bit words, not yet folded.
uint64_t ones_sum(const uint8_t* p, size_t n, uint64_t sum) {
  for (; n >= 2; p += 2, n -= 2) sum += get16(p);
  if (n) sum += static_cast<uint64_t>(p[0]) << 8;
  return sum;
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

size_t reply_in_place(uint8_t* frame, size_t length, size_t room, unsigned mtu, Responder& responder,
                      uint8_t* scratch) noexcept {
  if (length < kEthernet || length > room) return 0;
  const uint16_t ether = get16(frame + 12);
  uint8_t* ip = frame + kEthernet;
  size_t ip_header;
  size_t udp_length;
  bool v6;
  if (ether == kEtherIpv4) {
    ip_header = kIpv4;
    v6 = false;
    if (length < kEthernet + kIpv4 + kUdp || ip[0] != 0x45 || ip[9] != kProtoUdp) return 0;
    const size_t total = get16(ip + 2);
    if (total < kIpv4 + kUdp || total > length - kEthernet) return 0;
    udp_length = get16(ip + kIpv4 + 4);
    if (udp_length < kUdp || udp_length > total - kIpv4) return 0;
  } else if (ether == kEtherIpv6) {
    ip_header = kIpv6;
    v6 = true;
    if (length < kEthernet + kIpv6 + kUdp || (ip[0] >> 4) != 6 || ip[6] != kProtoUdp) return 0;
    const size_t payload = get16(ip + 4);
    if (payload < kUdp || payload > length - kEthernet - kIpv6) return 0;
    udp_length = get16(ip + kIpv6 + 4);
    if (udp_length < kUdp || udp_length > payload) return 0;
  } else {
    return 0;
  }
  uint8_t* udp = ip + ip_header;
  uint8_t* payload = udp + kUdp;
  const size_t headers = kEthernet + ip_header + kUdp;
  // The reply is written where the query was, so the query is read from a copy.
  // The UDP checksum is not verified: on a veth (and with checksum offload) the
  // sender leaves only the pseudo-header sum in it, and the kernel's path would
  // not have checked it for such a frame either.
  const size_t query_size = udp_length - kUdp;
  std::memcpy(scratch, payload, query_size);
  // No fragmentation on this path: a reply larger than the MTU is truncated by the
  // DNS layer (TC) instead, as for a client's small EDNS payload size.
  const size_t by_mtu = mtu > ip_header + kUdp ? mtu - ip_header - kUdp : 0;
  const size_t capacity = std::min(by_mtu, room - headers);
  const uint8_t* source = v6 ? ip + 8 : ip + 12;
  const size_t n = responder.answer(scratch, query_size, v6, source, payload, capacity);
  if (n == 0 || n > capacity) return 0;

  swap_bytes<6>(frame, frame + 6);
  swap_bytes<2>(udp, udp + 2);
  put16(udp + 4, static_cast<uint16_t>(kUdp + n));
  put16(udp + 6, 0);
  if (!v6) {
    swap_bytes<4>(ip + 12, ip + 16);
    put16(ip + 2, static_cast<uint16_t>(kIpv4 + kUdp + n));
    put16(ip + 4, 0);       // identification: unused with DF (RFC 6864)
    put16(ip + 6, 0x4000);  // DF, no fragment offset
    ip[8] = kTtl;
    put16(ip + 10, 0);
    put16(ip + 10, fold(ones_sum(ip, kIpv4, 0)));
    // The UDP checksum is optional over IPv4 (RFC 768); 0 says "none".
  } else {
    swap_bytes<16>(ip + 8, ip + 24);
    put16(ip + 4, static_cast<uint16_t>(kUdp + n));
    ip[7] = kTtl;
    // Mandatory over IPv6 (RFC 8200 8.1): pseudo-header, then header and payload.
    uint64_t sum = ones_sum(ip + 8, 32, 0) + kUdp + n + kProtoUdp;
    const uint16_t c = fold(ones_sum(udp, kUdp + n, sum));
    put16(udp + 6, c == 0 ? 0xffff : c);
  }
  return headers + n;
}

}  // namespace gslb::xdp
