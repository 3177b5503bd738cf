// etcd's v3 JSON gateway (the grpc-gateway every etcd 3.4 member serves on its
// client URL) over one libcurl multi handle: unary POSTs (/v3/lease/grant,
// /v3/kv/put, ...) and the streaming /v3/watch, whose response body is one JSON
// object a line. Keys and values are base64 in the JSON; b64()/unb64() convert.
//
// A handful of transfers at a time (one watch, a keep-alive, a few puts) need no
// socket callbacks: poll() is curl_multi_poll(), and wakeup() interrupts it from
// another thread. Sync thread only, except wakeup().
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sync/sync.h"

namespace gslb::sync {

std::string b64(const std::string& bytes);
// False when `text` is not base64.
bool unb64(const std::string& text, std::string* out);
// The range_end that makes a range cover every key starting with `prefix`.
std::string prefix_end(const std::string& prefix);

class EtcdClient {
 public:
  struct Reply {
    std::string error;     // empty: HTTP 200 with a JSON body
    nlohmann::json body;
  };
  using Done = std::function<void(Reply)>;
  using Message = std::function<void(const nlohmann::json&)>;

  EtcdClient(std::vector<std::string> endpoints, TlsFiles tls);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // POST `body` to the current endpoint's `path`; `done` runs from poll(). Both
  // return the transfer's id, for cancel().
  uint64_t call(const std::string& path, const nlohmann::json& body, std::chrono::milliseconds timeout, Done done);
  // POST /v3/watch with `request`; each object of the stream goes to `message`,
  // and `end` runs when the stream ends (always with an error: a watch never ends well).
  uint64_t watch(const nlohmann::json& request, Message message, Done end);
  // Abandon a transfer (or every one but those in `keep`) without calling back.
  void cancel(uint64_t id);
  void cancel_all(const std::set<uint64_t>& keep = {});
  // The next endpoint, for the next transfers (after a failure).
  void next_endpoint();
  const std::string& endpoint() const { return endpoints_[current_]; }

  // Waits for transfers, wakeup() or `timeout`, then runs the callbacks due.
  void poll(std::chrono::milliseconds timeout);
  void wakeup();

 private:
  struct Transfer;
  uint64_t start(const std::string& path, const nlohmann::json& body, std::chrono::milliseconds timeout,
                 std::unique_ptr<Transfer> t);
  static size_t on_data(char* data, size_t size, size_t n, void* transfer);

  std::vector<std::string> endpoints_;
  std::size_t current_ = 0;
  TlsFiles tls_;
  CURLM* multi_;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
  uint64_t next_id_ = 0;
};

}  // namespace gslb::sync
