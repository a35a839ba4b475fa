#pragma once
// Small pieces the HostDevice's vector loops share (part of host_device; not for other
// libraries): bfloat16 rounding, a vectorisable exp and erf, and the attribute that builds
// a loop for AVX-512 and AVX2 as well as the portable baseline.
#include <bit>
#include <cstdint>

namespace dojo::accel::host {

// The hot loops are built for AVX-512 and AVX2 too and picked at load time by the CPU
// (GCC function multiversioning), so the default build stays portable.
#define DOJO_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// Round to nearest even, as oneDNN's reorders do; inputs are finite.
inline std::uint16_t bf16_bits(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}

// y[i] = bf16_bits(x[i]), vectorised, on the calling thread (host_device.cpp).
void to_bf16_range(std::int64_t n, const float* x, std::uint16_t* y);

// e^x to a few float ulps for x <= 88, as plain arithmetic the compiler vectorises
// (libm's expf is a call per element): e^x = 2^r e^f with r = round(x / ln 2), |f| <=
// ln 2 / 2 (ln 2 split in two for the reduction), and Cephes' expf polynomial. Inputs
// below -87 give e^-87 (about 1.6e-38) rather than a denormal.
inline float exp_approx(float x) {
  // Value selects, not std::min/max (their references keep GCC from if-converting the loop).
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float r = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float f = (x - r * 0.693359375f) + r * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * f + 1.3981999507e-3f;
  y = y * f + 8.3334519073e-3f;
  y = y * f + 4.1665795894e-2f;
  y = y * f + 1.6666665459e-1f;
  y = y * f + 5.0000001201e-1f;
  y = y * f * f + f + 1.0f;
  return y * std::bit_cast<float>(std::uint32_t(std::int32_t(r) + 127) << 23);
}

// erf(x) within 1.5e-7 absolute (Abramowitz and Stegun 7.1.26), vectorisable.
inline float erf_approx(float x) {
  float a = x < 0.0f ? -x : x;
  a = a > 10.0f ? 10.0f : a;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float y = 1.061405429f;
  y = y * t - 1.453152027f;
  y = y * t + 1.421413741f;
  y = y * t - 0.284496736f;
  y = y * t + 0.254829592f;
  const float e = 1.0f - y * t * exp_approx(-a * a);
  return x < 0.0f ? -e : e;
}

}  // namespace dojo::accel::host
