#include <cstring>
#include <iostream>
#include <string>

#include "dnsd/daemon.h"

namespace {

constexpr const char* kUsage =
    "Usage: gslbd -c FILE            run the server\n"
    "       gslbd --check-config -c FILE  validate FILE, print a summary, exit 0 or 1\n"
    "       gslbd --print-ds -c FILE      print the DS records of FILE's signed zones, for their parents\n"
    "       gslbd --version | --help\n"
    "\n"
    "gslbd is an authoritative DNS server that answers service names with the\n"
    "ingress of the nearest healthy cluster. Signals: SIGHUP reloads FILE (a bad\n"
    "new config is refused and the running one keeps serving); SIGTERM/SIGINT stop.\n";

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  bool check = false;
  bool ds = false;
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
  return gslb::dns::run_daemon({config});
}
