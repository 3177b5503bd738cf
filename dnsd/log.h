// One event a line on stderr, journald-friendly: under systemd each line starts
// with the <N> syslog priority that journald reads (sd-daemon(3)).
#pragma once

#include <string>

namespace gslb::dns {

void log_info(const std::string& message);
void log_warning(const std::string& message);
void log_error(const std::string& message);

}  // namespace gslb::dns
