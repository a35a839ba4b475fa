#include "accel/host_device.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "accel/host_vector.hpp"
#include "core/error.hpp"

namespace dojo::accel {

DOJO_VECTOR_CLONES
void host::to_bf16_range(std::int64_t n, const float* x, std::uint16_t* y) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] = bf16_bits(x[i]);
}
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
void blas_gemm(const GemmShape& s, const T* a, const T* b, T* c, const T* bias) {
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
    if (bias != nullptr) {
      for (std::int64_t r = 0; r < s.m; ++r) {
#pragma omp simd
        for (std::int64_t j = 0; j < s.n; ++j) ci[r * ldc + j] += bias[j];
      }
    }
  }
}

// Loops split over OpenMP threads only when a kernel is big enough to pay for the fork.
constexpr std::int64_t kParallelMinElems = kHostParallelMinElems;
// Column sums (bias and LayerNorm gradients) run down the rows in order -- so the result
// does not depend on the thread count -- with each thread owning one contiguous block of
// columns (a multiple of 16 floats, one cache line). One thread keeps whole rows.
std::int64_t column_block(std::int64_t dim, bool parallel) {
  const std::int64_t threads = parallel ? std::int64_t(omp_get_max_threads()) : 1;
  if (threads <= 1) return std::max<std::int64_t>(dim, 1);
  const std::int64_t per_thread = (dim + threads - 1) / threads;
  return std::max<std::int64_t>((per_thread + 15) / 16 * 16, 16);
}

template <typename T>
void layernorm_forward(std::int64_t rows, std::int64_t dim, float eps, const T* x, const T* gamma,
                       const T* beta, T* y, T* mean, T* rstd) {
  const bool big = rows * dim >= kParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    // Two passes in the working precision: stable enough for LayerNorm's short rows.
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < dim; ++i) sum += xr[i];
    const T mu = sum / T(dim);
    T sq = 0;
#pragma omp simd reduction(+ : sq)
    for (std::int64_t i = 0; i < dim; ++i) sq += (xr[i] - mu) * (xr[i] - mu);
    const T rs = T(1) / std::sqrt(sq / T(dim) + T(eps));
#pragma omp simd
    for (std::int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] - mu) * rs * gamma[i] + beta[i];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// dx = residual + the input gradient, or dx += it when residual is null.
template <typename T>
void layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy, const T* x, const T* mean,
                        const T* rstd, const T* gamma, const T* residual, T* dx, T* dgamma,
                        T* dbeta) {
  const bool big = rows * dim >= kParallelMinElems;
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma; rows in parallel.
#pragma omp parallel for if (big)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    const T* dyr = dy + r * dim;
    T* dxr = dx + r * dim;
    const T mu = mean[r];
    const T rs = rstd[r];
    T g_sum = 0, gx_sum = 0;
#pragma omp simd reduction(+ : g_sum, gx_sum)
    for (std::int64_t i = 0; i < dim; ++i) {
      const T g = dyr[i] * gamma[i];
      g_sum += g;
      gx_sum += g * (xr[i] - mu) * rs;
    }
    const T g_mean = g_sum / T(dim);
    const T gx_mean = gx_sum / T(dim);
    const T* base = residual != nullptr ? residual + r * dim : dxr;
#pragma omp simd
    for (std::int64_t i = 0; i < dim; ++i) {
      const T xhat = (xr[i] - mu) * rs;
      dxr[i] = base[i] + rs * (dyr[i] * gamma[i] - g_mean - xhat * gx_mean);
    }
  }
  // dgamma, dbeta: column sums in row order (deterministic); threads take column blocks.
  const std::int64_t width = column_block(dim, big);
  const std::int64_t blocks = (dim + width - 1) / width;
#pragma omp parallel for if (blocks > 1)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t c0 = blk * width, c1 = std::min(dim, c0 + width);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * dim;
      const T* dyr = dy + r * dim;
      const T mu = mean[r];
      const T rs = rstd[r];
#pragma omp simd
      for (std::int64_t i = c0; i < c1; ++i) {
        dgamma[i] += dyr[i] * (xr[i] - mu) * rs;
        dbeta[i] += dyr[i];
      }
    }
  }
}

// Elementwise loops over n elements in blocks, the blocks split over threads when big.
constexpr std::int64_t kBlockElems = 1 << 14;
template <typename F>
void for_blocks(std::int64_t n, F&& f) {
  const std::int64_t blocks = (n + kBlockElems - 1) / kBlockElems;
#pragma omp parallel for if (n >= kParallelMinElems)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t begin = blk * kBlockElems;
    f(begin, std::min(n, begin + kBlockElems));
  }
}

template <typename T>
void axpy(std::int64_t n, float alpha, const T* x, T* y) {
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
#pragma omp simd
    for (std::int64_t i = b; i < e; ++i) y[i] += T(alpha) * x[i];
  });
}

template <typename T>
void fill(std::int64_t n, T value, T* x) {
  for_blocks(n, [&](std::int64_t b, std::int64_t e) { std::fill(x + b, x + e, value); });
}

void to_bf16(std::int64_t n, const float* x, std::uint16_t* y) {
  for_blocks(n, [&](std::int64_t b, std::int64_t e) { host::to_bf16_range(e - b, x + b, y + b); });
}

// gelu'(x) = Phi(x) + x phi(x) for the exact (erf) GELU.
inline double gelu_grad(double x) {
  return 0.5 * (1.0 + std::erf(x * 0.70710678118654752440)) +
         x * 0.39894228040143267794 * std::exp(-0.5 * x * x);
}

// One row segment of the fused GELU backward: dx = dy gelu'(x), dbias += dx. Float uses
// the vectorisable erf and exp (within a few 1e-7 of libm's).
DOJO_VECTOR_CLONES
void gelu_backward_bias_segment(std::int64_t n, const float* x, const float* dy, float* dx,
                                float* dbias) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    const float xi = x[i];
    const float cdf = 0.5f * (1.0f + host::erf_approx(xi * 0.70710678f));
    const float pdf = 0.39894228f * host::exp_approx(-0.5f * xi * xi);
    const float g = dy[i] * (cdf + xi * pdf);
    dx[i] = g;
    dbias[i] += g;
  }
}
void gelu_backward_bias_segment(std::int64_t n, const double* x, const double* dy, double* dx,
                                double* dbias) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = dy[i] * gelu_grad(x[i]);
    dx[i] = g;
    dbias[i] += g;
  }
}

// Threads own blocks of columns and walk all rows in order (deterministic bias sums).
template <typename T>
void gelu_backward_bias(std::int64_t rows, std::int64_t dim, const T* x, const T* dy, T* dx,
                        T* dbias) {
  const std::int64_t width = column_block(dim, rows * dim >= kParallelMinElems);
  const std::int64_t blocks = (dim + width - 1) / width;
#pragma omp parallel for if (blocks > 1)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t c0 = blk * width, c1 = std::min(dim, c0 + width);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t at = r * dim + c0;
      gelu_backward_bias_segment(c1 - c0, x + at, dy + at, dx + at, dbias + c0);
    }
  }
}

// AdamW over one range: p = p (1 - lr wd) - lr / bc1 * m / (sqrt(v / bc2) + eps).
DOJO_VECTOR_CLONES
void adamw_range(std::int64_t n, float beta1, float beta2, float eps, float step_size,
                 float inv_sqrt_bc2, float decay, float* params, const float* grads, float* m,
                 float* v) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = grads[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

void adamw(std::int64_t n, const AdamWStep& hp, float* params, const float* grads, float* m,
           float* v) {
  const float bc1 = 1.0f - std::pow(hp.beta1, float(hp.step));
  const float bc2 = 1.0f - std::pow(hp.beta2, float(hp.step));
  const float step_size = hp.lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = 1.0f - hp.lr * hp.weight_decay;
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    adamw_range(e - b, hp.beta1, hp.beta2, hp.eps, step_size, inv_sqrt_bc2, decay, params + b,
                grads + b, m + b, v + b);
  });
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
  const bool big = rows * dim >= kParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + (r % period) * dim;
    T* yr = y + r * dim;
#pragma omp simd
    for (std::int64_t i = 0; i < dim; ++i) yr[i] += xr[i];
  }
}

template <typename T>
void sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* dy, T* dx) {
  // Rows in a fixed order (bitwise reproducible); threads take column blocks.
  const std::int64_t width = column_block(dim, rows * dim >= kParallelMinElems);
  const std::int64_t blocks = (dim + width - 1) / width;
#pragma omp parallel for if (blocks > 1)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t c0 = blk * width, c1 = std::min(dim, c0 + width);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* dyr = dy + r * dim;
      T* dxr = dx + (r % period) * dim;
#pragma omp simd
      for (std::int64_t i = c0; i < c1; ++i) dxr[i] += dyr[i];
    }
  }
}

template <typename T>
void copy_rows(std::int64_t count, std::int64_t dim, const T* src, RowIndex src_index, T* dst,
               RowIndex dst_index, bool accumulate) {
  // Accumulation may hit one destination row many times: keep it sequential.
  const bool big = !accumulate && count * dim >= kParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t i = 0; i < count; ++i) {
    const T* s = src + (src_index.empty() ? i : src_index[std::size_t(i)]) * dim;
    T* d = dst + (dst_index.empty() ? i : dst_index[std::size_t(i)]) * dim;
    if (accumulate) {
#pragma omp simd
      for (std::int64_t j = 0; j < dim; ++j) d[j] += s[j];
    } else {
      std::memcpy(d, s, std::size_t(dim) * sizeof(T));
    }
  }
}

// Walks dst in row-major order: the first dst axis is split over threads, an odometer runs
// over the middle axes, and the last axis is a strided (or, when it is also src's last
// axis, contiguous) run.
template <typename T>
void permute(std::span<const std::int64_t> src_dims, std::span<const int> perm, const T* src,
             T* dst, bool accumulate) {
  std::size_t rank = src_dims.size();
  DOJO_ASSERT(rank >= 1 && rank <= 8 && perm.size() == rank, "permute rank {}", rank);
  std::array<std::int64_t, 8> src_stride{}, dims{}, stride{};
  src_stride[rank - 1] = 1;
  for (std::size_t i = rank - 1; i > 0; --i) src_stride[i - 1] = src_stride[i] * src_dims[i];
  // dst axes, merging neighbours that are also neighbours (in order) in src: the runs
  // become long contiguous copies (patchify's (p, C) pair, attention's head_dim).
  std::size_t merged = 0;
  std::int64_t total = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    const auto ax = std::size_t(perm[i]);
    if (merged > 0 && i > 0 && perm[i] == perm[i - 1] + 1) {
      dims[merged - 1] *= src_dims[ax];
      stride[merged - 1] = src_stride[ax];
    } else {
      dims[merged] = src_dims[ax];
      stride[merged] = src_stride[ax];
      ++merged;
    }
    total *= src_dims[ax];
  }
  rank = merged;
  if (total == 0) return;
  if (rank == 1) {
    dims = {1, dims[0]};
    stride = {0, stride[0]};
  }
  const std::size_t r = std::max<std::size_t>(rank, 2);
  const std::int64_t run = dims[r - 1];
  const std::int64_t run_stride = stride[r - 1];
  const std::int64_t per_outer = total / dims[0];
  const bool big = total >= kParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t i0 = 0; i0 < dims[0]; ++i0) {
    std::array<std::int64_t, 8> idx{};
    std::int64_t offset = i0 * stride[0];
    for (std::int64_t out = i0 * per_outer; out < (i0 + 1) * per_outer; out += run) {
      const T* s = src + offset;
      T* d = dst + out;
      if (accumulate) {
        for (std::int64_t j = 0; j < run; ++j) d[j] += s[j * run_stride];
      } else if (run_stride == 1) {
#pragma omp simd
        for (std::int64_t j = 0; j < run; ++j) d[j] = s[j];
      } else {
        for (std::int64_t j = 0; j < run; ++j) d[j] = s[j * run_stride];
      }
      for (std::size_t ax = r - 1; ax-- > 1;) {
        offset += stride[ax];
        if (++idx[ax] < dims[ax]) break;
        offset -= stride[ax] * dims[ax];
        idx[ax] = 0;
      }
    }
  }
}

template <typename T>
void row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src_base,
                   RowIndex src_index, T* dst) {
  const bool big = rows * dim >= kParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* s = src_base + (src_index.empty() ? r : src_index[std::size_t(r)]) * dim;
    T* d = dst + r * dim;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < dim; ++i) sum += s[i];
    const T mu = sum / T(dim);
    T sq = 0;
#pragma omp simd reduction(+ : sq)
    for (std::int64_t i = 0; i < dim; ++i) sq += (s[i] - mu) * (s[i] - mu);
    const T inv = T(1) / (std::sqrt(sq / T(std::max<std::int64_t>(dim - 1, 1))) + T(eps));
#pragma omp simd
    for (std::int64_t i = 0; i < dim; ++i) d[i] = (s[i] - mu) * inv;
  }
}

template <typename T>
double mse_loss(std::int64_t n, const T* pred, const T* target, T* dpred, float scale) {
  // Blocks of working-precision partial sums, added in block order in double.
  constexpr std::int64_t kBlock = 4096;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  const T g = T(2.0 * double(scale) / double(std::max<std::int64_t>(n, 1)));
  std::vector<double> partial(static_cast<std::size_t>(blocks));
  const bool big = n >= kParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t begin = blk * kBlock, end = std::min(n, begin + kBlock);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = begin; i < end; ++i) {
      const T diff = pred[i] - target[i];
      sum += diff * diff;
    }
    if (dpred != nullptr) {
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) dpred[i] = g * (pred[i] - target[i]);
    }
    partial[std::size_t(blk)] = double(sum);
  }
  double sum = 0;
  for (const double p : partial) sum += p;
  return n > 0 ? sum / double(n) : 0.0;
}

}  // namespace
}  // namespace kernels

namespace {
// Float overloads go to oneDNN when it is there; double ones never do.
bool dnnl_gelu_forward(DnnlKernels* k, std::int64_t n, const float* x, float* y) {
  if (k == nullptr) return false;
  k->gelu_forward(n, x, y);
  return true;
}
bool dnnl_gelu_forward(DnnlKernels*, std::int64_t, const double*, double*) {
  return false;
}
bool dnnl_gelu_backward(DnnlKernels* k, std::int64_t n, const float* x, const float* dy,
                        float* dx) {
  if (k == nullptr) return false;
  k->gelu_backward(n, x, dy, dx);
  return true;
}
bool dnnl_gelu_backward(DnnlKernels*, std::int64_t, const double*, const double*, double*) {
  return false;
}
bool dnnl_softmax_forward(DnnlKernels* k, std::int64_t rows, std::int64_t cols, float* x) {
  if (k == nullptr) return false;
  k->softmax_forward(rows, cols, x);
  return true;
}
bool dnnl_softmax_forward(DnnlKernels*, std::int64_t, std::int64_t, double*) {
  return false;
}
bool dnnl_softmax_backward(DnnlKernels* k, std::int64_t rows, std::int64_t cols, const float* y,
                           const float* dy, float* dx) {
  if (k == nullptr) return false;
  k->softmax_backward(rows, cols, y, dy, dx);
  return true;
}
bool dnnl_softmax_backward(DnnlKernels*, std::int64_t, std::int64_t, const double*, const double*,
                           double*) {
  return false;
}
}  // namespace

HostDevice::HostDevice(HostDeviceOptions options) : Device(options.dry_run), options_(options) {
  DOJO_CHECK(options.threads >= 1, InvalidArgument,
             "HostDevice: threads must be at least 1, got {}", options.threads);
  set_precision(options.precision);
  if (!options.dry_run) {
    openblas_set_num_threads(options.threads);
    omp_set_num_threads(options.threads);
    dnnl_ = std::make_unique<DnnlKernels>();
  }
}

HostDevice::~HostDevice() = default;

void HostDevice::run_gemm(const GemmShape& s, const float* a, const float* b, float* c,
                          const float* bias, const std::uint16_t* b_bf16) {
  const bool bf16 = precision() == Precision::kBf16;
  if (bf16 || options_.gemm == GemmBackend::kOneDnn) {
    dnnl_->gemm(s, a, b, c, bias, bf16, b_bf16);
    return;
  }
  kernels::blas_gemm(s, a, b, c, bias);
}

void HostDevice::run_to_bf16(std::int64_t n, const float* x, std::uint16_t* y) {
  forget_bf16_copies();
  kernels::to_bf16(n, x, y);
}

void HostDevice::run_gemm(const GemmShape& s, const double* a, const double* b, double* c,
                          const double* bias) {
  kernels::blas_gemm(s, a, b, c, bias);
}

#define DOJO_HOST_RUN_DEF(T)                                                                       \
  void HostDevice::run_layernorm_forward(std::int64_t rows, std::int64_t dim, float eps,           \
                                         const T* x, const T* gamma, const T* beta, T* y, T* mean, \
                                         T* rstd) {                                                \
    forget_bf16_copies();                                                                          \
    kernels::layernorm_forward(rows, dim, eps, x, gamma, beta, y, mean, rstd);                     \
  }                                                                                                \
  void HostDevice::run_layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy,        \
                                          const T* x, const T* mean, const T* rstd,                \
                                          const T* gamma, T* dx, T* dgamma, T* dbeta) {            \
    forget_bf16_copies();                                                                          \
    kernels::layernorm_backward<T>(rows, dim, dy, x, mean, rstd, gamma, nullptr, dx, dgamma,       \
                                   dbeta);                                                         \
  }                                                                                                \
  void HostDevice::run_layernorm_backward_residual(                                                \
      std::int64_t rows, std::int64_t dim, const T* dy, const T* x, const T* mean, const T* rstd,  \
      const T* gamma, const T* dresidual, T* dx, T* dgamma, T* dbeta) {                            \
    forget_bf16_copies();                                                                          \
    kernels::layernorm_backward(rows, dim, dy, x, mean, rstd, gamma, dresidual, dx, dgamma,        \
                                dbeta);                                                            \
  }                                                                                                \
  void HostDevice::run_gelu_backward_bias(std::int64_t rows, std::int64_t dim, const T* x,         \
                                          const T* dy, T* dx, T* dbias) {                          \
    forget_bf16_copies();                                                                          \
    kernels::gelu_backward_bias(rows, dim, x, dy, dx, dbias);                                      \
  }                                                                                                \
  void HostDevice::run_gelu_forward(std::int64_t n, const T* x, T* y) {                            \
    forget_bf16_copies();                                                                          \
    if (!dnnl_gelu_forward(dnnl_.get(), n, x, y)) kernels::gelu_forward(n, x, y);                  \
  }                                                                                                \
  void HostDevice::run_gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx) {             \
    forget_bf16_copies();                                                                          \
    if (!dnnl_gelu_backward(dnnl_.get(), n, x, dy, dx)) kernels::gelu_backward(n, x, dy, dx);      \
  }                                                                                                \
  void HostDevice::run_softmax_forward(std::int64_t rows, std::int64_t cols, T* x) {               \
    forget_bf16_copies();                                                                          \
    if (!dnnl_softmax_forward(dnnl_.get(), rows, cols, x))                                         \
      kernels::softmax_forward(rows, cols, x);                                                     \
  }                                                                                                \
  void HostDevice::run_softmax_backward(std::int64_t rows, std::int64_t cols, const T* y,          \
                                        const T* dy, T* dx) {                                      \
    forget_bf16_copies();                                                                          \
    if (!dnnl_softmax_backward(dnnl_.get(), rows, cols, y, dy, dx))                                \
      kernels::softmax_backward(rows, cols, y, dy, dx);                                            \
  }                                                                                                \
  void HostDevice::run_add_rows(std::int64_t rows, std::int64_t period, std::int64_t dim,          \
                                const T* x, T* y) {                                                \
    forget_bf16_copies();                                                                          \
    kernels::add_rows(rows, period, dim, x, y);                                                    \
  }                                                                                                \
  void HostDevice::run_sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim,          \
                                const T* dy, T* dx) {                                              \
    forget_bf16_copies();                                                                          \
    kernels::sum_rows(rows, period, dim, dy, dx);                                                  \
  }                                                                                                \
  void HostDevice::run_axpy(std::int64_t n, float alpha, const T* x, T* y) {                       \
    forget_bf16_copies();                                                                          \
    kernels::axpy(n, alpha, x, y);                                                                 \
  }                                                                                                \
  void HostDevice::run_fill(std::int64_t n, T value, T* x) {                                       \
    forget_bf16_copies();                                                                          \
    kernels::fill(n, value, x);                                                                    \
  }                                                                                                \
  void HostDevice::run_copy_rows(std::int64_t count, std::int64_t dim, const T* src,               \
                                 RowIndex src_index, T* dst, RowIndex dst_index,                   \
                                 bool accumulate) {                                                \
    forget_bf16_copies();                                                                          \
    kernels::copy_rows(count, dim, src, src_index, dst, dst_index, accumulate);                    \
  }                                                                                                \
  void HostDevice::run_permute(std::span<const std::int64_t> src_dims, std::span<const int> perm,  \
                               const T* src, T* dst, bool accumulate) {                            \
    forget_bf16_copies();                                                                          \
    kernels::permute(src_dims, perm, src, dst, accumulate);                                        \
  }                                                                                                \
  void HostDevice::run_row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src, \
                                     RowIndex src_index, T* dst) {                                 \
    forget_bf16_copies();                                                                          \
    kernels::row_normalize(rows, dim, eps, src, src_index, dst);                                   \
  }                                                                                                \
  double HostDevice::run_mse_loss(std::int64_t n, const T* pred, const T* target, T* dpred,        \
                                  float scale) {                                                   \
    forget_bf16_copies();                                                                          \
    return kernels::mse_loss(n, pred, target, dpred, scale);                                       \
  }
DOJO_HOST_RUN_DEF(float)
DOJO_HOST_RUN_DEF(double)
#undef DOJO_HOST_RUN_DEF

void HostDevice::run_adamw(std::int64_t n, const AdamWStep& hp, float* params, const float* grads,
                           float* m, float* v) {
  forget_bf16_copies();
  kernels::adamw(n, hp, params, grads, m, v);
}

}  // namespace dojo::accel
