// setsockopt for the listeners, with the address in the error.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gslb::dns {

// Throws std::runtime_error naming `what` (e.g. "udp 127.0.0.1:53") on failure.
template <class T>
void set_socket_option(int fd, int level, int name, const T& value, const std::string& what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0)
    throw std::runtime_error(what + ": setsockopt: " + std::strerror(errno));
}

}  // namespace gslb::dns
