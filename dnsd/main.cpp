#include <unistd.h>

#include <climits>
#include <cstring>
#include <iostream>
#include <string>

#include "dnsd/daemon.h"

namespace {

constexpr const char* kUsage =
    "Usage: gslbd -c FILE            run the server\n"
    "       gslbd --replace -c FILE  take over from the gslbd running on FILE's control socket\n"
    "       gslbd ctl [-c FILE | -s SOCKET] COMMAND  control a running gslbd (gslbd ctl --help)\n"
    "       gslbd --check-config -c FILE  validate FILE, print a summary, exit 0 or 1\n"
    "       gslbd --print-ds -c FILE      print the DS records of FILE's signed zones, for their parents\n"
    "       gslbd --version | --help\n"
    "\n"
    "gslbd is an authoritative DNS server that answers service names with the\n"
    "ingress of the nearest healthy cluster. Signals: SIGHUP reloads FILE (a bad\n"
    "new config is refused and the running one keeps serving); SIGTERM/SIGINT stop.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "ctl") == 0) return gslb::dns::run_ctl(argc - 2, argv + 2);
  std::string config;
  bool check = false;
  bool ds = false;
  bool replace = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version" || arg == "-V") {
      std::cout << "gslbd " GSLBD_VERSION "\n";
      return 0;
    }
    if (arg == "--check-config" || arg == "-t") {
      check = true;
    } else if (arg == "--replace") {
      replace = true;
    } else if (arg == "--print-ds") {
      ds = true;
    } else if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      config = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config = arg.substr(9);
    } else {
      std::cerr << "gslbd: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (config.empty()) {
    std::cerr << "gslbd: missing -c FILE\n" << kUsage;
    return 2;
  }
  if (check) return gslb::dns::check_config(config);
  if (ds) return gslb::dns::print_ds(config);
  char exe[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  return gslb::dns::run_daemon({config, replace, n > 0 ? std::string(exe, static_cast<size_t>(n)) : argv[0]});
}
