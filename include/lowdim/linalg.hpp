#ifndef LOWDIM_LINALG_HPP
#define LOWDIM_LINALG_HPP

/// \file
/// The one place that calls CBLAS (OpenBLAS) and LAPACKE. Typed wrappers over
/// row-major views, T = float or double, with shape checks. LAPACK is called in
/// column-major form on the transposed interpretation of the row-major buffer,
/// so no wrapper copies its input behind the caller's back (lu_normalize is the
/// one documented exception). A LAPACK info != 0 throws numerical_error naming
/// the routine and the value.
///
/// Inputs are `In<T>` (a ConstMatrixView<T> that also accepts a MatrixView<T> or
/// Matrix<T>); T is deduced from the outputs.

#include <lowdim/matrix.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace lowdim {

/// A read-only matrix argument: a ConstMatrixView<T> that also takes a MatrixView<T> or a
/// Matrix<T> without naming T (T is deduced from the other arguments).
template <class T>
using In = std::type_identity_t<ConstMatrixView<T>>;

/// Whether a matrix operand is used as is or transposed.
enum class Op {
  none,      ///< A
  transpose  ///< Aᵀ
};
/// The side a triangular or symmetric operand is applied from.
enum class Side {
  left,  ///< op(A) · B
  right  ///< B · op(A)
};
/// Which triangle of a matrix is referenced.
enum class Triangle {
  lower,  ///< the lower triangle
  upper   ///< the upper triangle
};

/// Instruction set of lowdim's dense product kernel (behind the dense sketches, whitening and
/// the other reproducible products): "avx512", "avx2" or "generic", fixed at first use. The
/// environment variable LOWDIM_KERNEL=avx512|avx2|generic selects one; a name this CPU cannot
/// run, or an unknown one, makes this and every dense product throw invalid_argument naming
/// the valid values. Every element is the same fma chain with avx512 and avx2, so they agree
/// bit for bit.
LOWDIM_API std::string_view dense_kernel_isa();

namespace linalg {

/// C = alpha·op(A)·op(B) + beta·C. op(A): m × k, op(B): k × n, C: m × n. Cost 2mnk.
template <class T>
LOWDIM_API void gemm(Op op_a, Op op_b, T alpha, In<T> a, In<T> b, T beta, MatrixView<T> c);
/// C = A·B (shorthand).
template <class T>
void matmul(In<T> a, In<T> b, MatrixView<T> c) {
  gemm<T>(Op::none, Op::none, T(1), a, b, T(0), c);
}

/// As gemm, computed by lowdim's own dense kernel (the one behind the sketches, whitening,
/// rsvd, exact k-NN and attention), so that the result is a function of the operands alone:
/// element (i, j) depends only on row i of op(A), column j of op(B), alpha, beta and its old
/// value — one fma chain over the inner index in order per slice of 4096 indices (the first
/// continuing from beta·C, or from 0 when beta = 0: C is then never read), the slices added
/// in order, alpha applied to op(B) as it is packed. Bit-identical on any thread count and
/// for any split of C's rows or columns into separate calls (one row at a time gives the
/// bits of the whole block), and with AVX-512 and AVX2. Same cost as gemm (2mnk), memory
/// O(4096 × 512) for packed blocks of op(B); no 32-bit limit on the sizes. alpha = 0 reads
/// neither A nor B.
template <class T>
LOWDIM_API void gemm_reproducible(Op op_a, Op op_b, T alpha, In<T> a, In<T> b, T beta, MatrixView<T> c);

/// While alive, OpenBLAS runs single-threaded, so LAPACK factorisations give the same bits
/// whatever the thread count. Process-wide and safe under concurrency: scopes alive at once in
/// several threads share one count (the first to start saves it and sets 1, the last to end
/// restores it; set_num_threads meanwhile changes the count restored), behind a mutex.
/// Meant for the duration of one randomized-algorithm call that parallelises with
/// gemm_reproducible.
class LOWDIM_API SequentialBlas {
 public:
  SequentialBlas();   ///< enters the single-threaded scope
  ~SequentialBlas();  ///< leaves it; the last scope to leave restores the saved count
  SequentialBlas(const SequentialBlas&) = delete;
  SequentialBlas& operator=(const SequentialBlas&) = delete;
};

/// y = alpha·op(A)·x + beta·y.
template <class T>
LOWDIM_API void gemv(Op op_a, T alpha, In<T> a, std::span<const std::type_identity_t<T>> x, T beta, std::span<T> y);

/// C = alpha·op(A)·op(A)ᵀ + beta·C, C: n × n symmetric; both triangles are written.
/// op = none: A is n × k (C = A·Aᵀ); op = transpose: A is k × n (C = Aᵀ·A). Cost n²k.
template <class T>
LOWDIM_API void syrk(Op op_a, T alpha, In<T> a, T beta, MatrixView<T> c);

/// Solves op(A)·X = alpha·B (side left) or X·op(A) = alpha·B (side right) for
/// triangular A (non-unit diagonal), overwriting B with X.
template <class T>
LOWDIM_API void trsm(Side side, Triangle triangle, Op op_a, T alpha, In<T> a, MatrixView<T> b);

/// Thin QR of A (m × n, m ≥ n): A is overwritten with Q (orthonormal columns);
/// if r is non-empty it receives R (n × n, upper triangular). Cost ~4mn².
template <class T>
LOWDIM_API void qr(MatrixView<T> a, MatrixView<T> r = {});

/// Thin QR of a tall A (m × n, m ≥ n) by Cholesky QR, GEMM-rich for tall-skinny blocks: R from
/// the Cholesky factor of the Gram AᵀA (gemm_reproducible), A ← A·R⁻¹ by parallel row tiles,
/// repeated until the Gram is within 1/2 of I before the last round (twice when cond(A) ≲
/// eps^(−1/2): CholeskyQR2), with a shifted Gram when it is numerically singular (shifted
/// CholeskyQR, Fukaya et al. 2020); Householder qr on what is left after a breakdown (a zero,
/// non-finite or numerically rank-deficient A) or 8 rounds. A is overwritten with Q, r (if
/// non-empty) receives R (n × n upper triangular, A = Q·R). Cost ~3mn² per round (2 rounds
/// for a well-conditioned A); bit-identical on any thread count. single_round: stop after a
/// first round whose Cholesky needed no shift — Q then has orthonormal columns only to
/// O(eps·cond(A)²), for callers that orthogonalise again (block Gram–Schmidt twice).
template <class T>
LOWDIM_API void cholesky_qr(MatrixView<T> a, MatrixView<T> r = {}, bool single_round = false);

/// Overwrites A (m × n, m ≥ n) with P·L from A = P·L·U with partial pivoting:
/// a well-conditioned basis of range(A) cheaper than QR (power-iteration normaliser).
/// Works on an internal column-major copy of A. Exact rank deficiency is allowed.
template <class T>
LOWDIM_API void lu_normalize(MatrixView<T> a);

/// Thin SVD A = U·diag(s)·Vᵀ of A (m × n, r = min(m, n)); A is destroyed.
/// u: m × r, s: r (descending), vt: r × n. Divide and conquer (gesdd).
template <class T>
LOWDIM_API void svd(MatrixView<T> a, MatrixView<T> u, std::span<T> s, MatrixView<T> vt);
/// Singular values only (descending), A destroyed. s has min(m, n) entries.
template <class T>
LOWDIM_API void singular_values(MatrixView<T> a, std::span<T> s);

/// Symmetric eigendecomposition A = V·diag(w)·Vᵀ of A (n × n, only the lower
/// triangle is read). On return w is ascending and column i of A is the unit
/// eigenvector of w[i] (as numpy.linalg.eigh). Divide and conquer (syevd).
template <class T>
LOWDIM_API void eigh(MatrixView<T> a, std::span<T> w);

/// Cholesky A = L·Lᵀ of a symmetric positive definite A (n × n, lower triangle
/// read); A is overwritten with L and its strict upper triangle set to zero.
/// Throws numerical_error when A is not positive definite.
template <class T>
LOWDIM_API void cholesky(MatrixView<T> a);

/// Frobenius norm, accumulated in double.
template <class T>
LOWDIM_API double norm_fro(In<T> a);

/// out (n × m) = Aᵀ for A (m × n); the two must not overlap.
template <class T>
LOWDIM_API void transpose(In<T> a, MatrixView<T> out);

/// Threads used by lowdim's OpenMP regions and by OpenBLAS (≤ 0: leave as is).
LOWDIM_API void set_num_threads(int threads);
/// The thread count lowdim uses now (its OpenMP regions and OpenBLAS).
LOWDIM_API int num_threads();
/// OpenBLAS's configuration string, its core name and thread count, e.g.
/// "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64; core Haswell; 2 threads".
LOWDIM_API std::string blas_info();

}  // namespace linalg
}  // namespace lowdim

#endif
