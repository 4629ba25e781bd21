#ifndef LOWDIM_TESTS_TEST_SUPPORT_HPP
#define LOWDIM_TESTS_TEST_SUPPORT_HPP

// Helpers shared by the test files: tolerances as powers of epsilon, random
// test matrices with prescribed spectra, scratch directories.

#include <lowdim/linalg.hpp>
#include <lowdim/random.hpp>

#include <cmath>
#include <filesystem>
#include <unistd.h>
#include <limits>
#include <string>
#include <vector>

namespace lowdim::test {

template <class T>
constexpr double eps = std::numeric_limits<T>::epsilon();

/// Max |a − b| over all elements (shapes must agree).
template <class T>
double max_abs_diff(ConstMatrixView<T> a, ConstMatrixView<T> b) {
  double m = 0;
  for (std::int64_t i = 0; i < a.rows(); ++i)
    for (std::int64_t j = 0; j < a.cols(); ++j)
      m = std::max(m, std::abs(static_cast<double>(a(i, j)) - static_cast<double>(b(i, j))));
  return m;
}

/// A rows × cols matrix of N(0, 1) entries.
template <class T>
Matrix<T> gaussian(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  auto m = Matrix<T>::uninitialized(rows, cols);
  fill_normal<T>(m.view(), RandomStream(seed, 999));
  return m;
}

/// A random m × n (m ≥ n or not) matrix with orthonormal Q factors and the given
/// singular values (length min(m, n)), computed in double: U·diag(s)·Vᵀ.
template <class T>
Matrix<T> with_spectrum(std::int64_t m, std::int64_t n, const std::vector<double>& s, std::uint64_t seed) {
  const std::int64_t r = std::min(m, n);
  auto u = gaussian<double>(m, r, seed);
  auto v = gaussian<double>(n, r, seed + 1);
  linalg::qr<double>(u.view());
  linalg::qr<double>(v.view());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < r; ++j) u(i, j) *= s[static_cast<std::size_t>(j)];
  Matrix<double> a(m, n);
  linalg::gemm<double>(Op::none, Op::transpose, 1.0, u.view(), v.view(), 0.0, a.view());
  auto out = Matrix<T>::uninitialized(m, n);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) out(i, j) = static_cast<T>(a(i, j));
  return out;
}

/// ‖QᵀQ − I‖_max for Q with orthonormal columns.
template <class T>
double orthogonality_error(ConstMatrixView<T> q) {
  Matrix<T> g(q.cols(), q.cols());
  linalg::syrk<T>(Op::transpose, T(1), q, T(0), g.view());
  double e = 0;
  for (std::int64_t i = 0; i < g.rows(); ++i)
    for (std::int64_t j = 0; j < g.cols(); ++j) e = std::max(e, std::abs(g(i, j) - (i == j ? 1.0 : 0.0)));
  return e;
}

/// A fresh empty directory under the build tree, removed at scope exit. The
/// process id is part of the name: ctest runs test cases in parallel processes.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(std::filesystem::path(LOWDIM_BINARY_DIR) / "test-tmp" / (name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Runs fn with OpenMP and OpenBLAS set to the given thread count, then restores it.
template <class Fn>
void with_threads(int threads, Fn fn) {
  const int before = linalg::num_threads();
  linalg::set_num_threads(threads);
  fn();
  linalg::set_num_threads(before);
}

}  // namespace lowdim::test

#endif
