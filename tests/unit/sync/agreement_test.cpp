#include <doctest/doctest.h>

#include "sync/etcd_client.h"
#include "sync/sync.h"

using gslb::sync::agreed_up;
using gslb::sync::DownRule;
using Kind = DownRule::Kind;

namespace {

// "uud" = two instances vote up, one down (the own verdict is one of them).
std::optional<bool> agree(const std::string& votes, DownRule rule) {
  std::vector<bool> v;
  for (const char c : votes) v.push_back(c == 'u');
  return agreed_up(v, rule);
}

}  // namespace

TEST_CASE("agreement by down_when") {
  const DownRule majority{Kind::majority, 0}, all{Kind::all, 0}, any{Kind::any, 0}, two{Kind::count, 2};
  struct Row {
    const char* votes;
    DownRule rule;
    std::optional<bool> up;
  };
  const Row rows[] = {
      {"", majority, std::nullopt}, {"", any, std::nullopt},
      {"u", majority, true},        {"d", majority, false},
      {"uud", majority, true},      {"udd", majority, false},
      {"ud", majority, true},  // a tie keeps the cluster
      {"uudd", majority, true},     {"uddd", majority, false},
      {"uud", all, true},           {"ddd", all, false},     {"d", all, false},
      {"uuu", any, true},           {"uud", any, false},
      {"uud", two, true},           {"udd", two, false},     {"d", two, false},  // fewer voters than N: all of them
      {"ddd", two, false},
  };
  for (const Row& r : rows)
    CHECK_MESSAGE(agree(r.votes, r.rule) == r.up, r.votes << " " << gslb::sync::to_string(r.rule));
}

TEST_CASE("down_when is parsed by name or count") {
  CHECK(gslb::sync::parse_down_rule("majority") == DownRule{Kind::majority, 0});
  CHECK(gslb::sync::parse_down_rule("all") == DownRule{Kind::all, 0});
  CHECK(gslb::sync::parse_down_rule("any") == DownRule{Kind::any, 0});
  CHECK(gslb::sync::parse_down_rule("3") == DownRule{Kind::count, 3});
  for (const char* bad : {"", "0", "most", "-1", "2x", "1001"}) CHECK_MESSAGE(!gslb::sync::parse_down_rule(bad), bad);
  CHECK(gslb::sync::to_string(DownRule{Kind::count, 3}) == "3");
}

TEST_CASE("base64 and the prefix's range end, as etcd's gateway wants them") {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)}) {
    std::string back;
    REQUIRE(gslb::sync::unb64(gslb::sync::b64(s), &back));
    CHECK(back == s);
  }
  CHECK(gslb::sync::b64("/p/a") == "L3AvYQ==");
  std::string out;
  CHECK(!gslb::sync::unb64("L3AvYQ=", &out));
  CHECK(!gslb::sync::unb64("L3A*YQ==", &out));
  CHECK(!gslb::sync::unb64("L3=vYQ==", &out));
  CHECK(gslb::sync::prefix_end("/gslbd/") == "/gslbd0");
  CHECK(gslb::sync::prefix_end(std::string("a\xff", 2)) == "b");
}
