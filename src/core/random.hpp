#pragma once
// The one random-number generator of dojo: SplitMix64, fully specified, so that weights,
// masks, crops, shuffles and synthetic scenes are identical on every machine and rank count.
//
// Randomness is counter-based wherever it can be: a value is derived from (seed, step,
// slot, ...) with mix_seed instead of being drawn from a stream, so a resumed run or a
// different rank count sees exactly the same numbers with no RNG state to save.
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>

namespace dojo {

// Advances `state` by the golden-ratio increment and returns its mixed value.
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// SplitMix64's finaliser applied to a single value (a stateless hash of x).
constexpr std::uint64_t mix64(std::uint64_t x) {
  std::uint64_t state = x;
  return splitmix64(state);
}

// A well-mixed 64-bit seed from up to four counters, e.g. (seed, step, slot).
constexpr std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0,
                                 std::uint64_t d = 0) {
  return mix64(mix64(mix64(mix64(a) ^ b) ^ c) ^ d);
}

// A SplitMix64 stream started from a (mixed) seed.
class CounterRng {
 public:
  explicit constexpr CounterRng(std::uint64_t seed) : state_(seed) {}
  constexpr std::uint64_t next_u64() { return splitmix64(state_); }
  // Uniform in [0, 1) with 53 random bits.
  constexpr double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  constexpr double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform in [0, bound) without modulo bias (rejects the short last interval); bound > 0.
  constexpr std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    std::uint64_t x = 0;
    do {
      x = next_u64();
    } while (x >= limit);
    return x % bound;
  }
  // Fisher-Yates: a uniform random permutation of `items`, the same on every machine
  // (std::shuffle's algorithm is the library's own).
  template <typename T>
  constexpr void shuffle(std::span<T> items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }
  // Standard normal (Box-Muller on two uniforms).
  double normal() {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  constexpr std::uint64_t state() const { return state_; }

 private:
  std::uint64_t state_;
};

}  // namespace dojo
