#ifndef LOWDIM_TESTS_EXTREME_INPUTS_HPP
#define LOWDIM_TESTS_EXTREME_INPUTS_HPP

// The table of extreme but finite inputs that every public numerical entry point
// must survive (issue 9 §2): each case gives a correct result or a lowdim::error
// naming the problem, never an abort, a crash or silent NaN/Inf output.
//
// Each module's test file runs its public functions over extreme_cases<T>() and
// checks the answer its own way (scale invariance against the `reference` case,
// finiteness, or a clear error).

#include "test_support.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace lowdim::test {

struct ExtremeCase {
  std::string name;
  /// The multiplier from the well-scaled reference case (1 for cases that are
  /// not a scaling of it, such as zeros or rank one): a scale-invariant result
  /// (singular vectors, whitened output, projected directions) must match the
  /// reference's, and scale-covariant ones (singular values) must be `scale`
  /// times the reference's, when the result is representable.
  double scale = 1;
  /// True when the case is the well-scaled reference itself or a scaling of it.
  bool scaled_reference = false;
};

/// A case and its matrix.
template <class T>
struct ExtremeInput {
  ExtremeCase info;
  Matrix<T> a;
};

/// rows × cols inputs: the well-scaled reference (N(0, 1) with a decaying
/// spectrum so that singular vectors are well separated), its scalings to near
/// the largest normal number, near the smallest normal number and into the
/// denormals, one huge entry among ordinary ones, all zeros, rank one, constant
/// columns, and (independently of rows and cols) one row and one column.
template <class T>
std::vector<ExtremeInput<T>> extreme_cases(std::int64_t rows, std::int64_t cols, std::uint64_t seed = 77) {
  using limits = std::numeric_limits<T>;
  std::vector<ExtremeInput<T>> out;
  const std::int64_t r = std::min(rows, cols);
  std::vector<double> spectrum(static_cast<std::size_t>(r));
  for (std::int64_t i = 0; i < r; ++i) spectrum[static_cast<std::size_t>(i)] = std::pow(0.8, static_cast<double>(i));
  auto reference = with_spectrum<T>(rows, cols, spectrum, seed);
  double largest = 0;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) largest = std::max(largest, std::abs(static_cast<double>(reference(i, j))));

  const auto scaled = [&](const std::string& name, double factor) {
    auto m = Matrix<T>::uninitialized(rows, cols);
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j) m(i, j) = static_cast<T>(static_cast<double>(reference(i, j)) * factor);
    out.push_back({{name, factor, true}, std::move(m)});
  };
  // Powers of two keep the scaled copies exact (denormals excepted): 2^(e − ⌊log₂ largest⌋)
  // puts the largest entry in [2^e, 2^(e+1)).
  const int top = std::ilogb(largest);
  const int root_size = static_cast<int>(std::ceil(0.5 * std::log2(static_cast<double>(rows * cols))));
  scaled("reference", 1);
  scaled("near largest normal", std::ldexp(1.0, limits::max_exponent - 4 - top));
  scaled("near largest normal / sqrt(size)", std::ldexp(1.0, limits::max_exponent - 2 - root_size - top));
  scaled("near smallest normal", std::ldexp(1.0, limits::min_exponent + 2 - top));
  scaled("denormal", std::ldexp(1.0, limits::min_exponent - limits::digits / 2 - top));
  scaled("times 1e30 (double) / 2^40 (float)", std::is_same_v<T, double> ? 1e30 : std::ldexp(1.0, 40));

  auto spike = Matrix<T>::copy_of(reference.cview());
  spike(rows / 2, cols / 2) = static_cast<T>(std::ldexp(1.0, limits::max_exponent - 8));
  out.push_back({{"one huge entry", 1, false}, std::move(spike)});

  out.push_back({{"all zeros", 1, false}, Matrix<T>(rows, cols)});

  auto rank_one = Matrix<T>::uninitialized(rows, cols);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      rank_one(i, j) = static_cast<T>((1.0 + static_cast<double>(i % 7)) * (0.5 - static_cast<double>(j % 5)));
  out.push_back({{"rank one", 1, false}, std::move(rank_one)});

  auto constant = Matrix<T>::copy_of(reference.cview());
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; j += 2) constant(i, j) = T(3.25);
  out.push_back({{"constant columns", 1, false}, std::move(constant)});

  out.push_back({{"one row", 1, false}, gaussian<T>(1, cols, seed + 5)});
  out.push_back({{"one column", 1, false}, gaussian<T>(rows, 1, seed + 6)});
  return out;
}

/// n × n symmetric positive semi-definite inputs for the symmetric solvers, built like
/// extreme_cases: the reference V·diag(0.8^i)·Vᵀ (random orthonormal V), its scalings (same
/// names and factors), one huge diagonal entry, all zeros, rank one (v·vᵀ), all entries equal
/// (rank one), and 1 × 1.
template <class T>
std::vector<ExtremeInput<T>> extreme_symmetric_cases(std::int64_t n, std::uint64_t seed = 78) {
  using limits = std::numeric_limits<T>;
  std::vector<ExtremeInput<T>> out;
  auto v = gaussian<double>(n, n, seed);
  linalg::qr<double>(v.view());
  Matrix<double> reference(n, n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (std::int64_t l = 0; l < n; ++l) sum += v(i, l) * std::pow(0.8, static_cast<double>(l)) * v(j, l);
      reference(i, j) = sum;
    }
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < i; ++j) reference(i, j) = reference(j, i);  // exactly symmetric
  double largest = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) largest = std::max(largest, std::abs(reference(i, j)));
  const auto scaled = [&](const std::string& name, double factor) {
    auto m = Matrix<T>::uninitialized(n, n);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) m(i, j) = static_cast<T>(reference(i, j) * factor);
    out.push_back({{name, factor, true}, std::move(m)});
  };
  scaled("reference", 1);
  scaled("near largest normal", std::ldexp(1.0, limits::max_exponent - 4) / largest);
  scaled("near largest normal / sqrt(size)", std::ldexp(1.0 / largest / static_cast<double>(n), limits::max_exponent - 2));
  scaled("near smallest normal", std::ldexp(1.0, limits::min_exponent + 2) / largest);
  scaled("denormal", std::ldexp(1.0, limits::min_exponent - limits::digits / 2) / largest);
  scaled("times 1e30 (double) / 1e30 / 2^40 (float)", std::is_same_v<T, double> ? 1e30 : std::ldexp(1.0, 40));

  auto spike = Matrix<T>::uninitialized(n, n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) spike(i, j) = static_cast<T>(reference(i, j));
  spike(n / 2, n / 2) = static_cast<T>(std::ldexp(1.0, limits::max_exponent - 8));
  out.push_back({{"one huge diagonal entry", 1, false}, std::move(spike)});

  out.push_back({{"all zeros", 1, false}, Matrix<T>(n, n)});

  auto rank_one = Matrix<T>::uninitialized(n, n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      rank_one(i, j) = static_cast<T>((1.0 + static_cast<double>(i % 7)) * (1.0 + static_cast<double>(j % 7)));
  out.push_back({{"rank one", 1, false}, std::move(rank_one)});

  auto constant = Matrix<T>::uninitialized(n, n);
  constant.view().fill(T(3.25));
  out.push_back({{"all entries equal", 1, false}, std::move(constant)});

  auto one = Matrix<T>::uninitialized(1, 1);
  one(0, 0) = T(2.5);
  out.push_back({{"one by one", 1, false}, std::move(one)});
  return out;
}

/// True when every element is finite.
template <class T>
bool all_finite(ConstMatrixView<T> m) {
  for (std::int64_t i = 0; i < m.rows(); ++i)
    for (std::int64_t j = 0; j < m.cols(); ++j)
      if (!std::isfinite(static_cast<double>(m(i, j)))) return false;
  return true;
}

}  // namespace lowdim::test

#endif
