// libFuzzer target: load_config + build_serving_state on arbitrary YAML text
// written to a temp file. Any exception is a refused config and fine; a crash,
// sanitizer report, hang or exception escaping as std::terminate is not.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "dnsd/config.h"
#include "dnsd/serving_state.h"

using namespace gslb::dns;

namespace {

std::string& config_path() {
  static std::string path = [] {
    char dir[] = "/tmp/gslbd-fuzz-config-XXXXXX";
    if (!mkdtemp(dir)) abort();
    return std::string(dir) + "/gslbd.yaml";
  }();
  return path;
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) abort();
  for (size_t done = 0; done < size;) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) abort();
    done += static_cast<size_t>(n);
  }
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The config may name other files (zonefile, geo tables). Reading a device or
  // procfs file (/dev/zero, /dev/stdin) would block or never end: that is the
  // operator's choice, not a parser bug, so such inputs are skipped.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (std::string_view bad : {"dev", "proc", "sys", "fd/"})
    if (text.find(bad) != std::string_view::npos) return 0;
  const std::string& path = config_path();
  write_file(path, data, size);
  try {
    MetricNames slots;
    auto state = build_serving_state(load_config(path), 1, &slots);
  } catch (const std::exception&) {
    // Refused: fine.
  }
  return 0;
}
