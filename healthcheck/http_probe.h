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

namespace gslb::health {

class HttpProbe final : public Probe {
 public:
  HttpProbe(CurlMulti& multi, HttpCheck check, Millis timeout);
  ~HttpProbe() override;
  HttpProbe(const HttpProbe&) = delete;
  HttpProbe& operator=(const HttpProbe&) = delete;

  void start(Done done) override;

 private:
  static size_t on_body(char* data, size_t size, size_t count, void* self);
  ProbeResult evaluate(CURLcode code, std::chrono::nanoseconds latency) const;

  CurlMulti& multi_;
  HttpCheck check_;
  Millis timeout_;
  CURL* easy_;
  curl_slist* headers_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
  std::string body_;
};

}  // namespace gslb::health
