// RCU-style publication of an immutable object to many reader threads, after
// dnsdist's sholder.hh: the writer swaps a shared_ptr under a mutex and bumps a
// generation; each reader keeps its own copy and takes the mutex only when the
// generation moved (checked once per receive batch), never per query.
// (std::atomic<std::shared_ptr> takes a lock in libstdc++ on every load.)
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace gslb::dns {

template <class T>
class Published {
 public:
  void publish(std::shared_ptr<const T> value) {
    std::lock_guard<std::mutex> lock(mutex_);
    value_ = std::move(value);
    generation_.fetch_add(1, std::memory_order_release);
  }
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const T> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> value_;
  std::atomic<uint64_t> generation_{0};
};

// One reader's view; owned by one thread.
template <class T>
class LocalCopy {
 public:
  explicit LocalCopy(const Published<T>& source) : source_(source) { refresh(); }
  // Returns true when a newer object was taken.
  bool refresh() {
    const uint64_t g = source_.generation();
    if (g == generation_ && value_) return false;
    value_ = source_.get();
    generation_ = g;
    return true;
  }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return value_.get(); }

 private:
  const Published<T>& source_;
  std::shared_ptr<const T> value_;
  uint64_t generation_ = 0;
};

}  // namespace gslb::dns
