// What the UDP and TCP listeners share when they open their sockets.
#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "dnsd/config.h"
#include "dnsd/unix_socket.h"

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

// A listening socket as `gslbd --replace` receives it: what it is ("udp", "tcp",
// "http", "control"), the address as configured, and the descriptor.
struct ListenFd {
  std::string kind;
  std::string listen;
  int fd = -1;
};

// The sockets a replaced process handed over, taken one at a time by what they
// are, so that the new process answers on the very sockets the old one read (the
// datagrams already queued in them included).
class InheritedSockets {
 public:
  void add(std::string kind, std::string listen, UniqueFd fd) {
    sockets_.push_back({std::move(kind), std::move(listen), std::move(fd)});
  }
  // An invalid UniqueFd when none of that kind and path is left.
  UniqueFd take(const std::string& kind, const std::string& path) {
    for (auto& s : sockets_)
      if (s.fd.get() >= 0 && s.kind == kind && s.listen == path) return std::move(s.fd);
    return {};
  }
  // A listening address matches as an address, not as text: the replaced process's
  // config may spell it otherwise ("[0::1]:53", or "127.0.0.1" for port 53 as
  // server.listen allows).
  UniqueFd take(const std::string& kind, const Endpoint& listen) {
    for (auto& s : sockets_) {
      Endpoint e;
      if (s.fd.get() >= 0 && s.kind == kind && parse_endpoint(s.listen, 53, &e) && e == listen) return std::move(s.fd);
    }
    return {};
  }
  // What no one took (the replacement has fewer workers): "udp 127.0.0.1:53" each.
  std::vector<std::string> left() const {
    std::vector<std::string> out;
    for (const auto& s : sockets_)
      if (s.fd.get() >= 0) out.push_back(s.kind + " " + s.listen);
    return out;
  }

 private:
  struct Entry {
    std::string kind, listen;
    UniqueFd fd;
  };
  std::vector<Entry> sockets_;
};

}  // namespace gslb::dns
