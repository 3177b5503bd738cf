#include "dnsd/http_server.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <list>
#include <optional>

#include "dnsd/accept_backoff.h"
#include "dnsd/json.h"
#include "dnsd/listen_socket.h"

namespace gslb::dns {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

// Request line and headers together. The API's requests are a path, a query and
// a token: 8 KiB is what nginx allows per header line by default, far beyond them.
constexpr uint32_t kMaxHeader = 8 * 1024;
// No route reads a body; a small one (a form POST) is still read and ignored so
// that keep-alive stays in step, anything larger is refused.
constexpr uint64_t kMaxBody = 16 * 1024;

// "127.0.0.1:9153", "[::1]:9153"
std::string endpoint_text(const tcp::endpoint& e) {
  const asio::ip::address a = e.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

// Whether an Accept-Encoding value takes gzip (or any coding), unless with q=0.
bool accepts_gzip(std::string value) {
  value.erase(std::remove(value.begin(), value.end(), ' '), value.end());
  std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
  for (std::size_t start = 0; start < value.size();) {
    const std::size_t end = std::min(value.find(',', start), value.size());
    const std::string coding = value.substr(start, end - start);
    start = end + 1;
    const std::string name = coding.substr(0, coding.find(';'));
    if (name != "gzip" && name != "*") continue;
    const std::size_t q = coding.find(";q=");
    return q == std::string::npos || std::strtod(coding.c_str() + q + 3, nullptr) > 0;
  }
  return false;
}

std::string origin_of(const tcp::endpoint& local) { return "http://" + endpoint_text(local); }

std::string address_bytes(const asio::ip::address& a) {
  if (a.is_v6()) {
    const auto b = a.to_v6().to_bytes();
    return std::string(b.begin(), b.end());
  }
  const auto b = a.to_v4().to_bytes();
  return std::string(b.begin(), b.end());
}

}  // namespace

HttpResponse http_error(int status, const std::string& message) {
  return {status, "application/json", json_text({{"error", message}}), {}};
}

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& c, HttpLimits l, Handler h, prometheus::Registry& registry, AcceptCounters& accept_errors)
      : ctx(c),
        backoff(c, accept_errors),
        acceptor(c),
        limits(l),
        handler(std::move(h)),
        evicted(prometheus::BuildCounter()
                    .Name("gslb_http_connections_evicted_total")
                    .Help("HTTP connections closed to make room at server.http_max_connections")
                    .Register(registry)
                    .Add({})) {}

  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    Connection(std::shared_ptr<Impl> server, tcp::socket socket) : server_(std::move(server)), stream_(std::move(socket)) {}

    ~Connection() {
      if (!closed_) server_->lru.erase(lru_);
    }

    void start() {
      lru_ = server_->lru.insert(server_->lru.end(), this);
      boost::system::error_code ec;
      const tcp::endpoint local = stream_.socket().local_endpoint(ec);
      const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
      if (ec) return close();
      own_origin_ = origin_of(local);
      peer_ = address_bytes(peer.address());
      peer_text_ = endpoint_text(peer);
      read();
    }

    void close() {
      if (closed_) return;
      closed_ = true;
      server_->lru.erase(lru_);
      boost::system::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.socket().close(ignored);
    }

   private:
    // A whole request must arrive within the idle timeout of the previous response
    // (or of the accept): that bounds idle keep-alive connections and slow senders alike.
    void read() {
      parser_.emplace();
      parser_->header_limit(kMaxHeader);
      parser_->body_limit(kMaxBody);
      stream_.expires_after(server_->limits.idle_timeout);
      http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        self->on_read(ec);
      });
    }

    void on_read(const boost::system::error_code& ec) {
      if (closed_) return;
      touch();
      if (ec == http::error::header_limit) return respond(http_error(431, "request header fields too large"), false, false);
      if (ec == http::error::body_limit) return respond(http_error(413, "request body too large"), false, false);
      // Beast's own codes say what was wrong with the bytes; the rest are the socket's.
      if (ec && ec.category() == make_error_code(http::error::end_of_stream).category() && ec != http::error::end_of_stream &&
          ec != http::error::partial_message)
        return respond(http_error(400, "malformed request: " + ec.message()), false, false);
      if (ec) return close();  // the peer left, timed out or reset
      const auto& req = parser_->get();
      HttpRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      if (const auto it = req.find(http::field::authorization); it != req.end()) r.authorization = std::string(it->value());
      if (const auto it = req.find(http::field::origin); it != req.end()) {
        r.has_origin = true;
        r.origin = std::string(it->value());
      }
      if (const auto it = req.find(http::field::accept_encoding); it != req.end())
        r.accepts_gzip = accepts_gzip(std::string(it->value()));
      r.own_origin = own_origin_;
      r.peer = peer_;
      r.peer_text = peer_text_;
      server_->handler(r, [self = shared_from_this(), keep_alive = req.keep_alive(),
                           head = req.method() == http::verb::head](HttpResponse out) {
        if (!self->closed_) self->respond(std::move(out), keep_alive, head);
      });
    }

    void respond(HttpResponse out, bool keep_alive, bool head) {
      response_.emplace();
      response_->version(11);
      response_->result(static_cast<unsigned>(out.status));
      response_->set(http::field::content_type, out.content_type);
      for (auto& [name, value] : out.headers) response_->set(name, value);
      response_->keep_alive(keep_alive);
      response_->body() = std::move(out.body);
      response_->prepare_payload();
      // RFC 9110 9.3.2: HEAD gets GET's headers, Content-Length included, and no body.
      if (head) response_->body().clear();
      stream_.expires_after(server_->limits.idle_timeout);
      http::async_write(stream_, *response_, [self = shared_from_this(), keep_alive](const boost::system::error_code& ec, size_t) {
        if (self->closed_) return;
        if (ec || !keep_alive) return self->close();
        self->touch();
        self->read();
      });
    }

    // Moves this connection to the back of the eviction line.
    void touch() { server_->lru.splice(server_->lru.end(), server_->lru, lru_); }

    std::shared_ptr<Impl> server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<http::response<http::string_body>> response_;
    std::list<Connection*>::iterator lru_;  // place in Impl::lru while open
    bool closed_ = false;
    std::string own_origin_, peer_, peer_text_;
  };

  // The one place connections come in.
  void accept_next() {
    acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (ec) return self->backoff.failed(self->acceptor, ec, [weak = std::weak_ptr<Impl>(self)] {
        if (const auto me = weak.lock(); me && me->acceptor.is_open()) me->accept_next();
      });
      self->backoff.succeeded();
      self->admit(std::move(socket));
      self->accept_next();
    });
  }

  // At the cap the least recently active connection makes room, as on DNS TCP:
  // idle keep-alive clients cannot lock an operator out of the API.
  void admit(tcp::socket socket) {
    while (!lru.empty() && lru.size() >= limits.max_connections) {
      lru.front()->close();
      evicted.Increment();
    }
    std::make_shared<Connection>(shared_from_this(), std::move(socket))->start();
  }

  void close_all() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    while (!lru.empty()) lru.front()->close();
  }

  asio::io_context& ctx;
  AcceptBackoff backoff;
  tcp::acceptor acceptor;
  HttpLimits limits;
  Handler handler;
  prometheus::Counter& evicted;
  std::list<Connection*> lru;  // open connections, least recently active first
};

HttpServer::HttpServer(asio::io_context& ctx, const Endpoint& listen, HttpLimits limits, Handler handler,
                       prometheus::Registry& registry, AcceptCounters& accept_errors, int inherited)
    : impl_(std::make_shared<Impl>(ctx, limits, std::move(handler), registry, accept_errors)) {
  const auto ep = to_asio<tcp::endpoint>(listen);
  boost::system::error_code ec;
  if (inherited >= 0) {
    impl_->acceptor.assign(ep.protocol(), inherited, ec);
    if (ec) throw std::runtime_error("HTTP " + listen.text + ": cannot use the handed-over socket: " + ec.message());
    impl_->accept_next();
    return;
  }
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen for HTTP on " + listen.text + ": " + ec.message());
  impl_->accept_next();
}

HttpServer::~HttpServer() { impl_->close_all(); }

void HttpServer::set_limits(HttpLimits limits) { impl_->limits = limits; }

int HttpServer::listener_fd() const { return const_cast<tcp::acceptor&>(impl_->acceptor).native_handle(); }

}  // namespace gslb::dns
