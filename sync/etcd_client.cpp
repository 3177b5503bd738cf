#include "sync/etcd_client.h"

#include <array>
#include <mutex>

namespace gslb::sync {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// A connection attempt to a member that is down fails at once (refused); one that
// hangs (a partition) must not hold the session longer than a keep-alive period.
constexpr auto kConnectTimeout = std::chrono::milliseconds(1000);

void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string b64(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

bool unb64(const std::string& text, std::string* out) {
  std::array<int, 256> value;
  value.fill(-1);
  for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(kAlphabet[i])] = i;
  out->clear();
  if (text.size() % 4 != 0) return false;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad > 0 || value[static_cast<unsigned char>(c)] < 0) return false;
      v = v << 6 | static_cast<uint32_t>(value[static_cast<unsigned char>(c)]);
    }
    for (int k = 0; k < 3 - pad; ++k) *out += static_cast<char>((v >> (16 - 8 * k)) & 0xff);
  }
  return true;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(end.back() + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

struct EtcdClient::Transfer {
  std::string body;          // the request, kept alive while curl sends it
  std::string received;      // the response so far (a watch: its unfinished line)
  curl_slist* headers = nullptr;
  Done done;
  Message message;           // set for a watch
  std::vector<nlohmann::json> pending;  // a watch's objects received, not yet handed out
  uint64_t id = 0;
  ~Transfer() { curl_slist_free_all(headers); }
};

EtcdClient::EtcdClient(std::vector<std::string> endpoints, TlsFiles tls)
    : endpoints_(std::move(endpoints)), tls_(std::move(tls)) {
  init_curl();
  multi_ = curl_multi_init();
}

EtcdClient::~EtcdClient() {
  cancel_all();
  curl_multi_cleanup(multi_);
}

size_t EtcdClient::on_data(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  t->received.append(data, size * n);
  if (t->message) {
    // One JSON object a line, handed out by poll(): never from inside curl, since
    // the handler may cancel this very transfer.
    std::size_t nl;
    while ((nl = t->received.find('\n')) != std::string::npos) {
      nlohmann::json j = nlohmann::json::parse(t->received.substr(0, nl), nullptr, false);
      t->received.erase(0, nl + 1);
      if (!j.is_discarded()) t->pending.push_back(std::move(j));
    }
  }
  return size * n;
}

uint64_t EtcdClient::start(const std::string& path, const nlohmann::json& body, std::chrono::milliseconds timeout,
                           std::unique_ptr<Transfer> t) {
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));  // 0: none (a watch)
  t->body = body.dump();
  t->headers = curl_slist_append(nullptr, "Content-Type: application/json");
  const std::string url = endpoint() + path;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &EtcdClient::on_data);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(kConnectTimeout.count()));
  // Notices a member that vanished without closing the connection (the watch).
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 2L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 1L);
  if (!tls_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, tls_.ca_file.c_str());
  if (!tls_.cert_file.empty()) curl_easy_setopt(easy, CURLOPT_SSLCERT, tls_.cert_file.c_str());
  if (!tls_.key_file.empty()) curl_easy_setopt(easy, CURLOPT_SSLKEY, tls_.key_file.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  const uint64_t id = t->id = ++next_id_;
  transfers_.emplace(easy, std::move(t));
  curl_multi_add_handle(multi_, easy);
  return id;
}

uint64_t EtcdClient::call(const std::string& path, const nlohmann::json& body, std::chrono::milliseconds timeout,
                          Done done) {
  auto t = std::make_unique<Transfer>();
  t->done = std::move(done);
  return start(path, body, timeout, std::move(t));
}

uint64_t EtcdClient::watch(const nlohmann::json& request, Message message, Done end) {
  auto t = std::make_unique<Transfer>();
  t->done = std::move(end);
  t->message = std::move(message);
  return start("/v3/watch", request, std::chrono::milliseconds(0), std::move(t));
}

void EtcdClient::cancel(uint64_t id) {
  for (auto it = transfers_.begin(); it != transfers_.end(); ++it) {
    if (it->second->id != id) continue;
    curl_multi_remove_handle(multi_, it->first);
    curl_easy_cleanup(it->first);
    transfers_.erase(it);
    return;
  }
}

void EtcdClient::cancel_all(const std::set<uint64_t>& keep) {
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (keep.count(it->second->id) > 0) {
      ++it;
      continue;
    }
    curl_multi_remove_handle(multi_, it->first);
    curl_easy_cleanup(it->first);
    it = transfers_.erase(it);
  }
}

void EtcdClient::next_endpoint() { current_ = (current_ + 1) % endpoints_.size(); }

void EtcdClient::poll(std::chrono::milliseconds timeout) {
  curl_multi_poll(multi_, nullptr, 0, static_cast<int>(timeout.count()), nullptr);
  int running = 0;
  curl_multi_perform(multi_, &running);
  // Collected first, called after: a callback may start or cancel transfers.
  std::vector<std::pair<uint64_t, std::vector<nlohmann::json>>> messages;
  for (auto& [easy, t] : transfers_)
    if (!t->pending.empty()) messages.emplace_back(t->id, std::move(t->pending));
  std::vector<std::pair<std::unique_ptr<Transfer>, Reply>> finished;
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* easy = m->easy_handle;
    const auto it = transfers_.find(easy);
    if (it == transfers_.end()) continue;
    Reply reply;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    std::unique_ptr<Transfer> t = std::move(it->second);
    transfers_.erase(it);
    if (m->data.result != CURLE_OK) {
      reply.error = std::string(curl_easy_strerror(m->data.result));
    } else if (t->message) {
      reply.error = "the watch stream ended" + (t->received.empty() ? std::string() : ": " + t->received.substr(0, 200));
    } else {
      reply.body = nlohmann::json::parse(t->received, nullptr, false);
      if (status != 200) {
        reply.error = "HTTP " + std::to_string(status);
        if (reply.body.is_object() && reply.body.contains("error")) reply.error += ": " + reply.body["error"].dump();
      } else if (!reply.body.is_object()) {
        reply.error = "not a JSON object: " + t->received.substr(0, 200);
      }
    }
    curl_multi_remove_handle(multi_, easy);
    curl_easy_cleanup(easy);
    finished.emplace_back(std::move(t), std::move(reply));
  }
  const auto live = [&](uint64_t id) -> Transfer* {
    for (auto& [easy, t] : transfers_)
      if (t->id == id) return t.get();
    for (auto& [t, reply] : finished)
      if (t->id == id) return t.get();
    return nullptr;
  };
  for (auto& [id, objects] : messages)
    for (const nlohmann::json& j : objects)
      if (Transfer* t = live(id)) t->message(j);
  for (auto& [t, reply] : finished) {
    for (const nlohmann::json& j : t->pending) t->message(j);
    t->done(std::move(reply));
  }
}

void EtcdClient::wakeup() { curl_multi_wakeup(multi_); }

}  // namespace gslb::sync
