// Addresses as plain integers, so that prefixes are ranges and a lookup is a compare.
// IPv4 is a uint32_t and IPv6 an unsigned __int128, both in host order.
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gslb::geo {

using U128 = unsigned __int128;

template <class A>
inline constexpr int kBits = int(sizeof(A) * 8);

template <class A>
inline constexpr A kMaxAddress = ~A{0};

// Index (0 = least significant) of the highest set bit; `a` must be non-zero.
inline int highest_bit(uint32_t a) noexcept { return 31 - std::countl_zero(a); }
inline int highest_bit(U128 a) noexcept {
  const auto hi = uint64_t(a >> 64);
  return hi ? 127 - std::countl_zero(hi) : 63 - std::countl_zero(uint64_t(a));
}

// The addresses [lo, hi] that share the first `len` bits of `base`.
template <class A>
constexpr A host_mask(int len) noexcept {
  return len >= kBits<A> ? A{0} : kMaxAddress<A> >> len;
}

// A parsed "address/len". For IPv4 only the low 32 bits of lo/hi are used.
struct Cidr {
  uint8_t family = 4;
  uint8_t len = 0;
  U128 lo = 0, hi = 0;
};

std::optional<uint32_t> parse_ipv4(std::string_view text);
std::optional<U128> parse_ipv6(std::string_view text);

// Parses "192.0.2.0/24" or "2001:db8::/32". On failure returns nullopt and says why
// in `why` (host bits set, prefix too long, not an address).
std::optional<Cidr> parse_cidr(std::string_view text, std::string& why);

std::string format_ipv4(uint32_t a);
std::string format_ipv6(U128 a);

// "192.0.2.0/24" when [lo, hi] is exactly one prefix, else "192.0.2.0-192.0.2.200".
std::string format_range(uint8_t family, U128 lo, U128 hi);

}  // namespace gslb::geo
