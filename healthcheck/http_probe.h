// HTTP(S) check through libcurl: status code in the expected set, optional body
// substring, optional Host header, TLS verification on unless turned off.
//
// Probe thread only.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <string>

#include "healthcheck/curl_multi.h"
#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"
#include "healthcheck/probe_sockets.h"

namespace gslb::health {

class HttpProbe final : public Probe {
 public:
  HttpProbe(CurlMulti& multi, ProbeSockets& sockets, HttpCheck check, Millis timeout);
  ~HttpProbe() override;
  HttpProbe(const HttpProbe&) = delete;
  HttpProbe& operator=(const HttpProbe&) = delete;

  void start(Done done) override;

 private:
  static size_t on_body(char* data, size_t size, size_t count, void* self);
  static curl_socket_t open_socket(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int close_socket(void* sockets, curl_socket_t fd);
  ProbeResult evaluate(CURLcode code, std::chrono::nanoseconds latency) const;

  CurlMulti& multi_;
  ProbeSockets& sockets_;
  HttpCheck check_;
  Millis timeout_;
  // The check's own DNS cache: in the multi's shared one, libcurl's prune after every
  // transfer walks one entry per host:port of every check (O(N) per probe). Not its
  // own connection cache: in libcurl 7.88 each one brings an easy handle of its own
  // (about 20 KB per check).
  CURLSH* dns_;
  CURL* easy_;
  curl_slist* headers_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
  std::string body_;
  LocalError open_failed_ = LocalError::none;   // why this probe's socket could not be opened
};

}  // namespace gslb::health
