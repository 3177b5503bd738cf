#include "dnsd/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace gslb::dns {

namespace {
// Under systemd, stderr is a journal stream ($JOURNAL_STREAM is set) and the
// priority prefix sets each line's level; journald stamps the time itself.
const bool kJournal = std::getenv("JOURNAL_STREAM") != nullptr;

std::atomic<LogLevel> g_level{LogLevel::info};

void emit(LogLevel level, const char* journal_prefix, const char* word, const std::string& message) {
  if (level > g_level.load(std::memory_order_relaxed)) return;
  if (kJournal) {
    std::fprintf(stderr, "%s%s\n", journal_prefix, message.c_str());
    return;
  }
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const long long ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  // One fprintf a line: stdio locks the stream, so lines from threads never interleave.
  std::fprintf(stderr, "%s.%03lldZ %s%s\n", stamp, ms, word, message.c_str());
}
}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "error") return LogLevel::error;
  if (name == "warning") return LogLevel::warning;
  if (name == "info") return LogLevel::info;
  if (name == "debug") return LogLevel::debug;
  return std::nullopt;
}

void set_log_level(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }

void log_info(const std::string& message) { emit(LogLevel::info, "<6>", "info: ", message); }
void log_warning(const std::string& message) { emit(LogLevel::warning, "<4>", "warning: ", message); }
void log_error(const std::string& message) { emit(LogLevel::error, "<3>", "error: ", message); }

}  // namespace gslb::dns
