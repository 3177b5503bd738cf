// libFuzzer target: parse_query on arbitrary bytes. Checks, beyond "no crash", the
// invariants the answer path relies on when a question parsed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dnsd/query.h"

using namespace gslb::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so that ASan sees any read past the packet's end.
  std::vector<uint8_t> packet(data, data + size);
  Query q;
  const ParseResult r = parse_query(packet.data(), packet.size(), &q);
  if (r == ParseResult::drop) return 0;
  if (size < 12) abort();  // shorter than a header must be dropped
  if (q.has_question) {
    // The name is complete wire form: labels add up to its length, root last.
    if (q.qname.length == 0 || q.qname.length > kMaxNameLength) abort();
    size_t at = 0;
    unsigned labels = 0;
    while (at < q.qname.length && q.qname.wire[at] != 0) {
      if (q.qname.wire[at] > 63 || q.qname.label_offset[labels] != at) abort();
      at += 1u + q.qname.wire[at];
      ++labels;
    }
    if (at + 1 != q.qname.length || labels != q.qname.labels) abort();
  }
  if (r == ParseResult::ok) {
    if (!q.has_question || q.opcode != 0) abort();
    if (q.edns.present && q.edns.payload < 512) abort();
    if (q.edns.has_ecs && !q.ecs_malformed) {
      const ClientSubnet& e = q.edns.ecs;
      if (e.family != 1 && e.family != 2) abort();
      if (e.source_prefix > (e.family == 1 ? 32 : 128)) abort();
      // Zero beyond the source prefix (RFC 7871 section 6).
      for (unsigned bit = e.source_prefix; bit < 128; ++bit)
        if (e.address[bit / 8] & (0x80 >> (bit % 8))) abort();
    }
  }
  return 0;
}
