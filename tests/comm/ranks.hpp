#pragma once
// Runs a function on N ranks as threads over the local backend and collects what each
// rank threw, so a test can assert on every rank's outcome.
#include <cstring>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "comm/local_communicator.hpp"

namespace dojo::comm::testing {

// Bit-for-bit equality of two results (memcmp, so -0 and 0 differ; empty ones are equal).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

inline std::vector<std::exception_ptr> run_ranks(int n,
                                                 const std::function<void(Communicator&)>& body,
                                                 Millis timeout = Millis(20'000)) {
  auto comms = make_local_world(n);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    comms[r]->set_timeout(timeout);
    threads.emplace_back([&, r] {
      try {
        body(*comms[r]);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

inline void rethrow_first(const std::vector<std::exception_ptr>& errors) {
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace dojo::comm::testing
