// libFuzzer target: each input is one packet, answered by answer_query over UDP
// (IPv4 client) and over TCP (IPv6 client) from a fixed ServingState built once
// from the config below. Every response must parse back with ldns, keep the
// query's ID, set QR and fit the size limit of its transport.
#include <arpa/inet.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dnsd/answer.h"
#include "dnsd/config.h"
#include "dnsd/query.h"
#include "dnsd/serving_state.h"

// Last: ldns's C headers define macros that clash with later C++ standard headers.
#include <ldns/ldns.h>

using namespace gslb;
using namespace gslb::dns;

namespace {

// Static records, a wildcard, a delegation with glue, CNAME chains (in zone, to a
// wildcard, dangling, leaving the zone, looping, into a DNAME), DNAMEs, an RRset
// too big for 512 bytes, a child zone and services with two clusters (one
// answering SERVFAIL when all are down).
const char* kConfig = R"(
server:
  listen: ["127.0.0.1:5300"]
  nsid: fuzz-ns1
  max_udp_size: 1400
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 7, minimum: 60, ttl: 3600 }
    ns: [ns1.example.test., ns2.example.test.]
    records: |
      ns1      3600 IN A     192.0.2.53
      ns1      3600 IN AAAA  2001:db8::53
      ns2      3600 IN A     192.0.2.54
      www      300  IN A     192.0.2.80
      www      300  IN AAAA  2001:db8::80
      alias    300  IN CNAME alias2
      alias2   300  IN CNAME www
      towild   300  IN CNAME x.wild
      dangling 300  IN CNAME nowhere
      away     300  IN CNAME www.example.org.
      dn       300  IN DNAME child.example.test.
      dx       300  IN DNAME example.org.
      todn     300  IN CNAME www.dn
      intocut  300  IN CNAME host.sub
      loop1    300  IN CNAME loop2
      loop2    300  IN CNAME loop1
      toapp    300  IN CNAME app
      @        300  IN MX    10 mail
      mail     300  IN A     192.0.2.25
      srv      300  IN SRV   0 5 443 www
      txt      300  IN TXT   "hello world" "second string"
      a.b.ent  300  IN A     192.0.2.1
      *.wild   300  IN A     192.0.2.77
      *.wild   300  IN TXT   "wild"
      host.wild 300 IN TXT   "exists"
      sub      300  IN NS    ns.sub
      sub      300  IN NS    ns.elsewhere.test.
      ns.sub   300  IN A     192.0.2.99
      ns.sub   300  IN AAAA  2001:db8::99
      big      300  IN TXT   "%BIG%" "%BIG%"
      big      300  IN TXT   "%BIG%" "%BIG%" "x"
      big      300  IN TXT   "%BIG%" "%BIG%" "y"
  - origin: child.example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 9, minimum: 30, ttl: 300 }
    ns: [ns1.example.test.]
    records: |
      www 60 IN A 192.0.2.180
services:
  - name: app.example.test.
    ttl: 20
    answers: 2
    clusters: [eu, us]
  - name: strict.child.example.test.
    policy: failover
    clusters: [us, eu]
    when_all_down: servfail
clusters:
  eu: { location: { lat: 53.35, lon: -6.26 }, ingress: [203.0.113.10, 203.0.113.11, "2001:db8:10::1"] }
  us: { location: { lat: 38.9, lon: -77.0 }, ingress: [203.0.113.20, "2001:db8:20::1"] }
)";

struct Fixture {
  std::shared_ptr<const ServingState> serving;
  health::HealthView views[4];  // all up, first down, all down, all transitioning
};

const Fixture& fixture() {
  static const Fixture f = [] {
    std::string text = kConfig;
    const std::string big(200, 'z');
    for (size_t at; (at = text.find("%BIG%")) != std::string::npos;) text.replace(at, 5, big);
    char dir[] = "/tmp/gslbd-fuzz-answer-XXXXXX";
    if (!mkdtemp(dir)) abort();
    const std::string path = std::string(dir) + "/fuzz.yaml";
    std::ofstream(path) << text;
    Fixture fx;
    MetricNames slots;
    fx.serving = build_serving_state(load_config(path), 1, &slots);
    unlink(path.c_str());
    rmdir(dir);
    const size_t n = fx.serving->clusters.size();
    for (auto& v : fx.views) {
      v.up.assign(n, 1);
      v.transitioning.assign(n, 0);
    }
    fx.views[1].up[0] = 0;
    fx.views[2].up.assign(n, 0);
    fx.views[3].transitioning.assign(n, 1);
    return fx;
  }();
  return f;
}

void check(const uint8_t* packet, size_t size, bool tcp, const Fixture& fx) {
  ClientInfo client;
  client.tcp = tcp;
  client.v6 = tcp;
  inet_pton(tcp ? AF_INET6 : AF_INET, tcp ? "2001:db8:ffff::1" : "198.51.100.7", client.address);
  // The worker's buffers: 4096 bytes for UDP, 65535 for TCP. Heap-allocated at the
  // exact size so ASan sees a write past the end.
  const size_t cap = tcp ? 65535 : 4096;
  std::unique_ptr<uint8_t[]> out(new uint8_t[cap]);
  const health::HealthView& health = fx.views[size >= 2 ? packet[1] & 3 : 0];
  Outcome outcome;
  const size_t n = answer_query(packet, size, client, *fx.serving, health, out.get(), cap, &outcome);

  // Only packets shorter than a header and responses (QR=1) go unanswered.
  const bool dropped = size < 12 || (packet[2] & 0x80);
  if (dropped != (n == 0)) {
    fprintf(stderr, "size %zu: %s\n", size, n == 0 ? "no response to a query" : "response to a non-query");
    abort();
  }
  if (n == 0) return;

  Query q;
  parse_query(packet, size, &q);
  size_t limit = cap;
  if (!tcp) limit = q.edns.present ? std::max<size_t>(512, std::min<size_t>(q.edns.payload, fx.serving->max_udp_size)) : 512;
  if (n > limit) {
    fprintf(stderr, "response of %zu bytes over the limit of %zu (%s)\n", n, limit, tcp ? "tcp" : "udp");
    abort();
  }
  if (out[0] != packet[0] || out[1] != packet[1]) {
    fprintf(stderr, "response ID differs from the query's\n");
    abort();
  }
  if (!(out[2] & 0x80)) {
    fprintf(stderr, "response without QR\n");
    abort();
  }
  // The question, when one parsed, is echoed as sent: same name bytes (case kept), type, class.
  const unsigned qdcount = (out[4] << 8) | out[5];
  if (qdcount != (q.has_question ? 1u : 0u) ||
      (q.has_question && (n < 12u + q.qname.length + 4 || memcmp(out.get() + 12, q.qname.wire, q.qname.length) != 0 ||
                          ((out[12 + q.qname.length] << 8) | out[13 + q.qname.length]) != q.qtype ||
                          ((out[14 + q.qname.length] << 8) | out[15 + q.qname.length]) != q.qclass))) {
    fprintf(stderr, "question not echoed\n");
    abort();
  }
  ldns_pkt* pkt = nullptr;
  const ldns_status st = ldns_wire2pkt(&pkt, out.get(), n);
  if (st != LDNS_STATUS_OK) {
    fprintf(stderr, "ldns cannot parse the %zu-byte %s response: %s\n", n, tcp ? "tcp" : "udp",
            ldns_get_errorstr_by_id(st));
    abort();
  }
  // A truncated response carries no records but its OPT (RFC 2181 9).
  if (ldns_pkt_tc(pkt) && (ldns_pkt_ancount(pkt) || ldns_pkt_nscount(pkt))) {
    fprintf(stderr, "TC=1 with records in the answer or authority section\n");
    abort();
  }
  if (tcp && ldns_pkt_tc(pkt)) {
    fprintf(stderr, "TC=1 over TCP\n");
    abort();
  }
  ldns_pkt_free(pkt);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& fx = fixture();
  // An exact-size heap copy, so that ASan sees any read past the packet's end.
  std::vector<uint8_t> packet(data, data + size);
  check(packet.data(), packet.size(), false, fx);
  check(packet.data(), packet.size(), true, fx);
  return 0;
}
