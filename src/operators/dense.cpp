// The dense operators' shared product (detail/dense_operator.hpp) and the two kinds
// generated from the seed: gaussian (N(0, 1) entries) and dense rademacher (±1).
// Element (j, i) of the raw Sᵀ is random number j·k + i of the kind's stream, so any
// block of rows of Sᵀ is generated on its own.

#include "detail/dense_kernel.hpp"
#include "detail/dense_operator.hpp"
#include "detail/sparse_family.hpp"

#include <lowdim/linalg.hpp>
#include <lowdim/random.hpp>

#include <algorithm>
#include <cmath>

namespace lowdim::detail {
namespace {
// Generated elements of Sᵀ per block when matrix-free.
constexpr std::int64_t kBlockElements = std::int64_t{1} << 20;
}  // namespace

std::int64_t DenseOperator::block_rows() const noexcept {
  return std::min(desc.d, std::max<std::int64_t>(kBlockElements / desc.k, 16));
}

std::shared_ptr<const OperatorImpl> DenseOperator::materialized() const {
  return cached_ ? shared_from_this() : make_cached();
}

std::int64_t DenseOperator::cached_bytes() const noexcept { return held_bytes_.load(); }

template <class T>
const std::vector<T>& DenseOperator::forward() const {
  auto& p = packed<T>();
  std::call_once(p.forward_once, [&] {
    const std::int64_t d = desc.d, k = desc.k;
    auto st = Matrix<T>::uninitialized(d, k);
    generate(st.view(), 0);
    p.forward.resize(static_cast<std::size_t>(packed_size<T>(d, k)));
    pack_panels(st.data(), d, k, k, 1, p.forward.data());
    held_bytes_ += static_cast<std::int64_t>(p.forward.size() * sizeof(T));
  });
  return p.forward;
}

template <class T>
const std::vector<T>& DenseOperator::transposed() const {
  auto& p = packed<T>();
  std::call_once(p.transposed_once, [&] {
    const std::int64_t d = desc.d, k = desc.k;
    auto st = Matrix<T>::uninitialized(d, k);
    generate(st.view(), 0);
    p.transposed.resize(static_cast<std::size_t>(packed_size<T>(k, d)));
    pack_panels(st.data(), k, d, 1, k, p.transposed.data());
    held_bytes_ += static_cast<std::int64_t>(p.transposed.size() * sizeof(T));
  });
  return p.transposed;
}

template <class T>
bool DenseOperator::apply_t(ConstMatrixView<T> x, MatrixView<T> y) const {
  const std::int64_t n = x.rows(), d = desc.d, k = desc.k;
  // y = Σ_blocks x[:, block] · Sᵀ[block, :], each element one fma chain over j, then the scale.
  if (cached_) {
    multiply_packed<T>({.a = x.data(), .lda = x.stride(), .m = n, .inner = d, .packed = forward<T>().data(),
                        .n = k, .c = y.data(), .ldc = y.stride()});
  } else {
    const std::int64_t block = block_rows();
    auto st = Matrix<T>::uninitialized(block, k);
    std::vector<T> packed_block(static_cast<std::size_t>(packed_size<T>(block, k)));
    for (std::int64_t d0 = 0; d0 < d; d0 += block) {
      const std::int64_t nb = std::min(block, d - d0);
      auto s_block = st.view().row_block(0, nb);
      generate(s_block, d0);
      pack_panels(s_block.data(), nb, k, k, 1, packed_block.data());
      multiply_packed<T>({.a = x.data() + d0, .lda = x.stride(), .m = n, .inner = nb, .packed = packed_block.data(),
                          .n = k, .c = y.data(), .ldc = y.stride(), .accumulate = d0 > 0});
    }
  }
  scale_rows(y, static_cast<T>(scale_));
  return true;
}

template <class T>
void DenseOperator::apply_transpose_t(ConstMatrixView<T> y, MatrixView<T> x) const {
  const std::int64_t n = y.rows(), d = desc.d, k = desc.k;
  // x[:, block] = y · Sᵀ[block, :]ᵀ, each element one fma chain over the k outputs.
  if (cached_) {
    multiply_packed<T>({.a = y.data(), .lda = y.stride(), .m = n, .inner = k, .packed = transposed<T>().data(),
                        .n = d, .c = x.data(), .ldc = x.stride()});
  } else {
    const std::int64_t block = block_rows();
    auto st = Matrix<T>::uninitialized(block, k);
    std::vector<T> packed_block(static_cast<std::size_t>(packed_size<T>(k, block)));
    for (std::int64_t d0 = 0; d0 < d; d0 += block) {
      const std::int64_t nb = std::min(block, d - d0);
      auto s_block = st.view().row_block(0, nb);
      generate(s_block, d0);
      pack_panels(s_block.data(), k, nb, 1, k, packed_block.data());
      multiply_packed<T>({.a = y.data(), .lda = y.stride(), .m = n, .inner = k, .packed = packed_block.data(),
                          .n = nb, .c = x.data() + d0, .ldc = x.stride()});
    }
  }
  scale_rows(x, static_cast<T>(scale_));
}

template <class T>
void DenseOperator::columns_t(std::int64_t first, MatrixView<T> out) const {
  const std::int64_t count = out.cols(), k = desc.k;
  auto st = Matrix<T>::uninitialized(count, k);
  generate(st.view(), first);
  const auto s = static_cast<T>(scale_);
  for (std::int64_t j = 0; j < count; ++j)
    for (std::int64_t i = 0; i < k; ++i) out(i, j) = st(j, i) * s;
}

template bool DenseOperator::apply_t<float>(ConstMatrixView<float>, MatrixView<float>) const;
template bool DenseOperator::apply_t<double>(ConstMatrixView<double>, MatrixView<double>) const;
template void DenseOperator::apply_transpose_t<float>(ConstMatrixView<float>, MatrixView<float>) const;
template void DenseOperator::apply_transpose_t<double>(ConstMatrixView<double>, MatrixView<double>) const;
template void DenseOperator::columns_t<float>(std::int64_t, MatrixView<float>) const;
template void DenseOperator::columns_t<double>(std::int64_t, MatrixView<double>) const;

Matrix<double> haar_columns(std::int64_t d, std::int64_t cols, std::uint64_t seed, StreamId stream, std::uint64_t first) {
  auto q = Matrix<double>::uninitialized(d, cols);
  fill_normal<double>(q.view(), RandomStream(seed, stream), first);
  auto r = Matrix<double>::uninitialized(cols, cols);
  {
    const linalg::SequentialBlas sequential;  // Householder QR: same bits on any thread count
    linalg::qr<double>(q.view(), r.view());
  }
  // Q·diag(sign R_jj) is Haar-distributed (Mezzadri 2007); R_jj = 0 has probability zero.
  for (std::int64_t j = 0; j < cols; ++j)
    if (r(j, j) < 0)
      for (std::int64_t i = 0; i < d; ++i) q(i, j) = -q(i, j);
  return q;
}

namespace {

// Gaussian and dense rademacher: Sᵀ regenerated from the seed.
class GeneratedDense final : public DenseOperator {
 public:
  GeneratedDense(const OperatorDescription& description, bool cached)
      : DenseOperator(description, cached,
                      description.options.jl_scaling ? 1.0 / std::sqrt(static_cast<double>(description.k)) : 1.0) {}

  void generate(MatrixView<float> out, std::int64_t j0) const override { fill(out, j0); }
  void generate(MatrixView<double> out, std::int64_t j0) const override { fill(out, j0); }
  std::shared_ptr<const OperatorImpl> make_cached() const override {
    return std::make_shared<GeneratedDense>(desc, true);
  }

 private:
  template <class T>
  void fill(MatrixView<T> out, std::int64_t j0) const {
    const auto first = static_cast<std::uint64_t>(j0) * static_cast<std::uint64_t>(desc.k);
    if (desc.kind == SketchKind::gaussian)
      fill_normal<T>(out, RandomStream(desc.seed, StreamId::sketch_gaussian), first);
    else
      fill_rademacher<T>(out, RandomStream(desc.seed, StreamId::sketch_rademacher), first);
  }
};

std::string accept_any(const OperatorDescription&) { return {}; }

std::shared_ptr<const OperatorImpl> make_gaussian(const OperatorDescription& description) {
  return std::make_shared<GeneratedDense>(description, false);
}

std::shared_ptr<const OperatorImpl> make_rademacher(const OperatorDescription& description) {
  const double density = description.options.density;
  if (density == 0 || density == 1) return std::make_shared<GeneratedDense>(description, false);
  return make_sparse_family(description);
}

}  // namespace

const OperatorKindEntry gaussian_entry{"gaussian", "dense N(0, 1/k) entries", 0, accept_any, make_gaussian};
const OperatorKindEntry rademacher_entry{
    "rademacher", "±1/√k entries; with density s < 1, {+1, 0, −1}/√(k·s) (Achlioptas)", kUsesDensity, accept_any,
    make_rademacher};

}  // namespace lowdim::detail
