// The HostDevice's tubelet kernels: gathering tubelet rows straight out of clips, and the
// masked-tubelet loss that normalises its targets on the fly (Device::gather_tubelets,
// Device::tubelet_mse_loss). A tubelet is tubelet_frames x patch rows of patch x channels
// contiguous pixels in the clip, so both walk runs of patch * channels elements.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "accel/host_device.hpp"
#include "core/error.hpp"

namespace dojo::accel {
// A named namespace: inside HostDevice the unqualified names would find Device's members.
namespace tubelet_kernels {
namespace {

// Copies tubelet `row` (over batch * tokens) of clips into out (row_elems).
template <typename T>
void copy_tubelet(const TubeletDims& g, const T* clips, std::int64_t row, T* out) {
  const std::int64_t tokens = g.tokens();
  const std::int64_t b = row / tokens, token = row % tokens;
  const std::int64_t it = g.token_slot(token), ih = g.token_row(token), iw = g.token_col(token);
  const std::int64_t run = g.patch * g.channels;
  for (std::int64_t f = 0; f < g.tubelet_frames; ++f) {
    const std::int64_t frame = b * g.frames + it * g.tubelet_frames + f;
    for (std::int64_t y = 0; y < g.patch; ++y) {
      const T* src = clips + ((frame * g.height + ih * g.patch + y) * g.width + iw * g.patch) *
                                 g.channels;
      std::memcpy(out, src, std::size_t(run) * sizeof(T));
      out += run;
    }
  }
}

// Checked before the parallel loops (an exception must not leave an OpenMP region).
void check_rows(const TubeletDims& g, RowIndex rows) {
  for (const std::int64_t r : rows) {
    DOJO_ASSERT(r >= 0 && r < g.batch * g.tokens(), "tubelet row {} outside {} rows", r,
                g.batch * g.tokens());
  }
}

template <typename T>
void gather_tubelets(const TubeletDims& g, const T* clips, RowIndex rows, T* dst) {
  check_rows(g, rows);
  const std::int64_t count = std::int64_t(rows.size()), p = g.row_elems();
  const bool big = count * p >= kHostParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t i = 0; i < count; ++i) {
    copy_tubelet(g, clips, rows[std::size_t(i)], dst + i * p);
  }
}

// Per row: gather the tubelet (into a cache-resident buffer), its mean and unbiased std,
// then the squared error and gradient against the standardised pixels. Rows' sums are
// added in row order in double, so the loss does not depend on the thread count.
template <typename T>
double tubelet_mse_loss(const TubeletDims& g, float eps, const T* pred, const T* clips,
                        RowIndex rows, T* dpred, float scale) {
  const std::int64_t count = std::int64_t(rows.size()), p = g.row_elems();
  const double n = double(count * p);
  if (count == 0) return 0.0;
  check_rows(g, rows);
  const T grad_scale = T(2.0 * double(scale) / n);
  std::vector<double> partial(static_cast<std::size_t>(count));
  const bool big = count * p >= kHostParallelMinElems;
#pragma omp parallel if (big)
  {
    std::vector<T> tubelet(static_cast<std::size_t>(p));
    T* t = tubelet.data();
#pragma omp for
    for (std::int64_t i = 0; i < count; ++i) {
      copy_tubelet(g, clips, rows[std::size_t(i)], t);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (std::int64_t j = 0; j < p; ++j) sum += t[j];
      const T mu = sum / T(p);
      T sq = 0;
#pragma omp simd reduction(+ : sq)
      for (std::int64_t j = 0; j < p; ++j) sq += (t[j] - mu) * (t[j] - mu);
      const T inv = T(1) / (std::sqrt(sq / T(std::max<std::int64_t>(p - 1, 1))) + T(eps));
      const T* pr = pred + i * p;
      T err = 0;
      if (dpred != nullptr) {
        T* d = dpred + i * p;
#pragma omp simd reduction(+ : err)
        for (std::int64_t j = 0; j < p; ++j) {
          const T diff = pr[j] - (t[j] - mu) * inv;
          err += diff * diff;
          d[j] = grad_scale * diff;
        }
      } else {
#pragma omp simd reduction(+ : err)
        for (std::int64_t j = 0; j < p; ++j) {
          const T diff = pr[j] - (t[j] - mu) * inv;
          err += diff * diff;
        }
      }
      partial[std::size_t(i)] = double(err);
    }
  }
  double total = 0;
  for (const double e : partial) total += e;
  return total / n;
}

}  // namespace
}  // namespace tubelet_kernels

#define DOJO_HOST_TUBELET_DEF(T)                                                                  \
  void HostDevice::run_gather_tubelets(const TubeletDims& g, const T* clips, RowIndex rows,       \
                                       T* dst) {                                                  \
    forget_bf16_copies();                                                                         \
    tubelet_kernels::gather_tubelets(g, clips, rows, dst);                                                         \
  }                                                                                               \
  double HostDevice::run_tubelet_mse_loss(const TubeletDims& g, float eps, const T* pred,         \
                                          const T* clips, RowIndex rows, T* dpred, float scale) { \
    forget_bf16_copies();                                                                         \
    return tubelet_kernels::tubelet_mse_loss(g, eps, pred, clips, rows, dpred, scale);                             \
  }
DOJO_HOST_TUBELET_DEF(float)
DOJO_HOST_TUBELET_DEF(double)
#undef DOJO_HOST_TUBELET_DEF

}  // namespace dojo::accel
