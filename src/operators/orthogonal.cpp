// The orthogonal kinds, built once and applied as cached dense operators (a Haar rotation
// cannot be regenerated block by block):
//   orthogonal  ORF (Yu, Suresh, Choromanski, Holtmann-Rice & Kumar 2016): block b holds
//               rows [b·d, (b + 1)·d) of S (cut at k), the columns of the Haar Q factor of a
//               d × rows Gaussian (thin QR with sign fix), times the row norms.
//   simplex     SimRFs (Reid, Choromanski, Likhosherstov & Weller 2023): block b's rows are
//               the d vertices s_i of a regular simplex (unit norm, s_i·s_j = −1/(d − 1)),
//               rotated by a Haar rotation R (only the columns the rows need), times the
//               row norms:
//                 s_i = √(d/(d−1))·e_i − (√d + 1)/(d − 1)^{3/2}·u  (i < d − 1),
//                 s_{d−1} = u/√(d − 1),   u = (1, …, 1, 0).
// Row norms: χ(d) — the norm of an independent N(0, I_d) draw per row, so that a row is
// marginally Gaussian (unbiased random features) — or √d. Everything is computed in double
// (float operators round it), with single-threaded LAPACK: the same bits on any thread count.

#include "detail/dense_operator.hpp"

#include <lowdim/random.hpp>

#include <cmath>

namespace lowdim::detail {
namespace {

// The norms of rows [0, k): χ(d) draws or √d.
std::vector<double> row_norms(const OperatorDescription& desc) {
  std::vector<double> norms(static_cast<std::size_t>(desc.k), std::sqrt(static_cast<double>(desc.d)));
  if (desc.options.row_norms == RowNorms::sqrt_d) return norms;
  auto draws = Matrix<double>::uninitialized(desc.k, desc.d);
  fill_normal<double>(draws.view(), RandomStream(desc.seed, StreamId::sketch_row_norms));
  for (std::int64_t i = 0; i < desc.k; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < desc.d; ++j) sum += draws(i, j) * draws(i, j);
    norms[static_cast<std::size_t>(i)] = std::sqrt(sum);
  }
  return norms;
}

class BuiltDense final : public DenseOperator {
 public:
  BuiltDense(const OperatorDescription& description, double gram)
      : DenseOperator(description, true,
                      description.options.jl_scaling ? 1.0 / std::sqrt(static_cast<double>(description.k)) : 1.0),
        st_(Matrix<double>::uninitialized(description.d, description.k)) {
    const std::vector<double> norms = row_norms(desc);
    const std::int64_t d = desc.d, k = desc.k;
    for (std::int64_t b0 = 0; b0 < k; b0 += d) {
      const std::int64_t rows = std::min(d, k - b0);
      const auto offset = static_cast<std::uint64_t>(b0) * static_cast<std::uint64_t>(d);
      if (desc.kind == SketchKind::orthogonal) {
        const Matrix<double> q = haar_columns(d, rows, desc.seed, StreamId::sketch_orthogonal, offset);
        for (std::int64_t j = 0; j < d; ++j)
          for (std::int64_t i = 0; i < rows; ++i) st_(j, b0 + i) = q(j, i) * norms[static_cast<std::size_t>(b0 + i)];
      } else {
        // Rotated vertex i is R·s_i for a Haar rotation R, i.e. a·R_i − c·U (i < d − 1) and
        // U/√(d − 1) with U = R·u = Σ_{j<d−1} R_j. Only `rows` columns of R and U are needed:
        // for rows < d − 1, R_0 … R_{rows−1} and one more column R' orthonormal to them are
        // the first columns of a Haar R, and U = Σ_{i<rows} R_i + √(d − 1 − rows)·R' (the
        // rest of u, rotated): a thin QR of d × (rows + 1) instead of d × d.
        const std::int64_t m = std::min(rows + 1, d - 1);
        const Matrix<double> q = haar_columns(d, m, desc.seed, StreamId::sketch_simplex_rotation, offset);
        const double dd = static_cast<double>(d);
        const double a = std::sqrt(dd / (dd - 1)), c = (std::sqrt(dd) + 1) / std::pow(dd - 1, 1.5);
        const double last = 1 / std::sqrt(dd - 1);
        const double rest = rows < d - 1 ? std::sqrt(dd - 1 - static_cast<double>(rows)) : 0.0;
        for (std::int64_t j = 0; j < d; ++j) {
          double u = 0;
          for (std::int64_t t = 0; t < std::min(rows, d - 1); ++t) u += q(j, t);
          if (rows < d - 1) u += rest * q(j, rows);
          for (std::int64_t i = 0; i < rows; ++i) {
            const double vertex = i + 1 < d ? a * q(j, i) - c * u : last * u;
            st_(j, b0 + i) = vertex * norms[static_cast<std::size_t>(b0 + i)];
          }
        }
      }
    }
    gram_ = gram * scale() * scale();
  }

  double gram_scale() const noexcept override { return gram_; }
  void generate(MatrixView<float> out, std::int64_t j0) const override { copy(out, j0); }
  void generate(MatrixView<double> out, std::int64_t j0) const override { copy(out, j0); }
  std::shared_ptr<const OperatorImpl> make_cached() const override { return shared_from_this(); }

 private:
  template <class T>
  void copy(MatrixView<T> out, std::int64_t j0) const {
    for (std::int64_t j = 0; j < out.rows(); ++j)
      for (std::int64_t i = 0; i < desc.k; ++i) out(j, i) = static_cast<T>(st_(j0 + j, i));
  }

  Matrix<double> st_;  // the raw Sᵀ, d × k
  double gram_ = 0;
};

std::string accept_any(const OperatorDescription&) { return {}; }

std::string check_simplex(const OperatorDescription& description) {
  if (description.d < 2)
    return fmt::format("sketch simplex: input dimension d = {} is below 2 (a simplex needs two vertices)",
                       description.d);
  return {};
}

std::shared_ptr<const OperatorImpl> make_orthogonal(const OperatorDescription& description) {
  // Orthonormal rows of one norm √d within one block: S·Sᵀ = d·scale²·I.
  const bool one_block = description.k <= description.d && description.options.row_norms == RowNorms::sqrt_d;
  return std::make_shared<BuiltDense>(description, one_block ? static_cast<double>(description.d) : 0.0);
}

std::shared_ptr<const OperatorImpl> make_simplex(const OperatorDescription& description) {
  return std::make_shared<BuiltDense>(description, 0.0);
}

}  // namespace

const OperatorKindEntry orthogonal_entry{
    "orthogonal", "ORF: blocks of d orthonormal rows (Haar), scaled by χ(d) norms or √d (Yu et al. 2016)",
    kUsesRowNorms, accept_any, make_orthogonal};
const OperatorKindEntry simplex_entry{
    "simplex", "SimRFs: blocks of d rotated regular-simplex directions, scaled by χ(d) norms or √d (d ≥ 2)",
    kUsesRowNorms, check_simplex, make_simplex};

}  // namespace lowdim::detail
