// The only translation unit that includes cblas.h and lapacke.h.
//
// Row-major ↔ column-major: a row-major m × n buffer with stride s is the
// column-major n × m matrix Aᵀ with leading dimension s. LAPACK routines are
// therefore called on Aᵀ and the factors read back transposed:
//   QR of A        = LQ of Aᵀ   (gelqf/orglq; Q' read row-major is Q, L read row-major is R)
//   SVD of A       = SVD of Aᵀ  (Aᵀ = V Σ Uᵀ: LAPACK's U is our Vᵀ, its Vᵀ our U)
//   eigh, Cholesky = the same symmetric matrix (a lower triangle read row-major is
//                    an upper triangle column-major)

#include <lowdim/linalg.hpp>

#include "detail/dense_kernel.hpp"
#include "detail/omp_exception.hpp"

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <climits>
#include <limits>
#include <mutex>
#include <vector>

namespace lowdim::linalg {
namespace {

constexpr int kMaxInt = INT_MAX;

// BLAS and LAPACK take 32-bit ints here; refuse what would overflow them.
void check_int(std::int64_t value, const char* routine, const char* what) {
  LOWDIM_CHECK(value <= kMaxInt, "{}: {} = {} exceeds the 32-bit BLAS/LAPACK index range", routine, what, value);
}
template <class V>
void check_view(const V& v, const char* routine) {
  check_int(v.rows(), routine, "rows");
  check_int(v.cols(), routine, "cols");
  check_int(v.stride(), routine, "stride");
}
// BLAS demands a leading dimension ≥ max(1, cols) even for empty matrices.
template <class V>
int ld(const V& v) {
  return static_cast<int>(std::max<std::int64_t>({1, v.stride(), v.cols()}));
}
CBLAS_TRANSPOSE cblas_op(Op op) { return op == Op::none ? CblasNoTrans : CblasTrans; }

void check_info(lapack_int info, const char* routine) {
  if (info < 0) LOWDIM_THROW(invalid_argument, "{}: LAPACK rejected argument {} (internal error)", routine, -info);
  if (info > 0) LOWDIM_THROW(numerical_error, "{}: LAPACK returned info = {}", routine, info);
}

template <class T>
void scale(MatrixView<T> c, T beta) {
  if (beta == T(1)) return;
  for (std::int64_t i = 0; i < c.rows(); ++i) {
    T* row = c.row(i);
    if (beta == T(0)) {
      std::fill_n(row, c.cols(), T(0));
    } else {
      for (std::int64_t j = 0; j < c.cols(); ++j) row[j] *= beta;
    }
  }
}

// The shapes of C (m × n) = op(A) (m × k) · op(B) (k × n), checked.
struct GemmShape {
  std::int64_t m, k, n;
};
template <class T>
GemmShape gemm_shape(Op op_a, Op op_b, In<T> a, In<T> b, MatrixView<T> c, bool blas = true) {
  const std::int64_t m = op_a == Op::none ? a.rows() : a.cols();
  const std::int64_t k = op_a == Op::none ? a.cols() : a.rows();
  const std::int64_t kb = op_b == Op::none ? b.rows() : b.cols();
  const std::int64_t n = op_b == Op::none ? b.cols() : b.rows();
  LOWDIM_CHECK_SHAPE(k == kb && c.rows() == m && c.cols() == n,
                     "gemm: op(A) is {} x {}, op(B) is {} x {}, C is {} x {}", m, k, kb, n, c.rows(), c.cols());
  if (blas) {  // lowdim's own kernel has no 32-bit limits
    check_view(a, "gemm");
    check_view(b, "gemm");
    check_view(c, "gemm");
  }
  return {m, k, n};
}

}  // namespace

template <class T>
void gemm(Op op_a, Op op_b, T alpha, In<T> a, In<T> b, T beta, MatrixView<T> c) {
  const auto [m, k, n] = gemm_shape<T>(op_a, op_b, a, b, c);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {
    scale(c, beta);
    return;
  }
  const auto mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, cblas_op(op_a), cblas_op(op_b), mi, ni, ki, alpha, a.data(), ld(a), b.data(), ld(b),
                beta, c.data(), ld(c));
  } else {
    cblas_dgemm(CblasRowMajor, cblas_op(op_a), cblas_op(op_b), mi, ni, ki, alpha, a.data(), ld(a), b.data(), ld(b),
                beta, c.data(), ld(c));
  }
}

template <class T>
void gemm_reproducible(Op op_a, Op op_b, T alpha, In<T> a, In<T> b, T beta, MatrixView<T> c) {
  const auto [m, k, n] = gemm_shape<T>(op_a, op_b, a, b, c, false);
  // lowdim's own kernel, not OpenBLAS: OpenBLAS's sums depend on the thread count and on
  // where a row sits in the call (detail/dense_kernel.hpp).
  detail::gemm_kernel<T>({.trans_a = op_a == Op::transpose, .trans_b = op_b == Op::transpose, .m = m, .n = n, .k = k,
                          .alpha = alpha, .a = a.data(), .lda = std::max<std::int64_t>(1, a.stride()), .b = b.data(),
                          .ldb = std::max<std::int64_t>(1, b.stride()), .beta = beta, .c = c.data(),
                          .ldc = std::max<std::int64_t>(1, c.stride())});
}

namespace {
// OpenBLAS's thread count is one process-wide setting. Concurrent SequentialBlas scopes
// (Python threads run lowdim calls with the GIL released) share it: the first to enter saves
// the count and sets 1, the last to leave restores it, and set_num_threads while any scope is
// alive changes the count to restore. Each save/restore pair made by hand would interleave:
// a later scope saving the earlier one's 1 and restoring it for good, or an earlier one
// restoring many threads under a later one's factorisation (different bits).
struct BlasThreads {
  std::mutex mutex;
  int holders = 0;  // live SequentialBlas objects
  int saved = 0;    // the count to restore when the last one ends
};
BlasThreads& blas_threads() {
  static BlasThreads state;
  return state;
}
}  // namespace

SequentialBlas::SequentialBlas() {
  auto& s = blas_threads();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (s.holders++ == 0) {
    s.saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
  }
}
SequentialBlas::~SequentialBlas() {
  auto& s = blas_threads();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.holders == 0) openblas_set_num_threads(s.saved);
}

template <class T>
void gemv(Op op_a, T alpha, In<T> a, std::span<const std::type_identity_t<T>> x, T beta, std::span<T> y) {
  const auto rows = static_cast<std::int64_t>(op_a == Op::none ? a.rows() : a.cols());
  const auto cols = static_cast<std::int64_t>(op_a == Op::none ? a.cols() : a.rows());
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(x.size()) == cols && static_cast<std::int64_t>(y.size()) == rows,
                     "gemv: op(A) is {} x {}, x has {} entries, y has {}", rows, cols, x.size(), y.size());
  check_view(a, "gemv");
  if (rows == 0) return;
  if (cols == 0) {
    for (auto& v : y) v = beta == T(0) ? T(0) : v * beta;
    return;
  }
  const auto m = static_cast<int>(a.rows()), n = static_cast<int>(a.cols());
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemv(CblasRowMajor, cblas_op(op_a), m, n, alpha, a.data(), ld(a), x.data(), 1, beta, y.data(), 1);
  } else {
    cblas_dgemv(CblasRowMajor, cblas_op(op_a), m, n, alpha, a.data(), ld(a), x.data(), 1, beta, y.data(), 1);
  }
}

template <class T>
void syrk(Op op_a, T alpha, In<T> a, T beta, MatrixView<T> c) {
  const std::int64_t n = op_a == Op::none ? a.rows() : a.cols();
  const std::int64_t k = op_a == Op::none ? a.cols() : a.rows();
  LOWDIM_CHECK_SHAPE(c.rows() == n && c.cols() == n, "syrk: op(A) is {} x {}, so C must be {} x {}, not {} x {}", n,
                     k, n, n, c.rows(), c.cols());
  check_view(a, "syrk");
  check_view(c, "syrk");
  if (n == 0) return;
  if (k == 0 || alpha == T(0)) {
    scale(c, beta);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    cblas_ssyrk(CblasRowMajor, CblasLower, cblas_op(op_a), static_cast<int>(n), static_cast<int>(k), alpha, a.data(),
                ld(a), beta, c.data(), ld(c));
  } else {
    cblas_dsyrk(CblasRowMajor, CblasLower, cblas_op(op_a), static_cast<int>(n), static_cast<int>(k), alpha, a.data(),
                ld(a), beta, c.data(), ld(c));
  }
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j) c(i, j) = c(j, i);
}

template <class T>
void trsm(Side side, Triangle triangle, Op op_a, T alpha, In<T> a, MatrixView<T> b) {
  const std::int64_t need = side == Side::left ? b.rows() : b.cols();
  LOWDIM_CHECK_SHAPE(a.rows() == a.cols() && a.rows() == need,
                     "trsm: A is {} x {}, B is {} x {}; A must be square of order {}", a.rows(), a.cols(), b.rows(),
                     b.cols(), need);
  check_view(a, "trsm");
  check_view(b, "trsm");
  if (b.empty()) return;
  const auto s = side == Side::left ? CblasLeft : CblasRight;
  const auto u = triangle == Triangle::lower ? CblasLower : CblasUpper;
  if constexpr (std::is_same_v<T, float>) {
    cblas_strsm(CblasRowMajor, s, u, cblas_op(op_a), CblasNonUnit, static_cast<int>(b.rows()),
                static_cast<int>(b.cols()), alpha, a.data(), ld(a), b.data(), ld(b));
  } else {
    cblas_dtrsm(CblasRowMajor, s, u, cblas_op(op_a), CblasNonUnit, static_cast<int>(b.rows()),
                static_cast<int>(b.cols()), alpha, a.data(), ld(a), b.data(), ld(b));
  }
}

template <class T>
void qr(MatrixView<T> a, MatrixView<T> r) {
  const std::int64_t m = a.rows(), n = a.cols();
  LOWDIM_CHECK_SHAPE(m >= n, "qr: A is {} x {}; the thin QR needs rows >= cols", m, n);
  LOWDIM_CHECK_SHAPE(r.empty() || (r.rows() == n && r.cols() == n), "qr: R must be {} x {}, not {} x {}", n, n,
                     r.rows(), r.cols());
  check_view(a, "qr");
  if (n == 0) return;
  // Column-major view: Aᵀ is n × m with leading dimension stride. LQ of Aᵀ.
  const auto rows = static_cast<lapack_int>(n), cols = static_cast<lapack_int>(m), lda = ld(a);
  std::vector<T> tau(static_cast<std::size_t>(n));
  T query{};
  lapack_int info;
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_sgelqf_work(LAPACK_COL_MAJOR, rows, cols, a.data(), lda, tau.data(), &query, -1);
  } else {
    info = LAPACKE_dgelqf_work(LAPACK_COL_MAJOR, rows, cols, a.data(), lda, tau.data(), &query, -1);
  }
  check_info(info, "qr (gelqf workspace query)");
  std::vector<T> work(static_cast<std::size_t>(std::max<T>(query, T(1))));
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_sgelqf_work(LAPACK_COL_MAJOR, rows, cols, a.data(), lda, tau.data(), work.data(),
                               static_cast<lapack_int>(work.size()));
  } else {
    info = LAPACKE_dgelqf_work(LAPACK_COL_MAJOR, rows, cols, a.data(), lda, tau.data(), work.data(),
                               static_cast<lapack_int>(work.size()));
  }
  check_info(info, "qr (gelqf)");
  if (!r.empty()) {
    // L (n × n, column-major lower) read row-major is R (upper).
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) r(i, j) = j >= i ? a(i, j) : T(0);
  }
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_sorglq_work(LAPACK_COL_MAJOR, rows, cols, rows, a.data(), lda, tau.data(), &query, -1);
  } else {
    info = LAPACKE_dorglq_work(LAPACK_COL_MAJOR, rows, cols, rows, a.data(), lda, tau.data(), &query, -1);
  }
  check_info(info, "qr (orglq workspace query)");
  work.resize(static_cast<std::size_t>(std::max<T>(query, T(1))));
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_sorglq_work(LAPACK_COL_MAJOR, rows, cols, rows, a.data(), lda, tau.data(), work.data(),
                               static_cast<lapack_int>(work.size()));
  } else {
    info = LAPACKE_dorglq_work(LAPACK_COL_MAJOR, rows, cols, rows, a.data(), lda, tau.data(), work.data(),
                               static_cast<lapack_int>(work.size()));
  }
  check_info(info, "qr (orglq)");
}

namespace {
// Cholesky of a symmetric positive definite G (n × n, lower triangle read) in place:
// G = L·Lᵀ, strict upper triangle zeroed. Returns false (G garbage) when potrf finds a
// non-positive pivot or when the factor is numerically singular (a pivot below eps times
// the largest), where A·L⁻ᵀ would amplify rounding beyond 1/eps.
template <class T>
bool try_cholesky(MatrixView<T> g) {
  const std::int64_t n = g.rows();
  lapack_int info;
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', static_cast<lapack_int>(n), g.data(), ld(g));
  } else {
    info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', static_cast<lapack_int>(n), g.data(), ld(g));
  }
  if (info < 0) check_info(info, "cholesky_qr (potrf)");
  if (info != 0) return false;
  T largest = 0, smallest = std::numeric_limits<T>::infinity();
  for (std::int64_t i = 0; i < n; ++i) {
    largest = std::max(largest, g(i, i));
    smallest = std::min(smallest, g(i, i));
    std::fill(g.row(i) + i + 1, g.row(i) + n, T(0));
  }
  return std::isfinite(largest) && smallest > std::numeric_limits<T>::epsilon() * largest;
}
}  // namespace

template <class T>
void cholesky_qr(MatrixView<T> a, MatrixView<T> r, bool single_round) {
  const std::int64_t m = a.rows(), n = a.cols();
  LOWDIM_CHECK_SHAPE(m >= n, "cholesky_qr: A is {} x {}; the thin QR needs rows >= cols", m, n);
  LOWDIM_CHECK_SHAPE(r.empty() || (r.rows() == n && r.cols() == n), "cholesky_qr: R must be {} x {}, not {} x {}",
                     n, n, r.rows(), r.cols());
  check_view(a, "cholesky_qr");
  if (n == 0) return;
  constexpr double u = std::numeric_limits<T>::epsilon() / 2;
  constexpr int kMaxRounds = 8;
  // R accumulated over the rounds (A_original = A_now · total); updated only if wanted.
  Matrix<T> total;
  if (!r.empty()) {
    total = Matrix<T>(n, n);
    total.view().fill(T(0));
    for (std::int64_t i = 0; i < n; ++i) total(i, i) = T(1);
  }
  Matrix<T> g(n, n), step(n, n);
  const auto accumulate = [&](In<T> factor_upper) {  // total ← factor_upper · total
    if (r.empty()) return;
    gemm<T>(Op::none, Op::none, T(1), factor_upper, total.cview(), T(0), step.view());
    total.view().copy_from(step.cview());
  };
  const SequentialBlas sequential;  // the small factorisations: same bits on any thread count
  bool done = false, chol_unshifted = false, shifted = false;
  for (int round = 0; round < kMaxRounds && !done; ++round) {
    gemm_reproducible<T>(Op::transpose, Op::none, T(1), a, a, T(0), g.view());
    double trace = 0, off = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      trace += static_cast<double>(g(i, i));
      for (std::int64_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(g(i, j)) - (i == j ? 1.0 : 0.0);
        off += d * d;
      }
    }
    if (!(trace > 0) || !std::isfinite(trace)) break;  // zero or non-finite: Householder below
    // ‖AᵀA − I‖₂ ≤ ‖AᵀA − I‖_F ≤ 1/2 bounds cond(A)² by 3: this round leaves A orthonormal
    // to O(eps) (CholeskyQR's loss of orthogonality is O(eps·cond²)).
    bool last = off <= 0.25;
    auto chol = Matrix<T>::copy_of(g.cview());
    bool ok = try_cholesky<T>(chol.view());
    chol_unshifted = ok;
    // A shifted round leaves cond ≲ eps^(−1/2) unless A is numerically rank-deficient (its
    // zero directions stay zero): a second shift in a row means Householder.
    if (!ok && shifted) break;
    shifted = !ok;
    // A numerically singular Gram: shift it by s·I (Fukaya et al. 2020, shifted CholeskyQR),
    // s = 10·√m·u·‖A‖²_F and ×100 while it still fails. The shifted factor leaves A·R⁻¹
    // better conditioned, not orthonormal: the next rounds finish the job.
    for (double s = 10.0 * std::sqrt(static_cast<double>(m)) * u * trace; !ok && s < trace; s *= 100) {
      chol.view().copy_from(g.cview());
      for (std::int64_t i = 0; i < n; ++i) chol(i, i) += static_cast<T>(s);
      ok = try_cholesky<T>(chol.view());
      last = false;
    }
    if (!ok) break;
    // A ← A·L⁻ᵀ by fixed row tiles (each row is solved on its own: any split gives the same bits
    // as long as it is fixed).
    constexpr std::int64_t kTiles = 16, kMinRows = 256;
    const std::int64_t tile = std::max(kMinRows, (m + kTiles - 1) / kTiles), tiles = (m + tile - 1) / tile;
    detail::OmpExceptions errors;  // trsm checks its arguments: no exception may leave the region
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1)
    for (std::int64_t t = 0; t < tiles; ++t) {
      errors.run([&] {
        const std::int64_t r0 = t * tile;
        trsm<T>(Side::right, Triangle::lower, Op::transpose, T(1), chol.cview(),
                a.block(r0, 0, std::min(tile, m - r0), n));
      });
    }
    errors.rethrow();
    if (!r.empty()) {
      auto upper = Matrix<T>::uninitialized(n, n);
      transpose<T>(chol.cview(), upper.view());
      accumulate(upper.cview());
    }
    done = last || (single_round && round == 0 && chol_unshifted);
  }
  if (!done) {
    // Breakdown (a zero, non-finite or numerically rank-deficient A) or no convergence:
    // Householder on what the rounds left, A_now = Q·R_h.
    auto rh = Matrix<T>::uninitialized(n, n);
    qr<T>(a, rh.view());
    accumulate(rh.cview());
  }
  if (!r.empty()) r.copy_from(total.cview());
}

template <class T>
void lu_normalize(MatrixView<T> a) {
  const std::int64_t m = a.rows(), n = a.cols();
  LOWDIM_CHECK_SHAPE(m >= n, "lu_normalize: A is {} x {}; needs rows >= cols", m, n);
  check_view(a, "lu_normalize");
  if (n == 0) return;
  // Row pivoting of a row-major matrix is column pivoting of its column-major
  // reading, which is not what we want: factor a column-major copy instead
  // (a tiled transpose in and out; huge pages spare the fresh buffer's page faults).
  auto col = Matrix<T>::uninitialized(n, m);  // row-major n × m = column-major m × n
  transpose<T>(a, col.view());
  std::vector<lapack_int> ipiv(static_cast<std::size_t>(n));
  lapack_int info;
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_sgetrf_work(LAPACK_COL_MAJOR, static_cast<lapack_int>(m), static_cast<lapack_int>(n), col.data(),
                               static_cast<lapack_int>(m), ipiv.data());
  } else {
    info = LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, static_cast<lapack_int>(m), static_cast<lapack_int>(n), col.data(),
                               static_cast<lapack_int>(m), ipiv.data());
  }
  if (info < 0) check_info(info, "lu_normalize (getrf)");  // info > 0: U singular; L is still valid.
  // L is unit lower trapezoidal (m × n); row i of P·L is row perm[i] of L.
  std::vector<std::int64_t> perm(static_cast<std::size_t>(m));
  for (std::int64_t i = 0; i < m; ++i) perm[static_cast<std::size_t>(i)] = i;
  for (std::int64_t j = 0; j < n; ++j) std::swap(perm[static_cast<std::size_t>(j)], perm[static_cast<std::size_t>(ipiv[static_cast<std::size_t>(j)] - 1)]);
  // perm now maps position → original row: (P·L)(perm[i], :) = L(i, :). L's rows come back
  // by blocks through a small row-major buffer (a tiled transpose), then scatter to their rows.
  constexpr std::int64_t kBlock = 256;
  auto rows = Matrix<T>::uninitialized(std::min(kBlock, m), n);
  for (std::int64_t i0 = 0; i0 < m; i0 += kBlock) {
    const std::int64_t h = std::min(kBlock, m - i0);
    transpose<T>(col.block(0, i0, n, h), rows.block(0, 0, h, n));
    for (std::int64_t r = 0; r < h; ++r) {
      const std::int64_t i = i0 + r;
      const T* src = rows.row(r);
      T* out = a.row(perm[static_cast<std::size_t>(i)]);
      for (std::int64_t j = 0; j < n; ++j) out[j] = j < i ? src[j] : (j == i ? T(1) : T(0));
    }
  }
}

namespace {
template <class T>
lapack_int gesdd(char jobz, lapack_int m, lapack_int n, T* a, lapack_int lda, T* s, T* u, lapack_int ldu, T* vt,
                 lapack_int ldvt, T* work, lapack_int lwork, lapack_int* iwork) {
  if constexpr (std::is_same_v<T, float>) {
    return LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork);
  } else {
    return LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork);
  }
}

template <class T>
void svd_impl(MatrixView<T> a, MatrixView<T> u, std::span<T> s, MatrixView<T> vt, bool vectors) {
  const std::int64_t m = a.rows(), n = a.cols(), r = std::min(m, n);
  const char* name = vectors ? "svd" : "singular_values";
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(s.size()) == r, "{}: s has {} entries; A is {} x {}, so it needs {}",
                     name, s.size(), m, n, r);
  if (vectors) {
    LOWDIM_CHECK_SHAPE(u.rows() == m && u.cols() == r && vt.rows() == r && vt.cols() == n,
                       "svd: A is {} x {}, so U must be {} x {} and Vt {} x {}; got U {} x {}, Vt {} x {}", m, n, m,
                       r, r, n, u.rows(), u.cols(), vt.rows(), vt.cols());
    check_view(u, name);
    check_view(vt, name);
  }
  check_view(a, name);
  if (r == 0) return;
  // Column-major Aᵀ (n × m) = V Σ Uᵀ: LAPACK's "U" (n × r) is our Vᵀ, its "Vᵀ" (r × m) our U.
  const auto cm = static_cast<lapack_int>(n), cn = static_cast<lapack_int>(m);
  const char jobz = vectors ? 'S' : 'N';
  T* lu = vectors ? vt.data() : nullptr;
  T* lvt = vectors ? u.data() : nullptr;
  const lapack_int ldu = vectors ? ld(vt) : 1, ldvt = vectors ? ld(u) : 1;
  std::vector<lapack_int> iwork(static_cast<std::size_t>(8 * r));
  T query{};
  check_info(gesdd<T>(jobz, cm, cn, a.data(), ld(a), s.data(), lu, ldu, lvt, ldvt, &query, -1, iwork.data()),
             "svd (gesdd workspace query)");
  std::vector<T> work(static_cast<std::size_t>(std::max<T>(query, T(1))));
  const lapack_int info = gesdd<T>(jobz, cm, cn, a.data(), ld(a), s.data(), lu, ldu, lvt, ldvt, work.data(),
                                   static_cast<lapack_int>(work.size()), iwork.data());
  if (info > 0) LOWDIM_THROW(numerical_error, "{}: gesdd did not converge (info = {})", name, info);
  check_info(info, "svd (gesdd)");
}
}  // namespace

template <class T>
void svd(MatrixView<T> a, MatrixView<T> u, std::span<T> s, MatrixView<T> vt) {
  svd_impl(a, u, s, vt, true);
}
template <class T>
void singular_values(MatrixView<T> a, std::span<T> s) {
  svd_impl(a, MatrixView<T>{}, s, MatrixView<T>{}, false);
}

template <class T>
void eigh(MatrixView<T> a, std::span<T> w) {
  const std::int64_t n = a.rows();
  LOWDIM_CHECK_SHAPE(a.cols() == n, "eigh: A must be square, not {} x {}", a.rows(), a.cols());
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(w.size()) == n, "eigh: w has {} entries, A is {} x {}", w.size(), n,
                     n);
  check_view(a, "eigh");
  if (n == 0) return;
  T query{};
  lapack_int iquery{};
  lapack_int info;
  const auto ni = static_cast<lapack_int>(n);
  // Row-major lower triangle = column-major upper triangle of the same matrix.
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_ssyevd_work(LAPACK_COL_MAJOR, 'V', 'U', ni, a.data(), ld(a), w.data(), &query, -1, &iquery, -1);
  } else {
    info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', ni, a.data(), ld(a), w.data(), &query, -1, &iquery, -1);
  }
  check_info(info, "eigh (syevd workspace query)");
  std::vector<T> work(static_cast<std::size_t>(std::max<T>(query, T(1))));
  std::vector<lapack_int> iwork(static_cast<std::size_t>(std::max<lapack_int>(iquery, 1)));
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_ssyevd_work(LAPACK_COL_MAJOR, 'V', 'U', ni, a.data(), ld(a), w.data(), work.data(),
                               static_cast<lapack_int>(work.size()), iwork.data(),
                               static_cast<lapack_int>(iwork.size()));
  } else {
    info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', ni, a.data(), ld(a), w.data(), work.data(),
                               static_cast<lapack_int>(work.size()), iwork.data(),
                               static_cast<lapack_int>(iwork.size()));
  }
  if (info > 0) LOWDIM_THROW(numerical_error, "eigh: syevd did not converge (info = {})", info);
  check_info(info, "eigh (syevd)");
  // Column-major eigenvectors read row-major are rows; transpose in place to columns.
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j) std::swap(a(i, j), a(j, i));
}

template <class T>
void cholesky(MatrixView<T> a) {
  const std::int64_t n = a.rows();
  LOWDIM_CHECK_SHAPE(a.cols() == n, "cholesky: A must be square, not {} x {}", a.rows(), a.cols());
  check_view(a, "cholesky");
  if (n == 0) return;
  lapack_int info;
  if constexpr (std::is_same_v<T, float>) {
    info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', static_cast<lapack_int>(n), a.data(), ld(a));
  } else {
    info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', static_cast<lapack_int>(n), a.data(), ld(a));
  }
  if (info > 0)
    LOWDIM_THROW(numerical_error,
                 "cholesky: the matrix is not positive definite (potrf: leading minor of order {} is not positive)",
                 info);
  check_info(info, "cholesky (potrf)");
  for (std::int64_t i = 0; i < n; ++i) std::fill(a.row(i) + i + 1, a.row(i) + n, T(0));
}

template <class T>
double norm_fro(In<T> a) {
  double sum = 0;
  for (std::int64_t i = 0; i < a.rows(); ++i) {
    const T* row = a.row(i);
    for (std::int64_t j = 0; j < a.cols(); ++j) sum += static_cast<double>(row[j]) * static_cast<double>(row[j]);
  }
  return std::sqrt(sum);
}

template <class T>
void transpose(In<T> a, MatrixView<T> out) {
  LOWDIM_CHECK_SHAPE(out.rows() == a.cols() && out.cols() == a.rows(),
                     "transpose: A is {} x {}, the output must be {} x {}, not {} x {}", a.rows(), a.cols(), a.cols(),
                     a.rows(), out.rows(), out.cols());
  constexpr std::int64_t tile = 32;
  for (std::int64_t i0 = 0; i0 < a.rows(); i0 += tile)
    for (std::int64_t j0 = 0; j0 < a.cols(); j0 += tile)
      for (std::int64_t i = i0; i < std::min(i0 + tile, a.rows()); ++i)
        for (std::int64_t j = j0; j < std::min(j0 + tile, a.cols()); ++j) out(j, i) = a(i, j);
}

void set_num_threads(int threads) {
  if (threads <= 0) return;
  omp_set_num_threads(threads);
  auto& s = blas_threads();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (s.holders > 0)
    s.saved = threads;  // applied when the last SequentialBlas scope ends
  else
    openblas_set_num_threads(threads);
}

int num_threads() { return omp_get_max_threads(); }

std::string blas_info() {
  std::string config = openblas_get_config();
  while (!config.empty() && config.back() == ' ') config.pop_back();
  return fmt::format("{}; core {}; {} threads", config, openblas_get_corename(), openblas_get_num_threads());
}

#define LOWDIM_INSTANTIATE(T)                                                                   \
  template LOWDIM_API void gemm<T>(Op, Op, T, In<T>, In<T>, T, MatrixView<T>);                  \
  template LOWDIM_API void gemm_reproducible<T>(Op, Op, T, In<T>, In<T>, T, MatrixView<T>);     \
  template LOWDIM_API void gemv<T>(Op, T, In<T>, std::span<const T>, T, std::span<T>);          \
  template LOWDIM_API void syrk<T>(Op, T, In<T>, T, MatrixView<T>);                             \
  template LOWDIM_API void trsm<T>(Side, Triangle, Op, T, In<T>, MatrixView<T>);                \
  template LOWDIM_API void qr<T>(MatrixView<T>, MatrixView<T>);                                 \
  template LOWDIM_API void cholesky_qr<T>(MatrixView<T>, MatrixView<T>, bool);                  \
  template LOWDIM_API void lu_normalize<T>(MatrixView<T>);                                      \
  template LOWDIM_API void svd<T>(MatrixView<T>, MatrixView<T>, std::span<T>, MatrixView<T>);   \
  template LOWDIM_API void singular_values<T>(MatrixView<T>, std::span<T>);                     \
  template LOWDIM_API void eigh<T>(MatrixView<T>, std::span<T>);                                \
  template LOWDIM_API void cholesky<T>(MatrixView<T>);                                          \
  template LOWDIM_API double norm_fro<T>(In<T>);                                                \
  template LOWDIM_API void transpose<T>(In<T>, MatrixView<T>);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim::linalg
