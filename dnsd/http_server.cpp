#include "dnsd/http_server.h"

#include <boost/asio.hpp>
#include <cstring>

namespace gslb::dns {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr size_t kMaxRequestHead = 16 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(10);

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

bool parse_head(const std::string& head, HttpRequest* req) {
  const size_t line_end = head.find("\r\n");
  const std::string line = head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
  req->method = line.substr(0, sp1);
  const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t q = target.find('?');
  req->path = url_decode(target.substr(0, q));
  if (q != std::string::npos) {
    const std::string qs = target.substr(q + 1);
    size_t start = 0;
    while (start <= qs.size()) {
      size_t amp = qs.find('&', start);
      if (amp == std::string::npos) amp = qs.size();
      const std::string pair = qs.substr(start, amp - start);
      const size_t eq = pair.find('=');
      if (!pair.empty()) req->query[url_decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
      start = amp + 1;
    }
  }
  size_t at = line_end + 2;
  while (at < head.size()) {
    const size_t end = head.find("\r\n", at);
    const std::string h = head.substr(at, end - at);
    at = end == std::string::npos ? head.size() : end + 2;
    const size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string name = h.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (name == "authorization") req->authorization = value;
  }
  return true;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& c, Handler h) : ctx(c), acceptor(c), handler(std::move(h)) {}

  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(std::shared_ptr<Impl> s, tcp::socket sock) : server(std::move(s)), socket(std::move(sock)), timer(server->ctx) {}
    void start() {
      timer.expires_after(kRequestTimeout);
      timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) {
          boost::system::error_code ignored;
          self->socket.close(ignored);
        }
      });
      asio::async_read_until(socket, asio::dynamic_buffer(buffer, kMaxRequestHead), "\r\n\r\n",
                             [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                               if (ec) return self->respond({400, "text/plain; charset=utf-8", "bad request\n"});
                               HttpRequest req;
                               if (!parse_head(self->buffer.substr(0, n), &req))
                                 return self->respond({400, "text/plain; charset=utf-8", "bad request\n"});
                               self->respond(self->server->handler(req));
                             });
    }
    void respond(const HttpResponse& r) {
      out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\nContent-Type: " + r.content_type +
            "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" + r.body;
      asio::async_write(socket, asio::buffer(out), [self = shared_from_this()](const boost::system::error_code&, size_t) {
        boost::system::error_code ignored;
        self->socket.shutdown(tcp::socket::shutdown_both, ignored);
        self->socket.close(ignored);
        self->timer.cancel();
      });
    }
    std::shared_ptr<Impl> server;
    tcp::socket socket;
    asio::steady_timer timer;
    std::string buffer, out;
  };

  void accept() {
    acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec, tcp::socket sock) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) std::make_shared<Connection>(self, std::move(sock))->start();
      self->accept();
    });
  }

  asio::io_context& ctx;
  tcp::acceptor acceptor;
  Handler handler;
};

HttpServer::HttpServer(asio::io_context& ctx, const Endpoint& listen, Handler handler)
    : impl_(std::make_shared<Impl>(ctx, std::move(handler))) {
  asio::ip::address addr;
  if (listen.v6) {
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), listen.address, 16);
    addr = asio::ip::address_v6(b);
  } else {
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), listen.address, 4);
    addr = asio::ip::address_v4(b);
  }
  const tcp::endpoint ep(addr, listen.port);
  boost::system::error_code ec;
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen for HTTP on " + listen.text + ": " + ec.message());
  impl_->accept();
}

HttpServer::~HttpServer() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace gslb::dns
