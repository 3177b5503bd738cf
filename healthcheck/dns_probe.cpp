#include "healthcheck/dns_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <strings.h>

#include <boost/asio/post.hpp>

#include <array>
#include <cerrno>
#include <cstring>

namespace gslb::health {

namespace asio = boost::asio;

namespace {

constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr std::size_t kHeaderSize = 12;

}  // namespace

namespace {

constexpr std::pair<const char*, uint16_t> kTypes[] = {
    {"A", 1},    {"NS", 2},   {"CNAME", 5}, {"SOA", 6},    {"PTR", 12},  {"MX", 15},
    {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"SVCB", 64}, {"HTTPS", 65}, {"CAA", 257}};
constexpr const char* kRcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
                                   "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};

// "TYPE65" with prefix "TYPE" -> 65, when at most `max`.
std::optional<unsigned> generic_number(const std::string& text, const char* prefix, unsigned max) {
  const size_t n = std::strlen(prefix);
  if (text.size() <= n || text.size() > n + 5 || strncasecmp(text.c_str(), prefix, n) != 0 ||
      text.find_first_not_of("0123456789", n) != std::string::npos)
    return std::nullopt;
  const unsigned long value = std::stoul(text.substr(n));
  if (value > max) return std::nullopt;
  return static_cast<unsigned>(value);
}

}  // namespace

std::optional<uint16_t> qtype_number(const std::string& qtype) {
  for (const auto& [name, number] : kTypes)
    if (strcasecmp(qtype.c_str(), name) == 0) return number;
  if (const auto n = generic_number(qtype, "TYPE", 65535)) return static_cast<uint16_t>(*n);
  return std::nullopt;
}

std::optional<uint8_t> rcode_number(const std::string& rcode) {
  for (size_t i = 0; i < std::size(kRcodes); ++i)
    if (strcasecmp(rcode.c_str(), kRcodes[i]) == 0) return static_cast<uint8_t>(i);
  // The header's RCODE field is four bits.
  if (const auto n = generic_number(rcode, "RCODE", 15)) return static_cast<uint8_t>(*n);
  return std::nullopt;
}

std::string qtype_name(uint16_t qtype) {
  for (const auto& [name, number] : kTypes)
    if (number == qtype) return name;
  return "TYPE" + std::to_string(qtype);
}

std::string rcode_name(int rcode) {
  if (rcode >= 0 && rcode < static_cast<int>(std::size(kRcodes))) return kRcodes[rcode];
  return "RCODE" + std::to_string(rcode);
}

const ares_socket_functions DnsProbe::kSocketFunctions = {
    [](int domain, int type, int protocol, void* self) -> ares_socket_t {
      auto* me = static_cast<DnsProbe*>(self);
      const auto opened = me->sockets_.open(domain, type, protocol);
      if (opened.fd < 0) {
        if (opened.error != LocalError::none) me->local_ = opened.error;
        errno = opened.err;
        return ARES_SOCKET_BAD;
      }
      return opened.fd;
    },
    [](ares_socket_t fd, void* self) {
      static_cast<DnsProbe*>(self)->sockets_.close(fd);
      return 0;
    },
    [](ares_socket_t fd, const sockaddr* address, ares_socklen_t length, void* self) {
      const int rc = ::connect(fd, address, length);
      if (rc != 0 && errno != EINPROGRESS) static_cast<DnsProbe*>(self)->note(errno);
      return rc;
    },
    [](ares_socket_t fd, void* buffer, size_t length, int flags, sockaddr* from, ares_socklen_t* from_length,
       void*) -> ares_ssize_t { return ::recvfrom(fd, buffer, length, flags, from, from_length); },
    [](ares_socket_t fd, const iovec* vector, int count, void* self) -> ares_ssize_t {
      const ssize_t n = ::writev(fd, vector, count);
      if (n < 0 && errno != EAGAIN) static_cast<DnsProbe*>(self)->note(errno);
      return n;
    },
};

void DnsProbe::note(int err) {
  if (const auto local = local_error_of(err)) local_ = *local;
}

DnsProbe::DnsProbe(asio::io_context& io, ProbeSockets& sockets, DnsCheck check, Millis timeout, Log log)
    : io_(io),
      sockets_(sockets),
      check_(std::move(check)),
      timeout_(timeout),
      fds_(io,
           [this](int fd, bool readable, bool writable) {
             ares_process_fd(channel_, readable ? fd : ARES_SOCKET_BAD,
                             writable ? fd : ARES_SOCKET_BAD);
           },
           std::move(log)),
      timer_(io) {
  ares_options options{};
  // Without NOCHECKRESP c-ares hides SERVFAIL/REFUSED answers behind a retry, and
  // the rcode is exactly what this check reports.
  options.flags = ARES_FLAG_NOCHECKRESP;
  options.timeout = static_cast<int>(timeout_.count());
  options.tries = 1;
  options.sock_state_cb = &DnsProbe::on_sock_state;
  options.sock_state_cb_data = this;
  const int optmask =
      ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  int rc = ares_init_options(&channel_, &options, optmask);
  if (rc != ARES_SUCCESS) {
    channel_ = nullptr;
    setup_error_ = std::string("c-ares init: ") + ares_strerror(rc);
    return;
  }
  ares_set_socket_functions(channel_, &kSocketFunctions, this);
  // No server: the host's resolvers from /etc/resolv.conf, as ares_init_options read them.
  if (check_.server.empty()) return;
  rc = ares_set_servers_ports_csv(channel_, check_.server.c_str());
  if (rc != ARES_SUCCESS) setup_error_ = "bad server '" + check_.server + "': " + ares_strerror(rc);
}

DnsProbe::~DnsProbe() {
  // ares_destroy calls back pending queries with ARES_EDESTRUCTION; they must not
  // report anything from a probe that is going away.
  destroying_ = true;
  if (channel_ != nullptr) ares_destroy(channel_);
}

std::chrono::nanoseconds DnsProbe::elapsed() const {
  return std::chrono::steady_clock::now() - started_;
}

void DnsProbe::start(Done done) {
  done_ = std::move(done);
  timed_out_ = false;
  local_ = LocalError::none;
  started_ = std::chrono::steady_clock::now();
  const auto alive = lifetime_.token();
  if (!setup_error_.empty()) {
    asio::post(io_, [this, alive] {
      if (!alive.expired()) finish(probe_failed(Failure::local, setup_error_, elapsed()));
    });
    return;
  }
  timer_.expires_after(timeout_);
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !done_) return;
    timed_out_ = true;
    ares_cancel(channel_);   // calls on_answer with ARES_ECANCELLED
  });
  // ares_query sends from inside this call; a failure to send is reported through
  // on_answer synchronously, which finish() defers so `done` never runs in start().
  ares_query(channel_, check_.name.c_str(), kClassIn, check_.qtype, &DnsProbe::on_answer, this);
}

void DnsProbe::on_sock_state(void* self, ares_socket_t fd, int readable, int writable) {
  static_cast<DnsProbe*>(self)->fds_.watch(fd, readable != 0, writable != 0);
}

void DnsProbe::on_answer(void* self, int status, int, unsigned char* abuf, int alen) {
  auto* me = static_cast<DnsProbe*>(self);
  if (me->destroying_ || !me->done_) return;
  me->finish(me->evaluate(status, abuf, alen));
}

ProbeResult DnsProbe::evaluate(int status, const unsigned char* abuf, int alen) const {
  const auto latency = elapsed();
  // c-ares reports a socket it could not open or send on as a refusal or a
  // timeout; the call that failed tells the truth.
  if (local_ != LocalError::none && (abuf == nullptr || alen < static_cast<int>(kHeaderSize)))
    return probe_local(local_, std::string("query not sent: ") + to_string(local_), latency);
  if (status == ARES_ENOMEM) return probe_local(LocalError::memory, "query failed: out of memory", latency);
  if (timed_out_ || status == ARES_ETIMEOUT)
    return probe_failed(Failure::timeout, timeout_reason(timeout_), latency);
  if (abuf == nullptr || alen < static_cast<int>(kHeaderSize)) {
    if (status == ARES_ECONNREFUSED) return probe_failed(Failure::refused, "connection refused", latency);
    return probe_failed(Failure::protocol, std::string("query failed: ") + ares_strerror(status), latency);
  }
  const int rcode = abuf[3] & 0x0f;
  if (rcode != check_.expect_rcode) return probe_failed(Failure::dns_rcode, "rcode " + rcode_name(rcode), latency);
  if (!check_.expect_address) return probe_ok(latency);

  // The loader allows an address only with qtype A or AAAA, of that family.
  const std::array<uint8_t, 16>& want = *check_.expect_address;
  int count = 32;
  char text[INET6_ADDRSTRLEN] = {};
  if (check_.qtype == kTypeA) {
    std::array<ares_addrttl, 32> found{};
    if (ares_parse_a_reply(abuf, alen, nullptr, found.data(), &count) == ARES_SUCCESS)
      for (int i = 0; i < count; ++i)
        if (std::memcmp(&found[i].ipaddr, want.data(), 4) == 0) return probe_ok(latency);
    inet_ntop(AF_INET, want.data(), text, sizeof text);
  } else {
    std::array<ares_addr6ttl, 32> found{};
    if (ares_parse_aaaa_reply(abuf, alen, nullptr, found.data(), &count) == ARES_SUCCESS)
      for (int i = 0; i < count; ++i)
        if (std::memcmp(&found[i].ip6addr, want.data(), 16) == 0) return probe_ok(latency);
    inet_ntop(AF_INET6, want.data(), text, sizeof text);
  }
  return probe_failed(Failure::dns_answer, std::string("answer missing ") + text, latency);
}

void DnsProbe::finish(ProbeResult result) {
  timer_.cancel();
  // Deferred: on_answer can run inside ares_query() (called from start()) or inside
  // ares_process_fd(), where re-entering c-ares from `done` is not allowed.
  asio::post(io_, [alive = lifetime_.token(), done = std::move(done_),
                   result = std::move(result)]() mutable {
    if (!alive.expired()) done(std::move(result));
  });
  done_ = nullptr;
}

}  // namespace gslb::health
