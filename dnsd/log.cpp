#include "dnsd/log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace gslb::dns {

namespace {
// Under systemd, stderr is a journal stream: events go to the journal's native
// socket instead, where their fields stay apart and journald stamps the time
// itself. $JOURNAL_STREAM names that stream's device and inode (systemd.exec(5));
// the variable alone is not enough, since a shell in a terminal that a user service
// started inherits it while its stderr is the terminal.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  unsigned long long device = 0, inode = 0;
  if (!stream || std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == device && st.st_ino == inode;
}
const bool kJournal = stderr_is_journal();

std::atomic<LogLevel> g_level{LogLevel::info};

struct Level {
  LogLevel level;
  char priority;     // syslog(3): '3' err, '4' warning, '6' info
  const char* word;
};
constexpr Level kError{LogLevel::error, '3', "error: "};
constexpr Level kWarning{LogLevel::warning, '4', "warning: "};
constexpr Level kInfo{LogLevel::info, '6', "info: "};

// One sd_journal_sendv() per event: a datagram to /run/systemd/journal/socket, which
// is atomic, so events from threads never interleave. False when it was not sent.
bool send_to_journal(const Level& level, const std::string& message, const LogFields& fields) {
  const std::string priority = std::string("PRIORITY=") + level.priority;
  const std::string text = "MESSAGE=" + message;
  std::array<std::string, 4> named;
  std::array<iovec, 3 + named.size()> iov{};
  std::size_t n = 0;
  auto add = [&](const std::string& field) {
    iov[n++] = {const_cast<char*>(field.data()), field.size()};
  };
  static const std::string kIdentifier = "SYSLOG_IDENTIFIER=gslbd";
  add(text);
  add(priority);
  add(kIdentifier);
  const std::pair<const char*, const std::string*> optional[] = {
      {"CLUSTER=", &fields.cluster}, {"SERVICE=", &fields.service}, {"CHECK=", &fields.check}, {"REASON=", &fields.reason}};
  std::size_t k = 0;
  for (const auto& [key, value] : optional) {
    if (value->empty()) continue;
    named[k] = key + *value;
    add(named[k++]);
  }
  return sd_journal_sendv(iov.data(), static_cast<int>(n)) >= 0;
}

void emit(const Level& level, const std::string& message, const LogFields& fields) {
  if (level.level > g_level.load(std::memory_order_relaxed)) return;
  if (kJournal) {
    // A journal that cannot take it (socket gone, full) still gets the line through
    // the stream stderr is connected to.
    if (!send_to_journal(level, message, fields)) std::fprintf(stderr, "<%c>%s\n", level.priority, message.c_str());
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
  std::fprintf(stderr, "%s.%03lldZ %s%s\n", stamp, ms, level.word, message.c_str());
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

void log_info(const std::string& message, const LogFields& fields) { emit(kInfo, message, fields); }
void log_warning(const std::string& message, const LogFields& fields) { emit(kWarning, message, fields); }
void log_error(const std::string& message, const LogFields& fields) { emit(kError, message, fields); }

}  // namespace gslb::dns
