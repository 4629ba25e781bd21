#ifndef LOWDIM_DETAIL_SKETCH_KERNEL_HPP
#define LOWDIM_DETAIL_SKETCH_KERNEL_HPP

// The dense product behind the gaussian and rademacher sketches. Private.
//
// Why not BLAS: OpenBLAS computes an element of C in an order that depends on
// where its row sits inside the call (kernel unrolls, edge kernels) and on the
// thread count, so y = S x for a row would change with how rows are chunked.
// This kernel computes every element as the same chain
//     c = fma(a[0], b[0], c0); c = fma(a[1], b[1], c); …  (inner index in order)
// whatever the row's position, the number of rows, the blocking and the
// thread count, so the output is bit-reproducible by rows. Register-blocked
// 6 × 16 (float) / 6 × 8 (double) AVX2-FMA micro-kernel, chosen at run time;
// plain multiply-add elsewhere (then consistently so).

#include <cstdint>

namespace lowdim::detail {

/// Columns per packed panel of B: 16 floats or 8 doubles.
template <class T>
constexpr std::int64_t kPanelWidth = sizeof(T) == 4 ? 16 : 8;

/// Packs B (inner × n, element (t, j) at b[t·row_step + j·col_step]) into
/// panels: packed[(p·inner + t)·W + jj] = B(t, p·W + jj), zero past column n.
/// packed must hold ⌈n / W⌉·inner·W elements.
template <class T>
void pack_panels(const T* b, std::int64_t inner, std::int64_t n, std::int64_t row_step, std::int64_t col_step,
                 T* packed) noexcept;

/// C (m × n, row stride ldc) = C₀ + A (m × inner, row stride lda) · B, with B
/// packed by pack_panels and C₀ = C when accumulate, else 0. OpenMP-parallel
/// over blocks of rows; element chains as described above.
template <class T>
void multiply_packed(const T* a, std::int64_t lda, std::int64_t m, std::int64_t inner, const T* packed,
                     std::int64_t n, T* c, std::int64_t ldc, bool accumulate);

}  // namespace lowdim::detail

#endif
