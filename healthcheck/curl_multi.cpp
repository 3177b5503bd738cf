#include "healthcheck/curl_multi.h"

#include <boost/asio/post.hpp>

#include <algorithm>

namespace gslb::health {

namespace asio = boost::asio;

CurlMulti::CurlMulti(asio::io_context& io, Log log)
    : io_(io),
      timer_(io),
      log_(std::move(log)),
      fds_(
          io,
          [this](int fd, bool readable, bool writable) {
            action(fd, (readable ? CURL_CSELECT_IN : 0) | (writable ? CURL_CSELECT_OUT : 0));
          },
          log_),
      multi_(curl_multi_init()) {
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CurlMulti::~CurlMulti() {
  for (const auto& [easy, done] : transfers_) curl_multi_remove_handle(multi_, easy);
  transfers_.clear();
  // Cleanup may still report sockets to forget, so fds_ must be alive here.
  curl_multi_cleanup(multi_);
}

void CurlMulti::add(CURL* easy, Done done) {
  // Adding only schedules a 0 ms timeout through on_timer; the transfer starts and
  // can complete only on a later turn, so `done` never runs inside add().
  const CURLMcode rc = curl_multi_add_handle(multi_, easy);
  if (rc != CURLM_OK) {
    asio::post(io_, [done = std::move(done)] { done(CURLE_FAILED_INIT); });
    return;
  }
  transfers_[easy] = std::move(done);
}

void CurlMulti::remove(CURL* easy) {
  if (transfers_.erase(easy) > 0) curl_multi_remove_handle(multi_, easy);
}

void CurlMulti::set_max_connections(std::size_t n) {
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(std::max<std::size_t>(n, 1)));
}

int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  auto* me = static_cast<CurlMulti*>(self);
  me->fds_.watch(fd, what == CURL_POLL_IN || what == CURL_POLL_INOUT,
                 what == CURL_POLL_OUT || what == CURL_POLL_INOUT);
  return 0;
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* self) {
  auto* me = static_cast<CurlMulti*>(self);
  if (timeout_ms < 0) {
    me->timer_.cancel();
    return 0;
  }
  // Even a 0 ms timeout goes through the timer: curl forbids calling
  // curl_multi_socket_action from inside its own callback.
  me->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  me->timer_.async_wait([me, alive = me->lifetime_.token()](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    me->action(CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

void CurlMulti::action(curl_socket_t fd, int events) {
  int running = 0;
  const CURLMcode rc = curl_multi_socket_action(multi_, fd, events, &running);
  if (rc != CURLM_OK)
    log_(Severity::error, std::string("healthcheck: curl_multi_socket_action: ") + curl_multi_strerror(rc), {});
  collect_done();
}

void CurlMulti::collect_done() {
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode result = msg->data.result;
    curl_multi_remove_handle(multi_, easy);
    const auto it = transfers_.find(easy);
    if (it == transfers_.end()) continue;
    Done done = std::move(it->second);
    transfers_.erase(it);
    done(result);
  }
}

}  // namespace gslb::health
