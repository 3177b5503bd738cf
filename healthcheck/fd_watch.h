// Readiness notifications for file descriptors that belong to a C library (libcurl,
// c-ares) on an Asio io_context. The library opens and closes its sockets itself; we
// only wait on them, and release() them from Asio before the library closes them so
// Asio never closes or keeps a stale registration of a foreign fd.
//
// Probe thread only: every method, and the callback, run on the io_context's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <functional>
#include <memory>
#include <unordered_map>

#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"

namespace gslb::health {

class FdWatch {
 public:
  using Ready = std::function<void(int fd, bool readable, bool writable)>;

  // `log` hears of an fd that cannot be watched.
  FdWatch(boost::asio::io_context& io, Ready ready, Log log);
  ~FdWatch();
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;

  // Sets the interest for fd; read=write=false forgets it (the library is about to
  // close it). Safe to call from inside the Ready callback.
  void watch(int fd, bool read, bool write);

 private:
  struct Entry {
    explicit Entry(boost::asio::io_context& io) : sd(io) {}
    boost::asio::posix::stream_descriptor sd;
    bool want_read = false;
    bool want_write = false;
    bool read_armed = false;
    bool write_armed = false;
  };
  void arm(int fd, const std::shared_ptr<Entry>& entry, bool write);
  void forget(int fd);

  boost::asio::io_context& io_;
  Ready ready_;
  Log log_;
  std::unordered_map<int, std::shared_ptr<Entry>> entries_;
  Lifetime lifetime_;
};

}  // namespace gslb::health
