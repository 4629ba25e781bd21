// Row-reproducible dense product for the dense sketches (see detail/sketch_kernel.hpp).

#include "detail/sketch_kernel.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace lowdim::detail {
namespace {

constexpr int kRows = 6;                 // rows per micro-kernel call
constexpr std::int64_t kInnerBlock = 256;  // inner-dimension block (a panel block stays in L1)
constexpr std::int64_t kRowTile = 96;      // rows per parallel task

// ---- AVX2 + FMA micro-kernels: R rows × one panel, over `inner` steps ----

// The accumulators are named variables, not an array: GCC keeps an array in
// registers but also writes it back to the stack on every iteration.
#define LOWDIM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

template <int R>
[[gnu::target("avx2,fma")]] void micro_fma(const float* a, std::int64_t lda, std::int64_t inner, const float* panel,
                                           float* c, std::int64_t ldc, std::int64_t width, bool load) {
  alignas(32) float tmp[kRows][16] = {};
  if (load)
    for (int r = 0; r < R; ++r) std::copy_n(c + r * ldc, width, tmp[r]);
#define LOWDIM_DECLARE(i) \
  __m256 lo##i = _mm256_load_ps(tmp[i]), hi##i = _mm256_load_ps(tmp[i] + 8);
  LOWDIM_ROWS(LOWDIM_DECLARE)
#undef LOWDIM_DECLARE
  const float* a0 = a;
  for (std::int64_t t = 0; t < inner; ++t) {
    const __m256 b0 = _mm256_loadu_ps(panel + t * 16), b1 = _mm256_loadu_ps(panel + t * 16 + 8);
#define LOWDIM_STEP(i)                                      \
  if constexpr (i < R) {                                    \
    const __m256 x = _mm256_broadcast_ss(a0 + i * lda + t); \
    lo##i = _mm256_fmadd_ps(x, b0, lo##i);                  \
    hi##i = _mm256_fmadd_ps(x, b1, hi##i);                  \
  }
    LOWDIM_ROWS(LOWDIM_STEP)
#undef LOWDIM_STEP
  }
#define LOWDIM_STORE(i)                    \
  if constexpr (i < R) {                   \
    _mm256_store_ps(tmp[i], lo##i);        \
    _mm256_store_ps(tmp[i] + 8, hi##i);    \
  }
  LOWDIM_ROWS(LOWDIM_STORE)
#undef LOWDIM_STORE
  for (int r = 0; r < R; ++r) std::copy_n(tmp[r], width, c + r * ldc);
}

template <int R>
[[gnu::target("avx2,fma")]] void micro_fma(const double* a, std::int64_t lda, std::int64_t inner, const double* panel,
                                           double* c, std::int64_t ldc, std::int64_t width, bool load) {
  alignas(32) double tmp[kRows][8] = {};
  if (load)
    for (int r = 0; r < R; ++r) std::copy_n(c + r * ldc, width, tmp[r]);
#define LOWDIM_DECLARE(i) \
  __m256d lo##i = _mm256_load_pd(tmp[i]), hi##i = _mm256_load_pd(tmp[i] + 4);
  LOWDIM_ROWS(LOWDIM_DECLARE)
#undef LOWDIM_DECLARE
  const double* a0 = a;
  for (std::int64_t t = 0; t < inner; ++t) {
    const __m256d b0 = _mm256_loadu_pd(panel + t * 8), b1 = _mm256_loadu_pd(panel + t * 8 + 4);
#define LOWDIM_STEP(i)                                       \
  if constexpr (i < R) {                                     \
    const __m256d x = _mm256_broadcast_sd(a0 + i * lda + t); \
    lo##i = _mm256_fmadd_pd(x, b0, lo##i);                   \
    hi##i = _mm256_fmadd_pd(x, b1, hi##i);                   \
  }
    LOWDIM_ROWS(LOWDIM_STEP)
#undef LOWDIM_STEP
  }
#define LOWDIM_STORE(i)                 \
  if constexpr (i < R) {                \
    _mm256_store_pd(tmp[i], lo##i);     \
    _mm256_store_pd(tmp[i] + 4, hi##i); \
  }
  LOWDIM_ROWS(LOWDIM_STORE)
#undef LOWDIM_STORE
  for (int r = 0; r < R; ++r) std::copy_n(tmp[r], width, c + r * ldc);
}
#undef LOWDIM_ROWS

// ---- portable micro-kernel: separate multiply and add (no contraction in ISO C++) ----

template <int R, class T>
void micro_plain(const T* a, std::int64_t lda, std::int64_t inner, const T* panel, T* c, std::int64_t ldc,
                 std::int64_t width, bool load) {
  constexpr std::int64_t W = kPanelWidth<T>;
  T acc[R][W];
  for (int r = 0; r < R; ++r)
    for (std::int64_t j = 0; j < W; ++j) acc[r][j] = (load && j < width) ? c[r * ldc + j] : T(0);
  for (std::int64_t t = 0; t < inner; ++t)
    for (int r = 0; r < R; ++r) {
      const T x = a[r * lda + t];
      for (std::int64_t j = 0; j < W; ++j) {
        const T product = x * panel[t * W + j];
        acc[r][j] = acc[r][j] + product;
      }
    }
  for (int r = 0; r < R; ++r) std::copy_n(acc[r], width, c + r * ldc);
}

// One row tile: rows [r0, r1) over every inner block and panel.
template <bool kFma, class T>
void row_tile(const T* a, std::int64_t lda, std::int64_t r0, std::int64_t r1,
                                            std::int64_t inner, const T* packed, std::int64_t n, T* c,
                                            std::int64_t ldc, bool accumulate) {
  constexpr std::int64_t W = kPanelWidth<T>;
  const std::int64_t panels = (n + W - 1) / W;
  for (std::int64_t t0 = 0; t0 < inner; t0 += kInnerBlock) {
    const std::int64_t tb = std::min(kInnerBlock, inner - t0);
    const bool load = accumulate || t0 > 0;
    for (std::int64_t p = 0; p < panels; ++p) {
      const T* panel = packed + (p * inner + t0) * W;
      const std::int64_t width = std::min(W, n - p * W);
      for (std::int64_t r = r0; r < r1; r += kRows) {
        const T* ar = a + r * lda + t0;
        T* cr = c + r * ldc + p * W;
        const int rows = static_cast<int>(std::min<std::int64_t>(kRows, r1 - r));
        if constexpr (kFma) {
          switch (rows) {
            case 6: micro_fma<6>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 5: micro_fma<5>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 4: micro_fma<4>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 3: micro_fma<3>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 2: micro_fma<2>(ar, lda, tb, panel, cr, ldc, width, load); break;
            default: micro_fma<1>(ar, lda, tb, panel, cr, ldc, width, load); break;
          }
        } else {
          switch (rows) {
            case 6: micro_plain<6>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 5: micro_plain<5>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 4: micro_plain<4>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 3: micro_plain<3>(ar, lda, tb, panel, cr, ldc, width, load); break;
            case 2: micro_plain<2>(ar, lda, tb, panel, cr, ldc, width, load); break;
            default: micro_plain<1>(ar, lda, tb, panel, cr, ldc, width, load); break;
          }
        }
      }
    }
  }
}

bool cpu_has_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace

template <class T>
void pack_panels(const T* b, std::int64_t inner, std::int64_t n, std::int64_t row_step, std::int64_t col_step,
                 T* packed) noexcept {
  constexpr std::int64_t W = kPanelWidth<T>;
  const std::int64_t panels = (n + W - 1) / W;
  for (std::int64_t p = 0; p < panels; ++p)
    for (std::int64_t t = 0; t < inner; ++t) {
      T* out = packed + (p * inner + t) * W;
      for (std::int64_t jj = 0; jj < W; ++jj) {
        const std::int64_t j = p * W + jj;
        out[jj] = j < n ? b[t * row_step + j * col_step] : T(0);
      }
    }
}

template <class T>
void multiply_packed(const T* a, std::int64_t lda, std::int64_t m, std::int64_t inner, const T* packed,
                     std::int64_t n, T* c, std::int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (inner == 0) {
    if (!accumulate)
      for (std::int64_t r = 0; r < m; ++r) std::fill_n(c + r * ldc, n, T(0));
    return;
  }
  const std::int64_t tiles = (m + kRowTile - 1) / kRowTile;
  const bool fma = cpu_has_fma();
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1 && m * n * inner > 200000)
  for (std::int64_t t = 0; t < tiles; ++t) {
    const std::int64_t r0 = t * kRowTile, r1 = std::min(m, r0 + kRowTile);
    if (fma)
      row_tile<true>(a, lda, r0, r1, inner, packed, n, c, ldc, accumulate);
    else
      row_tile<false>(a, lda, r0, r1, inner, packed, n, c, ldc, accumulate);
  }
}

template void pack_panels<float>(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                 float*) noexcept;
template void pack_panels<double>(const double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                  double*) noexcept;
template void multiply_packed<float>(const float*, std::int64_t, std::int64_t, std::int64_t, const float*,
                                     std::int64_t, float*, std::int64_t, bool);
template void multiply_packed<double>(const double*, std::int64_t, std::int64_t, std::int64_t, const double*,
                                      std::int64_t, double*, std::int64_t, bool);

}  // namespace lowdim::detail
