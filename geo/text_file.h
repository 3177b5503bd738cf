// Line-oriented reading of the CSV-like source files (countries, ranges, latency),
// with errors that point at the line: "path:line: reason". Control thread only.
#pragma once

#include <cerrno>
#include <charconv>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "geo/routing.h"

namespace gslb::geo {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

inline std::vector<std::string_view> split_csv(std::string_view line) {
  std::vector<std::string_view> fields;
  for (;;) {
    const auto comma = line.find(',');
    fields.push_back(trim(line.substr(0, comma)));
    if (comma == std::string_view::npos) return fields;
    line.remove_prefix(comma + 1);
  }
}

// Throws LoadError naming the path unless it is a file we can open for reading.
inline void check_readable(const std::string& path) {
  if (!std::ifstream(path)) throw LoadError(path + ": cannot open: " + std::strerror(errno));
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw LoadError(path + ": is a directory");
}

class TextFile {
 public:
  explicit TextFile(std::string path) : path_(std::move(path)) {
    check_readable(path_);
    std::ifstream in(path_, std::ios::binary);
    std::error_code ec;
    // Reserve the file's size, then read in large chunks: the tor-geoipdb files are
    // tens of megabytes, and growing a stream buffer copies them several times.
    const auto size = std::filesystem::file_size(path_, ec);
    if (!ec) text_.reserve(size_t(size));
    std::vector<char> chunk(1 << 20);
    while (in.read(chunk.data(), std::streamsize(chunk.size())) || in.gcount() > 0)
      text_.append(chunk.data(), size_t(in.gcount()));
    if (in.bad()) throw LoadError(path_ + ": read error");
    rest_ = text_;
  }

  // The next line that is neither blank nor a '#' comment, trimmed.
  std::optional<std::string_view> next_line() {
    while (!rest_.empty()) {
      const auto nl = rest_.find('\n');
      auto line = rest_.substr(0, nl);
      rest_ = nl == std::string_view::npos ? std::string_view{} : rest_.substr(nl + 1);
      ++line_;
      line = trim(line);
      if (!line.empty() && line.front() != '#') return line;
    }
    return std::nullopt;
  }

  [[noreturn]] void fail(const std::string& reason) const {
    if (line_ == 0) throw LoadError(path_ + ": empty file: " + reason);
    throw LoadError(path_ + ":" + std::to_string(line_) + ": " + reason);
  }

  double number(std::string_view text, const char* what, double min, double max) const {
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v))
      fail(std::string(what) + ": expected a number, got \"" + std::string(text) + "\"");
    if (v < min || v > max)
      fail(std::string(what) + ": " + std::string(text) + " is out of range [" + fmt(min) + ", " + fmt(max) + "]");
    return v;
  }

 private:
  static std::string fmt(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  }

  std::string path_;
  std::string text_;
  std::string_view rest_;
  size_t line_ = 0;
};

}  // namespace gslb::geo
