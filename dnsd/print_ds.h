// gslbd --print-ds: the DS records a parent zone needs for each signed zone.
#pragma once

#include <string>

namespace gslb::dns {

// Prints the DS lines (SHA-256, one per SEP key) of every zone with a dnssec
// section to stdout; returns the exit code (1 with the reason on stderr).
int print_ds(const std::string& config_path);

}  // namespace gslb::dns
