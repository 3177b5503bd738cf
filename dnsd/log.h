// One event a line. Under systemd (JOURNAL_STREAM set, systemd.exec(5)) each event
// goes to journald through sd_journal_send(3) with its fields (MESSAGE, PRIORITY,
// and CLUSTER=, SERVICE=, CHECK=, REASON= where the event has them); should the
// journal refuse it, it falls back to stderr with the <N> priority prefix that
// journald reads (sd-daemon(3)). Elsewhere each line on stderr starts with an
// RFC 3339 UTC timestamp with milliseconds and the level.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "healthcheck/monitor.h"

namespace gslb::dns {

enum class LogLevel { error, warning, info, debug };

// "error", "warning", "info" or "debug"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);

// Lines less severe than `level` are dropped; thread-safe, so a reload can change it.
void set_log_level(LogLevel level);

// The healthcheck module's own type: its events come through the same fields.
using LogFields = health::LogFields;

void log_info(const std::string& message, const LogFields& fields = {});
void log_warning(const std::string& message, const LogFields& fields = {});
void log_error(const std::string& message, const LogFields& fields = {});

}  // namespace gslb::dns
