#include "dnsd/build_thread.h"

#include <boost/asio/post.hpp>

namespace gslb::dns {

BuildThread::BuildThread(boost::asio::io_context& ctx, Job job, std::chrono::milliseconds spacing)
    : ctx_(ctx), job_(std::move(job)), spacing_(spacing), spaced_(ctx), thread_([this] { loop(); }) {}

BuildThread::~BuildThread() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void BuildThread::request() {
  if (running_) {
    again_ = true;
    return;
  }
  running_ = true;
  start();
}

void BuildThread::start() {
  started_ = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    go_ = true;
  }
  wake_.notify_one();
}

void BuildThread::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return go_ || stop_; });
      if (stop_) return;
      go_ = false;
    }
    Finish finish = job_();
    boost::asio::post(ctx_, [this, finish = std::move(finish)] { finished(finish); });
  }
}

void BuildThread::finished(Finish finish) {
  if (finish) finish();
  if (!again_) {
    running_ = false;
    return;
  }
  again_ = false;
  spaced_.expires_at(started_ + spacing_);
  spaced_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) start();
  });
}

}  // namespace gslb::dns
