#ifndef LOWDIM_SKETCH_HPP
#define LOWDIM_SKETCH_HPP

// Sketch operators: a random k × d matrix S, described by (kind, d, k, seed,
// options) and applied row by row, y = S x, to n × d data (n × k out). Where
// the kind allows, application is matrix-free: blocks of S are regenerated
// from the seed, so memory is O(block · k), not O(d · k). The output depends
// only on the description and the input rows: not on the thread count, and
// not on whether the rows come in one call or in chunks.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>

#include <cstdint>
#include <string_view>

namespace lowdim {

enum class SketchKind {
  gaussian,     ///< entries N(0, 1/k)
  rademacher,   ///< ±1/√k; with density s < 1, Achlioptas-style {+1, 0, −1}·1/√(k·s)
  sparse,       ///< Li, Hastie & Church very sparse: density 1/√d by default
  srht,         ///< √(d'/k) · R · H · D: random signs D, normalised Walsh–Hadamard H
                ///< on d zero-padded to d' = 2^⌈log₂ d⌉, uniform row sample R
  countsketch,  ///< one ±1 per column of S, in a random row (Clarkson–Woodruff)
};

/// "gaussian", "rademacher", "sparse", "srht", "countsketch".
LOWDIM_API const char* to_string(SketchKind kind) noexcept;
/// Parses a kind name; throws invalid_argument listing the valid names.
LOWDIM_API SketchKind parse_sketch_kind(std::string_view name);

/// Instruction set of the dense product kernel behind the gaussian and rademacher
/// sketches and whitening: "avx512", "avx2" or "generic" (fixed at start-up; the
/// environment variable LOWDIM_KERNEL=avx2|generic selects a lesser one). Every
/// element is the same fma chain with avx512 and avx2, so they agree bit for bit.
LOWDIM_API std::string_view dense_kernel_isa() noexcept;

struct SketchOptions {
  /// Fraction of non-zero entries: rademacher (1 = dense ±1; 1/3 = Achlioptas),
  /// sparse (0 means 1/√d). Ignored by the other kinds.
  double density = 0;
  /// true: scaled so that E‖Sx‖² = ‖x‖² (the JL normalisation); false: raw
  /// entries (N(0, 1), ±1, …), as a range finder wants.
  bool jl_scaling = true;
};

class LOWDIM_API SketchOperator {
 public:
  /// S is output_dim × input_dim. Throws invalid_argument for dims ≤ 0, a density
  /// outside (0, 1], or output_dim > input_dim for srht.
  SketchOperator(SketchKind kind, std::int64_t input_dim, std::int64_t output_dim, std::uint64_t seed,
                 SketchOptions options = {});

  SketchKind kind() const noexcept { return kind_; }
  std::int64_t input_dim() const noexcept { return input_dim_; }
  std::int64_t output_dim() const noexcept { return output_dim_; }
  std::uint64_t seed() const noexcept { return seed_; }
  const SketchOptions& options() const noexcept { return options_; }
  /// The density actually used (sparse default resolved); 1 for gaussian, dense
  /// rademacher and srht; 1/k for countsketch (one non-zero per column).
  double density() const noexcept;
  /// The factor multiplying the raw entries (N(0, 1), ±1, Hadamard ±1):
  /// 1/√(k·density) with jl_scaling (1/√k for srht; 1 for countsketch), else 1.
  double scale() const noexcept;
  /// srht: d' = 2^⌈log₂ d⌉, the zero-padded length; d for the other kinds.
  std::int64_t padded_dim() const noexcept;

  /// y (n × k) = x (n × d) · Sᵀ: each row x_i ↦ S x_i. x and y must not overlap;
  /// non-finite input is an invalid_argument naming its row and column (y is
  /// then unspecified: sparse kinds and srht detect it while computing).
  /// Cost: gaussian/rademacher 2·n·d·k (one GEMM per block of S, plus d·k random
  /// numbers per call: pass many rows per call); sparse kinds n·nnz(S)/k·k;
  /// srht n·d'·log₂d'; countsketch n·d. Extra memory O(block·k) (srht O(d')).
  template <class T>
  void apply(In<T> x, MatrixView<T> y) const;
  /// x (n × d) = y (n × k) · S: each row y_i ↦ Sᵀ y_i. Same costs as apply.
  template <class T>
  void apply_transpose(In<T> y, MatrixView<T> x) const;
  /// The dense k × d matrix S. O(d·k) memory.
  template <class T>
  Matrix<T> materialize() const;
  /// Columns [first, first + count) of S, a k × count matrix: materialize()
  /// block by block, for Gram matrices and the like without O(d·k) memory.
  template <class T>
  Matrix<T> materialize_columns(std::int64_t first, std::int64_t count) const;

 private:
  SketchKind kind_;
  std::int64_t input_dim_, output_dim_;
  std::uint64_t seed_;
  SketchOptions options_;
};

}  // namespace lowdim

#endif
