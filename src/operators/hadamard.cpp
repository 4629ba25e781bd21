// The Hadamard-structured rotations: blocks B = H·D₁·H·D₂·H·D₃ on d zero-padded to
// d' = 2^⌈log₂ d⌉, with H the normalised Walsh–Hadamard transform (orthonormal, H·H = I) and
// Dᵢ random ±1 diagonals, three per block. Block b gives rows [b·d', (b + 1)·d') of S (the
// last block is cut at k).
//   hadamard_rotation      raw S = B: a pseudo-random rotation (cross-polytope LSH;
//                          Andoni, Indyk, Laarhoven, Razenshteyn & Schmidt 2015).
//   structured_orthogonal  raw S = √d'·B: SORF (Yu, Suresh, Choromanski, Holtmann-Rice &
//                          Kumar 2016), rows of norm √d' like Gaussian rows, for random features.
// Both cost 3·d'·log₂d' per row and block and keep only the 3·⌈k/d'⌉·d' signs (always cached).
// Every output is the same sequence of exact sign flips, butterflies and one final scaling,
// so rows, chunks and threads do not change the bits.

#include "detail/fwht_kernel.hpp"
#include "detail/operator_kind.hpp"

#include <lowdim/fwht.hpp>
#include <lowdim/random.hpp>

#include <omp.h>

#include <cmath>
#include <vector>

namespace lowdim::detail {
namespace {

class HadamardBlocks final : public Typed<HadamardBlocks> {
 public:
  explicit HadamardBlocks(const OperatorDescription& description)
      : Typed(description), padded_(next_power_of_two(description.d)) {
    blocks_ = (desc.k + padded_ - 1) / padded_;
    const bool rotation = desc.kind == SketchKind::hadamard_rotation;
    const double dp = static_cast<double>(padded_), k = static_cast<double>(desc.k);
    // E‖Sx‖² = ‖x‖²: each coordinate of B·x has mean square ‖x‖²/d'.
    scale_ = !desc.options.jl_scaling ? 1.0 : rotation ? std::sqrt(dp / k) : 1.0 / std::sqrt(k);
    // Three unnormalised transforms give d'^{3/2}·B; the raw entries then carry 1 (rotation) or √d'.
    const double raw = rotation ? 1.0 : std::sqrt(dp);
    factor_ = raw * scale_ / (dp * std::sqrt(dp));
    gram_ = (desc.d == padded_ && desc.k <= padded_) ? (rotation ? 1.0 : dp) * scale_ * scale_ : 0.0;
    Matrix<double> signs(1, 3 * blocks_ * padded_);
    fill_rademacher<double>(signs.view(), RandomStream(desc.seed, StreamId::sketch_hadamard_signs));
    signs_double_.assign(signs.data(), signs.data() + signs.size());
    signs_float_.assign(signs_double_.begin(), signs_double_.end());
  }

  double scale() const noexcept override { return scale_; }
  std::int64_t padded_dim() const noexcept override { return padded_; }
  double gram_scale() const noexcept override { return gram_; }
  std::int64_t cached_bytes() const noexcept override {
    return static_cast<std::int64_t>(signs_double_.size() * (sizeof(double) + sizeof(float)));
  }

  template <class T>
  bool apply_t(ConstMatrixView<T> x, MatrixView<T> y) const {
    const std::int64_t n = x.rows(), d = desc.d, k = desc.k;
    const T* signs = this->signs<T>();
    const T f = static_cast<T>(factor_);
    auto buffers = Matrix<T>::uninitialized(omp_get_max_threads(), padded_);
#pragma omp parallel for schedule(static) if (n > 1 && n * blocks_ * padded_ > 20000)
    for (std::int64_t r = 0; r < n; ++r) {
      T* __restrict buf = buffers.row(omp_get_thread_num());
      const T* __restrict xr = x.row(r);
      T* __restrict yr = y.row(r);
      for (std::int64_t b = 0; b < blocks_; ++b) {
        const T* d1 = signs + 3 * b * padded_;
        const T* d2 = d1 + padded_;
        const T* d3 = d2 + padded_;
        for (std::int64_t j = 0; j < d; ++j) buf[j] = xr[j] * d3[j];
        std::fill(buf + d, buf + padded_, T(0));
        fwht_row(buf, padded_);
        for (std::int64_t j = 0; j < padded_; ++j) buf[j] *= d2[j];
        fwht_row(buf, padded_);
        for (std::int64_t j = 0; j < padded_; ++j) buf[j] *= d1[j];
        fwht_row(buf, padded_);
        const std::int64_t i0 = b * padded_, count = std::min(padded_, k - i0);
        for (std::int64_t i = 0; i < count; ++i) yr[i0 + i] = buf[i] * f;
      }
    }
    return true;  // every output sums every input: a non-finite input shows in its row
  }

  // Sᵀ = Σ_b D₃·H·D₂·H·D₁·H restricted to the first d coordinates, blocks summed in order.
  template <class T>
  void apply_transpose_t(ConstMatrixView<T> y, MatrixView<T> x) const {
    const std::int64_t n = y.rows(), d = desc.d, k = desc.k;
    const T* signs = this->signs<T>();
    const T f = static_cast<T>(factor_);
    auto buffers = Matrix<T>::uninitialized(omp_get_max_threads(), padded_);
#pragma omp parallel for schedule(static) if (n > 1 && n * blocks_ * padded_ > 20000)
    for (std::int64_t r = 0; r < n; ++r) {
      T* __restrict buf = buffers.row(omp_get_thread_num());
      const T* __restrict yr = y.row(r);
      T* __restrict xr = x.row(r);
      for (std::int64_t b = 0; b < blocks_; ++b) {
        const T* d1 = signs + 3 * b * padded_;
        const T* d2 = d1 + padded_;
        const T* d3 = d2 + padded_;
        const std::int64_t i0 = b * padded_, count = std::min(padded_, k - i0);
        std::copy_n(yr + i0, count, buf);
        std::fill(buf + count, buf + padded_, T(0));
        fwht_row(buf, padded_);
        for (std::int64_t j = 0; j < padded_; ++j) buf[j] *= d1[j];
        fwht_row(buf, padded_);
        for (std::int64_t j = 0; j < padded_; ++j) buf[j] *= d2[j];
        fwht_row(buf, padded_);
        for (std::int64_t j = 0; j < d; ++j) {
          const T v = buf[j] * d3[j] * f;
          xr[j] = b == 0 ? v : xr[j] + v;
        }
      }
    }
  }

  // Column j of S is S·e_j.
  template <class T>
  void columns_t(std::int64_t first, MatrixView<T> out) const {
    const std::int64_t count = out.cols();
    Matrix<T> unit(count, desc.d);
    for (std::int64_t j = 0; j < count; ++j) unit(j, first + j) = T(1);
    auto image = Matrix<T>::uninitialized(count, desc.k);
    apply_t<T>(unit.cview(), image.view());
    linalg::transpose<T>(image.cview(), out);
  }

 private:
  template <class T>
  const T* signs() const {
    if constexpr (sizeof(T) == 4) {
      return signs_float_.data();
    } else {
      return signs_double_.data();
    }
  }

  std::int64_t padded_, blocks_ = 0;
  double scale_ = 1, factor_ = 1, gram_ = 0;
  std::vector<float> signs_float_;
  std::vector<double> signs_double_;
};

std::string accept_any(const OperatorDescription&) { return {}; }

std::shared_ptr<const OperatorImpl> make_blocks(const OperatorDescription& description) {
  return std::make_shared<HadamardBlocks>(description);
}

}  // namespace

const OperatorKindEntry structured_orthogonal_entry{
    "structured_orthogonal", "SORF: blocks √d'·H·D₁·H·D₂·H·D₃, O(d' log d') per row (Yu et al. 2016)", 0,
    accept_any, make_blocks};
const OperatorKindEntry hadamard_rotation_entry{
    "hadamard_rotation", "pseudo-random rotation H·D₁·H·D₂·H·D₃ (cross-polytope LSH); blocks when k > d'", 0,
    accept_any, make_blocks};

}  // namespace lowdim::detail
