#pragma once
// Finite-difference gradient checking in double (Caffe's habit): the scalar objective is
// L = sum(output * probe) for a fixed random probe, so dL/doutput = probe feeds backward.
// Central differences with step h have error O(h^2); with h = 1e-5 in double the check
// holds to ~1e-8 relative, so a tolerance of 1e-6 catches any wrong term.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/random.hpp"

namespace dojo::model::testing {

inline std::vector<double> random_vector(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  CounterRng rng(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * (2.0 * rng.uniform() - 1.0);
  return v;
}

inline double dot(const double* a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < b.size(); ++i) s += a[i] * b[i];
  return s;
}

// Compares `analytic` (n values) with central differences of `objective` with respect to
// x[0..n): max |analytic - numeric| over max |numeric| must be below `tolerance`.
inline void expect_gradient(const std::string& what, double* x, std::size_t n,
                            const double* analytic, const std::function<double()>& objective,
                            double tolerance = 1e-6) {
  const double h = 1e-5;
  double max_err = 0, max_ref = 1e-12;
  for (std::size_t i = 0; i < n; ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = objective();
    x[i] = saved - h;
    const double down = objective();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    max_err = std::max(max_err, std::abs(numeric - analytic[i]));
    max_ref = std::max(max_ref, std::abs(numeric));
  }
  EXPECT_LT(max_err / max_ref, tolerance)
      << what << ": max abs error " << max_err << " against max |gradient| " << max_ref;
}

}  // namespace dojo::model::testing
