// Runs a long job (building a serving state on SIGHUP) on a thread of its own, so
// the control thread keeps answering HTTP (/healthz, /metrics) meanwhile. One run
// at a time: requests that arrive during a run are coalesced into one more run
// after it, however many there were. That run starts no sooner than `spacing`
// after the previous one started (as gdnsd swaps at most once a second), so a
// stream of SIGHUPs builds at most once per `spacing`, however short the builds;
// a request while idle starts at once.
//
// request() and the finishing step run on the control thread (the io_context's);
// only the job itself runs on the build thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace gslb::dns {

class BuildThread {
 public:
  // What a run hands back to the control thread: called there, after the job.
  using Finish = std::function<void()>;
  using Job = std::function<Finish()>;

  BuildThread(boost::asio::io_context& ctx, Job job, std::chrono::milliseconds spacing);
  // Waits for a run in progress to end; its finishing step is then dropped.
  ~BuildThread();
  BuildThread(const BuildThread&) = delete;
  BuildThread& operator=(const BuildThread&) = delete;

  void request();

 private:
  void loop();
  void finished(Finish finish);
  void start();

  boost::asio::io_context& ctx_;
  Job job_;
  const std::chrono::milliseconds spacing_;
  // Control thread only.
  bool running_ = false;  // a run is in progress, or its successor waits for the timer
  bool again_ = false;
  std::chrono::steady_clock::time_point started_;
  boost::asio::steady_timer spaced_;
  // Handing a run to the build thread.
  std::mutex mutex_;
  std::condition_variable wake_;
  bool go_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace gslb::dns
