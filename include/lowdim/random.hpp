#ifndef LOWDIM_RANDOM_HPP
#define LOWDIM_RANDOM_HPP

/// \file
/// Counter-based random numbers: Philox4x32-10 (Random123). A stream is
/// (seed, stream id); the i-th number of a stream is a pure function of
/// (seed, stream, i), never of a shared running state. Filling a view assigns
/// element (r, c) the number of index first + r·cols + c, so the output is
/// bit-identical for any thread count and for any split of a big matrix into
/// blocks: generating rows [r0, r1) of an R × C matrix is fill(block, first = r0·C).

#include <lowdim/matrix.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace lowdim {

/// The stream ids of lowdim's random objects, in one registry so that no two uses share a
/// stream by accident. A value is fixed once released: changing it changes every result
/// drawn from it. Modules add their ids here, never as constants of their own.
enum class StreamId : std::uint64_t {
  // rsvd
  rsvd_range = 1,          ///< Ω of the range finder, block Krylov and Nyström
  rsvd_qb = 2,             ///< Ω_i of adaptive QB
  streaming_omega = 3,     ///< single-pass sketch test matrices Ω, Ψ, Υ, Φ, Θ
  streaming_psi = 4,
  streaming_upsilon = 5,
  streaming_phi = 6,
  streaming_theta = 7,
  krylov_fallback = 9,     ///< replacement blocks when a Krylov space is exhausted
  // operators
  sketch_gaussian = 0x5301,
  sketch_rademacher = 0x5302,
  sketch_sparse = 0x5303,
  sketch_srht_signs = 0x5304,
  sketch_srht_rows = 0x5305,
  sketch_countsketch = 0x5306,
  sketch_orthogonal = 0x5307,        ///< Gaussian blocks whose Q factors are the ORF rows
  sketch_row_norms = 0x5308,         ///< χ(d) row norms of orthogonal and simplex
  sketch_hadamard_signs = 0x5309,    ///< D₁, D₂, D₃ of structured_orthogonal / hadamard_rotation
  sketch_simplex_rotation = 0x530A,  ///< the random rotations of simplex blocks
  // jl
  jl_pairs = 0x4A4C01,
  // lsh
  lsh_projection = 0x4C5301,      ///< the Gaussian directions of simhash and pstable
  lsh_offsets = 0x4C5302,         ///< pstable offsets b ~ U[0, w)
  lsh_feature_hash = 0x4C5303,    ///< cross_polytope's countsketch down to cp_dim
  lsh_rotation = 0x4C5304,        ///< cross_polytope's H·D₁·H·D₂·H·D₃ rotations
  lsh_width_sample = 0x4C5305,    ///< the points whose neighbour distances set pstable's width
  lsh_tuner = 0x4C5306,           ///< the tuner's sample and held-out queries
  lsh_sketch = 0x4C5307,          ///< the Gaussian JL sketch of the two-stage re-ranking
  lsh_model = 0x4C5308,           ///< the cross_polytope collision simulation of the model
  // attention
  attention_inputs = 0x5A01,      ///< q, k, v of the attention error experiment and benchmark
};

/// The uniform double in [0, 1) that 64 random bits give: their top 53 bits.
constexpr double uniform_from_bits(std::uint64_t bits) noexcept {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}
/// The uniform integer in [0, n) that 64 random bits give (multiply-shift; bias below n / 2⁶⁴).
constexpr std::uint64_t below_from_bits(std::uint64_t bits, std::uint64_t n) noexcept {
  __extension__ using u128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<u128>(bits) * n) >> 64);
}

/// A random stream (seed, stream id) of Philox4x32-10: its i-th number is a pure function of (seed, stream, i).
class LOWDIM_API RandomStream {
 public:
  /// The stream of this seed and numeric id.
  constexpr explicit RandomStream(std::uint64_t seed, std::uint64_t stream = 0) noexcept
      : seed_(seed), stream_(stream) {}
  /// The stream of this seed and registered id.
  constexpr RandomStream(std::uint64_t seed, StreamId stream) noexcept
      : seed_(seed), stream_(static_cast<std::uint64_t>(stream)) {}

  std::uint64_t seed() const noexcept { return seed_; }  ///< The seed (Philox key).
  /// The stream id (upper half of the Philox counter).
  std::uint64_t stream() const noexcept { return stream_; }
  /// Another stream of the same seed; streams with different ids are independent.
  constexpr RandomStream with_stream(std::uint64_t stream) const noexcept { return RandomStream(seed_, stream); }

  /// The 128 bits Philox4x32-10 gives for this counter: key = seed, counter = (counter, stream).
  std::array<std::uint32_t, 4> bits(std::uint64_t counter) const noexcept;
  /// 64 uniform bits for index i (one half of bits(i / 2)).
  std::uint64_t bits64(std::uint64_t index) const noexcept;
  /// Uniform integer in [0, n) for index i (n ≥ 1; bias below n / 2⁶⁴).
  std::uint64_t below(std::uint64_t index, std::uint64_t n) const noexcept;
  /// Uniform double in [0, 1) with 53 random bits, for index i.
  double uniform(std::uint64_t index) const noexcept;
  /// Standard normal for index i (Box–Muller on the two uniforms of counter i / 2; computes
  /// a group of 32 numbers, so use fill_normal for bulk).
  double normal(std::uint64_t index) const noexcept;

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
};

/// Element (r, c) of out ← N(0, 1) of index first + r·cols + c. Float output is
/// the double value rounded. OpenMP-parallel over fixed blocks.
template <class T>
LOWDIM_API void fill_normal(MatrixView<T> out, const RandomStream& stream, std::uint64_t first = 0);
/// As fill_normal, with U[0, 1) (float: 24 random bits, never rounded up to 1).
template <class T>
LOWDIM_API void fill_uniform(MatrixView<T> out, const RandomStream& stream, std::uint64_t first = 0);
/// As fill_normal, with ±1 equiprobable (one random bit per element).
template <class T>
LOWDIM_API void fill_rademacher(MatrixView<T> out, const RandomStream& stream, std::uint64_t first = 0);

/// k distinct indices drawn uniformly from [0, n), in increasing order (k ≤ n). O(k log k).
LOWDIM_API std::vector<std::int64_t> sample_without_replacement(std::int64_t n, std::int64_t k,
                                                                const RandomStream& stream);
/// A uniformly random permutation of [0, n) (Fisher–Yates).
LOWDIM_API std::vector<std::int64_t> permutation(std::int64_t n, const RandomStream& stream);

}  // namespace lowdim

#endif
