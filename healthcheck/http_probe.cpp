#include "healthcheck/http_probe.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gslb::health {

namespace {

// The body check looks for a short marker near the top of a health page; keeping
// more of a misbehaving endpoint's output would only cost memory.
constexpr std::size_t kMaxBody = 64 * 1024;

// The libcurl errors that the cases in evaluate() do not name, by what an operator
// would look at first: the name, the TLS setup, the peer's responses, or this host.
Failure classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST: return Failure::resolve;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE: return Failure::tls;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: return Failure::connect;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return Failure::local;
    default: return Failure::protocol;
  }
}

}  // namespace

HttpProbe::HttpProbe(CurlMulti& multi, ProbeSockets& sockets, HttpCheck check, Millis timeout)
    : multi_(multi), sockets_(sockets), check_(std::move(check)), timeout_(timeout), dns_(curl_share_init()), easy_(curl_easy_init()) {
  curl_share_setopt(dns_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_easy_setopt(easy_, CURLOPT_SHARE, dns_);
  curl_easy_setopt(easy_, CURLOPT_URL, check_.url.c_str());
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
  // Signals would be delivered to whatever thread runs the resolver.
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  // By default the connection is kept across probes in the multi handle's cache (a
  // connect and its kernel work is most of a probe's cost; CurlMulti keeps room for
  // one per check). When the target closed it meanwhile, curl sees it dead before
  // reuse, or retries once on a new connection when the request on the reused one
  // got no response byte at all; any other failure is the probe's. fresh_connection
  // tests that the target accepts new connections, which a kept-alive one would hide.
  if (check_.fresh_connection) {
    curl_easy_setopt(easy_, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy_, CURLOPT_FRESH_CONNECT, 1L);
  }
  // An HTTP proxy from the environment must not stand in for the cluster.
  curl_easy_setopt(easy_, CURLOPT_PROXY, "");
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, "gslbd-healthcheck");
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpProbe::on_body);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy_, CURLOPT_OPENSOCKETFUNCTION, &HttpProbe::open_socket);
  curl_easy_setopt(easy_, CURLOPT_OPENSOCKETDATA, this);
  // The budget, not the probe: curl may close a socket while tearing the handle down.
  curl_easy_setopt(easy_, CURLOPT_CLOSESOCKETFUNCTION, &HttpProbe::close_socket);
  curl_easy_setopt(easy_, CURLOPT_CLOSESOCKETDATA, &sockets_);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, check_.tls_verify ? 1L : 0L);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, check_.tls_verify ? 2L : 0L);
  if (!check_.ca_file.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, check_.ca_file.c_str());
  if (!check_.host.empty()) {
    headers_ = curl_slist_append(headers_, ("Host: " + check_.host).c_str());
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
  }
}

HttpProbe::~HttpProbe() {
  multi_.remove(easy_);
  curl_easy_cleanup(easy_);
  curl_share_cleanup(dns_);   // after the handle: a share in use cannot be freed
  curl_slist_free_all(headers_);
}

void HttpProbe::start(Done done) {
  body_.clear();
  error_[0] = '\0';
  open_failed_ = LocalError::none;
  const auto started = std::chrono::steady_clock::now();
  multi_.add(easy_, [this, started, done = std::move(done)](CURLcode code) {
    done(evaluate(code, std::chrono::steady_clock::now() - started));
  });
}

size_t HttpProbe::on_body(char* data, size_t size, size_t count, void* self) {
  auto* me = static_cast<HttpProbe*>(self);
  const size_t n = size * count;
  if (!me->check_.body.empty() && me->body_.size() < kMaxBody)
    me->body_.append(data, std::min(n, kMaxBody - me->body_.size()));
  return n;
}

curl_socket_t HttpProbe::open_socket(void* self, curlsocktype, curl_sockaddr* address) {
  auto* me = static_cast<HttpProbe*>(self);
  const auto opened = me->sockets_.open(address->family, address->socktype, address->protocol);
  if (opened.fd < 0) {
    me->open_failed_ = opened.error;
    return CURL_SOCKET_BAD;
  }
  return opened.fd;
}

int HttpProbe::close_socket(void* sockets, curl_socket_t fd) {
  static_cast<ProbeSockets*>(sockets)->close(fd);
  return 0;
}

ProbeResult HttpProbe::evaluate(CURLcode code, std::chrono::nanoseconds latency) const {
  const auto curl_error = [&] {
    return std::string(error_[0] != '\0' ? error_ : curl_easy_strerror(code));
  };
  if (open_failed_ != LocalError::none)
    return probe_local(open_failed_, std::string("cannot open a socket: ") + to_string(open_failed_), latency);
  switch (code) {
    case CURLE_OK: break;
    case CURLE_OUT_OF_MEMORY: return probe_local(LocalError::memory, curl_error(), latency);
    case CURLE_OPERATION_TIMEDOUT: return probe_failed(Failure::timeout, timeout_reason(timeout_), latency);
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(easy_, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno == ECONNREFUSED) return probe_failed(Failure::refused, "connection refused", latency);
      if (const auto local = local_error_of(static_cast<int>(os_errno)))
        return probe_local(*local, "connect failed: " + curl_error(), latency);
      return probe_failed(Failure::connect, "connect failed: " + curl_error(), latency);
    }
    case CURLE_GOT_NOTHING:
      return probe_failed(Failure::protocol, "connection closed without a response", latency);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return probe_failed(Failure::tls, "TLS verification failed: " + curl_error(), latency);
    default: return probe_failed(classify(code), curl_error(), latency);
  }
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  if (std::find(check_.expect.begin(), check_.expect.end(), status) == check_.expect.end())
    return probe_failed(Failure::status, "HTTP " + std::to_string(status), latency);
  if (!check_.body.empty() && body_.find(check_.body) == std::string::npos)
    return probe_failed(Failure::body, "body missing '" + check_.body + "'", latency);
  return probe_ok(latency);
}

}  // namespace gslb::health
