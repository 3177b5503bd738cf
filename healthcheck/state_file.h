// The drain state file: which clusters operators drained, kept across restarts.
// Free functions without shared state; the Monitor serializes writers.
#pragma once

#include <set>
#include <string>

namespace gslb::health {

struct DrainFile {
  std::set<std::string> drained;
  std::string error;   // "path:line: why" when the file is corrupt; then `drained` is empty
};

// A missing file is an empty state, not an error: the first run has none.
DrainFile read_drain_file(const std::string& path);

// Replaces the file atomically (temporary file, fsync, rename, fsync of the
// directory) so a crash leaves either the old or the new state. Returns "" or why not.
std::string write_drain_file(const std::string& path, const std::set<std::string>& drained);

}  // namespace gslb::health
