#include "accel/host_device_dnnl.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <unordered_map>
#include <vector>

#include "accel/host_vector.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace dojo::accel {

using dnnl::memory;
using dt = dnnl::memory::data_type;

namespace {

// How a GEMM operand lies in memory: `batch` blocks `batch_stride` apart, each `outer`
// runs of `inner` contiguous values `ld` apart (a row-major matrix: outer = rows; a
// transposed one: outer = columns).
struct StoredMatrix {
  std::int64_t batch = 0, outer = 0, inner = 0, ld = 0, batch_stride = 0;
};

struct GemmPlan {
  dnnl::matmul matmul;
  memory::desc a, b, c;                   // the caller's float layouts
  memory::desc bias;                      // (1, 1, n) when the plan adds a bias
  bool a_dense = false, b_dense = false;  // operand has no gaps (its bf16 copy is cacheable)
  memory::desc a_bf16, b_bf16;            // packed bf16 copies (bf16 plans only)
  dnnl::reorder to_bf16_a, to_bf16_b;
  // A bf16 plan on a CPU where oneDNN has no bf16 matmul (it needs AVX-512, AVX-512 BF16 or
  // AMX): the packed bf16 operands are widened back to float (exactly) and multiplied by an
  // fp32 matmul in these layouts. The products of bf16 values are exact in float and the
  // sums are float either way, so the result is a bf16 GEMM's, at fp32 speed.
  // Such plans also make their bf16 copies themselves: oneDNN's f32 -> bf16 reorder there
  // is its reference loop, which made these GEMMs 10-30x slower than the multiply.
  bool widen_bf16 = false;
  memory::desc a_wide, b_wide;
  StoredMatrix a_stored, b_stored;
};

struct EltwisePlan {
  dnnl::eltwise_forward forward;
  dnnl::eltwise_backward backward;
  memory::desc desc;
};

struct SoftmaxPlan {
  dnnl::softmax_forward forward;
  dnnl::softmax_backward backward;
  memory::desc desc;
};

// 3-D (batch, rows, cols) descriptor of a row-major matrix stored with leading dimension
// `ld` (transposed: stored as (cols, rows)).
memory::desc matrix_desc(std::int64_t batch, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                         std::int64_t batch_stride, bool transposed, dt type) {
  const std::int64_t stride = batch > 1 ? batch_stride : rows * cols;
  if (transposed) return memory::desc({batch, rows, cols}, type, {stride, 1, ld});
  return memory::desc({batch, rows, cols}, type, {stride, ld, 1});
}

// bf16 bit patterns to float, exactly (the low 16 bits of the float are zero).
DOJO_VECTOR_CLONES void widen_bf16_range(const std::uint16_t* in, std::int64_t n, float* out) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(std::uint32_t(in[i]) << 16);
}

void widen_bf16(const std::uint16_t* in, std::size_t count, float* out) {
  constexpr std::int64_t kBlock = 1 << 15;
  const auto n = static_cast<std::int64_t>(count);
#pragma omp parallel for if (n >= 4 * kBlock)
  for (std::int64_t b = 0; b < n; b += kBlock)
    widen_bf16_range(in + b, std::min(kBlock, n - b), out + b);
}

// The operand `m` at `src` into packed bf16 (outer x inner per block, blocks back to back).
void pack_bf16(const StoredMatrix& m, const float* src, std::uint16_t* dst) {
  const std::int64_t runs = m.batch * m.outer;
#pragma omp parallel for if (runs * m.inner >= (1 << 16))
  for (std::int64_t r = 0; r < runs; ++r) {
    const std::int64_t b = r / m.outer, o = r % m.outer;
    host::to_bf16_range(m.inner, src + b * m.batch_stride + o * m.ld, dst + r * m.inner);
  }
}

std::string gemm_key(const GemmShape& s, bool bias, bool bf16) {
  return fmt::format("{}{}{}{}:{},{},{}:{},{},{}:{},{},{},{}:{},{}", bias, bf16, s.trans_a,
                     s.trans_b, s.m, s.n, s.k, s.lda, s.ldb, s.ldc, s.batch, s.stride_a, s.stride_b,
                     s.stride_c, s.alpha, s.beta);
}

}  // namespace

struct DnnlKernels::State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::unordered_map<std::string, GemmPlan> gemms;
  std::unordered_map<std::int64_t, EltwisePlan> gelus;
  std::unordered_map<std::string, SoftmaxPlan> softmaxes;
  // bf16 copies of recent dense operands, in the source's memory order (so a copy made
  // for one orientation serves the other: linear backward's dy feeds dW as dy^T and dx as
  // dy). Valid until the source may have changed: HostDevice drops them all before every
  // non-GEMM kernel, and a GEMM drops those its output overlaps.
  struct Bf16Copy {
    const float* src = nullptr;  // null: free
    std::size_t count = 0;
    std::uint64_t last_use = 0;
    std::vector<std::uint16_t> data;
  };
  std::array<Bf16Copy, 4> copies;
  std::uint64_t uses = 0;
  std::vector<float> wide_a, wide_b;  // widened operands of plans with widen_bf16

  // The bf16 version of operand `src` (float layout `from`, bf16 layout `to`).
  std::uint16_t* bf16_operand(const float* src, std::size_t count, bool dense,
                              const dnnl::reorder& reorder, const memory::desc& from,
                              const memory::desc& to, const StoredMatrix* ours) {
    ++uses;
    if (dense) {
      for (Bf16Copy& c : copies) {
        if (c.src == src && c.count == count) {
          c.last_use = uses;
          return c.data.data();
        }
      }
    }
    // The least recently used slot: never the one this GEMM's other operand just took
    // (cacheable or not), which holds the newest tick.
    Bf16Copy* slot = &copies[0];
    for (Bf16Copy& c : copies) {
      if (c.last_use < slot->last_use) slot = &c;
    }
    slot->data.resize(count);
    slot->src = dense ? src : nullptr;
    slot->count = count;
    slot->last_use = uses;
    if (ours != nullptr) {
      pack_bf16(*ours, src, slot->data.data());
    } else {
      memory msrc(from, engine, const_cast<float*>(src));
      memory mdst(to, engine, slot->data.data());
      reorder.execute(stream, msrc, mdst);
    }
    return slot->data.data();
  }

  void forget_overlapping(const float* begin, const float* end) {
    const auto lo = reinterpret_cast<std::uintptr_t>(begin);
    const auto hi = reinterpret_cast<std::uintptr_t>(end);
    for (Bf16Copy& c : copies) {
      const auto src = reinterpret_cast<std::uintptr_t>(c.src);
      if (c.src != nullptr && src < hi && lo < src + c.count * sizeof(float)) c.src = nullptr;
    }
  }

  GemmPlan& gemm_plan(const GemmShape& s, bool bias, bool bf16) {
    const std::string key = gemm_key(s, bias, bf16);
    auto it = gemms.find(key);
    if (it != gemms.end()) return it->second;
    try {
      return gemms.emplace(key, make_gemm_plan(s, bias, bf16)).first->second;
    } catch (const dnnl::error& e) {
      throw Error(fmt::format("oneDNN cannot run a {} GEMM of {}x{}x{} (batch {}) on this CPU: {}",
                              bf16 ? "bf16" : "fp32", s.m, s.n, s.k, s.batch, e.what()));
    }
  }

  GemmPlan make_gemm_plan(const GemmShape& s, bool bias, bool bf16) {
    DOJO_ASSERT(s.beta == 0.0f || s.beta == 1.0f, "gemm beta {} is not 0 or 1", s.beta);
    const std::int64_t lda = s.lda ? s.lda : (s.trans_a ? s.m : s.k);
    const std::int64_t ldb = s.ldb ? s.ldb : (s.trans_b ? s.k : s.n);
    const std::int64_t ldc = s.ldc ? s.ldc : s.n;
    GemmPlan plan;
    plan.a = matrix_desc(s.batch, s.m, s.k, lda, s.stride_a, s.trans_a, dt::f32);
    plan.b = matrix_desc(s.batch, s.k, s.n, ldb, s.stride_b, s.trans_b, dt::f32);
    plan.c = matrix_desc(s.batch, s.m, s.n, ldc, s.stride_c, false, dt::f32);
    dnnl::primitive_attr attr;
    if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
    if (s.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(s.beta);
      attr.set_post_ops(ops);
    }
    memory::desc a = plan.a, b = plan.b;
    if (bf16) {
      // Packed bf16 copies keep the caller's orientation so the conversion is a straight
      // pass over memory.
      plan.a_bf16 =
          matrix_desc(s.batch, s.m, s.k, s.trans_a ? s.m : s.k, s.m * s.k, s.trans_a, dt::bf16);
      plan.b_bf16 =
          matrix_desc(s.batch, s.k, s.n, s.trans_b ? s.k : s.n, s.k * s.n, s.trans_b, dt::bf16);
      plan.a_dense = lda == (s.trans_a ? s.m : s.k) && (s.batch == 1 || s.stride_a == s.m * s.k);
      plan.b_dense = ldb == (s.trans_b ? s.k : s.n) && (s.batch == 1 || s.stride_b == s.k * s.n);
      a = plan.a_bf16;
      b = plan.b_bf16;
    }
    if (bias) plan.bias = memory::desc({1, 1, s.n}, dt::f32, memory::format_tag::abc);
    const auto make = [&](const memory::desc& ma, const memory::desc& mb) {
      if (bias) {
        const dnnl::matmul::desc desc(ma, mb, plan.bias, plan.c);
        return dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, engine));
      }
      const dnnl::matmul::desc desc(ma, mb, plan.c);
      return dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, engine));
    };
    try {
      plan.matmul = make(a, b);
    } catch (const dnnl::error& e) {
      if (!bf16 || e.status != dnnl_unimplemented) throw;
      plan.widen_bf16 = true;
      plan.a_stored = {s.batch, s.trans_a ? s.k : s.m, s.trans_a ? s.m : s.k, lda,
                       s.batch > 1 ? s.stride_a : 0};
      plan.b_stored = {s.batch, s.trans_b ? s.n : s.k, s.trans_b ? s.k : s.n, ldb,
                       s.batch > 1 ? s.stride_b : 0};
      plan.a_wide =
          matrix_desc(s.batch, s.m, s.k, s.trans_a ? s.m : s.k, s.m * s.k, s.trans_a, dt::f32);
      plan.b_wide =
          matrix_desc(s.batch, s.k, s.n, s.trans_b ? s.k : s.n, s.k * s.n, s.trans_b, dt::f32);
      plan.matmul = make(plan.a_wide, plan.b_wide);
      static const bool said = [] {
        log::warn("oneDNN has no bf16 matmul on this CPU (it needs AVX-512, AVX-512 BF16 or "
                 "AMX): bf16 GEMMs run as fp32 GEMMs of the bf16-rounded operands (the same "
                 "results, no bf16 speed-up)");
        return true;
      }();
      (void)said;
    }
    if (bf16 && !plan.widen_bf16) {  // widened plans pack their operands themselves
      plan.to_bf16_a =
          dnnl::reorder(dnnl::reorder::primitive_desc(engine, plan.a, engine, plan.a_bf16));
      plan.to_bf16_b =
          dnnl::reorder(dnnl::reorder::primitive_desc(engine, plan.b, engine, plan.b_bf16));
    }
    return plan;
  }

  // Runs `plan` on packed bf16 operands, widening them first when the plan needs it.
  void run_bf16(GemmPlan& plan, const std::uint16_t* a16, const std::uint16_t* b16,
                std::unordered_map<int, memory>& args) {
    if (!plan.widen_bf16) {
      args[DNNL_ARG_SRC] = memory(plan.a_bf16, engine, const_cast<std::uint16_t*>(a16));
      args[DNNL_ARG_WEIGHTS] = memory(plan.b_bf16, engine, const_cast<std::uint16_t*>(b16));
    } else {
      const std::size_t na = plan.a_wide.get_size() / sizeof(float);
      const std::size_t nb = plan.b_wide.get_size() / sizeof(float);
      wide_a.resize(na);
      wide_b.resize(nb);
      widen_bf16(a16, na, wide_a.data());
      widen_bf16(b16, nb, wide_b.data());
      args[DNNL_ARG_SRC] = memory(plan.a_wide, engine, wide_a.data());
      args[DNNL_ARG_WEIGHTS] = memory(plan.b_wide, engine, wide_b.data());
    }
    plan.matmul.execute(stream, args);
  }
};

DnnlKernels::DnnlKernels() : state_(std::make_unique<State>()) {}
DnnlKernels::~DnnlKernels() = default;

void DnnlKernels::gemm(const GemmShape& s, const float* a, const float* b, float* c,
                       const float* bias, bool bf16, const std::uint16_t* b_bf16) {
  if (bias != nullptr && s.alpha != 1.0f) {
    // oneDNN scales the bias along with the product; add it separately instead.
    gemm(s, a, b, c, nullptr, bf16, b_bf16);
    const std::int64_t ldc = s.ldc ? s.ldc : s.n;
    for (std::int64_t i = 0; i < s.batch; ++i) {
      for (std::int64_t r = 0; r < s.m; ++r) {
        float* row = c + i * s.stride_c + r * ldc;
        for (std::int64_t j = 0; j < s.n; ++j) row[j] += bias[j];
      }
    }
    return;
  }
  State& st = *state_;
  GemmPlan& plan = st.gemm_plan(s, bias != nullptr, bf16);
  memory ma(plan.a, st.engine, const_cast<float*>(a));
  memory mb(plan.b, st.engine, const_cast<float*>(b));
  memory mc(plan.c, st.engine, c);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
  if (bias != nullptr) {
    args.emplace(DNNL_ARG_BIAS, memory(plan.bias, st.engine, const_cast<float*>(bias)));
  }
  if (bf16) {
    const std::size_t a_count = std::size_t(s.batch * s.m * s.k);
    const std::size_t b_count = std::size_t(s.batch * s.k * s.n);
    std::uint16_t* a16 = st.bf16_operand(a, a_count, plan.a_dense, plan.to_bf16_a, plan.a,
                                         plan.a_bf16, plan.widen_bf16 ? &plan.a_stored : nullptr);
    const std::uint16_t* b16 =
        b_bf16 != nullptr && plan.b_dense
            ? b_bf16
            : st.bf16_operand(b, b_count, plan.b_dense, plan.to_bf16_b, plan.b, plan.b_bf16,
                              plan.widen_bf16 ? &plan.b_stored : nullptr);
    st.run_bf16(plan, a16, b16, args);
  } else {
    plan.matmul.execute(st.stream, args);
  }
  st.stream.wait();
  const std::int64_t ldc = s.ldc ? s.ldc : s.n;
  st.forget_overlapping(c, c + (s.batch - 1) * s.stride_c + (s.m - 1) * ldc + s.n);
}

void DnnlKernels::packed_gemm(const GemmShape& s, const void* a, const void* b, float* c,
                              bool bf16) {
  DOJO_ASSERT(s.lda == 0 && s.ldb == 0 && s.ldc == 0, "packed_gemm with leading dimensions");
  State& st = *state_;
  GemmPlan& plan = st.gemm_plan(s, false, bf16);
  std::unordered_map<int, memory> args = {{DNNL_ARG_DST, memory(plan.c, st.engine, c)}};
  if (bf16) {
    st.run_bf16(plan, static_cast<const std::uint16_t*>(a), static_cast<const std::uint16_t*>(b),
                args);
  } else {
    args.emplace(DNNL_ARG_SRC, memory(plan.a, st.engine, const_cast<void*>(a)));
    args.emplace(DNNL_ARG_WEIGHTS, memory(plan.b, st.engine, const_cast<void*>(b)));
    plan.matmul.execute(st.stream, args);
  }
  st.stream.wait();
}

void DnnlKernels::forget_bf16_copies() {
  for (State::Bf16Copy& c : state_->copies) c.src = nullptr;
}

namespace {

EltwisePlan& gelu_plan(DnnlKernels::State& st, std::int64_t n) {
  auto it = st.gelus.find(n);
  if (it != st.gelus.end()) return it->second;
  EltwisePlan plan;
  plan.desc = memory::desc({n}, dt::f32, memory::format_tag::a);
  const dnnl::eltwise_forward::desc fd(dnnl::prop_kind::forward_training,
                                       dnnl::algorithm::eltwise_gelu_erf, plan.desc, 0.0f, 0.0f);
  const dnnl::eltwise_forward::primitive_desc fpd(fd, st.engine);
  plan.forward = dnnl::eltwise_forward(fpd);
  const dnnl::eltwise_backward::desc bd(dnnl::algorithm::eltwise_gelu_erf, plan.desc, plan.desc,
                                        0.0f, 0.0f);
  plan.backward =
      dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(bd, st.engine, fpd));
  return st.gelus.emplace(n, std::move(plan)).first->second;
}

SoftmaxPlan& softmax_plan(DnnlKernels::State& st, std::int64_t rows, std::int64_t cols) {
  const std::string key = fmt::format("{}x{}", rows, cols);
  auto it = st.softmaxes.find(key);
  if (it != st.softmaxes.end()) return it->second;
  SoftmaxPlan plan;
  plan.desc = memory::desc({rows, cols}, dt::f32, memory::format_tag::ab);
  const dnnl::softmax_forward::desc fd(dnnl::prop_kind::forward_training, plan.desc, 1);
  const dnnl::softmax_forward::primitive_desc fpd(fd, st.engine);
  plan.forward = dnnl::softmax_forward(fpd);
  const dnnl::softmax_backward::desc bd(plan.desc, plan.desc, 1);
  plan.backward =
      dnnl::softmax_backward(dnnl::softmax_backward::primitive_desc(bd, st.engine, fpd));
  return st.softmaxes.emplace(key, std::move(plan)).first->second;
}

}  // namespace

void DnnlKernels::gelu_forward(std::int64_t n, const float* x, float* y) {
  State& st = *state_;
  EltwisePlan& plan = gelu_plan(st, n);
  memory mx(plan.desc, st.engine, const_cast<float*>(x));
  memory my(plan.desc, st.engine, y);
  plan.forward.execute(st.stream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, my}});
  st.stream.wait();
}

void DnnlKernels::gelu_backward(std::int64_t n, const float* x, const float* dy, float* dx) {
  State& st = *state_;
  EltwisePlan& plan = gelu_plan(st, n);
  memory mx(plan.desc, st.engine, const_cast<float*>(x));
  memory mdy(plan.desc, st.engine, const_cast<float*>(dy));
  memory mdx(plan.desc, st.engine, dx);
  plan.backward.execute(st.stream,
                        {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_SRC, mdx}});
  st.stream.wait();
}

void DnnlKernels::softmax_forward(std::int64_t rows, std::int64_t cols, float* x) {
  State& st = *state_;
  SoftmaxPlan& plan = softmax_plan(st, rows, cols);
  memory mx(plan.desc, st.engine, x);
  plan.forward.execute(st.stream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, mx}});
  st.stream.wait();
}

void DnnlKernels::softmax_backward(std::int64_t rows, std::int64_t cols, const float* y,
                                   const float* dy, float* dx) {
  State& st = *state_;
  SoftmaxPlan& plan = softmax_plan(st, rows, cols);
  memory my(plan.desc, st.engine, const_cast<float*>(y));
  memory mdy(plan.desc, st.engine, const_cast<float*>(dy));
  memory mdx(plan.desc, st.engine, dx);
  plan.backward.execute(st.stream,
                        {{DNNL_ARG_DST, my}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_SRC, mdx}});
  st.stream.wait();
}

}  // namespace dojo::accel
