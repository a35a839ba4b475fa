#pragma once
// What the all-reduce tests reduce and how they check it: deterministic, non-trivial values
// per (rank, index) that do not sum exactly, a hash of a result's bits, and the check that a
// result is the average of every rank's values within float rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace dojo::comm::testing {

inline float value(int rank, std::size_t i) {
  std::uint64_t x =
      (static_cast<std::uint64_t>(rank) + 1) * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  return static_cast<float>(static_cast<double>(x % 2'000'001) / 1'000'000.0 - 1.0);
}

// FNV-1a over the bytes of `data`: equal bits, equal hashes.
inline std::uint64_t fnv1a(std::span<const float> data) {
  std::uint64_t h = 1469598103934665603ull;
  for (auto b : std::as_bytes(data)) h = (h ^ static_cast<std::uint8_t>(b)) * 1099511628211ull;
  return h;
}

// Every element of `data` is the average of value(r, i) over `n` ranks, within n + 1 float
// roundings of the magnitudes summed; the first element that is not, otherwise.
inline ::testing::AssertionResult is_average_of_values(std::span<const float> data, int n) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    double expected = 0, magnitude = 0;
    for (int r = 0; r < n; ++r) {
      expected += value(r, i);
      magnitude += std::abs(value(r, i));
    }
    const double tolerance = (n + 1) * 1.2e-7 * magnitude / n + 1e-30;
    if (std::abs(double(data[i]) - expected / n) > tolerance) {
      return ::testing::AssertionFailure() << "element " << i << " is " << data[i]
                                           << ", the average is " << expected / n
                                           << " (tolerance " << tolerance << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace dojo::comm::testing
