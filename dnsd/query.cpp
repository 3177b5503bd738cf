#include "dnsd/query.h"

#include <cstring>

namespace gslb::dns {

namespace {

uint16_t read16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// RFC 7871 section 6: FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH (0 in
// queries), ADDRESS truncated to the source prefix with zero padding bits.
bool parse_client_subnet(const uint8_t* p, size_t len, ClientSubnet* out) {
  if (len < 4) return false;
  const uint16_t family = read16(p);
  const uint8_t source = p[2];
  const uint8_t scope = p[3];
  size_t max_prefix;
  if (family == 1) {
    max_prefix = 32;
  } else if (family == 2) {
    max_prefix = 128;
  } else {
    return false;
  }
  if (source > max_prefix || scope != 0) return false;
  const size_t addr_len = len - 4;
  if (addr_len != (source + 7u) / 8u) return false;
  out->family = family;
  out->source_prefix = source;
  std::memset(out->address, 0, sizeof out->address);
  std::memcpy(out->address, p + 4, addr_len);
  if (source % 8 != 0 && addr_len > 0) {
    const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - source % 8));
    if (out->address[addr_len - 1] & ~mask) return false;
  }
  return true;
}

// Parses an OPT RR's fixed part and options; `p` points at its TYPE field.
ParseResult parse_opt(const uint8_t* p, size_t avail, Query* q, size_t* consumed) {
  if (avail < 10) return ParseResult::formerr;
  const uint16_t payload = read16(p + 2);
  const uint8_t version = p[5];
  const uint16_t flags = read16(p + 6);
  const uint16_t rdlen = read16(p + 8);
  if (avail < 10u + rdlen) return ParseResult::formerr;
  q->edns.present = true;
  q->edns.payload = payload < 512 ? 512 : payload;
  q->edns.version = version;
  q->edns.dnssec_ok = flags & 0x8000;
  const uint8_t* opt = p + 10;
  size_t left = rdlen;
  while (left > 0) {
    if (left < 4) return ParseResult::formerr;
    const uint16_t code = read16(opt);
    const uint16_t olen = read16(opt + 2);
    if (left < 4u + olen) return ParseResult::formerr;
    if (code == kEdnsClientSubnet) {
      if (q->edns.has_ecs || !parse_client_subnet(opt + 4, olen, &q->edns.ecs)) {
        q->ecs_malformed = true;
      }
      q->edns.has_ecs = true;
    } else if (code == kEdnsCookie && q->edns.cookie_size == 0 && !q->edns.cookie_malformed) {
      // RFC 7873 5.2.2: a client cookie alone (8), or with a server cookie of 8 to 32.
      if (olen == kClientCookieSize || (olen >= 16 && olen <= 40)) {
        q->edns.cookie_size = static_cast<uint8_t>(olen);
        std::memcpy(q->edns.cookie, opt + 4, olen);
      } else {
        q->edns.cookie_malformed = true;
      }
    } else if (code == kEdnsNsid) {
      q->edns.nsid = true;  // RFC 5001: the query's option is empty; content ignored
    }
    opt += 4 + olen;
    left -= 4 + olen;
  }
  *consumed = 10u + rdlen;
  return ParseResult::ok;
}

// Walks `count` resource records from `*pos`; an OPT is taken only in the additional
// section, only once and only with the root owner.
ParseResult parse_records(const uint8_t* packet, size_t size, size_t* pos, unsigned count, bool additional,
                          Query* q) {
  for (unsigned i = 0; i < count; ++i) {
    const size_t owner = *pos;
    if (skip_name(packet, size, pos) != NameError::none) return ParseResult::formerr;
    if (*pos + 10 > size) return ParseResult::formerr;
    const uint16_t rrtype = read16(packet + *pos);
    if (rrtype == kTypeTsig) {
      // RFC 8945 5.2: a TSIG anywhere but last in the additional section is FORMERR.
      if (!additional || i + 1 != count || !parse_tsig(packet, size, owner, pos, &q->tsig)) return ParseResult::formerr;
    } else if (rrtype == type::OPT) {
      if (!additional || q->edns.present || packet[owner] != 0 || *pos != owner + 1) return ParseResult::formerr;
      size_t consumed = 0;
      const ParseResult r = parse_opt(packet + *pos, size - *pos, q, &consumed);
      if (r != ParseResult::ok) return r;
      *pos += consumed;
    } else {
      const uint16_t rdlen = read16(packet + *pos + 8);
      if (*pos + 10u + rdlen > size) return ParseResult::formerr;
      *pos += 10u + rdlen;
    }
  }
  return ParseResult::ok;
}

}  // namespace

ParseResult parse_query(const uint8_t* packet, size_t size, Query* q) noexcept {
  if (size < 12) return ParseResult::drop;
  q->id = read16(packet);
  q->flags = read16(packet + 2);
  if (q->flags & 0x8000) return ParseResult::drop;  // a response: never answer it
  q->opcode = (q->flags >> 11) & 0xF;
  q->has_question = false;
  q->edns = Edns{};
  q->ecs_malformed = false;
  q->tsig.present = false;
  const uint16_t qdcount = read16(packet + 4);
  const uint16_t ancount = read16(packet + 6);
  const uint16_t nscount = read16(packet + 8);
  const uint16_t arcount = read16(packet + 10);

  if (qdcount != 1) return q->opcode == 0 ? ParseResult::formerr : ParseResult::notimp;
  size_t pos = 12;
  if (parse_name(packet, size, &pos, &q->qname) != NameError::none) return ParseResult::formerr;
  if (pos + 4 > size) return ParseResult::formerr;
  q->qtype = read16(packet + pos);
  q->qclass = read16(packet + pos + 2);
  pos += 4;
  q->has_question = true;
  if (q->opcode != 0) {
    // RFC 6891 section 7: a request with an OPT gets one back, NOTIMP included. Other
    // opcodes may fill the answer and authority sections (UPDATE does), so walk them
    // all to the additional section; a message we cannot walk is answered without OPT.
    if (parse_records(packet, size, &pos, ancount + nscount, false, q) != ParseResult::ok ||
        parse_records(packet, size, &pos, arcount, true, q) != ParseResult::ok)
      q->edns = Edns{};
    return ParseResult::notimp;
  }

  // A query carries no answer or authority records; anything there, an OPT outside
  // the additional section, a second OPT or bytes after the last record is malformed.
  if (ancount != 0 || nscount != 0) return ParseResult::formerr;
  if (const ParseResult r = parse_records(packet, size, &pos, arcount, true, q); r != ParseResult::ok) return r;
  if (pos != size) return ParseResult::formerr;
  if (q->qtype == type::OPT) return ParseResult::formerr;
  return ParseResult::ok;
}

}  // namespace gslb::dns
