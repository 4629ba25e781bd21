// The one place that makes random numbers.

#include <lowdim/random.hpp>

#include <Random123/philox.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>
#include <unordered_set>

namespace lowdim {
namespace {

constexpr std::uint32_t kPhiloxM0 = 0xD2511F53, kPhiloxM1 = 0xCD9E8D57;  // Salmon et al. 2011
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9, kPhiloxW1 = 0xBB67AE85;

inline std::array<std::uint32_t, 4> philox(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter) noexcept {
  r123::Philox4x32 generator;
  const r123::Philox4x32::ctr_type ctr = {{static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32),
                                           static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
  const r123::Philox4x32::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const auto r = generator(ctr, key);
  return {r[0], r[1], r[2], r[3]};
}

inline std::uint64_t join(std::uint32_t lo, std::uint32_t hi) noexcept {
  return static_cast<std::uint64_t>(lo) | (static_cast<std::uint64_t>(hi) << 32);
}

constexpr float kTwoPow24Inv = 1.0f / 16777216.0f;         // 2⁻²⁴

// Normals come in groups: group g is the 2·kGroup numbers of indices
// [2·kGroup·g, 2·kGroup·(g + 1)), made from the kGroup counters kGroup·g + l by
// Box–Muller (counter c gives indices 2c and 2c + 1). Every normal lowdim
// produces goes through normal_group, so a number depends on its index alone,
// never on where a fill starts or how it is split. The loops are written for
// the vectorizer: Philox across lanes, and log/sqrt/sincos through glibc's
// vector math (this file is compiled with -ffast-math; it holds no NaN logic).
constexpr int kGroup = 16;


// Philox4x32-10 of counters (first + l, stream) for l < kGroup, lane-parallel;
// equal to philox() lane by lane (the known-answer tests check philox(), and
// random_test checks that fills agree with it).
inline void philox_group(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                         std::uint32_t (&out)[4][kGroup]) noexcept {
  // 32-bit words held in 64-bit lanes: the 32 × 32 → 64 products then map to
  // the SIMD unsigned multiply (pmuludq) and the loop vectorizes.
  std::uint64_t x0[kGroup], x1[kGroup], x2[kGroup], x3[kGroup];
  for (int l = 0; l < kGroup; ++l) {
    const std::uint64_t c = first + static_cast<std::uint64_t>(l);
    x0[l] = c & 0xFFFFFFFFU;
    x1[l] = c >> 32;
    x2[l] = stream & 0xFFFFFFFFU;
    x3[l] = stream >> 32;
  }
  const std::uint64_t key0 = seed & 0xFFFFFFFFU, key1 = seed >> 32;
#pragma omp simd
  for (int l = 0; l < kGroup; ++l) {
    std::uint64_t k0 = key0, k1 = key1;
    for (int round = 0; round < 10; ++round) {
      // Operands truncated to 32 bits explicitly: the widening multiply (pmuludq).
      const std::uint64_t p0 = std::uint64_t{kPhiloxM0} * static_cast<std::uint32_t>(x0[l]);
      const std::uint64_t p1 = std::uint64_t{kPhiloxM1} * static_cast<std::uint32_t>(x2[l]);
      const std::uint64_t y0 = (p1 >> 32) ^ x1[l] ^ k0;
      const std::uint64_t y2 = (p0 >> 32) ^ x3[l] ^ k1;
      x1[l] = p1 & 0xFFFFFFFFU;
      x3[l] = p0 & 0xFFFFFFFFU;
      x0[l] = y0;
      x2[l] = y2;
      k0 = (k0 + kPhiloxW0) & 0xFFFFFFFFU;
      k1 = (k1 + kPhiloxW1) & 0xFFFFFFFFU;
    }
  }
  for (int l = 0; l < kGroup; ++l) {
    out[0][l] = static_cast<std::uint32_t>(x0[l]);
    out[1][l] = static_cast<std::uint32_t>(x1[l]);
    out[2][l] = static_cast<std::uint32_t>(x2[l]);
    out[3][l] = static_cast<std::uint32_t>(x3[l]);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define LOWDIM_HAVE_AVX2_PHILOX 1
// The same Philox4x32-10 with AVX2 intrinsics: four counters per register,
// 32-bit words in 64-bit lanes, _mm256_mul_epu32 for the 32 × 32 → 64 products.
__attribute__((target("avx2"))) inline void philox_group_avx2(std::uint64_t seed, std::uint64_t stream,
                                                               std::uint64_t first,
                                                               std::uint32_t (&out)[4][kGroup]) noexcept {
  const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFF);
  const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0), m1 = _mm256_set1_epi64x(kPhiloxM1);
  const __m256i s_lo = _mm256_set1_epi64x(static_cast<long long>(stream & 0xFFFFFFFFU));
  const __m256i s_hi = _mm256_set1_epi64x(static_cast<long long>(stream >> 32));
  for (int v = 0; v < kGroup / 4; ++v) {
    const std::uint64_t c = first + static_cast<std::uint64_t>(4 * v);
    const __m256i counter = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(c)), _mm256_setr_epi64x(0, 1, 2, 3));
    __m256i x0 = _mm256_and_si256(counter, low32), x1 = _mm256_srli_epi64(counter, 32), x2 = s_lo, x3 = s_hi;
    std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const __m256i p0 = _mm256_mul_epu32(x0, m0), p1 = _mm256_mul_epu32(x2, m1);
      const __m256i key0 = _mm256_set1_epi64x(k0), key1 = _mm256_set1_epi64x(k1);
      x0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1), key0);
      x2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3), key1);
      x1 = _mm256_and_si256(p1, low32);
      x3 = _mm256_and_si256(p0, low32);
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    alignas(32) std::uint64_t lanes[4][4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[0]), x0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[1]), x1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[2]), x2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[3]), x3);
    for (int w = 0; w < 4; ++w)
      for (int l = 0; l < 4; ++l) out[w][4 * v + l] = static_cast<std::uint32_t>(lanes[w][l]);
  }
}
#endif

// A double in [1, 2) from the top 52 bits of x: exact, and vectorizable (no
// integer-to-float conversion, which SIMD lacks for 64-bit integers before AVX-512).
inline double one_to_two(std::uint64_t x) noexcept {
  return std::bit_cast<double>((x >> 12) | 0x3FF0000000000000ULL);
}

// Box–Muller of one group of Philox words (normal_group's second half).
inline void box_muller_group(const std::uint32_t (&x)[4][kGroup], double* out) noexcept {
  double radius[kGroup], angle[kGroup];
  for (int l = 0; l < kGroup; ++l) {
    // u1 = 2 − [1, 2) ∈ (0, 1], so log(u1) is finite; u2 ∈ [0, 1). 52 random bits each.
    const double u1 = 2.0 - one_to_two(join(x[0][l], x[1][l]));
    const double u2 = one_to_two(join(x[2][l], x[3][l])) - 1.0;
    radius[l] = u1;
    angle[l] = 2.0 * std::numbers::pi * u2;
  }
  // Separate loops: GCC would fuse sin and cos of one angle into sincos,
  // which has no vector variant, and then vectorize nothing.
  double z0[kGroup], z1[kGroup];
#pragma omp simd
  for (int l = 0; l < kGroup; ++l) radius[l] = std::sqrt(-2.0 * std::log(radius[l]));
#pragma omp simd
  for (int l = 0; l < kGroup; ++l) z0[l] = radius[l] * std::cos(angle[l]);
#pragma omp simd
  for (int l = 0; l < kGroup; ++l) z1[l] = radius[l] * std::sin(angle[l]);
  for (int l = 0; l < kGroup; ++l) {
    out[2 * l] = z0[l];
    out[2 * l + 1] = z1[l];
  }
}

#if LOWDIM_HAVE_AVX2_PHILOX
// Two builds of the group: AVX2 (Philox intrinsics, 4-lane vector math) and a
// portable one; both compute the same Philox words, and the vector math
// differs from the scalar at most in the last bits.
__attribute__((target("avx2"))) void normal_group_avx2(std::uint64_t seed, std::uint64_t stream, std::uint64_t group,
                                                       double* out) noexcept {
  std::uint32_t x[4][kGroup];
  philox_group_avx2(seed, stream, group * kGroup, x);
  box_muller_group(x, out);
}
#endif
void normal_group_portable(std::uint64_t seed, std::uint64_t stream, std::uint64_t group, double* out) noexcept {
  std::uint32_t x[4][kGroup];
  philox_group(seed, stream, group * kGroup, x);
  box_muller_group(x, out);
}
using NormalGroup = void (*)(std::uint64_t, std::uint64_t, std::uint64_t, double*) noexcept;
NormalGroup select_normal_group() noexcept {
#if LOWDIM_HAVE_AVX2_PHILOX
  if (__builtin_cpu_supports("avx2")) return normal_group_avx2;
#endif
  return normal_group_portable;
}
const NormalGroup normal_group = select_normal_group();

// Writes the normals of indices [index, index + count) to out.
template <class T>
void normal_run(const RandomStream& s, std::uint64_t index, std::int64_t count, T* out) noexcept {
  constexpr std::uint64_t kPerGroup = 2 * kGroup;
  double buffer[kPerGroup];
  std::int64_t j = 0;
  while (j < count) {
    const std::uint64_t e = index + static_cast<std::uint64_t>(j);
    const std::uint64_t offset = e % kPerGroup;
    normal_group(s.seed(), s.stream(), e / kPerGroup, buffer);
    const std::int64_t take = std::min<std::int64_t>(count - j, static_cast<std::int64_t>(kPerGroup - offset));
    for (std::int64_t t = 0; t < take; ++t) out[j + t] = static_cast<T>(buffer[offset + static_cast<std::uint64_t>(t)]);
    j += take;
  }
}

// Uniforms: index e is the 64-bit half e % 2 of counter e / 2, made by
// philox_group in groups of 2·kGroup indices like the normals.
template <class T>
void uniform_run(const RandomStream& s, std::uint64_t index, std::int64_t count, T* out) noexcept {
  constexpr std::uint64_t kPerGroup = 2 * kGroup;
  std::int64_t j = 0;
  while (j < count) {
    const std::uint64_t e = index + static_cast<std::uint64_t>(j);
    const std::uint64_t offset = e % kPerGroup;
    std::uint32_t x[4][kGroup];
    philox_group(s.seed(), s.stream(), e / kPerGroup * kGroup, x);
    const std::int64_t take = std::min<std::int64_t>(count - j, static_cast<std::int64_t>(kPerGroup - offset));
    for (std::int64_t t = 0; t < take; ++t) {
      const std::uint64_t k = offset + static_cast<std::uint64_t>(t), lane = k / 2;
      const std::uint64_t bits = (k & 1U) ? join(x[2][lane], x[3][lane]) : join(x[0][lane], x[1][lane]);
      if constexpr (std::is_same_v<T, float>) {
        out[j + t] = static_cast<float>(bits >> 40) * kTwoPow24Inv;
      } else {
        out[j + t] = uniform_from_bits(bits);
      }
    }
    j += take;
  }
}

template <class T>
void rademacher_run(const RandomStream& s, std::uint64_t index, std::int64_t count, T* out) noexcept {
  std::int64_t j = 0;
  while (j < count) {
    const std::uint64_t e = index + static_cast<std::uint64_t>(j);
    const auto r = s.bits(e >> 7);
    const std::int64_t end = std::min<std::int64_t>(count, j + static_cast<std::int64_t>(128 - (e & 127)));
    for (; j < end; ++j) {
      const unsigned bit = static_cast<unsigned>((index + static_cast<std::uint64_t>(j)) & 127);
      out[j] = ((r[bit >> 5] >> (bit & 31)) & 1U) ? T(1) : T(-1);
    }
  }
}

// Runs fn(row pointer, first index of the row, count) over out in parallel;
// long rows are split so that small-row and one-row matrices both parallelise.
template <class T, class Fn>
void fill_rows(MatrixView<T> out, std::uint64_t first, Fn fn) {
  constexpr std::int64_t kChunk = 8192;
  const std::int64_t rows = out.rows(), cols = out.cols();
  if (rows == 0 || cols == 0) return;
  const std::int64_t chunks_per_row = (cols + kChunk - 1) / kChunk;
  const std::int64_t total = rows * chunks_per_row;
#pragma omp parallel for schedule(static) if (rows * cols > 4 * kChunk)
  for (std::int64_t t = 0; t < total; ++t) {
    const std::int64_t r = t / chunks_per_row, c0 = (t % chunks_per_row) * kChunk;
    const std::int64_t count = std::min(kChunk, cols - c0);
    fn(out.row(r) + c0, first + static_cast<std::uint64_t>(r * cols + c0), count);
  }
}

}  // namespace

std::array<std::uint32_t, 4> RandomStream::bits(std::uint64_t counter) const noexcept {
  return philox(seed_, stream_, counter);
}

std::uint64_t RandomStream::bits64(std::uint64_t index) const noexcept {
  const auto r = bits(index >> 1);
  return (index & 1U) ? join(r[2], r[3]) : join(r[0], r[1]);
}

std::uint64_t RandomStream::below(std::uint64_t index, std::uint64_t n) const noexcept {
  return below_from_bits(bits64(index), n);
}

double RandomStream::uniform(std::uint64_t index) const noexcept { return uniform_from_bits(bits64(index)); }

double RandomStream::normal(std::uint64_t index) const noexcept {
  double value;
  normal_run(*this, index, 1, &value);
  return value;
}

template <class T>
void fill_normal(MatrixView<T> out, const RandomStream& stream, std::uint64_t first) {
  fill_rows(out, first, [&](T* p, std::uint64_t index, std::int64_t count) { normal_run(stream, index, count, p); });
}
template <class T>
void fill_uniform(MatrixView<T> out, const RandomStream& stream, std::uint64_t first) {
  fill_rows(out, first, [&](T* p, std::uint64_t index, std::int64_t count) { uniform_run(stream, index, count, p); });
}
template <class T>
void fill_rademacher(MatrixView<T> out, const RandomStream& stream, std::uint64_t first) {
  fill_rows(out, first,
            [&](T* p, std::uint64_t index, std::int64_t count) { rademacher_run(stream, index, count, p); });
}

std::vector<std::int64_t> sample_without_replacement(std::int64_t n, std::int64_t k, const RandomStream& stream) {
  LOWDIM_CHECK(n >= 0 && k >= 0 && k <= n, "sample_without_replacement: cannot draw {} distinct indices from {}", k,
               n);
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(k));
  if (2 * k >= n) {
    // Dense case: the first k of a random permutation.
    auto p = permutation(n, stream);
    out.assign(p.begin(), p.begin() + k);
  } else {
    // Floyd's algorithm: k draws, each index equally likely, no rejection loop.
    std::unordered_set<std::int64_t> chosen;
    chosen.reserve(static_cast<std::size_t>(2 * k));
    for (std::int64_t j = n - k, draw = 0; j < n; ++j, ++draw) {
      const auto t = static_cast<std::int64_t>(stream.below(static_cast<std::uint64_t>(draw), static_cast<std::uint64_t>(j + 1)));
      const std::int64_t pick = chosen.contains(t) ? j : t;
      chosen.insert(pick);
      out.push_back(pick);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> permutation(std::int64_t n, const RandomStream& stream) {
  LOWDIM_CHECK(n >= 0, "permutation: negative length {}", n);
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(stream.below(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i + 1)));
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

#define LOWDIM_INSTANTIATE(T)                                                                    \
  template LOWDIM_API void fill_normal<T>(MatrixView<T>, const RandomStream&, std::uint64_t);     \
  template LOWDIM_API void fill_uniform<T>(MatrixView<T>, const RandomStream&, std::uint64_t);    \
  template LOWDIM_API void fill_rademacher<T>(MatrixView<T>, const RandomStream&, std::uint64_t);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
