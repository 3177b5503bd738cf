// What the UDP and TCP listeners share when they open their sockets.
#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "dnsd/config.h"

namespace gslb::dns {

// setsockopt; throws std::runtime_error naming `what` (e.g. "udp 127.0.0.1:53").
template <class T>
void set_socket_option(int fd, int level, int name, const T& value, const std::string& what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0)
    throw std::runtime_error(what + ": setsockopt: " + std::strerror(errno));
}

// A configured listen address as an Asio endpoint (udp:: or tcp::endpoint).
template <class AsioEndpoint>
AsioEndpoint to_asio(const Endpoint& e) {
  if (e.v6) {
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), e.address, 16);
    return AsioEndpoint(boost::asio::ip::address_v6(b), e.port);
  }
  boost::asio::ip::address_v4::bytes_type b;
  std::memcpy(b.data(), e.address, 4);
  return AsioEndpoint(boost::asio::ip::address_v4(b), e.port);
}

}  // namespace gslb::dns
