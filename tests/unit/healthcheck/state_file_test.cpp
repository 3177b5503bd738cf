#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "healthcheck/state_file.h"

namespace gslb::health {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gslb-health-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

TEST_CASE("drain file round trip; a missing file is an empty state") {
  TempDir dir;
  const std::string path = dir.path + "/drain";
  DrainFile missing = read_drain_file(path);
  CHECK(missing.error.empty());
  CHECK(missing.drained.empty());

  CHECK(write_drain_file(path, {"eu-west", "us-east"}) == "");
  DrainFile back = read_drain_file(path);
  CHECK(back.error.empty());
  CHECK(back.drained == std::set<std::string>{"eu-west", "us-east"});
  CHECK(::access((path + ".tmp").c_str(), F_OK) != 0);
}

std::string contents(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void put(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

TEST_CASE("the drain file is JSON; names with spaces, quotes, control characters or '%' survive the round trip") {
  TempDir dir;
  const std::string path = dir.path + "/drain";
  const std::set<std::string> names{"eu west", "tab\there", "new\nline", "100%", "us-east", "q\"uote", "eu/west"};
  CHECK(write_drain_file(path, names) == "");
  DrainFile back = read_drain_file(path);
  CHECK(back.error.empty());
  CHECK(back.drained == names);
  CHECK(contents(path) ==
        "{\"version\":2,\"drained\":[\"100%\",\"eu west\",\"eu/west\",\"new\\nline\",\"q\\\"uote\",\"tab\\there\",\"us-east\"]}\n");
}

TEST_CASE("a version 1 drain file (written by earlier gslbd) is still read") {
  TempDir dir;
  const std::string path = dir.path + "/drain";
  put(path, "# gslbd drain state v1\ndrained 100%25\ndrained eu%20west\ndrained new%0Aline\n\ndrained us-east\n");
  DrainFile old = read_drain_file(path);
  CHECK(old.error.empty());
  CHECK(old.drained == std::set<std::string>{"100%", "eu west", "new\nline", "us-east"});
  put(path, "# gslbd drain state v1\ndrained eu west\n");
  CHECK(read_drain_file(path).error == path + ":2: invalid cluster name \"eu west\"");
  put(path, "# gslbd drain state v1\ndrained bad%2\n");
  CHECK(read_drain_file(path).error == path + ":2: invalid cluster name \"bad%2\"");
  // the next write is version 2
  CHECK(write_drain_file(path, {"eu west"}) == "");
  CHECK(contents(path) == "{\"version\":2,\"drained\":[\"eu west\"]}\n");
}

TEST_CASE("a corrupt drain file is reported with its path and ignored") {
  TempDir dir;
  const std::string path = dir.path + "/drain";
  put(path, "# gslbd drain state v1\ndrained eu-west\nundrain us-east\n");
  DrainFile bad = read_drain_file(path);
  CHECK(bad.error == path + ":3: expected \"drained <cluster>\", got \"undrain us-east\"");
  CHECK(bad.drained.empty());

  struct Case {
    const char* text;
    const char* error;  // after "path: "
  };
  const Case cases[] = {
      {"eu-west\n", "parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: 'e'"},
      {"{\"version\": 2, \"drained\": [\"a\"\n", "parse error at line 2, column 1: syntax error while parsing array - "
                                               "unexpected end of input; expected ']'"},
      {"[\"eu-west\"]\n", "expected {\"version\": 2, \"drained\": [cluster names]}"},
      {"{\"version\": 2, \"drained\": \"eu-west\"}\n", "expected {\"version\": 2, \"drained\": [cluster names]}"},
      {"{\"version\": 3, \"drained\": []}\n", "unknown version 3 (this gslbd reads 1 and 2)"},
      {"{\"version\": 2, \"drained\": [\"a\", 7]}\n", "invalid cluster name 7"},
      {"{\"version\": 2, \"drained\": [\"\"]}\n", "invalid cluster name \"\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    put(path, c.text);
    bad = read_drain_file(path);
    CHECK(bad.error == path + ": " + c.error);
    CHECK(bad.drained.empty());
  }
  put(path, "");
  CHECK(read_drain_file(path).error == path + ":1: empty file, expected a drain state");
}

TEST_CASE("a drain file that cannot be written is an error, not a crash") {
  CHECK(write_drain_file("/nonexistent-dir/drain", {"x"}).find("cannot create") == 0);
}

}  // namespace
}  // namespace gslb::health
