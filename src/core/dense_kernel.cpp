// The row-reproducible packed product of the kernels layer (see detail/dense_kernel.hpp).

#include "detail/dense_kernel.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <type_traits>
#include <utility>
#include <memory>
#include <vector>

#include "lowdim/error.hpp"
#include "lowdim/linalg.hpp"

namespace lowdim {
namespace detail {
namespace {

enum class Isa { generic, avx2, avx512 };

const char* isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

// The instruction set of the micro-kernels, fixed for the process: the best this CPU has,
// or the one LOWDIM_KERNEL names (the tests run under each to check they agree). A name this
// CPU cannot run, or an unknown one, is an error rather than a silent substitute.
Isa detect_isa() {
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  const Isa best = avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::generic;
  const char* env = std::getenv("LOWDIM_KERNEL");
  const std::string_view want = env ? env : "";
  if (want.empty()) return best;
  if (want == "generic") return Isa::generic;
  if (want == "avx2" || want == "avx512") {
    const Isa wanted = want == "avx2" ? Isa::avx2 : Isa::avx512;
    LOWDIM_CHECK(wanted <= best, "LOWDIM_KERNEL={}: this CPU cannot run it (it has {}; valid here: {})", want,
                 isa_name(best), best == Isa::avx512 ? "avx512, avx2, generic" : best == Isa::avx2 ? "avx2, generic" : "generic");
    return wanted;
  }
  LOWDIM_THROW(invalid_argument,
               "LOWDIM_KERNEL={}: unknown dense kernel; valid values are avx512, avx2 and generic, or unset for the "
               "best this CPU has ({})",
               want, isa_name(best));
}

Isa isa() {
  static const Isa chosen = detect_isa();
  return chosen;
}

// Blocking, for the caches of the machines lowdim runs on (32–48 KiB L1d, ≥ 512 KiB L2):
// a task computes a tile of kRowTile rows of C over its panels; per pass of kInnerBlock inner
// steps its rows of A are packed (kRowTile × kInnerBlock: 192 KiB in float, 384 KiB in
// double, in L2) and a panel block (kInnerBlock × W: 16 KiB with AVX2, 32 KiB with AVX-512)
// stays in L1 while every group of rows of the tile is multiplied by it. Measured on Zen 3
// (512 KiB L2): 96, 144 and 192 rows and 128 … 384 inner steps are within noise of each
// other; 192 × 256 was the best of them.
constexpr std::int64_t kRowTile = 192;     // a multiple of 12 and 6
constexpr std::int64_t kInnerBlock = 256;

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
// A is packed: A(r, t) = a[t·S + r] for the family's group height S. The accumulators are
// named variables, not an array: GCC keeps an array in registers but also writes it back to
// the stack on every iteration. Rows past R are dead code. A full panel (width W) reads and
// writes C in place; a partial one goes through a small buffer, so no access is masked.
#define LOWDIM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define LOWDIM_MICRO_KERNEL(NAME, TARGET)                                                                   \
  template <class Ops, int R, int S>                                                                       \
  [[gnu::target(TARGET)]] void NAME(const typename Ops::T* a, std::int64_t inner, const typename Ops::T* panel, \
                                    typename Ops::T* c, std::int64_t ldc, std::int64_t width, bool load) {  \
    using T = typename Ops::T;                                                                              \
    constexpr int L = Ops::lanes, W = 2 * L;                                                                \
    alignas(64) T tmp[R][W];                                                                                \
    const bool full = width == W;                                                                           \
    T* out = c;                                                                                             \
    std::int64_t ld = ldc;                                                                                  \
    if (!full) {                                                                                            \
      out = &tmp[0][0];                                                                                     \
      ld = W;                                                                                               \
      for (int r = 0; r < R; ++r) {                                                                         \
        std::fill_n(tmp[r], W, T(0));                                                                       \
        if (load) std::copy_n(c + r * ldc, width, tmp[r]);                                                  \
      }                                                                                                     \
    }                                                                                                       \
    const bool from_c = load || !full;                                                                      \
    LOWDIM_ROWS(LOWDIM_DECLARE)                                                                             \
    _Pragma("GCC unroll 4")                                                                                 \
    for (std::int64_t t = 0; t < inner; ++t) {                                                              \
      const auto b0 = Ops::load(panel + t * W), b1 = Ops::load(panel + t * W + L);                          \
      const T* at = a + t * S;                                                                              \
      LOWDIM_ROWS(LOWDIM_STEP)                                                                              \
    }                                                                                                       \
    LOWDIM_ROWS(LOWDIM_STORE)                                                                               \
    if (!full)                                                                                              \
      for (int r = 0; r < R; ++r) std::copy_n(tmp[r], width, c + r * ldc);                                  \
  }
#define LOWDIM_DECLARE(i)                                                       \
  auto lo##i = Ops::set1(T(0)), hi##i = lo##i;                                  \
  if constexpr (i < R) {                                                        \
    if (from_c) {                                                               \
      lo##i = Ops::load(out + i * ld);                                          \
      hi##i = Ops::load(out + i * ld + L);                                      \
    }                                                                           \
  }
#define LOWDIM_STEP(i)                           \
  if constexpr (i < R) {                         \
    const auto x = Ops::set1(at[i]);             \
    lo##i = Ops::fma(x, b0, lo##i);              \
    hi##i = Ops::fma(x, b1, hi##i);              \
  }
#define LOWDIM_STORE(i)                \
  if constexpr (i < R) {               \
    Ops::store(out + i * ld, lo##i);     \
    Ops::store(out + i * ld + L, hi##i); \
  }
LOWDIM_MICRO_KERNEL(micro_avx2, "avx2,fma")
LOWDIM_MICRO_KERNEL(micro_avx512, "avx512f")
#undef LOWDIM_MICRO_KERNEL
#undef LOWDIM_DECLARE
#undef LOWDIM_STEP
#undef LOWDIM_STORE
#undef LOWDIM_ROWS

// One row of C over four full panels at once (a row vector times packed B: one LSH query,
// one attention step); a is the row itself (contiguous). The micro-kernel above keeps two
// accumulators for one row, so its fma chains wait on each other's latency; eight
// independent chains keep the FMA units busy. Each element is still the one chain over t in
// order: the same bits.
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
template <class T, int W, int R, int S>
void micro_generic(const T* a, std::int64_t inner, const T* panel, T* c, std::int64_t ldc, std::int64_t width,
                   bool load) {
  T acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < W; ++j) acc[r][j] = (load && j < width) ? c[r * ldc + j] : T(0);
  for (std::int64_t t = 0; t < inner; ++t)
    for (int r = 0; r < R; ++r) {
      const T x = a[t * S + r];
      for (int j = 0; j < W; ++j) {
        const T product = x * panel[t * W + j];
        acc[r][j] = acc[r][j] + product;
      }
    }
  for (int r = 0; r < R; ++r) std::copy_n(acc[r], width, c + r * ldc);
}

// One micro-kernel family: the panel width, the group height (rows per full call), and a
// call for each row count 1 … rows (the last group of a tile may be partial).
template <class T>
using MicroFn = void (*)(const T*, std::int64_t, const T*, T*, std::int64_t, std::int64_t, bool);

// One row over four full panels (row4_*): a, inner, first panel, panel stride, c, load.
template <class T>
using RowFn = void (*)(const T*, std::int64_t, const T*, std::int64_t, T*, bool);

template <class T>
struct Family {
  int rows = 0;              // group height S: rows per full call
  std::int64_t width = 0;    // panel width W
  MicroFn<T> call[13] = {};  // call[r]: r rows
  RowFn<T> row4 = nullptr;   // one row over four panels (SIMD families)
};

template <class T, template <int, int> class Pick, int... Rs>
Family<T> make_family(std::int64_t width, std::integer_sequence<int, Rs...>) {
  Family<T> f;
  f.rows = sizeof...(Rs);
  f.width = width;
  ((f.call[Rs + 1] = Pick<Rs + 1, sizeof...(Rs)>::get()), ...);
  return f;
}

template <class T>
struct Pickers {
  using Avx512Ops = std::conditional_t<sizeof(T) == 4, Avx512Float, Avx512Double>;
  using Avx2Ops = std::conditional_t<sizeof(T) == 4, Avx2Float, Avx2Double>;
  template <int R, int S>
  struct Avx512 {
    static MicroFn<T> get() { return &micro_avx512<Avx512Ops, R, S>; }
  };
  template <int R, int S>
  struct Avx2 {
    static MicroFn<T> get() { return &micro_avx2<Avx2Ops, R, S>; }
  };
  template <int R, int S>
  struct Generic {
    static MicroFn<T> get() { return &micro_generic<T, sizeof(T) == 4 ? 16 : 8, R, S>; }
  };
};

template <class T>
const Family<T>& family() {
  static const Family<T> f = [] {
    constexpr std::int64_t lanes256 = 32 / sizeof(T);
    switch (isa()) {
      case Isa::avx512: {
        auto f = make_family<T, Pickers<T>::template Avx512>(4 * lanes256, std::make_integer_sequence<int, 12>());
        f.row4 = &row4_avx512<typename Pickers<T>::Avx512Ops>;
        return f;
      }
      case Isa::avx2: {
        auto f = make_family<T, Pickers<T>::template Avx2>(2 * lanes256, std::make_integer_sequence<int, 6>());
        f.row4 = &row4_avx2<typename Pickers<T>::Avx2Ops>;
        return f;
      }
      default:
        return make_family<T, Pickers<T>::template Generic>(2 * lanes256, std::make_integer_sequence<int, 6>());
    }
  }();
  return f;
}

// Packs rows [r0, r1) × inner steps [t0, t0 + tb) of A for the micro-kernels: groups of S
// rows, out[(g·tb + t)·S + r] = A(r0 + g·S + r, t0 + t) (rows past r1 left unset; no kernel
// reads them). With p.centre, the value is T(double(A) − centre), formed here so centring
// costs no pass over A and no copy of it. The loop is also compiled for AVX-512, where the
// conversions vectorise twice as wide.
template <class T, int S, bool kTransA, bool kCentre>
[[gnu::always_inline]] inline void pack_a_loop(const DenseProduct<T>& p, std::int64_t r0, std::int64_t r1,
                                               std::int64_t t0, std::int64_t tb, T* out) {
  for (std::int64_t g0 = r0; g0 < r1; g0 += S) {
    const std::int64_t rows = std::min<std::int64_t>(S, r1 - g0);
    T* o = out + (g0 - r0) * tb;
    if constexpr (kTransA) {
      const T* in = p.a + t0 * p.lda + g0;
      if (rows == S) {
        for (std::int64_t t = 0; t < tb; ++t)
          for (int r = 0; r < S; ++r) o[t * S + r] = in[t * p.lda + r];
      } else {
        for (std::int64_t t = 0; t < tb; ++t)
          for (std::int64_t r = 0; r < rows; ++r) o[t * S + r] = in[t * p.lda + r];
      }
    } else {
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* in = p.a + (g0 + r) * p.lda + t0;
        if constexpr (kCentre) {
          const double* centre = p.centre + t0;
          for (std::int64_t t = 0; t < tb; ++t) o[t * S + r] = static_cast<T>(static_cast<double>(in[t]) - centre[t]);
        } else {
          for (std::int64_t t = 0; t < tb; ++t) o[t * S + r] = in[t];
        }
      }
    }
  }
}
template <class T, int S, bool kTransA, bool kCentre>
void pack_a_default(const DenseProduct<T>& p, std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t tb,
                    T* out) {
  pack_a_loop<T, S, kTransA, kCentre>(p, r0, r1, t0, tb, out);
}
template <class T, int S, bool kTransA, bool kCentre>
[[gnu::target("avx512f")]] void pack_a_avx512(const DenseProduct<T>& p, std::int64_t r0, std::int64_t r1,
                                              std::int64_t t0, std::int64_t tb, T* out) {
  pack_a_loop<T, S, kTransA, kCentre>(p, r0, r1, t0, tb, out);
}
template <class T, int S>
void pack_a_s(const DenseProduct<T>& p, std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t tb, T* out) {
  const bool wide = isa() == Isa::avx512;
  if (p.a_transposed)
    (wide ? pack_a_avx512<T, S, true, false> : pack_a_default<T, S, true, false>)(p, r0, r1, t0, tb, out);
  else if (p.centre)
    (wide ? pack_a_avx512<T, S, false, true> : pack_a_default<T, S, false, true>)(p, r0, r1, t0, tb, out);
  else
    (wide ? pack_a_avx512<T, S, false, false> : pack_a_default<T, S, false, false>)(p, r0, r1, t0, tb, out);
}
// s: the group height of the family (6 or 12), or 1 for a row read by the row kernel.
template <class T>
void pack_a(const DenseProduct<T>& p, std::int64_t r0, std::int64_t r1, std::int64_t t0, std::int64_t tb, int s,
            T* out) {
  switch (s) {
    case 1: return pack_a_s<T, 1>(p, r0, r1, t0, tb, out);
    case 6: return pack_a_s<T, 6>(p, r0, r1, t0, tb, out);
    default: LOWDIM_ASSERT(s == 12); return pack_a_s<T, 12>(p, r0, r1, t0, tb, out);
  }
}

// Rows of A a tile packs per inner block: its rows rounded up to whole groups.
constexpr std::int64_t padded_rows(std::int64_t rows, std::int64_t s) { return (rows + s - 1) / s * s; }

// Rows [r0, r1) of C over every inner block and panels [q_begin, q_end). `scratch` holds
// the packed rows of A (kRowTile × kInnerBlock), unless they come `prepacked` (every inner
// block, shared by the tasks of a single tile). A one-row tile with a plain row of A (one
// query, one attention step) is read in place by the row kernel. With p.add the chains are
// formed from zero in `tile` (kRowTile × the panels' width) and then added to C.
template <class T>
void row_tile(const DenseProduct<T>& p, std::int64_t r0, std::int64_t r1, std::int64_t q_begin, std::int64_t q_end,
              T* scratch, T* tile, const T* prepacked) {
  const Family<T>& f = family<T>();
  const std::int64_t W = f.width, S = f.rows;
  const bool one_row = r1 - r0 == 1;
  // Where the chains live: C itself, or the tile (columns from q_begin·W) when adding.
  T* const out = p.add ? tile - q_begin * W : p.c + r0 * p.ldc;
  const std::int64_t ldo = p.add ? (q_end - q_begin) * W : p.ldc;
  for (std::int64_t t0 = 0; t0 < p.inner; t0 += kInnerBlock) {
    const std::int64_t tb = std::min(kInnerBlock, p.inner - t0);
    const bool load = p.add ? t0 > 0 : p.accumulate || t0 > 0;
    const T* apack = scratch;
    std::int64_t q = q_begin;
    if (one_row && f.row4 != nullptr && !p.upper) {
      const T* row = p.a + r0 * p.lda + t0;
      if (p.a_transposed || p.centre) {  // a row packed with S = 1 is the row itself
        pack_a(p, r0, r1, t0, tb, 1, scratch);
        row = scratch;
      }
      for (; q + 4 <= q_end && (q + 4) * W <= p.n; q += 4)
        f.row4(row, tb, p.packed + (q * p.inner + t0) * W, p.inner * W, out + q * W, load);
      if (q == q_end) continue;
      pack_a(p, r0, r1, t0, tb, static_cast<int>(S), scratch);  // the panels left, by the micro-kernel
    } else if (prepacked) {
      apack = prepacked + t0 * padded_rows(r1 - r0, S);
    } else {
      pack_a(p, r0, r1, t0, tb, static_cast<int>(S), scratch);
    }
    for (; q < q_end; ++q) {
      const T* panel = p.packed + (q * p.inner + t0) * W;
      const std::int64_t width = std::min(W, p.n - q * W);
      for (std::int64_t r = r0; r < r1; r += S) {
        if (p.upper && (q + 1) * W <= r) continue;  // the block lies strictly below the diagonal
        const int rows = static_cast<int>(std::min<std::int64_t>(S, r1 - r));
        // The next group's rows of C, on their way while this group computes (its chains
        // start from them: a miss there would stall every fma of the call).
        if (load && r + S < r1)
          for (std::int64_t i = 0; i < std::min(S, r1 - r - S); ++i) {
            const T* next = out + (r + S + i - r0) * ldo + q * W;
            __builtin_prefetch(next);
            __builtin_prefetch(next + W - 1);
          }
        f.call[rows](apack + (r - r0) * tb, tb, panel, out + (r - r0) * ldo + q * W, ldo, width, load);
      }
    }
  }
  if (p.add) {
    const std::int64_t c0 = q_begin * W, c1 = std::min(p.n, q_end * W);
    for (std::int64_t r = r0; r < r1; ++r) {
      T* c = p.c + r * p.ldc;
      const T* from = tile + (r - r0) * ldo - c0;
      for (std::int64_t j = c0; j < c1; ++j) c[j] += from[j];
    }
  }
}

}  // namespace

template <class T>
std::int64_t panel_width() {
  return family<T>().width;
}

template <class T>
std::int64_t packed_size(std::int64_t inner, std::int64_t n) {
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
  LOWDIM_ASSERT(!(p.upper && p.add));
  (void)family<T>();  // chosen here, outside any parallel region: a bad LOWDIM_KERNEL throws to the caller
  if (p.m == 0 || p.n == 0) return;
  if (p.inner == 0) {
    if (!p.accumulate && !p.add)
      for (std::int64_t r = 0; r < p.m; ++r) std::fill_n(p.c + r * p.ldc, p.n, T(0));
    return;
  }
  // Tasks: tiles of kRowTile rows over every panel; a product with one row tile but many
  // panels (a few rows times a wide B: one query) is split into groups of panels instead.
  // Who computes an element never changes how: the bits do not depend on the split.
  const std::int64_t W = panel_width<T>(), panels = (p.n + W - 1) / W, s = family<T>().rows;
  const double work = static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.inner);
  const int available = work > 2e5 && !omp_in_parallel() ? omp_get_max_threads() : 1;
  // Tiles of at most kRowTile rows, as many as a multiple of the threads so none idles.
  std::int64_t tile_rows = kRowTile, tiles = (p.m + kRowTile - 1) / kRowTile;
  if (available > 1 && tiles > 1) {
    const std::int64_t balanced = (tiles + available - 1) / available * available;
    tile_rows = padded_rows((p.m + balanced - 1) / balanced, s);
    tiles = (p.m + tile_rows - 1) / tile_rows;
  }
  const std::int64_t groups =
      tiles == 1 && !p.upper && work > 2e5 ? std::clamp<std::int64_t>(panels / 4, 1, 8) : 1;
  const std::int64_t per_group = (panels + groups - 1) / groups;
  const std::int64_t tasks = tiles * groups;
  const bool parallel = tasks > 1 && available > 1;
  const int threads = parallel ? available : 1;
  const std::size_t scratch_size = static_cast<std::size_t>(kRowTile * kInnerBlock);
  const std::size_t tile_size = p.add ? static_cast<std::size_t>(kRowTile * per_group * W) : 0;
  std::vector<T> scratch((scratch_size + tile_size) * static_cast<std::size_t>(threads));
  // One tile split into groups of panels: its rows of A are packed once for all groups.
  std::vector<T> prepacked;
  if (tiles == 1 && groups > 1 && p.m > 1) {
    prepacked.resize(static_cast<std::size_t>(padded_rows(p.m, s) * p.inner));
    const std::int64_t blocks = (p.inner + kInnerBlock - 1) / kInnerBlock;
#pragma omp parallel for schedule(static) num_threads(threads) if (parallel)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t t0 = b * kInnerBlock;
      pack_a(p, 0, p.m, t0, std::min(kInnerBlock, p.inner - t0), static_cast<int>(s),
             prepacked.data() + t0 * padded_rows(p.m, s));
    }
  }
  // Shapes were checked by the callers and nothing below allocates: no exception leaves the region.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (parallel)
  for (std::int64_t task = 0; task < tasks; ++task) {
    // Upper-triangle products: the first tiles carry the most panels; dynamic order balances.
    const std::int64_t t = task / groups, g = task % groups;
    const std::int64_t r0 = t * tile_rows, r1 = std::min(p.m, r0 + tile_rows);
    const std::int64_t q0 = g * per_group, q1 = std::min(panels, q0 + per_group);
    T* mine = scratch.data() + (scratch_size + tile_size) * static_cast<std::size_t>(omp_get_thread_num());
    row_tile<T>(p, r0, r1, q0, q1, mine, mine + scratch_size, prepacked.empty() ? nullptr : prepacked.data());
  }
}

// ---- the reproducible general product (linalg::gemm_reproducible) ----

namespace {

// Inner indices per slice: an element of C is one fma chain per slice, slices summed in
// order. Fixed, so the bits depend on k only, never on m, n, the split of C or the threads.
constexpr std::int64_t kSlice = 4096;
// Elements of op(B) packed at a time: a slice of rows × a block of columns.
constexpr std::int64_t kPackedElements = std::int64_t{1} << 21;

template <class T>
void scale_c(T* c, std::int64_t ldc, std::int64_t m, std::int64_t n, T beta) {
  if (beta == T(1)) return;
#pragma omp parallel for schedule(static) if (m * n > (1 << 16))
  for (std::int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0))
      std::fill_n(row, n, T(0));
    else
      for (std::int64_t j = 0; j < n; ++j) row[j] *= beta;
  }
}

// Packs alpha·op(B)[t0 : t0 + kb, j0 : j0 + nb] for multiply_packed.
template <class T>
void pack_b(const GemmArguments<T>& g, std::int64_t t0, std::int64_t kb, std::int64_t j0, std::int64_t nb, T* out) {
  const T* b = g.trans_b ? g.b + j0 * g.ldb + t0 : g.b + t0 * g.ldb + j0;
  pack_panels(b, kb, nb, g.trans_b ? 1 : g.ldb, g.trans_b ? g.ldb : 1, out);
  if (g.alpha != T(1)) {
    const std::int64_t size = packed_size<T>(kb, nb);
    for (std::int64_t i = 0; i < size; ++i) out[i] *= g.alpha;
  }
}

// The product of slice s (inner [t0, t0 + kb)) and columns [j0, j0 + nb) of op(B), packed,
// into C (continuing C's chain when `continue_c`, else added to C when `add`).
template <class T>
DenseProduct<T> slice_product(const GemmArguments<T>& g, std::int64_t t0, std::int64_t kb, const T* packed,
                              std::int64_t j0, std::int64_t nb, T* c, std::int64_t ldc, bool continue_c, bool add) {
  return {.a = g.trans_a ? g.a + t0 * g.lda : g.a + t0, .lda = g.lda, .a_transposed = g.trans_a, .m = g.m,
          .inner = kb, .packed = packed, .n = nb, .c = c + j0, .ldc = ldc, .accumulate = continue_c, .add = add};
}

}  // namespace

template <class T>
void gemm_kernel(const GemmArguments<T>& g) {
  const std::int64_t m = g.m, n = g.n, k = g.k;
  (void)family<T>();  // as in multiply_packed
  if (m == 0 || n == 0) return;
  if (k == 0 || g.alpha == T(0)) {
    scale_c(g.c, g.ldc, m, n, g.beta);
    return;
  }
  if (g.beta != T(0)) scale_c(g.c, g.ldc, m, n, g.beta);  // beta = 0: slice 0 overwrites C
  const bool c_holds = g.beta != T(0);  // slice 0's chains start from beta·C, else from 0
  const std::int64_t slices = (k + kSlice - 1) / kSlice;
  const std::int64_t W = panel_width<T>();
  const int threads = omp_get_max_threads();
  // A small C over a long inner dimension (a Gram matrix of a tall block): the slices are
  // computed in parallel, slice 0 into C, the others into their own buffers, which are then
  // added in slice order — the same sums, in the same order, as one slice after another.
  if (slices > 1 && threads > 1 && m * n <= (1 << 15) && n <= 512) {
    const std::int64_t batch = std::min<std::int64_t>(slices, 4 * threads);
    const std::size_t c_size = static_cast<std::size_t>(m * n);
    const std::size_t b_size = static_cast<std::size_t>(packed_size<T>(kSlice, n));
    std::vector<T> parts(c_size * static_cast<std::size_t>(batch));
    std::vector<T> packed(b_size * static_cast<std::size_t>(threads));
    for (std::int64_t s0 = 0; s0 < slices; s0 += batch) {
      const std::int64_t count = std::min(batch, slices - s0);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (std::int64_t i = 0; i < count; ++i) {
        const std::int64_t s = s0 + i, t0 = s * kSlice, kb = std::min(kSlice, k - t0);
        T* pb = packed.data() + b_size * static_cast<std::size_t>(omp_get_thread_num());
        pack_b(g, t0, kb, 0, n, pb);
        if (s == 0)
          multiply_packed<T>(slice_product(g, t0, kb, pb, 0, n, g.c, g.ldc, c_holds, false));
        else
          multiply_packed<T>(slice_product(g, t0, kb, pb, 0, n, parts.data() + c_size * i, n, false, false));
      }
      for (std::int64_t i = s0 == 0 ? 1 : 0; i < count; ++i) {
        const T* part = parts.data() + c_size * static_cast<std::size_t>(i);
        for (std::int64_t r = 0; r < m; ++r) {
          T* c = g.c + r * g.ldc;
          for (std::int64_t j = 0; j < n; ++j) c[j] += part[r * n + j];
        }
      }
    }
    return;
  }
  // Otherwise block by block of op(B): each block is packed once and multiplied by all of
  // op(A) in parallel over tiles of C.
  const std::int64_t kb_max = std::min(k, kSlice);
  const std::int64_t nb_max = std::max(W, kPackedElements / kb_max / W * W);
  // The calling thread's packing buffer (at most kPackedElements, 8 MiB of float), kept for its
  // next call: a fresh one per call costs the kernel's page clearing (a quarter of the time of
  // exact k-NN's many block products, measured) and is never returned to be reused anyway.
  thread_local std::unique_ptr<T[]> buffer;
  thread_local std::size_t capacity = 0;
  const auto needed = static_cast<std::size_t>(packed_size<T>(kb_max, std::min(n, nb_max)));
  if (capacity < needed) {
    buffer.reset();
    buffer.reset(new T[needed]);  // uninitialised: pack_b writes every element multiply_packed reads
    capacity = needed;
  }
  T* const packed = buffer.get();
  for (std::int64_t j0 = 0; j0 < n; j0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, n - j0);
    for (std::int64_t s = 0; s < slices; ++s) {
      const std::int64_t t0 = s * kSlice, kb = std::min(kSlice, k - t0);
      pack_b(g, t0, kb, j0, nb, packed);
      multiply_packed<T>(slice_product(g, t0, kb, packed, j0, nb, g.c, g.ldc, s == 0 && c_holds, s > 0));
    }
  }
}

template std::int64_t panel_width<float>();
template std::int64_t panel_width<double>();
template std::int64_t packed_size<float>(std::int64_t, std::int64_t);
template std::int64_t packed_size<double>(std::int64_t, std::int64_t);
template void pack_panels<float>(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                 float*) noexcept;
template void pack_panels<double>(const double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                  double*) noexcept;
template void multiply_packed<float>(const DenseProduct<float>&);
template void multiply_packed<double>(const DenseProduct<double>&);
template void gemm_kernel<float>(const GemmArguments<float>&);
template void gemm_kernel<double>(const GemmArguments<double>&);

}  // namespace detail

std::string_view dense_kernel_isa() { return detail::isa_name(detail::isa()); }

}  // namespace lowdim
