// Domain names in wire form (RFC 1035 section 3.1): parsing from packets with
// compression, case folding, and conversion to and from text for logs and config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gslb::dns {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxLabels = 128;

// A name read out of a packet: uncompressed wire form in the sender's case and
// folded to lower case, plus where each label starts. Lives on the stack of the
// code answering a query; no allocation.
struct ParsedName {
  uint8_t wire[kMaxNameLength];   // as sent (case preserved), uncompressed
  uint8_t lower[kMaxNameLength];  // ASCII lower case, for lookups
  uint8_t label_offset[kMaxLabels];
  uint8_t length = 0;             // bytes in wire, including the root label
  uint8_t labels = 0;             // not counting the root label

  std::string_view lower_view() const { return {reinterpret_cast<const char*>(lower), length}; }
  // The name with its first `skip` labels removed, lower case.
  std::string_view lower_suffix(unsigned skip) const {
    return lower_view().substr(skip >= labels ? length - 1u : label_offset[skip]);
  }
};

enum class NameError : uint8_t { none, truncated, bad_label, too_long, bad_pointer };

// Reads the name at `*pos` in `packet` (a whole DNS message), following compression
// pointers only backwards (a pointer must point before the name that holds it, so
// loops and forward pointers are refused) and never into the 12-byte header.
// Advances `*pos` past the name as it appears at `*pos` (a pointer counts 2 bytes).
NameError parse_name(const uint8_t* packet, size_t size, size_t* pos, ParsedName* out) noexcept;

// Skips a possibly compressed name without decoding it; same rules as parse_name.
NameError skip_name(const uint8_t* packet, size_t size, size_t* pos) noexcept;

inline uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// "www.example.com." <-> wire, for config and logs. from_text returns false on a
// label over 63 bytes, a name over 255 or an empty label; accepts a missing final dot.
bool name_from_text(std::string_view text, std::string* wire_lower);
std::string name_to_text(std::string_view wire);

// True when `name` equals `zone` or lies below it (both lower-case wire form).
bool name_is_at_or_below(std::string_view name, std::string_view zone);

}  // namespace gslb::dns
