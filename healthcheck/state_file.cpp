#include "healthcheck/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace gslb::health {

namespace {

constexpr int kVersion = 2;

// Version 1, written by earlier gslbd: a header line, then "drained <name>" lines with
// the bytes that would break a line (spaces, control characters) and '%' as %XX.
// Still read, so an upgrade keeps every drain; never written.
namespace v1 {

constexpr const char* kHeader = "# gslbd drain state v1";
constexpr const char* kDirective = "drained ";

bool needs_escape(unsigned char ch) { return ch <= ' ' || ch == 0x7f || ch == '%'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// False when `text` is not a name as version 1 wrote it.
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

DrainFile read(const std::string& path, std::istream& in) {
  DrainFile out;
  std::string line;
  unsigned number = 1;  // the header, already read
  while (std::getline(in, line)) {
    ++number;
    const auto fail = [&](const std::string& why) {
      out.drained.clear();
      out.error = path + ":" + std::to_string(number) + ": " + why;
    };
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
  return out;
}

}  // namespace v1

// {"version": 2, "drained": ["eu-west", ...]}
DrainFile read_json(const std::string& path, const std::string& text) {
  DrainFile out;
  const auto fail = [&](const std::string& why) {
    out.drained.clear();
    out.error = path + ": " + why;
    return out;
  };
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::ordered_json::parse_error& e) {
    const std::string what = e.what();  // "[json.exception.parse_error.101] parse error at line 1, ..."
    return fail(what.substr(what.find("] ") == std::string::npos ? 0 : what.find("] ") + 2));
  }
  const auto version = doc.is_object() ? doc.find("version") : doc.end();
  const auto drained = doc.is_object() ? doc.find("drained") : doc.end();
  if (version == doc.end() || drained == doc.end() || !drained->is_array())
    return fail("expected {\"version\": 2, \"drained\": [cluster names]}");
  if (*version != kVersion) return fail("unknown version " + version->dump() + " (this gslbd reads 1 and 2)");
  for (const auto& name : *drained) {
    if (!name.is_string() || name.get_ref<const std::string&>().empty())
      return fail("invalid cluster name " + name.dump());
    out.drained.insert(name.get<std::string>());
  }
  return out;
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
  std::string first;
  if (!std::getline(in, first)) {
    out.error = path + ":1: empty file, expected a drain state";
    return out;
  }
  if (first == v1::kHeader) return v1::read(path, in);
  std::ostringstream text;
  text << first << '\n' << in.rdbuf();
  return read_json(path, text.str());
}

std::string write_drain_file(const std::string& path, const std::set<std::string>& drained) {
  // Cluster names come from YAML, so they are UTF-8; "replace" keeps a stray byte
  // from throwing all the same.
  const std::string data = nlohmann::ordered_json{{"version", kVersion}, {"drained", drained}}.dump(
                               -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";

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
