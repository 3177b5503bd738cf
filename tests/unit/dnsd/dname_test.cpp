#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "dnsd/dname.h"

using namespace gslb::dns;

namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<uint8_t> v;
  for (int b : list) v.push_back(static_cast<uint8_t>(b));
  return v;
}

NameError parse(const std::vector<uint8_t>& packet, size_t start, ParsedName* out, size_t* end = nullptr) {
  size_t pos = start;
  const NameError e = parse_name(packet.data(), packet.size(), &pos, out);
  if (end) *end = pos;
  return e;
}

}  // namespace

TEST_CASE("a plain name parses, keeps its case and folds a lower-case copy") {
  const auto p = bytes({3, 'W', 'w', 'W', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0});
  ParsedName n;
  size_t end = 0;
  REQUIRE(parse(p, 0, &n, &end) == NameError::none);
  CHECK(end == p.size());
  CHECK(n.labels == 2);
  CHECK(n.length == p.size());
  CHECK(std::memcmp(n.wire, p.data(), p.size()) == 0);
  CHECK(n.lower_view() == std::string("\3www\7example\0", 13));
  CHECK(n.lower_suffix(1) == std::string("\7example\0", 9));
  CHECK(n.lower_suffix(2) == std::string("\0", 1));
}

TEST_CASE("a backward compression pointer is followed and the position ends after it") {
  // A 12-byte header, "example" at 12, then "www" + pointer to 12 at 21.
  const auto p = bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 3, 'w', 'w', 'w', 0xC0, 12});
  ParsedName n;
  size_t end = 0;
  REQUIRE(parse(p, 21, &n, &end) == NameError::none);
  CHECK(end == 27);
  CHECK(name_to_text(n.lower_view()) == "www.example.");
}

TEST_CASE("pointers that loop or point forward are refused") {
  ParsedName n;
  CHECK(parse(bytes({0xC0, 0}), 0, &n) == NameError::bad_pointer);                 // to itself
  CHECK(parse(bytes({0xC0, 2, 1, 'a', 0}), 0, &n) == NameError::bad_pointer);        // forward
  CHECK(parse(bytes({1, 'a', 0xC0, 0}), 0, &n) == NameError::bad_pointer);           // back into itself
  CHECK(parse(bytes({1, 'a', 0, 1, 'b', 0xC0, 3}), 3, &n) == NameError::bad_pointer);  // loop via own start
  // Into the header, even where its bytes would read as a name (ID 0: the root).
  auto header_then = [](std::initializer_list<int> rest) {
    auto p = bytes({0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    for (int b : rest) p.push_back(static_cast<uint8_t>(b));
    return p;
  };
  CHECK(parse(header_then({0xC0, 0}), 12, &n) == NameError::bad_pointer);
  CHECK(parse(header_then({0xC0, 11}), 12, &n) == NameError::bad_pointer);
  CHECK(parse(header_then({0, 1, 'a', 0xC0, 12}), 13, &n) == NameError::none);  // the first name after it
}

TEST_CASE("truncated names, bad label types and over-long names are refused") {
  ParsedName n;
  CHECK(parse(bytes({3, 'w', 'w'}), 0, &n) == NameError::truncated);
  CHECK(parse(bytes({3, 'w', 'w', 'w'}), 0, &n) == NameError::truncated);
  CHECK(parse(bytes({0xC0}), 0, &n) == NameError::truncated);
  CHECK(parse(bytes({0x40, 0}), 0, &n) == NameError::bad_label);
  CHECK(parse(bytes({0x80, 0}), 0, &n) == NameError::bad_label);
  std::vector<uint8_t> long_name;
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'a');
  }
  long_name.push_back(0);
  CHECK(parse(long_name, 0, &n) == NameError::too_long);
}

TEST_CASE("text names convert to wire form and back") {
  std::string wire;
  REQUIRE(name_from_text("WWW.Example.COM.", &wire));
  CHECK(wire == std::string("\3www\7example\3com\0", 17));
  CHECK(name_to_text(wire) == "www.example.com.");
  REQUIRE(name_from_text("example.com", &wire));
  CHECK(name_to_text(wire) == "example.com.");
  REQUIRE(name_from_text(".", &wire));
  CHECK(wire == std::string("\0", 1));
  CHECK_FALSE(name_from_text("a..b", &wire));
  CHECK_FALSE(name_from_text(std::string(64, 'a') + ".com", &wire));
}

TEST_CASE("name_is_at_or_below matches on label boundaries only") {
  std::string zone, name;
  name_from_text("example.com", &zone);
  name_from_text("www.example.com", &name);
  CHECK(name_is_at_or_below(name, zone));
  CHECK(name_is_at_or_below(zone, zone));
  name_from_text("badexample.com", &name);
  CHECK_FALSE(name_is_at_or_below(name, zone));
  name_from_text("com", &name);
  CHECK_FALSE(name_is_at_or_below(name, zone));
}
