// One event a line on stderr. Under systemd (JOURNAL_STREAM set, systemd.exec(5))
// each line starts with the <N> syslog priority that journald reads (sd-daemon(3));
// elsewhere it starts with an RFC 3339 UTC timestamp with milliseconds and the level.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gslb::dns {

enum class LogLevel { error, warning, info, debug };

// "error", "warning", "info" or "debug"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);

// Lines less severe than `level` are dropped; thread-safe, so a reload can change it.
void set_log_level(LogLevel level);

void log_info(const std::string& message);
void log_warning(const std::string& message);
void log_error(const std::string& message);

}  // namespace gslb::dns
