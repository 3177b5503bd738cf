// A minimal HTTP/1.1 server for the operator endpoints (/metrics, /healthz,
// /status, /explain, drain). One request per connection, bounded in size and time.
// Runs on the control thread's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "dnsd/config.h"

namespace gslb::dns {

struct HttpRequest {
  std::string method;
  std::string path;                          // without the query string
  std::map<std::string, std::string> query;  // decoded
  std::string authorization;                 // the header's value
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Throws std::runtime_error when it cannot listen.
  HttpServer(boost::asio::io_context& ctx, const Endpoint& listen, Handler handler);
  ~HttpServer();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gslb::dns
