#include "dnsd/http_api.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <zlib.h>

#include <algorithm>

#include "dnsd/json.h"

namespace gslb::dns {

namespace {

constexpr const char* kRead = "GET, HEAD";
constexpr const char* kChange = "POST";

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 2.1; `plus_is_space` for form-encoded query strings only.
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      const int hi = i + 1 < in.size() ? hex_digit(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? hex_digit(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      *out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      *out += plus_is_space && in[i] == '+' ? ' ' : in[i];
    }
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The time depends on the token's length only, never on where a guess goes wrong.
bool same_secret(std::string_view given, std::string_view token) {
  unsigned diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(token[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  return diff == 0;
}

// RFC 9110 11.1: the scheme name is case-insensitive; the token is compared exactly.
bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() || !iequals(authorization.substr(0, kScheme.size()), kScheme)) return false;
  return same_secret(authorization.substr(kScheme.size()), token);
}

HttpResponse not_allowed(const char* allow) {
  HttpResponse r = http_error(405, std::string("method not allowed; use ") + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

HttpResponse text(std::string body, std::string content_type = "text/plain; charset=utf-8") {
  return {200, std::move(content_type), std::move(body), {}};
}

// The metrics text, gzip-compressed when the client takes it (Prometheus asks on
// every scrape): label sets repeat from line to line, so the series of thousands of
// checks shrink many times over on the wire. Level 1: the fastest, nearly as small.
HttpResponse metrics_response(std::string body, bool gzip) {
  HttpResponse r = text(std::move(body), "text/plain; version=0.0.4; charset=utf-8");
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (!gzip) return r;
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return r;
  std::string out(deflateBound(&z, static_cast<uLong>(r.body.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(r.body.data());
  z.avail_in = static_cast<uInt>(r.body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const bool done = deflate(&z, Z_FINISH) == Z_STREAM_END;
  out.resize(z.total_out);
  deflateEnd(&z);
  if (!done) return r;
  r.body = std::move(out);
  r.headers.emplace_back("Content-Encoding", "gzip");
  return r;
}

}  // namespace

bool parse_target(const std::string& target, HttpTarget* out) {
  if (target.empty() || target[0] != '/') return false;
  const size_t q = target.find('?');
  const std::string_view path = std::string_view(target).substr(0, q);
  // Split first, decode each segment after: "/clusters/eu%2Fwest/drain" names the
  // cluster "eu/west", and "/clusters/eu-west%2Fdrain" is no drain request.
  size_t at = 1;
  while (at <= path.size()) {
    size_t end = path.find('/', at);
    if (end == std::string_view::npos) end = path.size();
    std::string segment;
    if (!percent_decode(path.substr(at, end - at), false, &segment)) return false;
    out->segments.push_back(std::move(segment));
    at = end + 1;
  }
  if (q == std::string::npos) return true;
  const std::string_view query = std::string_view(target).substr(q + 1);
  at = 0;
  while (at < query.size()) {
    size_t end = query.find('&', at);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(at, end - at);
    at = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key, value;
    if (!percent_decode(pair.substr(0, eq), true, &key)) return false;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), true, &value)) return false;
    out->query[std::move(key)] = std::move(value);
  }
  return true;
}

FailedAuthLimiter::Allowance& FailedAuthLimiter::of(const std::string& client, Clock::time_point now) {
  auto it = clients_.find(client);
  if (it == clients_.end()) {
    if (clients_.size() >= kMaxClients)
      std::erase_if(clients_, [&](const auto& entry) { return now - entry.second.at >= kRefill * kBurst; });
    const std::string& key = clients_.size() >= kMaxClients ? std::string() : client;
    it = clients_.try_emplace(key, Allowance{kBurst, now}).first;
  }
  Allowance& a = it->second;
  const double refilled = std::chrono::duration<double>(now - a.at) / kRefill;
  a.left = std::min(kBurst, a.left + refilled);
  a.at = now;
  return a;
}

FailedAuthLimiter::Clock::duration FailedAuthLimiter::wait(const std::string& client, Clock::time_point now) {
  const Allowance& a = of(client, now);
  if (a.left >= 1) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>((1 - a.left) * kRefill);
}

void FailedAuthLimiter::failed(const std::string& client, Clock::time_point now) {
  Allowance& a = of(client, now);
  a.left = std::max(0.0, a.left - 1);
}

HttpApi::HttpApi(HttpRoutes routes, prometheus::Registry& registry, Clock clock)
    : routes_(std::move(routes)),
      clock_(std::move(clock)),
      failures_(prometheus::BuildCounter()
                    .Name("gslb_http_auth_failures_total")
                    .Help("State-changing HTTP requests refused: wrong or missing token, too many failures "
                          "from the client's address, or a foreign browser Origin")
                    .Register(registry)),
      wrong_token_(failures_.Add({{"reason", "token"}})),
      rate_limited_(failures_.Add({{"reason", "rate_limited"}})),
      cross_origin_(failures_.Add({{"reason", "origin"}})) {}

// Origin first: a web page must not even get to guess the token. A request
// without Origin is not from a browser's cross-site form or fetch (curl, scripts).
std::optional<HttpResponse> HttpApi::refuse_change(const HttpRequest& r) {
  if (r.has_origin && !iequals(r.origin, r.own_origin)) {
    cross_origin_.Increment();
    return http_error(403, "cross-origin request refused: Origin \"" + r.origin + "\" is not " + r.own_origin);
  }
  if (!token_) return std::nullopt;
  const auto now = clock_();
  if (const auto wait = limiter_.wait(r.peer, now); wait > wait.zero()) {
    rate_limited_.Increment();
    HttpResponse out = http_error(429, "too many failed token attempts from this address; retry later");
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
    out.headers.emplace_back("Retry-After", std::to_string(seconds));
    return out;
  }
  if (bearer_matches(r.authorization, *token_)) return std::nullopt;
  limiter_.failed(r.peer, now);
  wrong_token_.Increment();
  HttpResponse out = http_error(401, "missing or wrong bearer token");
  out.headers.emplace_back("WWW-Authenticate", "Bearer");
  return out;
}

void HttpApi::handle(const HttpRequest& r, const HttpServer::Respond& respond) {
  HttpTarget t;
  if (!parse_target(r.target, &t)) return respond(http_error(400, "malformed request target"));
  const std::vector<std::string>& s = t.segments;
  if (s.size() == 3 && s[0] == "clusters" && (s[2] == "drain" || s[2] == "undrain")) {
    if (r.method != "POST") return respond(not_allowed(kChange));
    if (auto refused = refuse_change(r)) return respond(*refused);
    const bool drain = s[2] == "drain";
    const std::string cluster = s[1], verb = s[2];
    // Whether a token came, never the token: the log is no place for a secret.
    return routes_.set_drained(
        cluster, drain, "HTTP client " + r.peer_text + (r.authorization.empty() ? " (no token)" : " (token presented)"),
        [respond, cluster, verb, drain](const health::Monitor::DrainResult& result) {
          using Outcome = health::Monitor::DrainResult::Outcome;
          if (result.outcome == Outcome::no_such_cluster) return respond(http_error(404, "no cluster named " + cluster));
          if (result.outcome == Outcome::not_saved)
            return respond(http_error(500, "not " + verb + "ed: the drain state cannot be saved: " + result.error));
          if (result.outcome == Outcome::not_stored)
            return respond(http_error(503, "not " + verb + "ed: etcd did not store it: " + result.error));
          respond(text(json_text({{"cluster", cluster}, {"drained", drain}}), "application/json"));
        });
  }
  respond(read_route(r, t));
}

HttpResponse HttpApi::read_route(const HttpRequest& r, const HttpTarget& t) {
  const std::vector<std::string>& s = t.segments;
  const bool read = r.method == "GET" || r.method == "HEAD";
  if (s.size() == 1) {
    if (s[0] == "healthz") return read ? text("ok\n") : not_allowed(kRead);
    if (s[0] == "metrics") return read ? metrics_response(routes_.metrics(), r.accepts_gzip) : not_allowed(kRead);
    if (s[0] == "status") return read ? text(routes_.status(), "application/json") : not_allowed(kRead);
    if (s[0] == "explain") {
      if (!read) return not_allowed(kRead);
      const auto name = t.query.find("name");
      const auto client = t.query.find("client");
      if (name == t.query.end() || client == t.query.end()) return http_error(400, "need ?name=SERVICE&client=ADDRESS");
      return routes_.explain(name->second, client->second);
    }
  }
  return http_error(404, "not found");
}

}  // namespace gslb::dns
