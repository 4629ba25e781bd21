// The one place that makes random numbers.

#include <lowdim/random.hpp>

#include <Random123/philox.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <unordered_set>

namespace lowdim {
namespace {

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

constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;  // 2⁻⁵³
constexpr float kTwoPow24Inv = 1.0f / 16777216.0f;         // 2⁻²⁴

// Box–Muller on the two 64-bit uniforms of one counter: u1 ∈ (0, 1], u2 ∈ [0, 1).
inline void normal_pair(const std::array<std::uint32_t, 4>& r, double& z0, double& z1) noexcept {
  const double u1 = static_cast<double>((join(r[0], r[1]) >> 11) + 1) * kTwoPow53Inv;
  const double u2 = static_cast<double>(join(r[2], r[3]) >> 11) * kTwoPow53Inv;
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  z0 = radius * std::cos(angle);
  z1 = radius * std::sin(angle);
}

// Writes count consecutive numbers of indices [index, index + count) to out.
template <class T>
void normal_run(const RandomStream& s, std::uint64_t index, std::int64_t count, T* out) noexcept {
  std::int64_t j = 0;
  if (count > 0 && (index & 1U)) {  // odd start: the second of a pair
    double z0, z1;
    normal_pair(s.bits(index >> 1), z0, z1);
    out[j++] = static_cast<T>(z1);
  }
  for (; j + 1 < count; j += 2) {
    double z0, z1;
    normal_pair(s.bits((index + static_cast<std::uint64_t>(j)) >> 1), z0, z1);
    out[j] = static_cast<T>(z0);
    out[j + 1] = static_cast<T>(z1);
  }
  if (j < count) {
    double z0, z1;
    normal_pair(s.bits((index + static_cast<std::uint64_t>(j)) >> 1), z0, z1);
    out[j] = static_cast<T>(z0);
  }
}

template <class T>
void uniform_run(const RandomStream& s, std::uint64_t index, std::int64_t count, T* out) noexcept {
  for (std::int64_t j = 0; j < count; ++j) {
    const std::uint64_t x = s.bits64(index + static_cast<std::uint64_t>(j));
    if constexpr (std::is_same_v<T, float>) {
      out[j] = static_cast<float>(x >> 40) * kTwoPow24Inv;
    } else {
      out[j] = static_cast<double>(x >> 11) * kTwoPow53Inv;
    }
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
  __extension__ using u128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<u128>(bits64(index)) * n) >> 64);
}

double RandomStream::uniform(std::uint64_t index) const noexcept {
  return static_cast<double>(bits64(index) >> 11) * kTwoPow53Inv;
}

double RandomStream::normal(std::uint64_t index) const noexcept {
  double z0, z1;
  normal_pair(bits(index >> 1), z0, z1);
  return (index & 1U) ? z1 : z0;
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
