#pragma once
// Wakes event streams when the scheduler stores new events (the events themselves are in
// the database: a stream reads them from there, after the id it has sent last).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace dojo::serve {

class EventBus {
 public:
  void notify() {
    {
      std::lock_guard lock(mutex_);
      ++version_;
    }
    cv_.notify_all();
  }
  // Waits until notify() is called after `seen` (returns the new version) or `timeout`.
  std::uint64_t wait(std::uint64_t seen, std::chrono::duration<double> timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return version_ != seen || closed_; });
    return version_;
  }
  std::uint64_t version() {
    std::lock_guard lock(mutex_);
    return version_;
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t version_ = 0;
  bool closed_ = false;
};

}  // namespace dojo::serve
