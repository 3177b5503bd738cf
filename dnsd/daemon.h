// The running server: config, workers, probes, HTTP endpoints and signals, wired
// together. Control thread only (the thread that calls run()).
#pragma once

#include <memory>
#include <string>

namespace gslb::dns {

struct DaemonOptions {
  std::string config_path;
};

// Returns the process exit code.
int run_daemon(const DaemonOptions& options);

// --check-config: loads and builds everything a start would, without binding
// sockets or probing; prints a summary to stdout or the error to stderr.
int check_config(const std::string& config_path);

// --print-ds: the DS lines (SHA-256, one per SEP key) of every zone with a dnssec
// section, for the parent zones, to stdout; 1 with the reason on stderr.
int print_ds(const std::string& config_path);

}  // namespace gslb::dns
