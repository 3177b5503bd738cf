// Parsing one DNS query (header, question, EDNS OPT with Client Subnet and NSID)
// out of a received packet, bounds-checked and without allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dnsd/cookies.h"
#include "dnsd/dname.h"
#include "dnsd/tsig.h"

namespace gslb::dns {

namespace type {
constexpr uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, HINFO = 13, MX = 15, TXT = 16,
                   AAAA = 28, SRV = 33, DNAME = 39, OPT = 41, DS = 43, IXFR = 251, AXFR = 252, MAILB = 253,
                   MAILA = 254, ANY = 255, CAA = 257;
constexpr uint16_t RRSIG = 46, NSEC = 47, DNSKEY = 48, NSEC3 = 50, NSEC3PARAM = 51;
}
namespace rcode {
constexpr uint16_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5,
                   YXDOMAIN = 6, NOTAUTH = 9, BADVERS = 16;
}
constexpr uint16_t kClassIN = 1, kClassCH = 3, kClassANY = 255;
constexpr uint16_t kEdnsNsid = 3, kEdnsClientSubnet = 8;

struct ClientSubnet {
  uint16_t family = 0;         // 1 = IPv4, 2 = IPv6 (RFC 7871 address family numbers)
  uint8_t source_prefix = 0;
  uint8_t address[16] = {};    // zero beyond source_prefix
};

struct Edns {
  bool present = false;
  uint8_t version = 0;
  bool dnssec_ok = false;
  uint16_t payload = 512;      // the client's advertised UDP size, clamped to >= 512
  bool nsid = false;           // client asked for NSID
  bool has_ecs = false;
  ClientSubnet ecs;
  uint8_t cookie_size = 0;     // COOKIE option: 0 none, else 8 (client) to 40 (with server)
  bool cookie_malformed = false;  // RFC 7873 5.2.2: FORMERR
  uint8_t cookie[40] = {};
};

enum class ParseResult : uint8_t {
  ok,
  drop,        // not a query we answer at all (QR=1, shorter than a header)
  formerr,     // answer FORMERR (question copied when it parsed)
  notimp,      // opcode other than QUERY
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;          // as received
  uint8_t opcode = 0;
  bool has_question = false;   // question parsed (so a response can echo it)
  ParsedName qname;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  Edns edns;
  bool ecs_malformed = false;  // RFC 7871 7.1.1: FORMERR
  Tsig tsig;                   // the request's TSIG RR, when signed
};

ParseResult parse_query(const uint8_t* packet, size_t size, Query* q) noexcept;

}  // namespace gslb::dns
