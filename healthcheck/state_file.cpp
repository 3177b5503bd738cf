#include "healthcheck/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gslb::health {

namespace {

constexpr const char* kHeader = "# gslbd drain state v1";
constexpr const char* kDirective = "drained ";

// Cluster names are whatever the config's YAML keys hold ("eu west" included), so
// the bytes that would break the line format (spaces, control characters) and '%'
// itself are written as %XX.
bool needs_escape(unsigned char ch) { return ch <= ' ' || ch == 0x7f || ch == '%'; }

std::string escape_name(const std::string& name) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char ch : name) {
    if (needs_escape(ch)) {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 0xf];
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The name as written by escape_name(); false when it is not such a name.
bool unescape_name(const std::string& text, std::string* name) {
  name->clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    if (ch == '%') {
      const int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      *name += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (needs_escape(ch)) {
      return false;
    } else {
      *name += static_cast<char>(ch);
    }
  }
  return !name->empty();
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

DrainFile read_drain_file(const std::string& path) {
  DrainFile out;
  std::ifstream in(path);
  if (!in) {
    if (errno != ENOENT) out.error = errno_text("cannot read", path);
    return out;
  }
  std::string line;
  unsigned number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto fail = [&](const std::string& why) {
      out.drained.clear();
      out.error = path + ":" + std::to_string(number) + ": " + why;
    };
    if (number == 1) {
      if (line != kHeader) {
        fail("expected the header \"" + std::string(kHeader) + "\"");
        return out;
      }
      continue;
    }
    if (line.empty()) continue;
    if (line.rfind(kDirective, 0) != 0) {
      fail("expected \"drained <cluster>\", got \"" + line + "\"");
      return out;
    }
    std::string name;
    if (!unescape_name(line.substr(std::strlen(kDirective)), &name)) {
      fail("invalid cluster name \"" + line.substr(std::strlen(kDirective)) + "\"");
      return out;
    }
    out.drained.insert(std::move(name));
  }
  if (number == 0) out.error = path + ":1: empty file, expected the header";
  return out;
}

std::string write_drain_file(const std::string& path, const std::set<std::string>& drained) {
  std::ostringstream text;
  text << kHeader << '\n';
  for (const auto& name : drained) text << kDirective << escape_name(name) << '\n';
  const std::string data = text.str();

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_text("cannot create", tmp);
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = errno_text("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string err = errno_text("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return err;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = errno_text("cannot rename to", path);
    ::unlink(tmp.c_str());
    return err;
  }
  // The rename itself is durable only once the directory entry is on disk.
  const std::string dir = directory_of(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace gslb::health
