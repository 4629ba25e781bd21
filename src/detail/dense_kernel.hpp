#ifndef LOWDIM_DETAIL_DENSE_KERNEL_HPP
#define LOWDIM_DETAIL_DENSE_KERNEL_HPP

// The kernels layer's dense product: C = A·B with B packed into column panels.
// Private. Used by the dense sketches (gaussian, rademacher), where B is the
// operator regenerated block by block from its seed, and by whitening/PCA,
// where B is the fitted matrix (projection) or the data panel itself (scatter).
//
// Why not BLAS: OpenBLAS computes an element of C in an order that depends on
// where its row sits inside the call (kernel unrolls, edge kernels) and on the
// thread count, so y = S x for a row would change with how rows are chunked.
// This kernel computes every element as the same chain
//     c = fma(a[0], b[0], c0); c = fma(a[1], b[1], c); …  (inner index in order)
// whatever the row's position, the number of rows, the blocking, the thread
// count and the vector width, so the output is bit-reproducible by rows and
// identical with AVX-512 and AVX2. Register-blocked micro-kernels chosen at run
// time: 12 × 32 floats / 12 × 16 doubles with AVX-512, 6 × 16 / 6 × 8 with
// AVX2 + FMA; plain multiply-add elsewhere (then consistently so).
// docs/architecture.md §Kernels.

#include <cstdint>

namespace lowdim::detail {

/// Columns per packed panel of B on this CPU (fixed for the process):
/// 32 floats / 16 doubles with AVX-512, 16 / 8 otherwise.
template <class T>
std::int64_t panel_width();

/// Elements pack_panels writes for an inner × n operand: ⌈n / W⌉·inner·W.
template <class T>
std::int64_t packed_size(std::int64_t inner, std::int64_t n);

/// Packs B (inner × n, element (t, j) at b[t·row_step + j·col_step]) into
/// panels: packed[(p·inner + t)·W + jj] = B(t, p·W + jj), zero past column n.
/// OpenMP-parallel over panels when large.
template <class T>
void pack_panels(const T* b, std::int64_t inner, std::int64_t n, std::int64_t row_step, std::int64_t col_step,
                 T* packed) noexcept;

/// One product C (m × n) = C₀ + A (m × inner) · B (inner × n, packed).
template <class T>
struct DenseProduct {
  const T* a = nullptr;       ///< A(i, t) at a[i·lda + t], or at a[t·lda + i] when a_transposed
  std::int64_t lda = 0;
  bool a_transposed = false;
  std::int64_t m = 0, inner = 0;
  const T* packed = nullptr;  ///< B packed by pack_panels
  std::int64_t n = 0;
  T* c = nullptr;             ///< row-major, row stride ldc
  std::int64_t ldc = 0;
  bool accumulate = false;    ///< C₀ = C when set, else 0
  /// Square symmetric products (m == n): only blocks meeting the upper triangle
  /// (j ≥ i) are computed; entries below the diagonal are unspecified.
  bool upper = false;
  /// When set (length inner; not with a_transposed): A(i, t) is replaced by
  /// T(double(A(i, t)) − centre[t]), formed block by block in a scratch tile,
  /// so centring costs no pass over A and no copy of it.
  const double* centre = nullptr;
  /// When set: C = C + (A·B as a chain from zero), instead of continuing C's chains (the
  /// slices of gemm_kernel). Not with upper.
  bool add = false;
};

/// Computes the product; OpenMP-parallel over tiles of at most 192 rows of C (or groups
/// of panels when C has one tile), each element one fma chain as described above. Inside
/// an OpenMP parallel region it runs on the calling thread.
template <class T>
void multiply_packed(const DenseProduct<T>& p);

/// C (m × n) = alpha·op(A)·op(B) + beta·C, the reproducible general product behind
/// linalg::gemm_reproducible. op(A) is m × k, op(B) is k × n; row-major, leading dimensions
/// in elements. Every element is computed from its row of op(A) and its column of
/// alpha·op(B) alone: one fma chain per slice of 4096 inner indices (the first continuing
/// from beta·C, or from 0 when beta = 0), the slices added in order. So the bits do not
/// depend on the thread count, nor on how the rows or columns of C are split into calls.
template <class T>
struct GemmArguments {
  bool trans_a = false, trans_b = false;
  std::int64_t m = 0, n = 0, k = 0;
  T alpha = 1;
  const T* a = nullptr;
  std::int64_t lda = 0;
  const T* b = nullptr;
  std::int64_t ldb = 0;
  T beta = 0;
  T* c = nullptr;
  std::int64_t ldc = 0;
};
template <class T>
void gemm_kernel(const GemmArguments<T>& g);

}  // namespace lowdim::detail

#endif
