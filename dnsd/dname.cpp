#include "dnsd/dname.h"

#include <cstdio>

namespace gslb::dns {

namespace {

constexpr size_t kHeaderSize = 12;

// Shared walk for parse_name and skip_name. `out` may be null.
NameError walk_name(const uint8_t* packet, size_t size, size_t* pos, ParsedName* out) noexcept {
  size_t at = *pos;
  size_t name_start = at;  // start of the label sequence being read; pointers must go below it
  bool jumped = false;
  size_t length = 0;
  unsigned labels = 0;
  for (;;) {
    if (at >= size) return NameError::truncated;
    const uint8_t len = packet[at];
    if ((len & 0xC0) == 0xC0) {
      if (at + 1 >= size) return NameError::truncated;
      const size_t target = (size_t(len & 0x3F) << 8) | packet[at + 1];
      // Names start after the 12-byte header: a pointer into it names header bytes.
      if (target < kHeaderSize || target >= name_start) return NameError::bad_pointer;
      if (!jumped) *pos = at + 2;
      jumped = true;
      at = name_start = target;
      continue;
    }
    if (len & 0xC0) return NameError::bad_label;  // 0x40 and 0x80 label types are obsolete
    if (length + 1 + len > kMaxNameLength) return NameError::too_long;
    if (at + 1 + len > size) return NameError::truncated;
    if (out) {
      if (len != 0) out->label_offset[labels] = static_cast<uint8_t>(length);
      out->wire[length] = len;
      out->lower[length] = len;
      for (size_t i = 0; i < len; ++i) {
        out->wire[length + 1 + i] = packet[at + 1 + i];
        out->lower[length + 1 + i] = ascii_lower(packet[at + 1 + i]);
      }
    }
    length += 1 + len;
    at += 1 + len;
    if (len == 0) break;
    ++labels;
  }
  if (!jumped) *pos = at;
  if (out) {
    out->length = static_cast<uint8_t>(length);
    out->labels = static_cast<uint8_t>(labels);
  }
  return NameError::none;
}

}  // namespace

NameError parse_name(const uint8_t* packet, size_t size, size_t* pos, ParsedName* out) noexcept {
  return walk_name(packet, size, pos, out);
}

NameError skip_name(const uint8_t* packet, size_t size, size_t* pos) noexcept {
  return walk_name(packet, size, pos, nullptr);
}

bool name_from_text(std::string_view text, std::string* wire_lower) {
  wire_lower->clear();
  if (text == ".") {
    wire_lower->push_back('\0');
    return true;
  }
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    const size_t len = dot - start;
    if (len == 0 || len > 63) return false;
    wire_lower->push_back(static_cast<char>(len));
    for (size_t i = start; i < dot; ++i) wire_lower->push_back(static_cast<char>(ascii_lower(text[i])));
    start = dot + 1;
  }
  wire_lower->push_back('\0');
  return wire_lower->size() <= kMaxNameLength;
}

std::string name_to_text(std::string_view wire) {
  std::string text;
  size_t at = 0;
  while (at < wire.size() && wire[at] != 0) {
    const size_t len = static_cast<uint8_t>(wire[at]);
    for (size_t i = 1; i <= len && at + i < wire.size(); ++i) {
      const char c = wire[at + i];
      if (c == '.' || c == '\\') {
        text.push_back('\\');
        text.push_back(c);
      } else if (c < 0x21 || c > 0x7e) {
        char buf[5];
        snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(static_cast<uint8_t>(c)));
        text += buf;
      } else {
        text.push_back(c);
      }
    }
    text.push_back('.');
    at += len + 1;
  }
  return text.empty() ? "." : text;
}

bool name_is_at_or_below(std::string_view name, std::string_view zone) {
  if (name.size() < zone.size()) return false;
  const size_t start = name.size() - zone.size();
  if (name.substr(start) != zone) return false;
  // The match must begin on a label boundary of `name`.
  size_t at = 0;
  while (at < start) at += static_cast<uint8_t>(name[at]) + 1;
  return at == start;
}

}  // namespace gslb::dns
