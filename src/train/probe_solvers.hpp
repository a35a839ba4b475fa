#pragma once
// Linear probes: ridge regression and L2-regularised logistic regression on frozen
// features, in double precision.
//
// Words. X is (n, d) row-major, one row of features per clip; y is (n). Features are
// *standardised* with the training rows' mean and standard deviation per column (a
// constant column becomes 0), so one ridge strength `lambda` means the same for every
// feature set. The intercept is never penalised.
//
//   ridge:     minimise  sum_i (y_i - b - x_i.w)^2 + lambda |w|^2
//              w = (Xc^T Xc + lambda I)^-1 Xc^T (y - mean y) on centred rows Xc, b = mean y;
//              solved as a d x d system, or as the n x n dual w = Xc^T (Xc Xc^T + lambda I)^-1
//              (y - mean y) when n < d (the same w).
//   logistic:  y in {0, 1}; minimise  sum_i [log(1 + e^z_i) - y_i z_i] + lambda/2 |w|^2,
//              z_i = b + x_i.w, by Newton's method (the loss is convex; steps are halved
//              while they do not decrease it).
//
// Choosing lambda: fit_probe splits the training rows into a fitting part and a
// validation part by source video (every 5th video of a seeded permutation: clips of one
// video are alike, and a split of clips chose the lambda that recognises the training
// videos, which scored R^2 = -36 on unseen ones), scores each lambda of a log-spaced grid
// on the validation part (R^2, or accuracy with the log-loss breaking ties), then refits on
// every training row with the best one.
//
// Scores: R^2 = 1 - SSE / SST around the scored rows' own mean (NaN when y is constant);
// accuracy = fraction of rows whose predicted probability is on y's side of 0.5.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dojo::train {

struct Standardizer {
  std::vector<double> mean, inv_std;  // (d)
  static Standardizer fit(std::span<const double> x, std::int64_t n, std::int64_t d);
  std::vector<double> apply(std::span<const double> x, std::int64_t n) const;  // (n, d)
};

struct LinearModel {
  std::vector<double> w;  // (d), on standardised features
  double b = 0;
  std::vector<double> predict(std::span<const double> xs, std::int64_t n) const;  // z (n)
};

// x already standardised.
LinearModel fit_ridge(std::span<const double> x, std::span<const double> y, std::int64_t n,
                      std::int64_t d, double lambda);
LinearModel fit_logistic(std::span<const double> x, std::span<const double> y, std::int64_t n,
                         std::int64_t d, double lambda);

double r2_score(std::span<const double> y, std::span<const double> pred);
double accuracy(std::span<const double> y, std::span<const double> z);  // z: logits
bool is_binary(std::span<const double> y);  // every value 0 or 1, and both occur

// The validation rows of the training rows whose source videos are `group` (n): every row
// of every 5th group in a seeded permutation of the groups; with fewer than 2 groups, every
// 5th row of a seeded permutation of the rows.
std::vector<std::int64_t> validation_rows(std::span<const std::int64_t> group, std::uint64_t seed);

enum class ProbeKind { kRidge, kLogistic };
struct ProbeFit {
  ProbeKind kind;
  double lambda = 0;      // chosen on the validation split
  double test_score = 0;  // R^2 or accuracy on the test rows
};
// Standardises with the train rows, picks lambda (see above), refits, scores the test rows.
ProbeFit fit_probe(ProbeKind kind, std::span<const double> train_x, std::span<const double> train_y,
                   std::span<const std::int64_t> train_group, std::span<const double> test_x,
                   std::span<const double> test_y, std::int64_t d, std::uint64_t seed);

}  // namespace dojo::train
