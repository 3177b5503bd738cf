// The HTTP API's pure parts: splitting a request-target before decoding, and the
// failed-token allowance on an injected clock.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "dnsd/http_api.h"

using gslb::dns::FailedAuthLimiter;
using gslb::dns::HttpTarget;
using gslb::dns::parse_target;

TEST_CASE("a request-target is split on its raw slashes, then each segment decoded") {
  struct Case {
    const char* target;
    std::vector<std::string> segments;
  };
  const Case cases[] = {
      {"/healthz", {"healthz"}},
      {"/clusters/eu-west/drain", {"clusters", "eu-west", "drain"}},
      {"/clusters/eu%2Fwest/drain", {"clusters", "eu/west", "drain"}},
      {"/clusters/eu-west%2Fdrain", {"clusters", "eu-west/drain"}},
      {"/clusters/eu%20west+x/drain", {"clusters", "eu west+x", "drain"}},  // '+' is a space only in queries
      {"/", {""}},
      {"/status/", {"status", ""}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.target);
    HttpTarget t;
    REQUIRE(parse_target(c.target, &t));
    CHECK(t.segments == c.segments);
  }
  for (const char* bad : {"", "healthz", "http://x/healthz", "/clusters/%zz/drain", "/a%2", "/x?a=%g0"}) {
    CAPTURE(bad);
    HttpTarget t;
    CHECK_FALSE(parse_target(bad, &t));
  }
}

TEST_CASE("query parameters are form-decoded; the last of a repeated key wins") {
  HttpTarget t;
  REQUIRE(parse_target("/explain?name=app.example.&client=2001%3Adb8%3A%3A1&&x=a+b&x=c&flag", &t));
  CHECK(t.segments == std::vector<std::string>{"explain"});
  CHECK(t.query.at("name") == "app.example.");
  CHECK(t.query.at("client") == "2001:db8::1");
  CHECK(t.query.at("x") == "c");
  CHECK(t.query.at("flag").empty());
}

TEST_CASE("failed token attempts: a burst, then one per refill interval, per client address") {
  FailedAuthLimiter limiter;
  const auto t0 = FailedAuthLimiter::Clock::time_point{} + std::chrono::hours(1);
  const std::string a("\x7f\0\0\x01", 4), b("\x7f\0\0\x02", 4);  // address bytes
  for (int i = 0; i < 10; ++i) {
    CHECK(limiter.wait(a, t0) == FailedAuthLimiter::Clock::duration::zero());
    limiter.failed(a, t0);
  }
  CHECK(limiter.wait(a, t0) == FailedAuthLimiter::kRefill);
  CHECK(limiter.wait(b, t0) == FailedAuthLimiter::Clock::duration::zero());  // others are not locked out
  const auto half = t0 + FailedAuthLimiter::kRefill / 2;
  CHECK(limiter.wait(a, half) == FailedAuthLimiter::kRefill / 2);
  const auto later = t0 + FailedAuthLimiter::kRefill;
  CHECK(limiter.wait(a, later) == FailedAuthLimiter::Clock::duration::zero());
  limiter.failed(a, later);
  CHECK(limiter.wait(a, later) > FailedAuthLimiter::Clock::duration::zero());
  // a whole burst's worth of quiet restores the whole burst
  const auto rested = later + FailedAuthLimiter::kRefill * 10;
  for (int i = 0; i < 10; ++i) {
    CHECK(limiter.wait(a, rested) == FailedAuthLimiter::Clock::duration::zero());
    limiter.failed(a, rested);
  }
  CHECK(limiter.wait(a, rested) > FailedAuthLimiter::Clock::duration::zero());
}

TEST_CASE("past kMaxClients addresses, new ones share one allowance instead of growing the table") {
  FailedAuthLimiter limiter;
  const auto t0 = FailedAuthLimiter::Clock::time_point{} + std::chrono::hours(1);
  for (size_t i = 0; i < FailedAuthLimiter::kMaxClients; ++i) limiter.failed("client" + std::to_string(i), t0);
  for (int i = 0; i < 10; ++i) limiter.failed("newcomer" + std::to_string(i), t0);
  CHECK(limiter.wait("yet another", t0) > FailedAuthLimiter::Clock::duration::zero());
  // once the remembered ones have rested, their places are free again
  const auto rested = t0 + FailedAuthLimiter::kRefill * 10;
  CHECK(limiter.wait("fresh", rested) == FailedAuthLimiter::Clock::duration::zero());
}
