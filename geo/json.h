// Just enough JSON writing for explain_json: strings escaped per RFC 8259, numbers
// with a fixed number of decimals. Not on the query path.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace gslb::geo::json {

inline void string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// JSON has no NaN or infinity; those become null.
inline void number(std::string& out, double v, int decimals) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  out += buf;
}

// `"key":` with the separating comma when the object already has members.
inline void key(std::string& out, std::string_view k) {
  if (out.back() != '{' && out.back() != '[') out += ',';
  string(out, k);
  out += ':';
}

}  // namespace gslb::geo::json
