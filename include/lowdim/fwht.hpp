#ifndef LOWDIM_FWHT_HPP
#define LOWDIM_FWHT_HPP

/// \file
/// Fast Walsh–Hadamard transform, in place on each row of an n × m matrix
/// (m a power of two), vectorized and parallel over rows. H_m is the Sylvester
/// (natural-order) Hadamard matrix, H_m[i][j] = (−1)^popcount(i & j), so
/// H_m·H_m = m·I. Used by SRHT, SORF and cross-polytope LSH.

#include <lowdim/matrix.hpp>

#include <cstdint>

namespace lowdim {

/// True when m is a power of two (m ≥ 1).
constexpr bool is_power_of_two(std::int64_t m) noexcept { return m > 0 && (m & (m - 1)) == 0; }
/// The smallest power of two ≥ m (m ≥ 1).
LOWDIM_API std::int64_t next_power_of_two(std::int64_t m);

/// Each row x_i ← H_m x_i (entries ±1, unnormalised). x: n × m, m a power of
/// two, else invalid_argument. Cost n·m·log₂m additions, O(1) extra memory.
template <class T>
LOWDIM_API void fwht(MatrixView<T> x);

/// Each row x_i ← H_m x_i / √m: the orthonormal, self-inverse transform.
template <class T>
LOWDIM_API void fwht_normalized(MatrixView<T> x);

}  // namespace lowdim

#endif
