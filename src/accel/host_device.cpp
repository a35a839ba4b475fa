#include "accel/host_device.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace dojo::accel {
// The kernels, templated on the element type. (A named namespace: inside HostDevice the
// unqualified names would find Device's member functions of the same names.)
namespace kernels {
namespace {

CBLAS_TRANSPOSE trans(bool t) {
  return t ? CblasTrans : CblasNoTrans;
}

// Leading dimension of a stored matrix whose op() is (rows, cols).
std::int64_t packed_ld(bool transposed, std::int64_t rows, std::int64_t cols) {
  return transposed ? rows : cols;
}

template <typename T>
void blas_gemm(const GemmShape& s, const T* a, const T* b, T* c) {
  const std::int64_t lda = s.lda ? s.lda : packed_ld(s.trans_a, s.m, s.k);
  const std::int64_t ldb = s.ldb ? s.ldb : packed_ld(s.trans_b, s.k, s.n);
  const std::int64_t ldc = s.ldc ? s.ldc : s.n;
  for (std::int64_t i = 0; i < s.batch; ++i) {
    const T* ai = a + i * s.stride_a;
    const T* bi = b + i * s.stride_b;
    T* ci = c + i * s.stride_c;
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, trans(s.trans_a), trans(s.trans_b), blasint(s.m), blasint(s.n),
                  blasint(s.k), s.alpha, ai, blasint(lda), bi, blasint(ldb), s.beta, ci,
                  blasint(ldc));
    } else {
      cblas_dgemm(CblasRowMajor, trans(s.trans_a), trans(s.trans_b), blasint(s.m), blasint(s.n),
                  blasint(s.k), double(s.alpha), ai, blasint(lda), bi, blasint(ldb), double(s.beta),
                  ci, blasint(ldc));
    }
  }
}

template <typename T>
void layernorm_forward(std::int64_t rows, std::int64_t dim, float eps, const T* x, const T* gamma,
                       const T* beta, T* y, T* mean, T* rstd) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    // Two passes in the working precision: stable enough for LayerNorm's short rows.
    T sum = 0;
    for (std::int64_t i = 0; i < dim; ++i) sum += xr[i];
    const T mu = sum / T(dim);
    T sq = 0;
    for (std::int64_t i = 0; i < dim; ++i) sq += (xr[i] - mu) * (xr[i] - mu);
    const T rs = T(1) / std::sqrt(sq / T(dim) + T(eps));
    for (std::int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] - mu) * rs * gamma[i] + beta[i];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

template <typename T>
void layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy, const T* x, const T* mean,
                        const T* rstd, const T* gamma, T* dx, T* dgamma, T* dbeta) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    const T* dyr = dy + r * dim;
    T* dxr = dx + r * dim;
    const T mu = mean[r];
    const T rs = rstd[r];
    // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma.
    T g_sum = 0, gx_sum = 0;
    for (std::int64_t i = 0; i < dim; ++i) {
      const T xhat = (xr[i] - mu) * rs;
      const T g = dyr[i] * gamma[i];
      g_sum += g;
      gx_sum += g * xhat;
      dgamma[i] += dyr[i] * xhat;
      dbeta[i] += dyr[i];
    }
    const T g_mean = g_sum / T(dim);
    const T gx_mean = gx_sum / T(dim);
    for (std::int64_t i = 0; i < dim; ++i) {
      const T xhat = (xr[i] - mu) * rs;
      dxr[i] += rs * (dyr[i] * gamma[i] - g_mean - xhat * gx_mean);
    }
  }
}

template <typename T>
void gelu_forward(std::int64_t n, const T* x, T* y) {
  const T inv_sqrt2 = T(0.70710678118654752440);
  for (std::int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * inv_sqrt2));
}

template <typename T>
void gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx) {
  const T inv_sqrt2 = T(0.70710678118654752440);
  const T inv_sqrt2pi = T(0.39894228040143267794);
  for (std::int64_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (T(1) + std::erf(x[i] * inv_sqrt2));
    const T pdf = inv_sqrt2pi * std::exp(T(-0.5) * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

template <typename T>
void softmax_forward(std::int64_t rows, std::int64_t cols, T* x) {
  for (std::int64_t r = 0; r < rows; ++r) {
    T* xr = x + r * cols;
    T mx = xr[0];
    for (std::int64_t i = 1; i < cols; ++i) mx = std::max(mx, xr[i]);
    T sum = 0;
    for (std::int64_t i = 0; i < cols; ++i) {
      xr[i] = std::exp(xr[i] - mx);
      sum += xr[i];
    }
    const T inv = T(1) / sum;
    for (std::int64_t i = 0; i < cols; ++i) xr[i] *= inv;
  }
}

template <typename T>
void softmax_backward(std::int64_t rows, std::int64_t cols, const T* y, const T* dy, T* dx) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    T dot = 0;
    for (std::int64_t i = 0; i < cols; ++i) dot += dyr[i] * yr[i];
    for (std::int64_t i = 0; i < cols; ++i) dxr[i] = yr[i] * (dyr[i] - dot);
  }
}

template <typename T>
void add_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* x, T* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + (r % period) * dim;
    T* yr = y + r * dim;
    for (std::int64_t i = 0; i < dim; ++i) yr[i] += xr[i];
  }
}

template <typename T>
void sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* dy, T* dx) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * dim;
    T* dxr = dx + (r % period) * dim;
    for (std::int64_t i = 0; i < dim; ++i) dxr[i] += dyr[i];
  }
}

template <typename T>
void copy_rows(std::int64_t count, std::int64_t dim, const T* src, RowIndex src_index, T* dst,
               RowIndex dst_index, bool accumulate) {
  for (std::int64_t i = 0; i < count; ++i) {
    const T* s = src + (src_index.empty() ? i : src_index[std::size_t(i)]) * dim;
    T* d = dst + (dst_index.empty() ? i : dst_index[std::size_t(i)]) * dim;
    if (accumulate) {
      for (std::int64_t j = 0; j < dim; ++j) d[j] += s[j];
    } else {
      std::memcpy(d, s, std::size_t(dim) * sizeof(T));
    }
  }
}

// Walks dst in row-major order with an odometer over all but the last dst axis; the last
// axis is a strided (or, when it is also src's last axis, contiguous) run.
template <typename T>
void permute(std::span<const std::int64_t> src_dims, std::span<const int> perm, const T* src,
             T* dst, bool accumulate) {
  const std::size_t rank = src_dims.size();
  DOJO_ASSERT(rank >= 1 && rank <= 8 && perm.size() == rank, "permute rank {}", rank);
  std::array<std::int64_t, 8> src_stride{}, dims{}, stride{};
  src_stride[rank - 1] = 1;
  for (std::size_t i = rank - 1; i > 0; --i) src_stride[i - 1] = src_stride[i] * src_dims[i];
  std::int64_t total = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    dims[i] = src_dims[std::size_t(perm[i])];
    stride[i] = src_stride[std::size_t(perm[i])];
    total *= dims[i];
  }
  if (total == 0) return;
  const std::int64_t run = dims[rank - 1];
  const std::int64_t run_stride = stride[rank - 1];
  std::array<std::int64_t, 8> idx{};
  std::int64_t offset = 0;
  for (std::int64_t out = 0; out < total; out += run) {
    const T* s = src + offset;
    T* d = dst + out;
    if (accumulate) {
      for (std::int64_t j = 0; j < run; ++j) d[j] += s[j * run_stride];
    } else if (run_stride == 1) {
      std::memcpy(d, s, std::size_t(run) * sizeof(T));
    } else {
      for (std::int64_t j = 0; j < run; ++j) d[j] = s[j * run_stride];
    }
    for (std::size_t ax = rank - 1; ax-- > 0;) {
      offset += stride[ax];
      if (++idx[ax] < dims[ax]) break;
      offset -= stride[ax] * dims[ax];
      idx[ax] = 0;
    }
  }
}

template <typename T>
void row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src, T* dst) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * dim;
    T* d = dst + r * dim;
    double sum = 0;
    for (std::int64_t i = 0; i < dim; ++i) sum += double(s[i]);
    const double mu = sum / double(dim);
    double sq = 0;
    for (std::int64_t i = 0; i < dim; ++i) sq += (double(s[i]) - mu) * (double(s[i]) - mu);
    const double denom = std::sqrt(sq / double(std::max<std::int64_t>(dim - 1, 1))) + eps;
    for (std::int64_t i = 0; i < dim; ++i) d[i] = T((double(s[i]) - mu) / denom);
  }
}

template <typename T>
double mse_loss(std::int64_t n, const T* pred, const T* target, T* dpred, float scale) {
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double diff = double(pred[i]) - double(target[i]);
    sum += diff * diff;
  }
  if (dpred != nullptr) {
    const T g = T(2.0 * double(scale) / double(n));
    for (std::int64_t i = 0; i < n; ++i) dpred[i] += g * (pred[i] - target[i]);
  }
  return n > 0 ? sum / double(n) : 0.0;
}

}  // namespace
}  // namespace kernels

// bf16 GEMM: A and B are rounded to bfloat16 (round to nearest even) and multiplied with
// float32 accumulation and a float32 C.
struct HostDevice::Bf16Gemm {
  std::vector<float> a, b;

  static float round_bf16(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
    std::memcpy(&x, &bits, sizeof bits);
    return x;
  }
  static void round_into(std::vector<float>& out, const float* src, std::int64_t rows,
                         std::int64_t cols, std::int64_t ld) {
    out.resize(std::size_t(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c)
        out[std::size_t(r * cols + c)] = round_bf16(src[r * ld + c]);
    }
  }
  void run(const GemmShape& s, const float* pa, const float* pb, float* pc) {
    const std::int64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
    const std::int64_t b_rows = s.trans_b ? s.n : s.k, b_cols = s.trans_b ? s.k : s.n;
    const std::int64_t lda = s.lda ? s.lda : a_cols, ldb = s.ldb ? s.ldb : b_cols;
    GemmShape one = s;
    one.batch = 1;
    one.lda = a_cols;
    one.ldb = b_cols;
    for (std::int64_t i = 0; i < s.batch; ++i) {
      round_into(a, pa + i * s.stride_a, a_rows, a_cols, lda);
      round_into(b, pb + i * s.stride_b, b_rows, b_cols, ldb);
      kernels::blas_gemm(one, a.data(), b.data(), pc + i * s.stride_c);
    }
  }
};

HostDevice::HostDevice(HostDeviceOptions options) : Device(options.dry_run), options_(options) {
  DOJO_CHECK(options.threads >= 1, InvalidArgument,
             "HostDevice: threads must be at least 1, got {}", options.threads);
  set_precision(options.precision);
  if (!options.dry_run) openblas_set_num_threads(options.threads);
}

HostDevice::~HostDevice() = default;

void HostDevice::run_gemm(const GemmShape& s, const float* a, const float* b, float* c) {
  if (precision() == Precision::kBf16) {
    if (!bf16_) bf16_ = std::make_unique<Bf16Gemm>();
    bf16_->run(s, a, b, c);
    return;
  }
  kernels::blas_gemm(s, a, b, c);
}

void HostDevice::run_gemm(const GemmShape& s, const double* a, const double* b, double* c) {
  kernels::blas_gemm(s, a, b, c);
}

#define DOJO_HOST_RUN_DEF(T)                                                                       \
  void HostDevice::run_layernorm_forward(std::int64_t rows, std::int64_t dim, float eps,           \
                                         const T* x, const T* gamma, const T* beta, T* y, T* mean, \
                                         T* rstd) {                                                \
    kernels::layernorm_forward(rows, dim, eps, x, gamma, beta, y, mean, rstd);                     \
  }                                                                                                \
  void HostDevice::run_layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy,        \
                                          const T* x, const T* mean, const T* rstd,                \
                                          const T* gamma, T* dx, T* dgamma, T* dbeta) {            \
    kernels::layernorm_backward(rows, dim, dy, x, mean, rstd, gamma, dx, dgamma, dbeta);           \
  }                                                                                                \
  void HostDevice::run_gelu_forward(std::int64_t n, const T* x, T* y) {                            \
    kernels::gelu_forward(n, x, y);                                                                \
  }                                                                                                \
  void HostDevice::run_gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx) {             \
    kernels::gelu_backward(n, x, dy, dx);                                                          \
  }                                                                                                \
  void HostDevice::run_softmax_forward(std::int64_t rows, std::int64_t cols, T* x) {               \
    kernels::softmax_forward(rows, cols, x);                                                       \
  }                                                                                                \
  void HostDevice::run_softmax_backward(std::int64_t rows, std::int64_t cols, const T* y,          \
                                        const T* dy, T* dx) {                                      \
    kernels::softmax_backward(rows, cols, y, dy, dx);                                              \
  }                                                                                                \
  void HostDevice::run_add_rows(std::int64_t rows, std::int64_t period, std::int64_t dim,          \
                                const T* x, T* y) {                                                \
    kernels::add_rows(rows, period, dim, x, y);                                                    \
  }                                                                                                \
  void HostDevice::run_sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim,          \
                                const T* dy, T* dx) {                                              \
    kernels::sum_rows(rows, period, dim, dy, dx);                                                  \
  }                                                                                                \
  void HostDevice::run_axpy(std::int64_t n, float alpha, const T* x, T* y) {                       \
    for (std::int64_t i = 0; i < n; ++i) y[i] += T(alpha) * x[i];                                  \
  }                                                                                                \
  void HostDevice::run_fill(std::int64_t n, T value, T* x) {                                       \
    std::fill(x, x + n, value);                                                                    \
  }                                                                                                \
  void HostDevice::run_copy_rows(std::int64_t count, std::int64_t dim, const T* src,               \
                                 RowIndex src_index, T* dst, RowIndex dst_index,                   \
                                 bool accumulate) {                                                \
    kernels::copy_rows(count, dim, src, src_index, dst, dst_index, accumulate);                    \
  }                                                                                                \
  void HostDevice::run_permute(std::span<const std::int64_t> src_dims, std::span<const int> perm,  \
                               const T* src, T* dst, bool accumulate) {                            \
    kernels::permute(src_dims, perm, src, dst, accumulate);                                        \
  }                                                                                                \
  void HostDevice::run_row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src, \
                                     T* dst) {                                                     \
    kernels::row_normalize(rows, dim, eps, src, dst);                                              \
  }                                                                                                \
  double HostDevice::run_mse_loss(std::int64_t n, const T* pred, const T* target, T* dpred,        \
                                  float scale) {                                                   \
    return kernels::mse_loss(n, pred, target, dpred, scale);                                       \
  }
DOJO_HOST_RUN_DEF(float)
DOJO_HOST_RUN_DEF(double)
#undef DOJO_HOST_RUN_DEF

void HostDevice::run_adamw(std::int64_t n, const AdamWStep& hp, float* params, const float* grads,
                           float* m, float* v) {
  const float bc1 = 1.0f - std::pow(hp.beta1, float(hp.step));
  const float bc2 = 1.0f - std::pow(hp.beta2, float(hp.step));
  const float step_size = hp.lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = 1.0f - hp.lr * hp.weight_decay;
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = grads[i];
    m[i] = hp.beta1 * m[i] + (1.0f - hp.beta1) * g;
    v[i] = hp.beta2 * v[i] + (1.0f - hp.beta2) * g * g;
    params[i] = params[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + hp.eps);
  }
}

}  // namespace dojo::accel
