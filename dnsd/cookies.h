// DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018): Version 1,
// Reserved, Timestamp, and a SipHash-2-4 over the client cookie, those fields and
// the client's address.
//
// Pure functions of their inputs (time is passed in); no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace gslb::dns {

constexpr uint16_t kEdnsCookie = 10;
constexpr size_t kClientCookieSize = 8, kServerCookieSize = 16;

using CookieSecret = std::array<uint8_t, 16>;

// The secret a server state makes and checks cookies with.
struct CookieKeys {
  CookieSecret secret = {};
  // false: the process's own random secret, which no other server knows; the
  // SipHash key is derived from it for each hour of the timestamp, so the key in
  // use rotates hourly without a timer thread or a new serving state.
  // true: a secret shared through server.cookies.secret_file; it is the SipHash key
  // itself, as RFC 9018 section 4.4 has it, so that BIND (cookie-secret) and Knot
  // (mod-cookies secret) holding the same secret accept gslbd's cookies and gslbd
  // theirs. Its rotation is the operator's: a new file on every instance, reloaded.
  bool shared = false;
};

uint64_t siphash24(const CookieSecret& key, const uint8_t* data, size_t size) noexcept;

// RFC 9018 section 4.4, with `key` as the secret itself.
void server_cookie_with_key(const CookieSecret& key, const uint8_t* client_cookie, uint32_t timestamp, bool v6,
                            const uint8_t* address, uint8_t* out) noexcept;

// The SipHash key `keys` make a cookie with at `timestamp` (Unix seconds).
CookieSecret cookie_key(const CookieKeys& keys, uint32_t timestamp) noexcept;

// A fresh server cookie for `client_cookie` at `now` (Unix seconds).
void make_server_cookie(const CookieKeys& keys, const uint8_t* client_cookie, uint32_t now, bool v6,
                        const uint8_t* address, uint8_t* out) noexcept;

// True when `server_cookie` (`size` bytes) is one these keys made for this client
// cookie and address, at most an hour ago and at most five minutes ahead (RFC 9018
// section 4.3).
bool server_cookie_valid(const CookieKeys& keys, const uint8_t* client_cookie, const uint8_t* server_cookie,
                         size_t size, uint32_t now, bool v6, const uint8_t* address) noexcept;

// "32 hex digits" as in BIND's cookie-secret; false when the text is anything else
// (surrounding white space aside).
bool parse_cookie_secret(const std::string& text, CookieSecret* out);

// A random secret made once per process: reloads keep it, so cookies stay valid.
const CookieSecret& process_cookie_secret();

}  // namespace gslb::dns
