// The row-reproducible packed product of the kernels layer (see detail/dense_kernel.hpp).

#include "detail/dense_kernel.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "lowdim/error.hpp"
#include "lowdim/linalg.hpp"

namespace lowdim {
namespace detail {
namespace {

enum class Isa { generic, avx2, avx512 };

// The instruction set of the micro-kernels, fixed for the process. LOWDIM_KERNEL=avx2 or
// generic selects a lesser one (the tests run under each to check they agree).
Isa detect_isa() {
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  const char* env = std::getenv("LOWDIM_KERNEL");
  const std::string_view want = env ? env : "";
  if (want == "generic") return Isa::generic;
  if (want == "avx2") return avx2 ? Isa::avx2 : Isa::generic;
  return avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::generic;
}

Isa isa() {
  static const Isa chosen = detect_isa();
  return chosen;
}

constexpr std::int64_t kRowTile = 96;      // rows of C per parallel task (a multiple of 12 and 6)
constexpr std::int64_t kInnerBlock = 256;  // inner steps per pass: a panel block stays in L1

// ---- vector traits: the operations the micro-kernel needs, per ISA and type ----

#define LOWDIM_VECTOR_OPS(NAME, TARGET, TYPE, VEC, LANES, LOAD, STORE, SET1, FMA) \
  struct NAME {                                                                  \
    using T = TYPE;                                                              \
    using V = VEC;                                                               \
    static constexpr int lanes = LANES;                                          \
    [[gnu::target(TARGET), gnu::always_inline]] static inline V load(const T* p) { return LOAD(p); } \
    [[gnu::target(TARGET), gnu::always_inline]] static inline void store(T* p, V v) { STORE(p, v); } \
    [[gnu::target(TARGET), gnu::always_inline]] static inline V set1(T x) { return SET1(x); }        \
    [[gnu::target(TARGET), gnu::always_inline]] static inline V fma(V a, V b, V c) { return FMA(a, b, c); } \
  };
LOWDIM_VECTOR_OPS(Avx2Float, "avx2,fma", float, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
                  _mm256_fmadd_ps)
LOWDIM_VECTOR_OPS(Avx2Double, "avx2,fma", double, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd,
                  _mm256_fmadd_pd)
LOWDIM_VECTOR_OPS(Avx512Float, "avx512f", float, __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
                  _mm512_fmadd_ps)
LOWDIM_VECTOR_OPS(Avx512Double, "avx512f", double, __m512d, 8, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd,
                  _mm512_fmadd_pd)
#undef LOWDIM_VECTOR_OPS

// ---- micro-kernel: R rows × one panel (two vectors wide) over `inner` steps ----
//
// The accumulators are named variables, not an array: GCC keeps an array in registers but
// also writes it back to the stack on every iteration. Rows past R are dead code. C goes
// through a small aligned buffer so a partial panel (width < W) needs no masked access.
#define LOWDIM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define LOWDIM_MICRO_KERNEL(NAME, TARGET)                                                                   \
  template <class Ops, int R, bool kTransA>                                                                \
  [[gnu::target(TARGET)]] void NAME(const typename Ops::T* a, std::int64_t lda, std::int64_t inner,          \
                                    const typename Ops::T* panel, typename Ops::T* c, std::int64_t ldc,     \
                                    std::int64_t width, bool load) {                                        \
    using T = typename Ops::T;                                                                              \
    constexpr int L = Ops::lanes, W = 2 * L;                                                                \
    alignas(64) T tmp[12][W] = {};                                                                          \
    if (load)                                                                                               \
      for (int r = 0; r < R; ++r) std::copy_n(c + r * ldc, width, tmp[r]);                                  \
    LOWDIM_ROWS(LOWDIM_DECLARE)                                                                             \
    for (std::int64_t t = 0; t < inner; ++t) {                                                              \
      const auto b0 = Ops::load(panel + t * W), b1 = Ops::load(panel + t * W + L);                          \
      LOWDIM_ROWS(LOWDIM_STEP)                                                                              \
    }                                                                                                       \
    LOWDIM_ROWS(LOWDIM_STORE)                                                                               \
    for (int r = 0; r < R; ++r) std::copy_n(tmp[r], width, c + r * ldc);                                    \
  }
#define LOWDIM_DECLARE(i) auto lo##i = Ops::load(tmp[i]), hi##i = Ops::load(tmp[i] + L);
#define LOWDIM_STEP(i)                                                            \
  if constexpr (i < R) {                                                          \
    const auto x = Ops::set1(kTransA ? a[t * lda + i] : a[i * lda + t]);          \
    lo##i = Ops::fma(x, b0, lo##i);                                               \
    hi##i = Ops::fma(x, b1, hi##i);                                               \
  }
#define LOWDIM_STORE(i)            \
  if constexpr (i < R) {           \
    Ops::store(tmp[i], lo##i);     \
    Ops::store(tmp[i] + L, hi##i); \
  }
LOWDIM_MICRO_KERNEL(micro_avx2, "avx2,fma")
LOWDIM_MICRO_KERNEL(micro_avx512, "avx512f")
#undef LOWDIM_MICRO_KERNEL
#undef LOWDIM_DECLARE
#undef LOWDIM_STEP
#undef LOWDIM_STORE
#undef LOWDIM_ROWS

// One row of C over four full panels at once (a row vector times packed B: one LSH query,
// one attention step). The row micro-kernel above keeps two accumulators, so its fma chains
// wait on each other's latency; eight independent chains keep the FMA units busy. Each
// element is still the one chain over t in order: the same bits.
#define LOWDIM_ROW_KERNEL(NAME, TARGET)                                                                     \
  template <class Ops>                                                                                    \
  [[gnu::target(TARGET)]] void NAME(const typename Ops::T* a, std::int64_t inner, const typename Ops::T* p0, \
                                    std::int64_t panel_stride, typename Ops::T* c, bool load) {             \
    constexpr int L = Ops::lanes, W = 2 * L;                                                              \
    const auto* p1 = p0 + panel_stride;                                                                   \
    const auto* p2 = p1 + panel_stride;                                                                   \
    const auto* p3 = p2 + panel_stride;                                                                   \
    auto zero = Ops::set1(0);                                                                             \
    auto c0 = load ? Ops::load(c) : zero, c1 = load ? Ops::load(c + L) : zero;                            \
    auto c2 = load ? Ops::load(c + W) : zero, c3 = load ? Ops::load(c + W + L) : zero;                    \
    auto c4 = load ? Ops::load(c + 2 * W) : zero, c5 = load ? Ops::load(c + 2 * W + L) : zero;            \
    auto c6 = load ? Ops::load(c + 3 * W) : zero, c7 = load ? Ops::load(c + 3 * W + L) : zero;            \
    for (std::int64_t t = 0; t < inner; ++t) {                                                            \
      const auto x = Ops::set1(a[t]);                                                                     \
      c0 = Ops::fma(x, Ops::load(p0 + t * W), c0);                                                        \
      c1 = Ops::fma(x, Ops::load(p0 + t * W + L), c1);                                                    \
      c2 = Ops::fma(x, Ops::load(p1 + t * W), c2);                                                        \
      c3 = Ops::fma(x, Ops::load(p1 + t * W + L), c3);                                                    \
      c4 = Ops::fma(x, Ops::load(p2 + t * W), c4);                                                        \
      c5 = Ops::fma(x, Ops::load(p2 + t * W + L), c5);                                                    \
      c6 = Ops::fma(x, Ops::load(p3 + t * W), c6);                                                        \
      c7 = Ops::fma(x, Ops::load(p3 + t * W + L), c7);                                                    \
    }                                                                                                     \
    Ops::store(c, c0), Ops::store(c + L, c1), Ops::store(c + W, c2), Ops::store(c + W + L, c3);            \
    Ops::store(c + 2 * W, c4), Ops::store(c + 2 * W + L, c5);                                             \
    Ops::store(c + 3 * W, c6), Ops::store(c + 3 * W + L, c7);                                             \
  }
LOWDIM_ROW_KERNEL(row4_avx2, "avx2,fma")
LOWDIM_ROW_KERNEL(row4_avx512, "avx512f")
#undef LOWDIM_ROW_KERNEL

// Portable micro-kernel: separate multiply and add (ISO C++ does not contract them).
template <class T, int W, int R, bool kTransA>
void micro_generic(const T* a, std::int64_t lda, std::int64_t inner, const T* panel, T* c, std::int64_t ldc,
                   std::int64_t width, bool load) {
  T acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < W; ++j) acc[r][j] = (load && j < width) ? c[r * ldc + j] : T(0);
  for (std::int64_t t = 0; t < inner; ++t)
    for (int r = 0; r < R; ++r) {
      const T x = kTransA ? a[t * lda + r] : a[r * lda + t];
      for (int j = 0; j < W; ++j) {
        const T product = x * panel[t * W + j];
        acc[r][j] = acc[r][j] + product;
      }
    }
  for (int r = 0; r < R; ++r) std::copy_n(acc[r], width, c + r * ldc);
}

// One micro-kernel family: the panel width, the rows per full call, and a call for each
// row count 1 … rows (the last block of a tile may be partial).
template <class T>
using MicroFn = void (*)(const T*, std::int64_t, std::int64_t, const T*, T*, std::int64_t, std::int64_t, bool);

// One row over four full panels (row4_*): a, inner, first panel, panel stride, c, load.
template <class T>
using RowFn = void (*)(const T*, std::int64_t, const T*, std::int64_t, T*, bool);

template <class T>
struct Family {
  int rows = 0;            // rows per full call
  std::int64_t width = 0;  // panel width W
  MicroFn<T> call[13] = {};  // call[r]: r rows
  RowFn<T> row4 = nullptr;   // one non-transposed row over four panels (SIMD families)
};

template <class T, bool kTransA, template <int> class Pick, int... Rs>
Family<T> make_family(std::int64_t width, std::integer_sequence<int, Rs...>) {
  Family<T> f;
  f.rows = sizeof...(Rs);
  f.width = width;
  ((f.call[Rs + 1] = Pick<Rs + 1>::template get<kTransA>()), ...);
  return f;
}

template <class T>
struct Pickers {
  using Avx512Ops = std::conditional_t<sizeof(T) == 4, Avx512Float, Avx512Double>;
  using Avx2Ops = std::conditional_t<sizeof(T) == 4, Avx2Float, Avx2Double>;
  template <int R>
  struct Avx512 {
    template <bool kTransA>
    static MicroFn<T> get() { return &micro_avx512<Avx512Ops, R, kTransA>; }
  };
  template <int R>
  struct Avx2 {
    template <bool kTransA>
    static MicroFn<T> get() { return &micro_avx2<Avx2Ops, R, kTransA>; }
  };
  template <int R>
  struct Generic {
    template <bool kTransA>
    static MicroFn<T> get() { return &micro_generic<T, sizeof(T) == 4 ? 16 : 8, R, kTransA>; }
  };
};

template <class T, bool kTransA>
const Family<T>& family() {
  static const Family<T> f = [] {
    constexpr std::int64_t lanes256 = 32 / sizeof(T);
    using Avx512Ops = typename Pickers<T>::Avx512Ops;
    using Avx2Ops = typename Pickers<T>::Avx2Ops;
    switch (isa()) {
      case Isa::avx512: {
        auto f = make_family<T, kTransA, Pickers<T>::template Avx512>(4 * lanes256, std::make_integer_sequence<int, 12>());
        if (!kTransA) f.row4 = &row4_avx512<Avx512Ops>;
        return f;
      }
      case Isa::avx2: {
        auto f = make_family<T, kTransA, Pickers<T>::template Avx2>(2 * lanes256, std::make_integer_sequence<int, 6>());
        if (!kTransA) f.row4 = &row4_avx2<Avx2Ops>;
        return f;
      }
      default:
        return make_family<T, kTransA, Pickers<T>::template Generic>(2 * lanes256, std::make_integer_sequence<int, 6>());
    }
  }();
  return f;
}

// scratch (rows × cols, packed) = T(double(A) − centre), one block of A. The loop is also
// compiled for AVX-512, where the conversions vectorise twice as wide.
template <class T>
[[gnu::always_inline]] inline void centre_loop(const T* a, std::int64_t lda, std::int64_t rows, std::int64_t cols,
                                               const double* centre, T* scratch) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t t = 0; t < cols; ++t)
      scratch[r * cols + t] = static_cast<T>(static_cast<double>(a[r * lda + t]) - centre[t]);
}
template <class T>
void centre_block(const T* a, std::int64_t lda, std::int64_t rows, std::int64_t cols, const double* centre,
                  T* scratch) {
  centre_loop(a, lda, rows, cols, centre, scratch);
}
template <class T>
[[gnu::target("avx512f")]] void centre_block_avx512(const T* a, std::int64_t lda, std::int64_t rows,
                                                    std::int64_t cols, const double* centre, T* scratch) {
  centre_loop(a, lda, rows, cols, centre, scratch);
}

// Rows [r0, r1) of C over every inner block and panels [q_begin, q_end). With p.centre, each block of A is
// first centred into `scratch` (kRowTile × kInnerBlock).
template <class T, bool kTransA>
void row_tile(const DenseProduct<T>& p, std::int64_t r0, std::int64_t r1, std::int64_t q_begin, std::int64_t q_end,
              T* scratch) {
  const Family<T>& f = family<T, kTransA>();
  const std::int64_t W = f.width, panels = q_end;
  for (std::int64_t t0 = 0; t0 < p.inner; t0 += kInnerBlock) {
    const std::int64_t tb = std::min(kInnerBlock, p.inner - t0);
    const bool load = p.accumulate || t0 > 0;
    const T* a = kTransA ? p.a + t0 * p.lda + r0 : p.a + r0 * p.lda + t0;
    std::int64_t lda = p.lda;
    if (p.centre != nullptr) {
      const T* in = p.a + r0 * p.lda + t0;
      if (isa() == Isa::avx512)
        centre_block_avx512(in, p.lda, r1 - r0, tb, p.centre + t0, scratch);
      else
        centre_block(in, p.lda, r1 - r0, tb, p.centre + t0, scratch);
      a = scratch;
      lda = tb;
    }
    std::int64_t q = q_begin;
    if (r1 - r0 == 1 && f.row4 != nullptr && !p.upper && !kTransA)
      for (; q + 4 <= panels && (q + 4) * W <= p.n; q += 4)
        f.row4(a, tb, p.packed + (q * p.inner + t0) * W, p.inner * W, p.c + r0 * p.ldc + q * W, load);
    for (; q < panels; ++q) {
      const T* panel = p.packed + (q * p.inner + t0) * W;
      const std::int64_t width = std::min(W, p.n - q * W);
      for (std::int64_t r = r0; r < r1; r += f.rows) {
        if (p.upper && (q + 1) * W <= r) continue;  // the block lies strictly below the diagonal
        const int rows = static_cast<int>(std::min<std::int64_t>(f.rows, r1 - r));
        const T* ar = kTransA ? a + (r - r0) : a + (r - r0) * lda;
        f.call[rows](ar, lda, tb, panel, p.c + r * p.ldc + q * W, p.ldc, width, load);
      }
    }
  }
}

}  // namespace

template <class T>
std::int64_t panel_width() noexcept {
  return family<T, false>().width;
}

template <class T>
std::int64_t packed_size(std::int64_t inner, std::int64_t n) noexcept {
  const std::int64_t w = panel_width<T>();
  return (n + w - 1) / w * w * inner;
}

template <class T>
void pack_panels(const T* b, std::int64_t inner, std::int64_t n, std::int64_t row_step, std::int64_t col_step,
                 T* packed) noexcept {
  const std::int64_t W = panel_width<T>();
  const std::int64_t panels = (n + W - 1) / W;
#pragma omp parallel for schedule(static) if (panels > 1 && inner * n > (1 << 16))
  for (std::int64_t q = 0; q < panels; ++q)
    for (std::int64_t t = 0; t < inner; ++t) {
      T* out = packed + (q * inner + t) * W;
      const std::int64_t j0 = q * W, width = std::min(W, n - j0);
      const T* in = b + t * row_step + j0 * col_step;
      if (col_step == 1) {
        std::copy_n(in, width, out);
      } else {
        for (std::int64_t jj = 0; jj < width; ++jj) out[jj] = in[jj * col_step];
      }
      std::fill(out + width, out + W, T(0));
    }
}

template <class T>
void multiply_packed(const DenseProduct<T>& p) {
  LOWDIM_ASSERT(!(p.centre && p.a_transposed));  // centring applies to a non-transposed A
  LOWDIM_ASSERT(!p.upper || p.m == p.n);  // an upper-triangle product is square
  if (p.m == 0 || p.n == 0) return;
  if (p.inner == 0) {
    if (!p.accumulate)
      for (std::int64_t r = 0; r < p.m; ++r) std::fill_n(p.c + r * p.ldc, p.n, T(0));
    return;
  }
  // Tasks: tiles of kRowTile rows over every panel; a product with one row tile but many
  // panels (a few rows times a wide B: one query) is split into groups of panels instead.
  // Who computes an element never changes how: the bits do not depend on the split.
  const std::int64_t W = panel_width<T>(), panels = (p.n + W - 1) / W;
  const std::int64_t tiles = (p.m + kRowTile - 1) / kRowTile;
  const double work = static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.inner);
  const std::int64_t groups =
      tiles == 1 && !p.upper && work > 2e5 ? std::clamp<std::int64_t>(panels / 4, 1, 8) : 1;
  const std::int64_t per_group = (panels + groups - 1) / groups;
  const std::int64_t tasks = tiles * groups;
  const bool parallel = tasks > 1 && work > 2e5;
  const int threads = parallel ? omp_get_max_threads() : 1;
  const std::size_t scratch_size = p.centre ? static_cast<std::size_t>(kRowTile * kInnerBlock) : 0;
  std::vector<T> scratch(scratch_size * static_cast<std::size_t>(threads));
  // Shapes were checked by the callers and nothing below allocates: no exception leaves the region.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (parallel)
  for (std::int64_t task = 0; task < tasks; ++task) {
    // Upper-triangle products: the first tiles carry the most panels; dynamic order balances.
    const std::int64_t t = task / groups, g = task % groups;
    const std::int64_t r0 = t * kRowTile, r1 = std::min(p.m, r0 + kRowTile);
    const std::int64_t q0 = g * per_group, q1 = std::min(panels, q0 + per_group);
    T* tile_scratch = scratch.data() + scratch_size * static_cast<std::size_t>(omp_get_thread_num());
    if (p.a_transposed)
      row_tile<T, true>(p, r0, r1, q0, q1, tile_scratch);
    else
      row_tile<T, false>(p, r0, r1, q0, q1, tile_scratch);
  }
}

template std::int64_t panel_width<float>() noexcept;
template std::int64_t panel_width<double>() noexcept;
template std::int64_t packed_size<float>(std::int64_t, std::int64_t) noexcept;
template std::int64_t packed_size<double>(std::int64_t, std::int64_t) noexcept;
template void pack_panels<float>(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                 float*) noexcept;
template void pack_panels<double>(const double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                  double*) noexcept;
template void multiply_packed<float>(const DenseProduct<float>&);
template void multiply_packed<double>(const DenseProduct<double>&);

}  // namespace detail

std::string_view dense_kernel_isa() noexcept {
  switch (detail::isa()) {
    case detail::Isa::avx512: return "avx512";
    case detail::Isa::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace lowdim
