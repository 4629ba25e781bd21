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

template <int R>
[[gnu::target("avx2,fma")]] void micro_fma(const float* a, std::int64_t lda,
                                                                      std::int64_t inner, const float* panel,
                                                                      float* c, std::int64_t ldc, std::int64_t width,
                                                                      bool load) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) {
    if (load && width == 16) {
      acc[r][0] = _mm256_loadu_ps(c + r * ldc);
      acc[r][1] = _mm256_loadu_ps(c + r * ldc + 8);
    } else if (load) {
      alignas(32) float tmp[16] = {};
      std::copy_n(c + r * ldc, width, tmp);
      acc[r][0] = _mm256_load_ps(tmp);
      acc[r][1] = _mm256_load_ps(tmp + 8);
    } else {
      acc[r][0] = _mm256_setzero_ps();
      acc[r][1] = _mm256_setzero_ps();
    }
  }
  for (std::int64_t t = 0; t < inner; ++t) {
    const __m256 b0 = _mm256_loadu_ps(panel + t * 16), b1 = _mm256_loadu_ps(panel + t * 16 + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * lda + t);
      acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    if (width == 16) {
      _mm256_storeu_ps(c + r * ldc, acc[r][0]);
      _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    } else {
      alignas(32) float tmp[16];
      _mm256_store_ps(tmp, acc[r][0]);
      _mm256_store_ps(tmp + 8, acc[r][1]);
      std::copy_n(tmp, width, c + r * ldc);
    }
  }
}

template <int R>
[[gnu::target("avx2,fma")]] void micro_fma(const double* a, std::int64_t lda,
                                                                      std::int64_t inner, const double* panel,
                                                                      double* c, std::int64_t ldc, std::int64_t width,
                                                                      bool load) {
  __m256d acc[R][2];
  for (int r = 0; r < R; ++r) {
    if (load && width == 8) {
      acc[r][0] = _mm256_loadu_pd(c + r * ldc);
      acc[r][1] = _mm256_loadu_pd(c + r * ldc + 4);
    } else if (load) {
      alignas(32) double tmp[8] = {};
      std::copy_n(c + r * ldc, width, tmp);
      acc[r][0] = _mm256_load_pd(tmp);
      acc[r][1] = _mm256_load_pd(tmp + 4);
    } else {
      acc[r][0] = _mm256_setzero_pd();
      acc[r][1] = _mm256_setzero_pd();
    }
  }
  for (std::int64_t t = 0; t < inner; ++t) {
    const __m256d b0 = _mm256_loadu_pd(panel + t * 8), b1 = _mm256_loadu_pd(panel + t * 8 + 4);
    for (int r = 0; r < R; ++r) {
      const __m256d x = _mm256_broadcast_sd(a + r * lda + t);
      acc[r][0] = _mm256_fmadd_pd(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(x, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    if (width == 8) {
      _mm256_storeu_pd(c + r * ldc, acc[r][0]);
      _mm256_storeu_pd(c + r * ldc + 4, acc[r][1]);
    } else {
      alignas(32) double tmp[8];
      _mm256_store_pd(tmp, acc[r][0]);
      _mm256_store_pd(tmp + 4, acc[r][1]);
      std::copy_n(tmp, width, c + r * ldc);
    }
  }
}

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
