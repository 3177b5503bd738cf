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

TEST_CASE("cluster names with spaces, control characters or '%' survive the round trip") {
  TempDir dir;
  const std::string path = dir.path + "/drain";
  const std::set<std::string> names{"eu west", "tab\there", "new\nline", "100%", "us-east"};
  CHECK(write_drain_file(path, names) == "");
  DrainFile back = read_drain_file(path);
  CHECK(back.error.empty());
  CHECK(back.drained == names);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "# gslbd drain state v1\ndrained 100%25\ndrained eu%20west\ndrained new%0Aline\n"
                "drained tab%09here\ndrained us-east\n");
  {
    std::ofstream out(path);
    out << "# gslbd drain state v1\ndrained eu west\n";
  }
  CHECK(read_drain_file(path).error == path + ":2: invalid cluster name \"eu west\"");
  {
    std::ofstream out(path);
    out << "# gslbd drain state v1\ndrained bad%2\n";
  }
  CHECK(read_drain_file(path).error == path + ":2: invalid cluster name \"bad%2\"");
}

TEST_CASE("a corrupt drain file is reported with path and line and ignored") {
  TempDir dir;
  const std::string path = dir.path + "/drain";
  {
    std::ofstream out(path);
    out << "# gslbd drain state v1\ndrained eu-west\nundrain us-east\n";
  }
  DrainFile bad = read_drain_file(path);
  CHECK(bad.error == path + ":3: expected \"drained <cluster>\", got \"undrain us-east\"");
  CHECK(bad.drained.empty());

  {
    std::ofstream out(path);
    out << "eu-west\n";
  }
  CHECK(read_drain_file(path).error.find(path + ":1: expected the header") == 0);
}

TEST_CASE("a drain file that cannot be written is an error, not a crash") {
  CHECK(write_drain_file("/nonexistent-dir/drain", {"x"}).find("cannot create") == 0);
}

}  // namespace
}  // namespace gslb::health
