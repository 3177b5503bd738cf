// systemd's readiness protocol (sd_notify(3)), by hand: one datagram of
// "KEY=value" lines to the socket named by $NOTIFY_SOCKET, which the service
// manager (or a test standing in for it) reads. Without $NOTIFY_SOCKET nothing is
// sent. The variable stays set: a replacement this process spawns notifies too.
#pragma once

#include <string>

namespace gslb::dns {

// `state`: newline-separated assignments, e.g. "READY=1\nSTATUS=serving".
void sd_notify_state(const std::string& state);

// "RELOADING=1\nMONOTONIC_USEC=<now>": what systemd wants at the start of a reload.
std::string sd_reloading();

}  // namespace gslb::dns
