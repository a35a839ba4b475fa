#include "train/probe_solvers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "core/error.hpp"
#include "core/random.hpp"

namespace dojo::train {
namespace {

using Matrix = std::vector<double>;  // row-major

// Solves A x = b for symmetric positive definite A (m, m) in place (Cholesky); A and b
// are overwritten, b becomes x.
void solve_spd(Matrix& a, std::vector<double>& b, std::int64_t m) {
  auto at = [&](std::int64_t i, std::int64_t j) -> double& {
    return a[static_cast<std::size_t>(i * m + j)];
  };
  for (std::int64_t j = 0; j < m; ++j) {
    double s = at(j, j);
    for (std::int64_t k = 0; k < j; ++k) s -= at(j, k) * at(j, k);
    DOJO_ASSERT(s > 0, "probe solver: matrix not positive definite at pivot {} ({})", j, s);
    const double l = std::sqrt(s);
    at(j, j) = l;
    for (std::int64_t i = j + 1; i < m; ++i) {
      double t = at(i, j);
      for (std::int64_t k = 0; k < j; ++k) t -= at(i, k) * at(j, k);
      at(i, j) = t / l;
    }
  }
  for (std::int64_t i = 0; i < m; ++i) {  // L z = b
    double t = b[static_cast<std::size_t>(i)];
    for (std::int64_t k = 0; k < i; ++k) t -= at(i, k) * b[static_cast<std::size_t>(k)];
    b[static_cast<std::size_t>(i)] = t / at(i, i);
  }
  for (std::int64_t i = m; i-- > 0;) {  // L^T x = z
    double t = b[static_cast<std::size_t>(i)];
    for (std::int64_t k = i + 1; k < m; ++k) t -= at(k, i) * b[static_cast<std::size_t>(k)];
    b[static_cast<std::size_t>(i)] = t / at(i, i);
  }
}

double row_dot(std::span<const double> x, std::int64_t row, std::int64_t d,
               std::span<const double> w) {
  double s = 0;
  const double* r = x.data() + row * d;
  for (std::int64_t j = 0; j < d; ++j) s += r[j] * w[static_cast<std::size_t>(j)];
  return s;
}

double log1p_exp(double z) {
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}
double sigmoid(double z) {
  return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z));
}

double logistic_loss(std::span<const double> x, std::span<const double> y, std::int64_t n,
                     std::int64_t d, const LinearModel& m, double lambda) {
  double loss = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double z = m.b + row_dot(x, i, d, m.w);
    loss += log1p_exp(z) - y[static_cast<std::size_t>(i)] * z;
  }
  double ww = 0;
  for (const double v : m.w) ww += v * v;
  return loss + 0.5 * lambda * ww;
}

std::vector<double> rows_of(std::span<const double> x, std::int64_t d,
                            const std::vector<std::int64_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size() * static_cast<std::size_t>(d));
  for (const auto r : rows) out.insert(out.end(), x.begin() + r * d, x.begin() + (r + 1) * d);
  return out;
}

std::vector<double> pick(std::span<const double> y, const std::vector<std::int64_t>& rows) {
  std::vector<double> out;
  for (const auto r : rows) out.push_back(y[static_cast<std::size_t>(r)]);
  return out;
}

}  // namespace

Standardizer Standardizer::fit(std::span<const double> x, std::int64_t n, std::int64_t d) {
  Standardizer s;
  s.mean.assign(static_cast<std::size_t>(d), 0.0);
  s.inv_std.assign(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < d; ++j) s.mean[j] += x[i * d + j] / double(n);
  }
  for (std::int64_t j = 0; j < d; ++j) {
    double sq = 0;
    for (std::int64_t i = 0; i < n; ++i) sq += std::pow(x[i * d + j] - s.mean[j], 2);
    const double sd = std::sqrt(sq / double(std::max<std::int64_t>(n, 1)));
    s.inv_std[j] = sd > 1e-12 * (1 + std::abs(s.mean[j])) ? 1 / sd : 0.0;  // constant -> 0
  }
  return s;
}

std::vector<double> Standardizer::apply(std::span<const double> x, std::int64_t n) const {
  const auto d = static_cast<std::int64_t>(mean.size());
  std::vector<double> out(static_cast<std::size_t>(n * d));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < d; ++j) {
      out[i * d + j] = (x[i * d + j] - mean[j]) * inv_std[j];
    }
  }
  return out;
}

std::vector<double> LinearModel::predict(std::span<const double> x, std::int64_t n) const {
  const auto d = static_cast<std::int64_t>(w.size());
  std::vector<double> z(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) z[i] = b + row_dot(x, i, d, w);
  return z;
}

LinearModel fit_ridge(std::span<const double> x, std::span<const double> y, std::int64_t n,
                      std::int64_t d, double lambda) {
  DOJO_CHECK(n >= 1 && lambda > 0, InvalidArgument, "ridge: {} rows, lambda {}", n, lambda);
  LinearModel m;
  m.b = std::accumulate(y.begin(), y.begin() + n, 0.0) / double(n);
  // Centre the rows (the intercept takes the means), so w is unpenalised-intercept ridge.
  std::vector<double> col_mean(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < d; ++j) col_mean[j] += x[i * d + j] / double(n);
  }
  Matrix xc(static_cast<std::size_t>(n * d));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < d; ++j) xc[i * d + j] = x[i * d + j] - col_mean[j];
  }
  std::vector<double> yc(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) yc[i] = y[i] - m.b;
  m.w.assign(static_cast<std::size_t>(d), 0.0);
  if (n >= d) {  // primal: (Xc^T Xc + lambda I) w = Xc^T yc
    Matrix a(static_cast<std::size_t>(d * d), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      const double* r = xc.data() + i * d;
      for (std::int64_t j = 0; j < d; ++j) {
        for (std::int64_t k = 0; k <= j; ++k) a[j * d + k] += r[j] * r[k];
        m.w[j] += r[j] * yc[i];
      }
    }
    for (std::int64_t j = 0; j < d; ++j) {
      a[j * d + j] += lambda;
      for (std::int64_t k = 0; k < j; ++k) a[k * d + j] = a[j * d + k];
    }
    solve_spd(a, m.w, d);
  } else {  // dual: w = Xc^T (Xc Xc^T + lambda I)^-1 yc
    Matrix k(static_cast<std::size_t>(n * n), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j <= i; ++j) {
        double s = 0;
        for (std::int64_t c = 0; c < d; ++c) s += xc[i * d + c] * xc[j * d + c];
        k[i * n + j] = k[j * n + i] = s;
      }
      k[i * n + i] += lambda;
    }
    solve_spd(k, yc, n);
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < d; ++j) m.w[j] += xc[i * d + j] * yc[i];
    }
  }
  for (std::int64_t j = 0; j < d; ++j) m.b -= col_mean[j] * m.w[j];
  return m;
}

LinearModel fit_logistic(std::span<const double> x, std::span<const double> y, std::int64_t n,
                         std::int64_t d, double lambda) {
  DOJO_CHECK(n >= 1 && lambda > 0, InvalidArgument, "logistic: {} rows, lambda {}", n, lambda);
  LinearModel m;
  m.w.assign(static_cast<std::size_t>(d), 0.0);
  const double pos = std::accumulate(y.begin(), y.begin() + n, 0.0) / double(n);
  m.b = std::log(std::clamp(pos, 1e-6, 1 - 1e-6) / (1 - std::clamp(pos, 1e-6, 1 - 1e-6)));
  const std::int64_t m1 = d + 1;  // unknowns: w, then b
  double loss = logistic_loss(x, y, n, d, m, lambda);
  for (int iter = 0; iter < 50; ++iter) {
    Matrix h(static_cast<std::size_t>(m1 * m1), 0.0);
    std::vector<double> g(static_cast<std::size_t>(m1), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      const double p = sigmoid(m.b + row_dot(x, i, d, m.w));
      const double r = p - y[i], s = std::max(p * (1 - p), 1e-12);
      const double* row = x.data() + i * d;
      for (std::int64_t j = 0; j < m1; ++j) {
        const double xj = j < d ? row[j] : 1.0;
        g[j] += r * xj;
        for (std::int64_t k = 0; k <= j; ++k) h[j * m1 + k] += s * xj * (k < d ? row[k] : 1.0);
      }
    }
    for (std::int64_t j = 0; j < m1; ++j) {
      if (j < d) g[j] += lambda * m.w[j];
      h[j * m1 + j] += j < d ? lambda : 1e-9;  // the intercept is unpenalised
      for (std::int64_t k = 0; k < j; ++k) h[k * m1 + j] = h[j * m1 + k];
    }
    double gnorm = 0;
    for (const double v : g) gnorm = std::max(gnorm, std::abs(v));
    if (gnorm < 1e-9 * double(n)) break;
    std::vector<double> step = g;
    solve_spd(h, step, m1);
    // Damped Newton: halve the step until the loss decreases.
    double t = 1;
    for (int k = 0; k < 30; ++k, t *= 0.5) {
      LinearModel next = m;
      for (std::int64_t j = 0; j < d; ++j) next.w[j] -= t * step[j];
      next.b -= t * step[d];
      const double l = logistic_loss(x, y, n, d, next, lambda);
      if (l <= loss) {
        const bool done = loss - l < 1e-12 * (1 + std::abs(loss));
        m = std::move(next);
        loss = l;
        if (done) return m;
        break;
      }
    }
  }
  return m;
}

double r2_score(std::span<const double> y, std::span<const double> pred) {
  const double mean = std::accumulate(y.begin(), y.end(), 0.0) / double(y.size());
  double sse = 0, sst = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    sse += std::pow(y[i] - pred[i], 2);
    sst += std::pow(y[i] - mean, 2);
  }
  return sst > 0 ? 1 - sse / sst : std::numeric_limits<double>::quiet_NaN();
}

double accuracy(std::span<const double> y, std::span<const double> z) {
  double right = 0;
  for (std::size_t i = 0; i < y.size(); ++i) right += (z[i] > 0) == (y[i] > 0.5) ? 1 : 0;
  return y.empty() ? std::numeric_limits<double>::quiet_NaN() : right / double(y.size());
}

bool is_binary(std::span<const double> y) {
  bool zero = false, one = false;
  for (const double v : y) {
    if (v == 0)
      zero = true;
    else if (v == 1)
      one = true;
    else
      return false;
  }
  return zero && one;
}

std::vector<std::int64_t> validation_rows(std::span<const std::int64_t> group, std::uint64_t seed) {
  std::vector<std::int64_t> groups(group.begin(), group.end());
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  std::vector<std::int64_t> out;
  if (groups.size() < 2) {
    std::vector<std::int64_t> order(group.size());
    std::iota(order.begin(), order.end(), 0);
    CounterRng(mix_seed(seed, 0)).shuffle(std::span(order));
    for (std::size_t i = 4; i < order.size(); i += 5) out.push_back(order[i]);
    std::sort(out.begin(), out.end());
    return out;
  }
  CounterRng(mix_seed(seed, 0)).shuffle(std::span(groups));
  std::set<std::int64_t> held;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (i % 5 == 4 || (groups.size() < 5 && i == groups.size() - 1)) held.insert(groups[i]);
  }
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (held.count(group[i]) != 0) out.push_back(static_cast<std::int64_t>(i));
  }
  return out;
}

ProbeFit fit_probe(ProbeKind kind, std::span<const double> train_x, std::span<const double> train_y,
                   std::span<const std::int64_t> train_group, std::span<const double> test_x,
                   std::span<const double> test_y, std::int64_t d, std::uint64_t seed) {
  const auto n = static_cast<std::int64_t>(train_y.size());
  DOJO_CHECK(train_group.size() == train_y.size(), InvalidArgument,
             "probe: {} source ids for {} training rows", train_group.size(), train_y.size());
  const auto nt = static_cast<std::int64_t>(test_y.size());
  DOJO_CHECK(n >= 4 && nt >= 1, InvalidArgument,
             "probe: {} training and {} test rows (at least 4 and 1 needed)", n, nt);
  const Standardizer st = Standardizer::fit(train_x, n, d);
  const auto xs = st.apply(train_x, n);
  const auto ts = st.apply(test_x, nt);
  auto fit = [&](std::span<const double> x, std::span<const double> y, std::int64_t rows,
                 double lambda) {
    return kind == ProbeKind::kRidge ? fit_ridge(x, y, rows, d, lambda)
                                     : fit_logistic(x, y, rows, d, lambda);
  };
  auto score = [&](const LinearModel& m, std::span<const double> x, std::span<const double> y) {
    const auto z = m.predict(x, static_cast<std::int64_t>(y.size()));
    return kind == ProbeKind::kRidge ? r2_score(y, z) : accuracy(y, z);
  };
  const std::vector<std::int64_t> val_rows = validation_rows(train_group, seed);
  std::vector<std::int64_t> fit_rows;
  for (std::int64_t i = 0, v = 0; i < n; ++i) {
    if (v < static_cast<std::int64_t>(val_rows.size()) && val_rows[static_cast<std::size_t>(v)] == i)
      ++v;
    else
      fit_rows.push_back(i);
  }
  const auto fx = rows_of(xs, d, fit_rows), vx = rows_of(xs, d, val_rows);
  const auto fy = pick(train_y, fit_rows), vy = pick(train_y, val_rows);
  const bool fit_ok = kind == ProbeKind::kRidge || is_binary(fy);
  ProbeFit best{kind, 1.0, 0.0};
  double best_score = -std::numeric_limits<double>::infinity(), best_tie = 0;
  for (double lambda = 1e-2; lambda <= 1e6 * 1.0001; lambda *= 10) {
    if (!fit_ok) break;  // one class only in the fitting part: keep lambda = 1
    const LinearModel m = fit(fx, fy, static_cast<std::int64_t>(fy.size()), lambda);
    double s = score(m, vx, vy);
    if (std::isnan(s)) s = -std::numeric_limits<double>::infinity();
    // Ties (accuracy on a small split) go to the lower validation log-loss.
    const double tie = kind == ProbeKind::kLogistic
                           ? -logistic_loss(vx, vy, static_cast<std::int64_t>(vy.size()), d, m, 0)
                           : 0;
    if (s > best_score || (s == best_score && tie > best_tie)) {
      best_score = s, best_tie = tie, best.lambda = lambda;
    }
  }
  const LinearModel m = fit(xs, train_y, n, best.lambda);
  best.test_score = score(m, ts, test_y);
  return best;
}

}  // namespace dojo::train
