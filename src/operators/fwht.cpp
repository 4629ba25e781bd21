// Fast Walsh–Hadamard transform. The butterflies of stages h = 1 and 2 are
// fused into a radix-4 step on each group of four; every later stage is a
// contiguous add/sub over runs of h ≥ 4 elements, which the compiler
// vectorizes. Rows longer than a cache block first run all stages h < block
// inside each block (so those stages stay in L1), then the long stages.
// The kernel is compiled twice (AVX2 and baseline) and chosen at load time,
// so the installed library needs no -march flag.

#include <lowdim/fwht.hpp>

#include "detail/fwht_kernel.hpp"

#include <cmath>

namespace lowdim {
namespace detail {
namespace {

template <class T>
[[gnu::always_inline]] inline void stage(T* __restrict x, std::int64_t m, std::int64_t h) noexcept {
  for (std::int64_t i = 0; i < m; i += 2 * h) {
    T* __restrict a = x + i;
    T* __restrict b = x + i + h;
    for (std::int64_t j = 0; j < h; ++j) {
      const T u = a[j], v = b[j];
      a[j] = u + v;
      b[j] = u - v;
    }
  }
}

// Stages h = 1 and h = 2 together on each group of four elements.
template <class T>
[[gnu::always_inline]] inline void radix4(T* __restrict x, std::int64_t m) noexcept {
  for (std::int64_t i = 0; i < m; i += 4) {
    const T a0 = x[i], a1 = x[i + 1], a2 = x[i + 2], a3 = x[i + 3];
    const T b0 = a0 + a1, b1 = a0 - a1, b2 = a2 + a3, b3 = a2 - a3;
    x[i] = b0 + b2;
    x[i + 1] = b1 + b3;
    x[i + 2] = b0 - b2;
    x[i + 3] = b1 - b3;
  }
}

// All stages h < m on a block of length m (a power of two).
template <class T>
[[gnu::always_inline]] inline void small_transform(T* __restrict x, std::int64_t m) noexcept {
  if (m == 1) return;
  if (m == 2) {
    const T u = x[0], v = x[1];
    x[0] = u + v;
    x[1] = u - v;
    return;
  }
  radix4(x, m);
  for (std::int64_t h = 4; h < m; h *= 2) stage(x, m, h);
}

template <class T>
[[gnu::always_inline]] inline void transform(T* __restrict x, std::int64_t m) noexcept {
  // 2048 floats (8 KiB) or doubles (16 KiB) stay in L1 through their stages.
  constexpr std::int64_t kBlock = 2048;
  if (m <= kBlock) {
    small_transform(x, m);
    return;
  }
  for (std::int64_t b = 0; b < m; b += kBlock) small_transform(x + b, kBlock);
  for (std::int64_t h = kBlock; h < m; h *= 2) stage(x, m, h);
}

}  // namespace

[[gnu::target_clones("avx2", "default")]] void fwht_row(float* x, std::int64_t m) noexcept { transform(x, m); }
[[gnu::target_clones("avx2", "default")]] void fwht_row(double* x, std::int64_t m) noexcept { transform(x, m); }

}  // namespace detail

std::int64_t next_power_of_two(std::int64_t m) {
  LOWDIM_CHECK(m >= 1 && m <= (std::int64_t{1} << 62), "next_power_of_two: {} is outside [1, 2^62]", m);
  std::int64_t p = 1;
  while (p < m) p *= 2;
  return p;
}

namespace {
template <class T>
void transform_rows(MatrixView<T> x, bool normalize, const char* name) {
  LOWDIM_CHECK(is_power_of_two(x.cols()) || x.rows() == 0,
               "{}: row length {} is not a power of two (pad with zeros to {})", name, x.cols(),
               x.cols() >= 1 ? next_power_of_two(x.cols()) : 1);
  const std::int64_t n = x.rows(), m = x.cols();
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(m)));
#pragma omp parallel for schedule(static) if (n * m >= (1 << 15) && n > 1)
  for (std::int64_t i = 0; i < n; ++i) {
    T* row = x.row(i);
    detail::fwht_row(row, m);
    if (normalize)
      for (std::int64_t j = 0; j < m; ++j) row[j] *= scale;
  }
}
}  // namespace

template <class T>
void fwht(MatrixView<T> x) {
  transform_rows(x, false, "fwht");
}
template <class T>
void fwht_normalized(MatrixView<T> x) {
  transform_rows(x, true, "fwht_normalized");
}

template LOWDIM_API void fwht<float>(MatrixView<float>);
template LOWDIM_API void fwht<double>(MatrixView<double>);
template LOWDIM_API void fwht_normalized<float>(MatrixView<float>);
template LOWDIM_API void fwht_normalized<double>(MatrixView<double>);

}  // namespace lowdim
