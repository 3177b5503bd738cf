#include "dnsd/data_files.h"

#include <unistd.h>

#include <climits>

namespace gslb::dns {

std::string default_countries_file() {
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    const std::string path(exe, static_cast<std::size_t>(n));
    const auto slash = path.rfind('/');
    if (slash != std::string::npos) {
      const std::string installed = path.substr(0, slash) + "/../share/gslbd/countries.csv";
      if (access(installed.c_str(), R_OK) == 0) return installed;
    }
  }
  return GSLBD_COUNTRIES_FILE;
}

}  // namespace gslb::dns
