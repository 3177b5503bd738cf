// libcurl's multi-socket API driven by the probe thread's io_context: curl tells us
// which sockets to watch and when to call it back (CURLMOPT_SOCKETFUNCTION,
// CURLMOPT_TIMERFUNCTION); Asio waits, curl_multi_socket_action does the work. Any
// number of transfers cost no thread, only a watched fd and a timer entry.
//
// Probe thread only.
#pragma once

#include <curl/curl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <unordered_map>

#include "healthcheck/fd_watch.h"
#include "healthcheck/probe.h"

namespace gslb::health {

class CurlMulti {
 public:
  using Done = std::function<void(CURLcode)>;

  CurlMulti(boost::asio::io_context& io, Log log);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Starts a transfer on a configured easy handle. `done` runs on completion, on a
  // later turn of the io_context, after the handle has left the multi handle.
  void add(CURL* easy, Done done);
  // Abandons a transfer; its `done` is not called. No-op for unknown handles.
  void remove(CURL* easy);
  // How many connections the cache holds, in use or idle: one per HTTP check. Past
  // it libcurl closes the oldest idle one; its default, four per transfer in flight,
  // would close most kept connections between two probes.
  void set_max_connections(std::size_t n);

 private:
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void action(curl_socket_t fd, int events);
  void collect_done();

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  Log log_;
  FdWatch fds_;
  CURLM* multi_;
  std::unordered_map<CURL*, Done> transfers_;
  Lifetime lifetime_;
};

}  // namespace gslb::health
