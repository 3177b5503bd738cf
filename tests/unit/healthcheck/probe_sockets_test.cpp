// ProbeSockets' count against its budget, including sockets closed behind its back.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "healthcheck/probe_sockets.h"

namespace gslb::health {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// Two sockets from `sockets`: a budget of 2 spent.
std::pair<int, int> spend(ProbeSockets& sockets) {
  const int a = sockets.open(AF_INET, SOCK_STREAM, 0).fd;
  const int b = sockets.open(AF_INET, SOCK_STREAM, 0).fd;
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  return {a, b};
}

TEST_CASE("ProbeSockets: the budget refuses, a close gives the room back") {
  ProbeSockets sockets(2);
  const auto [a, b] = spend(sockets);
  const auto refused = sockets.open(AF_INET, SOCK_STREAM, 0);
  CHECK(refused.fd == -1);
  CHECK(refused.error == LocalError::probe_budget);
  sockets.close(a);
  CHECK(sockets.in_use() == 1);
  const auto c = sockets.open(AF_INET, SOCK_STREAM, 0);
  CHECK(c.fd >= 0);
  sockets.close(b);
  sockets.close(c.fd);
  CHECK(sockets.in_use() == 0);
}

// What libcurl 7.88 does to a socket whose connect was abandoned: close(2), not
// the close callback.
TEST_CASE("ProbeSockets: a socket closed behind its back stops counting") {
  ProbeSockets sockets(2);
  const auto [a, b] = spend(sockets);

  SUBCASE("its number comes back to a probe") {
    ::close(a);
    const auto c = sockets.open(AF_INET, SOCK_STREAM, 0);
    REQUIRE(c.fd == a);   // the kernel's lowest free number
    CHECK(sockets.in_use() == 2);
    sockets.close(c.fd);
  }
  SUBCASE("its number is taken by a socket that is not a probe's") {
    ::close(a);
    const int other = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(other == a);
    const auto c = sockets.open(AF_INET, SOCK_STREAM, 0);
    REQUIRE(c.fd >= 0);
    CHECK(c.fd != other);
    CHECK(sockets.in_use() == 2);
    CHECK(is_open(other));   // never closed by ProbeSockets
    sockets.close(c.fd);
    ::close(other);
  }
  sockets.close(b);
  CHECK(sockets.in_use() == 0);
}

TEST_CASE("ProbeSockets: a budget really spent stays refused") {
  ProbeSockets sockets(3);
  int fds[3];
  for (int& fd : fds) {
    fd = sockets.open(AF_INET, SOCK_STREAM, 0).fd;
    REQUIRE(fd >= 0);
  }
  for (int i = 0; i < 200; ++i) CHECK(sockets.open(AF_INET, SOCK_STREAM, 0).error == LocalError::probe_budget);
  CHECK(sockets.in_use() == 3);
  for (int fd : fds) {
    CHECK(is_open(fd));
    sockets.close(fd);
  }
}

}  // namespace
}  // namespace gslb::health
