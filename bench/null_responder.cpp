// The kernel's share of a UDP DNS answer on this machine: a responder with no DNS
// logic at all, in gslbd's own I/O model (one thread blocked in
// recvmmsg(MSG_WAITFORONE), one sendmmsg per batch). It copies the question and
// appends one fixed A record (192.0.2.80, TTL 300), whatever was asked. bench.py
// shows it beside gslbd and its peers as the kernel's share of a query: a reference,
// not a hard lower bound, since at full load the CPU per query also depends on how
// many queries each wakeup picks up.
//
//   null_responder PORT        listens on 127.0.0.1:PORT until killed
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr unsigned kBatch = 32;
constexpr size_t kMax = 4096;

// The question's end, or 0 when the packet is not a query with one question.
size_t question_end(const uint8_t* q, size_t n) {
  if (n < 12 || (q[2] & 0x80) || q[4] != 0 || q[5] != 1) return 0;
  size_t p = 12;
  while (p < n && q[p] != 0) {
    if (q[p] > 63) return 0;
    p += q[p] + 1u;
  }
  p += 5;  // root label, QTYPE, QCLASS
  return p <= n ? p : 0;
}

size_t respond(const uint8_t* q, size_t n, uint8_t* r) {
  static const uint8_t kRecord[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 80};
  const size_t end = question_end(q, n);
  if (end == 0) return 0;
  std::memcpy(r, q, end);
  r[2] = 0x84;  // QR AA, opcode QUERY
  r[3] = 0;     // NOERROR
  r[6] = 0, r[7] = 1;  // ANCOUNT 1
  r[8] = r[9] = r[10] = r[11] = 0;
  std::memcpy(r + end, kRecord, sizeof kRecord);
  return end + sizeof kRecord;
}

uint8_t queries[kBatch][kMax], responses[kBatch][kMax];
sockaddr_storage peers[kBatch];
mmsghdr in[kBatch], out[kBatch];
iovec in_iov[kBatch], out_iov[kBatch];

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: null_responder PORT\n");
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("null_responder: bind");
    return 1;
  }
  for (unsigned i = 0; i < kBatch; ++i) {
    in_iov[i] = {queries[i], kMax};
    in[i].msg_hdr.msg_name = &peers[i];
    in[i].msg_hdr.msg_iov = &in_iov[i];
    in[i].msg_hdr.msg_iovlen = 1;
    out[i].msg_hdr.msg_iov = &out_iov[i];
    out[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    for (unsigned i = 0; i < kBatch; ++i) in[i].msg_hdr.msg_namelen = sizeof peers[i];
    const int received = recvmmsg(fd, in, kBatch, MSG_WAITFORONE, nullptr);
    if (received <= 0) continue;
    unsigned replies = 0;
    for (int i = 0; i < received; ++i) {
      const size_t len = respond(queries[i], in[i].msg_len, responses[replies]);
      if (len == 0) continue;
      out_iov[replies] = {responses[replies], len};
      out[replies].msg_hdr.msg_name = &peers[i];
      out[replies].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
      ++replies;
    }
    if (replies > 0) sendmmsg(fd, out, replies, 0);
  }
}
