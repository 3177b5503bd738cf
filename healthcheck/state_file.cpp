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

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (const unsigned char ch : name)
    if (ch <= ' ' || ch == 0x7f) return false;
  return true;
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
    std::string name = line.substr(std::strlen(kDirective));
    if (!valid_name(name)) {
      fail("invalid cluster name \"" + name + "\"");
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
  for (const auto& name : drained) text << kDirective << name << '\n';
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
