// Stub targets for the Monitor's integration tests, each on its own thread and an
// ephemeral port on 127.0.0.1: an HTTP server whose behaviour can be flipped, a UDP
// DNS responder, and a port that refuses connections.
#pragma once

#include <boost/asio.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace gslb::health::test {

class HttpServer {
 public:
  // close: every request gets the connection closed without a response byte;
  // close_reused: only a request on a connection that already served one does (a
  // server timing out an idle keep-alive just as the probe reuses it); truncate:
  // half a response, then closed.
  enum class Mode { ok, fail, hang, close, close_reused, truncate };

  HttpServer() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~HttpServer() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(const std::string& path = "/healthz") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  void set_mode(Mode m) { mode_ = m; }
  // Answers HTTP/1.1 keep-alive (the connection stays open for the next request)
  // instead of closing after each response.
  void set_keep_alive(bool on) { keep_alive_ = on; }
  int connections() const { return connections_; }
  // The most requests held unanswered at once (Mode::hang), until their clients
  // gave up and closed.
  int max_hanging() const { return max_hanging_; }
  void set_body(std::string body) {
    boost::asio::post(io_, [this, body = std::move(body)] { body_ = body; });
  }
  int requests() const { return requests_; }
  int failures() const { return failures_; }  // 503s sent
  int successes() const { return successes_; }  // 200s sent
  std::string last_host() const {
    std::lock_guard lock(host_mu_);
    return last_host_;
  }

 private:
  using Socket = boost::asio::ip::tcp::socket;
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, Socket socket) {
      if (ec) return;
      ++connections_;
      serve(std::make_shared<Socket>(std::move(socket)), 0);
      accept();
    });
  }
  // Keeps the connection without answering until the client closes it.
  void hold(std::shared_ptr<Socket> socket) {
    held_.push_back(socket);
    max_hanging_ = std::max(max_hanging_.load(), ++hanging_);
    auto byte = std::make_shared<char>();
    socket->async_read_some(boost::asio::buffer(byte.get(), 1),
                            [this, socket, byte](boost::system::error_code ec, std::size_t) {
                              if (ec) --hanging_;
                            });
  }
  // `served`: requests this connection answered before.
  void serve(std::shared_ptr<Socket> socket, int served) {
    auto buffer = std::make_shared<boost::asio::streambuf>();
    boost::asio::async_read_until(
        *socket, *buffer, "\r\n\r\n",
        [this, socket, buffer, served](boost::system::error_code ec, std::size_t) {
          if (ec) return;
          ++requests_;
          const std::string head(boost::asio::buffers_begin(buffer->data()),
                                 boost::asio::buffers_end(buffer->data()));
          const auto host = head.find("\r\nHost: ");
          if (host != std::string::npos) {
            const auto start = host + 8;
            std::lock_guard lock(host_mu_);
            last_host_ = head.substr(start, head.find("\r\n", start) - start);
          }
          switch (mode_.load()) {
            case Mode::hang: return hold(socket);
            case Mode::close: socket->close(); return;
            case Mode::close_reused:
              if (served > 0) return socket->close();
              ++successes_;
              return reply(socket, served, "200 OK", body_);
            case Mode::truncate: return send(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", false, 0);
            case Mode::ok: ++successes_; reply(socket, served, "200 OK", body_); return;
            case Mode::fail: ++failures_; reply(socket, served, "503 Service Unavailable", "down"); return;
          }
        });
  }
  void reply(std::shared_ptr<Socket> socket, int served, const std::string& status, const std::string& body) {
    const bool keep = keep_alive_;
    send(socket,
         "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) +
             (keep ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") + body,
         keep, served + 1);
  }
  // Writes `text`, then reads the next request (keep) or closes.
  void send(std::shared_ptr<Socket> socket, std::string text, bool keep, int served) {
    auto owned = std::make_shared<std::string>(std::move(text));
    boost::asio::async_write(*socket, boost::asio::buffer(*owned),
                             [this, socket, owned, keep, served](boost::system::error_code ec, std::size_t) {
                               if (keep && !ec) return serve(socket, served);
                               boost::system::error_code ignored;
                               socket->shutdown(Socket::shutdown_both, ignored);
                             });
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<Mode> mode_{Mode::ok};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  int hanging_ = 0;   // server thread only
  std::atomic<int> max_hanging_{0};
  std::atomic<bool> keep_alive_{false};
  std::atomic<int> failures_{0}, successes_{0};
  std::string body_ = "ok";
  std::list<std::shared_ptr<Socket>> held_;
  mutable std::mutex host_mu_;
  std::string last_host_;
  std::thread thread_;
};

// Answers A queries for any name with 192.0.2.1, or SERVFAIL, or not at all.
class DnsResponder {
 public:
  enum class Mode { answer, servfail, silent };

  DnsResponder() : socket_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    receive();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~DnsResponder() {
    io_.stop();
    thread_.join();
  }
  std::string server() const {
    return "127.0.0.1:" + std::to_string(socket_.local_endpoint().port());
  }
  void set_mode(Mode m) { mode_ = m; }

 private:
  void receive() {
    socket_.async_receive_from(
        boost::asio::buffer(query_), peer_, [this](boost::system::error_code ec, std::size_t n) {
          if (ec) return;
          if (n >= 12 && mode_ != Mode::silent) respond(n);
          receive();
        });
  }
  void respond(std::size_t n) {
    // Header + the question as received (one question, no EDNS from c-ares).
    std::string out(reinterpret_cast<const char*>(query_.data()), n);
    const bool fail = mode_ == Mode::servfail;
    out[2] = static_cast<char>(0x84 | (query_[2] & 0x01));   // QR, AA, RD copied
    out[3] = static_cast<char>(fail ? 0x02 : 0x00);
    out[6] = 0;
    out[7] = fail ? 0 : 1;   // ANCOUNT
    out[8] = out[9] = out[10] = out[11] = 0;
    if (!fail) {
      const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
      out.append(reinterpret_cast<const char*>(answer), sizeof answer);
    }
    socket_.send_to(boost::asio::buffer(out), peer_);
  }

  boost::asio::io_context io_;
  boost::asio::ip::udp::socket socket_;
  boost::asio::ip::udp::endpoint peer_;
  std::array<unsigned char, 512> query_{};
  std::atomic<Mode> mode_{Mode::answer};
  std::thread thread_;
};

// Loopback ports nothing listens on: bound once to get a free number, then closed.
inline uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}
inline uint16_t closed_udp_port() {
  boost::asio::io_context io;
  boost::asio::ip::udp::socket s(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return s.local_endpoint().port();
}

}  // namespace gslb::health::test
