#pragma once
// Private to src/comm: the one busy-wait of the backends that poll (MPI requests, the
// shared-memory barrier), spinning, then yielding, then napping as WaitPolicy says.
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

#include "comm/communicator.hpp"

namespace dojo::comm {

// Polls `done` until it returns true or `timeout` passes (see WaitPolicy). A message
// between ranks on one host lands within microseconds, so every policy spins first.
template <typename Done>
inline bool poll_until(Done done, Millis timeout, WaitPolicy policy) {
  using Clock = std::chrono::steady_clock;
  using std::chrono::microseconds;
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  const auto spin_for = microseconds(policy == WaitPolicy::kLowLatency ? 50 : 20);
  const auto yield_for = policy == WaitPolicy::kLowLatency ? microseconds(20'000) : microseconds(0);
  const auto max_nap = microseconds(policy == WaitPolicy::kLowLatency ? 1000 : 200);
  auto nap = microseconds(10);
  for (std::uint64_t polls = 0;; ++polls) {
    if (done()) return true;
    if ((polls & 31) != 0) continue;
    const auto now = Clock::now();
    if (now >= deadline) return false;
    const auto waited = now - start;
    if (waited < spin_for) continue;
    if (waited < spin_for + yield_for) {
      sched_yield();
    } else {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, max_nap);
    }
  }
}

}  // namespace dojo::comm
