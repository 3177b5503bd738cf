#include "healthcheck/ingress_resolver.h"

#include <arpa/nameser.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <cstring>

namespace gslb::health {

namespace asio = boost::asio;

namespace {

// Re-resolution follows the records' TTL within these bounds: often enough to
// follow a load balancer's address changes, rarely enough not to hammer the
// resolver with TTL-0 names. After a failed round, try again after kRetry.
constexpr uint32_t kMinTtlSeconds = 5;
constexpr uint32_t kMaxTtlSeconds = 3600;
constexpr uint32_t kRetrySeconds = 10;
constexpr int kAddrTtlMax = 64;

// Replaces `out` with the addresses of an A or AAAA answer (left as it was when the
// answer cannot be parsed) and lowers `min_ttl` to the smallest of their TTLs.
template <class AddrTtl, class Parse, class Field, size_t N>
void take_addresses(Parse parse, Field AddrTtl::*address, const unsigned char* abuf, int alen,
                    std::vector<std::array<uint8_t, N>>* out, uint32_t* min_ttl) {
  static_assert(sizeof(Field) == N);
  std::array<AddrTtl, kAddrTtlMax> found{};
  int count = kAddrTtlMax;
  if (parse(abuf, alen, nullptr, found.data(), &count) != ARES_SUCCESS) return;
  out->clear();
  for (int i = 0; i < count; ++i) {
    std::array<uint8_t, N> a;
    std::memcpy(a.data(), &(found[i].*address), N);
    out->push_back(a);
    *min_ttl = std::min(*min_ttl, static_cast<uint32_t>(std::max(found[i].ttl, 0)));
  }
}

}  // namespace

IngressResolver::IngressResolver(asio::io_context& io, std::vector<std::string> hosts, const std::string& server,
                                 Update update, Log log)
    : io_(io),
      hosts_(std::move(hosts)),
      update_(std::move(update)),
      fds_(io,
           [this](int fd, bool readable, bool writable) {
             ares_process_fd(channel_, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
             arm_ares_timer();
           },
           std::move(log)),
      next_round_(io),
      ares_timer_(io),
      state_(hosts_.size()) {
  ares_options options{};
  options.timeout = 2000;
  options.tries = 2;
  options.sock_state_cb = &IngressResolver::on_sock_state;
  options.sock_state_cb_data = this;
  int rc = ares_init_options(&channel_, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
  if (rc != ARES_SUCCESS) {
    channel_ = nullptr;
    setup_error_ = std::string("c-ares init: ") + ares_strerror(rc);
    return;
  }
  if (!server.empty()) {
    rc = ares_set_servers_ports_csv(channel_, server.c_str());
    if (rc != ARES_SUCCESS) setup_error_ = "bad resolver '" + server + "': " + ares_strerror(rc);
  }
}

IngressResolver::~IngressResolver() {
  destroying_ = true;
  if (channel_ != nullptr) ares_destroy(channel_);
}

void IngressResolver::start() {
  asio::post(io_, [this, alive = lifetime_.token()] {
    if (!alive.expired()) round();
  });
}

void IngressResolver::on_sock_state(void* self, ares_socket_t fd, int readable, int writable) {
  static_cast<IngressResolver*>(self)->fds_.watch(fd, readable != 0, writable != 0);
}

void IngressResolver::arm_ares_timer() {
  if (channel_ == nullptr || outstanding_ == 0) return;
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) return;
  ares_timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
  ares_timer_.async_wait([this, alive = lifetime_.token()](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_ares_timer();
  });
}

void IngressResolver::round() {
  if (!setup_error_.empty()) {
    update_({}, setup_error_);
    return;
  }
  lookups_.clear();
  for (size_t h = 0; h < hosts_.size(); ++h) {
    lookups_.push_back({this, h, false});
    lookups_.push_back({this, h, true});
  }
  outstanding_ = lookups_.size();
  round_ttl_ = kMaxTtlSeconds;
  round_errors_.clear();
  for (Lookup& l : lookups_)
    ares_query(channel_, hosts_[l.host].c_str(), ns_c_in, l.v6 ? ns_t_aaaa : ns_t_a, &IngressResolver::on_answer, &l);
  arm_ares_timer();
}

void IngressResolver::on_answer(void* arg, int status, int, unsigned char* abuf, int alen) {
  auto* lookup = static_cast<Lookup*>(arg);
  if (lookup->self->destroying_) return;
  lookup->self->answered(*lookup, status, abuf, alen);
}

void IngressResolver::answered(const Lookup& lookup, int status, const unsigned char* abuf, int alen) {
  HostState& host = state_[lookup.host];
  if (status == ARES_SUCCESS) {
    if (lookup.v6)
      take_addresses<ares_addr6ttl>(ares_parse_aaaa_reply, &ares_addr6ttl::ip6addr, abuf, alen, &host.ipv6, &round_ttl_);
    else
      take_addresses<ares_addrttl>(ares_parse_a_reply, &ares_addrttl::ipaddr, abuf, alen, &host.ipv4, &round_ttl_);
  } else if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
    // The name exists without this family, or not at all: an authoritative "none".
    (lookup.v6 ? static_cast<void>(host.ipv6.clear()) : static_cast<void>(host.ipv4.clear()));
    if (status == ARES_ENOTFOUND && !lookup.v6) round_errors_ += (round_errors_.empty() ? "" : "; ") + hosts_[lookup.host] + ": no such name";
  } else {
    // A timeout or a resolver failure is no news about the name: keep what we had.
    round_errors_ += (round_errors_.empty() ? "" : "; ") + hosts_[lookup.host] + (lookup.v6 ? " AAAA: " : " A: ") +
                     ares_strerror(status);
    round_ttl_ = std::min(round_ttl_, kRetrySeconds);
  }
  if (--outstanding_ == 0) {
    // Deferred: c-ares may not be re-entered from inside its own callback.
    asio::post(io_, [this, alive = lifetime_.token()] {
      if (!alive.expired()) finish_round();
    });
  }
}

void IngressResolver::finish_round() {
  ares_timer_.cancel();
  Ingress merged;
  for (const HostState& h : state_) {
    for (const auto& a : h.ipv4)
      if (std::find(merged.ipv4.begin(), merged.ipv4.end(), a) == merged.ipv4.end()) merged.ipv4.push_back(a);
    for (const auto& a : h.ipv6)
      if (std::find(merged.ipv6.begin(), merged.ipv6.end(), a) == merged.ipv6.end()) merged.ipv6.push_back(a);
  }
  update_(merged, round_errors_);
  const uint32_t wait = std::clamp(round_ttl_, kMinTtlSeconds, kMaxTtlSeconds);
  next_round_.expires_after(std::chrono::seconds(wait));
  next_round_.async_wait([this, alive = lifetime_.token()](const boost::system::error_code& ec) {
    if (!ec && !alive.expired()) round();
  });
}

}  // namespace gslb::health
