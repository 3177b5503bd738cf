#include "geo/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace gslb::geo {

std::optional<uint32_t> parse_ipv4(std::string_view text) {
  char buf[INET_ADDRSTRLEN];
  if (text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr a;
  if (inet_pton(AF_INET, buf, &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::optional<U128> parse_ipv6(std::string_view text) {
  char buf[INET6_ADDRSTRLEN];
  if (text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in6_addr a;
  if (inet_pton(AF_INET6, buf, &a) != 1) return std::nullopt;
  U128 v = 0;
  for (uint8_t byte : a.s6_addr) v = (v << 8) | byte;
  return v;
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string& why) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    why = "expected address/length, got \"" + std::string(text) + "\"";
    return std::nullopt;
  }
  const auto addr = text.substr(0, slash), len_text = text.substr(slash + 1);
  unsigned len = 0;
  const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc{} || end != len_text.data() + len_text.size() || len_text.empty()) {
    why = "bad prefix length in \"" + std::string(text) + "\"";
    return std::nullopt;
  }
  Cidr c;
  c.len = uint8_t(len);
  if (addr.find(':') != std::string_view::npos) {
    const auto a = parse_ipv6(addr);
    if (!a || len > 128) {
      why = a ? "prefix length over 128 in \"" + std::string(text) + "\""
              : "not an IPv6 address in \"" + std::string(text) + "\"";
      return std::nullopt;
    }
    c.family = 6;
    c.lo = *a;
    c.hi = *a | host_mask<U128>(int(len));
  } else {
    const auto a = parse_ipv4(addr);
    if (!a || len > 32) {
      why = a ? "prefix length over 32 in \"" + std::string(text) + "\""
              : "not an IPv4 address in \"" + std::string(text) + "\"";
      return std::nullopt;
    }
    c.family = 4;
    c.lo = *a;
    c.hi = *a | host_mask<uint32_t>(int(len));
  }
  // A prefix with host bits set is almost always a typo for another network;
  // silently truncating it would route clients the operator did not name.
  if (c.lo != (c.hi & ~(c.family == 4 ? U128(host_mask<uint32_t>(c.len)) : host_mask<U128>(c.len)))) {
    why = "host bits set in \"" + std::string(text) + "\"";
    return std::nullopt;
  }
  return c;
}

std::string format_ipv4(uint32_t a) {
  in_addr n;
  n.s_addr = htonl(a);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &n, buf, sizeof buf);
  return buf;
}

std::string format_ipv6(U128 a) {
  in6_addr n;
  for (int i = 15; i >= 0; --i, a >>= 8) n.s6_addr[i] = uint8_t(a);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &n, buf, sizeof buf);
  return buf;
}

namespace {
template <class A>
std::string format_range_of(A lo, A hi, std::string (*fmt)(A)) {
  const A size_minus_one = hi - lo;
  // Exactly one prefix: the size is a power of two and lo is aligned to it.
  if ((size_minus_one & (size_minus_one + 1)) == 0 && (lo & size_minus_one) == 0) {
    const int host_bits = size_minus_one == 0 ? 0 : highest_bit(size_minus_one) + 1;
    return fmt(lo) + "/" + std::to_string(kBits<A> - host_bits);
  }
  return fmt(lo) + "-" + fmt(hi);
}

std::string fmt4(uint32_t a) { return format_ipv4(a); }
std::string fmt6(U128 a) { return format_ipv6(a); }
}  // namespace

std::string format_range(uint8_t family, U128 lo, U128 hi) {
  return family == 4 ? format_range_of<uint32_t>(uint32_t(lo), uint32_t(hi), fmt4)
                     : format_range_of<U128>(lo, hi, fmt6);
}

}  // namespace gslb::geo
