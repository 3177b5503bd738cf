#include "dnsd/log.h"

#include <cstdio>
#include <cstdlib>

namespace gslb::dns {

namespace {
// Under systemd, stderr is a journal stream ($JOURNAL_STREAM is set) and the
// priority prefix sets each line's level; on a terminal a word reads better.
const bool kJournal = std::getenv("JOURNAL_STREAM") != nullptr;

void emit(const char* journal_prefix, const char* word, const std::string& message) {
  // One fprintf a line: stdio locks the stream, so lines from threads never interleave.
  std::fprintf(stderr, "%s%s\n", kJournal ? journal_prefix : word, message.c_str());
}
}  // namespace

void log_info(const std::string& message) { emit("<6>", "info: ", message); }
void log_warning(const std::string& message) { emit("<4>", "warning: ", message); }
void log_error(const std::string& message) { emit("<3>", "error: ", message); }

}  // namespace gslb::dns
