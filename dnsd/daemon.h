// The running server: config, workers, probes, HTTP endpoints and signals, wired
// together. Control thread only (the thread that calls run()).
#pragma once

#include <memory>
#include <string>

namespace gslb::dns {

struct DaemonOptions {
  std::string config_path;
  // --replace: take the listening sockets and cluster state over from the gslbd
  // on the control socket, then tell it to exit (it keeps serving if this fails).
  bool replace = false;
  // This program's path as started, for the replacement `gslbd ctl replace` spawns
  // (after an upgrade that is the new binary; /proc/self/exe would be the old one).
  std::string executable;
};

// Returns the process exit code.
int run_daemon(const DaemonOptions& options);

// --check-config: loads and builds everything a start would, without binding
// sockets or probing; prints a summary to stdout or the error to stderr.
int check_config(const std::string& config_path);

// --print-ds: the DS lines (SHA-256, one per SEP key) of every zone with a dnssec
// section, for the parent zones, to stdout; 1 with the reason on stderr.
int print_ds(const std::string& config_path);

// `gslbd ctl ...` (arguments after "ctl"): the control socket's client. Exit codes:
// 0 done, 1 refused or failed, 2 usage, 3 no daemon on the socket.
int run_ctl(int argc, char** argv);

}  // namespace gslb::dns
