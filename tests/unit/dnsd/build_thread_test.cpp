// BuildThread: the job runs off the calling thread, one run at a time, and any
// number of requests during a run make exactly one more run.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "dnsd/build_thread.h"

using gslb::dns::BuildThread;

namespace {

// A job that waits until the test lets it finish, and counts its runs.
struct GatedJob {
  std::mutex mutex;
  std::condition_variable cv;
  int started = 0;
  int allowed = 0;
  std::thread::id thread;

  BuildThread::Finish run(int* finished) {
    std::unique_lock lock(mutex);
    thread = std::this_thread::get_id();
    ++started;
    cv.notify_all();
    cv.wait(lock, [&] { return allowed >= started; });
    return [finished] { ++*finished; };
  }
  void allow_one() {
    std::lock_guard lock(mutex);
    ++allowed;
    cv.notify_all();
  }
  int runs() {
    std::lock_guard lock(mutex);
    return started;
  }
  bool wait_started(int n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return started >= n; });
  }
};

// Runs the control thread's loop until `done` or ten seconds have passed.
template <class Pred>
bool run_until(boost::asio::io_context& ctx, Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    ctx.restart();
    ctx.run_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace

TEST_CASE("requests during a run coalesce into one more run; the finish step runs on the control thread") {
  boost::asio::io_context ctx;
  GatedJob job;
  int finished = 0;
  BuildThread builds(ctx, [&] { return job.run(&finished); }, std::chrono::milliseconds(0));

  builds.request();
  REQUIRE(job.wait_started(1));
  CHECK(job.thread != std::this_thread::get_id());
  for (int i = 0; i < 50; ++i) builds.request();
  job.allow_one();
  REQUIRE(run_until(ctx, [&] { return finished == 1; }));
  REQUIRE(job.wait_started(2));  // the 50 became one more run...
  job.allow_one();
  REQUIRE(run_until(ctx, [&] { return finished == 2; }));
  // ...and no third: nothing starts while the loop runs on
  ctx.restart();
  ctx.run_for(std::chrono::milliseconds(50));
  CHECK(job.runs() == 2);

  // idle again: a request starts a run at once
  builds.request();
  REQUIRE(job.wait_started(3));
  job.allow_one();
  REQUIRE(run_until(ctx, [&] { return finished == 3; }));
}

TEST_CASE("destroying the build thread waits for the run in progress") {
  boost::asio::io_context ctx;
  GatedJob job;
  int finished = 0;
  std::thread release;
  {
    BuildThread builds(ctx, [&] { return job.run(&finished); }, std::chrono::milliseconds(0));
    builds.request();
    REQUIRE(job.wait_started(1));
    release = std::thread([&] { job.allow_one(); });  // before or while the destructor waits
  }
  release.join();
  CHECK(job.runs() == 1);
  CHECK(finished == 0);  // the finish step is dropped with the control loop not running
}

TEST_CASE("the coalesced run starts no sooner than the spacing after the previous start") {
  boost::asio::io_context ctx;
  GatedJob job;
  int finished = 0;
  const auto spacing = std::chrono::milliseconds(300);
  BuildThread builds(ctx, [&] { return job.run(&finished); }, spacing);
  const auto t0 = std::chrono::steady_clock::now();
  builds.request();
  REQUIRE(job.wait_started(1));
  builds.request();
  job.allow_one();
  REQUIRE(run_until(ctx, [&] { return job.runs() == 2; }));
  CHECK(std::chrono::steady_clock::now() - t0 >= spacing);
  job.allow_one();
  REQUIRE(run_until(ctx, [&] { return finished == 2; }));
}
