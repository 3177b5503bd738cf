// Server cookies: RFC 9018's own test vectors, the validity window and the hourly
// key of a random secret with the time passed in, and what binds a cookie (secret,
// client cookie, address).
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "dnsd/cookies.h"

using namespace gslb::dns;

namespace {

std::vector<uint8_t> hex(const std::string& text) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < text.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoul(text.substr(i, 2), nullptr, 16)));
  return out;
}

CookieSecret secret_of(const std::string& text) {
  CookieSecret s;
  REQUIRE(parse_cookie_secret(text, &s));
  return s;
}

CookieKeys random_keys(const std::string& text) { return {secret_of(text), false}; }
CookieKeys shared_keys(const std::string& text) { return {secret_of(text), true}; }

std::vector<uint8_t> bytes_of(const uint8_t* p, size_t n) { return {p, p + n}; }

}  // namespace

TEST_CASE("SipHash-2-4 gives the reference implementation's 64-bit result") {
  CookieSecret key;
  for (uint8_t i = 0; i < 16; ++i) key[i] = i;
  uint8_t msg[15];
  for (uint8_t i = 0; i < 15; ++i) msg[i] = i;
  CHECK(siphash24(key, msg, sizeof msg) == 0xa129ca6149be45e5ull);
  CHECK(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull);
}

TEST_CASE("server cookies match RFC 9018 appendix A") {
  struct Vector {
    const char* secret;
    const char* client_cookie;
    const char* address;
    bool v6;
    uint32_t timestamp;
    const char* server_cookie;
  };
  // A.1 (IPv4) and A.3 (IPv6).
  for (const Vector& v : {Vector{"e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100", false, 1559731985,
                                 "010000005cf79f111f8130c3eee29480"},
                          Vector{"dd3bdf9344b678b185a6f5cb60fca715", "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8",
                                 true, 1559741817, "010000005cf7c57926556bd0934c72f8"}}) {
    CAPTURE(v.address);
    uint8_t address[16] = {};
    REQUIRE(inet_pton(v.v6 ? AF_INET6 : AF_INET, v.address, address) == 1);
    uint8_t out[kServerCookieSize];
    server_cookie_with_key(secret_of(v.secret), hex(v.client_cookie).data(), v.timestamp, v.v6, address, out);
    CHECK(bytes_of(out, sizeof out) == hex(v.server_cookie));
    // A shared secret (server.cookies.secret_file) makes and accepts exactly these:
    // what BIND and Knot holding the same secret make.
    const CookieKeys shared = shared_keys(v.secret);
    make_server_cookie(shared, hex(v.client_cookie).data(), v.timestamp, v.v6, address, out);
    CHECK(bytes_of(out, sizeof out) == hex(v.server_cookie));
    CHECK(server_cookie_valid(shared, hex(v.client_cookie).data(), hex(v.server_cookie).data(), kServerCookieSize,
                              v.timestamp + 1800, v.v6, address));
  }
}

TEST_CASE("a server cookie is valid for an hour, for its client cookie, address and secret only") {
  const CookieKeys secret = random_keys("000102030405060708090a0b0c0d0e0f");
  const std::vector<uint8_t> client = hex("0102030405060708");
  const uint8_t address[16] = {192, 0, 2, 1};
  const uint32_t made = 1700000000;
  uint8_t cookie[kServerCookieSize];
  make_server_cookie(secret, client.data(), made, false, address, cookie);
  auto valid_at = [&](uint32_t now) { return server_cookie_valid(secret, client.data(), cookie, sizeof cookie, now, false, address); };
  CHECK(valid_at(made));
  CHECK(valid_at(made + 3600));
  CHECK_FALSE(valid_at(made + 3601));
  CHECK(valid_at(made - 300));  // the client may have it from an instance whose clock is ahead
  CHECK_FALSE(valid_at(made - 301));

  const uint8_t other_address[16] = {192, 0, 2, 2};
  CHECK_FALSE(server_cookie_valid(secret, client.data(), cookie, sizeof cookie, made, false, other_address));
  const std::vector<uint8_t> other_client = hex("0102030405060709");
  CHECK_FALSE(server_cookie_valid(secret, other_client.data(), cookie, sizeof cookie, made, false, address));
  const CookieKeys other_secret = random_keys("000102030405060708090a0b0c0d0e10");
  CHECK_FALSE(server_cookie_valid(other_secret, client.data(), cookie, sizeof cookie, made, false, address));
  CHECK_FALSE(server_cookie_valid(secret, client.data(), cookie, 8, made, false, address));
  cookie[15] ^= 1;
  CHECK_FALSE(valid_at(made));
}

TEST_CASE("a random secret's key rotates every hour; a shared secret is the key itself") {
  const CookieKeys random = random_keys("000102030405060708090a0b0c0d0e0f");
  const CookieKeys shared = shared_keys("000102030405060708090a0b0c0d0e0f");
  const uint32_t hour = 1700002800;  // a multiple of 3600
  CHECK(cookie_key(random, hour) == cookie_key(random, hour + 3599));
  CHECK(cookie_key(random, hour) != cookie_key(random, hour - 1));
  CHECK(cookie_key(random, hour) != cookie_key(random, hour + 3600));
  CHECK(cookie_key(random, hour) != random.secret);  // the secret itself is never a key
  for (uint32_t t : {hour - 1, hour, hour + 3600, hour + 86400}) CHECK(cookie_key(shared, t) == shared.secret);

  const std::vector<uint8_t> client = hex("0102030405060708");
  const uint8_t address[16] = {192, 0, 2, 1};
  uint8_t late[kServerCookieSize], early[kServerCookieSize], raw[kServerCookieSize];
  // Made in the last second of one hour: checked in the next with its own hour's key.
  make_server_cookie(random, client.data(), hour - 1, false, address, late);
  CHECK(server_cookie_valid(random, client.data(), late, sizeof late, hour + 10, false, address));
  server_cookie_with_key(cookie_key(random, hour - 1), client.data(), hour - 1, false, address, raw);
  CHECK(bytes_of(raw, sizeof raw) == bytes_of(late, sizeof late));
  // The hour's key is what makes the cookie: the next hour's key would make another.
  server_cookie_with_key(cookie_key(random, hour), client.data(), hour - 1, false, address, raw);
  CHECK(bytes_of(raw, sizeof raw) != bytes_of(late, sizeof late));
  // A cookie of the new hour is made with the new key, and the old one expires on time.
  make_server_cookie(random, client.data(), hour, false, address, early);
  server_cookie_with_key(cookie_key(random, hour), client.data(), hour, false, address, raw);
  CHECK(bytes_of(raw, sizeof raw) == bytes_of(early, sizeof early));
  CHECK_FALSE(server_cookie_valid(random, client.data(), late, sizeof late, hour + 3600, false, address));
  // The two kinds of keys never accept each other's cookies.
  CHECK_FALSE(server_cookie_valid(shared, client.data(), early, sizeof early, hour, false, address));
}

TEST_CASE("cookie secrets are 32 hex digits") {
  CookieSecret s;
  CHECK(parse_cookie_secret("  00112233445566778899AABBCCDDEEFF\n", &s));
  CHECK(s[0] == 0x00);
  CHECK(s[15] == 0xff);
  CHECK_FALSE(parse_cookie_secret("00112233445566778899aabbccddeef", &s));
  CHECK_FALSE(parse_cookie_secret("00112233445566778899aabbccddeeff00", &s));
  CHECK_FALSE(parse_cookie_secret("00112233445566778899aabbccddeefg", &s));
  CHECK_FALSE(parse_cookie_secret("", &s));
}
