#ifndef LOWDIM_SKETCH_HPP
#define LOWDIM_SKETCH_HPP

/// \file
/// Sketch operators, the kernels layer: a random k × d matrix S, described by
/// (kind, d, k, seed, options) and applied row by row, y = S x, to n × d data
/// (n × k out). Each kind is one self-contained unit (src/operators/KIND.cpp)
/// registered in one table; front ends parse names through that table.
///
/// Where the kind allows, application is matrix-free: blocks of S are
/// regenerated from the seed, so memory is O(block · k), not O(d · k).
/// materialized() gives the cached form (S, or what the kind regenerates per
/// call, kept in memory) for small batches: one LSH query, one attention step.
/// Both forms give the same bits. The output depends only on the description
/// and the input rows: not on the thread count, not on whether the rows come in
/// one call or in chunks, not on the cached or matrix-free form.
///
/// Extreme but finite input is handled row by row: a row whose image would
/// overflow or fall into the denormals is recomputed from a copy scaled by a
/// power of two, so S(2^e x) = 2^e S x holds wherever the result is
/// representable; an image that is not representable is a numerical_error.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lowdim {

class ArchiveWriter;
class ArchiveReader;

namespace detail {
struct OperatorKindEntry;
class OperatorImpl;
}  // namespace detail

/// How the rows of the orthogonal kinds (orthogonal, simplex) are scaled.
enum class RowNorms {
  chi,     ///< independent χ(d) norms: each row has the norm of a Gaussian row (unbiased random features)
  sqrt_d,  ///< every row has norm √d (lower variance; the "regularized" ORF)
};

/// "chi", "sqrt_d".
LOWDIM_API const char* to_string(RowNorms norms) noexcept;
/// Parses "chi" or "sqrt_d" ("sqrt-d" too); throws invalid_argument listing the valid names.
LOWDIM_API RowNorms parse_row_norms(std::string_view name);

/// Options some kinds read; a kind refuses an option it does not read (SketchKind::check).
struct SketchOptions {
  /// Fraction of non-zero entries: rademacher (1 = dense ±1; 1/3 = Achlioptas),
  /// sparse (0 means 1/√d). Any other kind refuses a non-zero density.
  double density = 0;
  /// true: scaled so that E‖Sx‖² = ‖x‖² (the JL normalisation); false: raw
  /// entries (N(0, 1), ±1, rows of norm ≈ √d, …), as a range finder or a
  /// random-feature map wants.
  bool jl_scaling = true;
  /// Row norms of orthogonal and simplex; the other kinds refuse sqrt_d.
  RowNorms row_norms = RowNorms::chi;
};

/// A registered operator kind. Values are the static members below (or the
/// result of parse_sketch_kind); they compare equal when they name the same kind.
class LOWDIM_API SketchKind {
 public:
  static const SketchKind gaussian;     ///< entries N(0, 1/k)
  static const SketchKind rademacher;   ///< ±1/√k; density s < 1: Achlioptas {+1, 0, −1}·1/√(k·s)
  static const SketchKind sparse;       ///< Li, Hastie & Church very sparse: density 1/√d by default
  static const SketchKind srht;         ///< √(d'/k)·R·H·D: signs D, normalised Walsh–Hadamard H on d
                                        ///< zero-padded to d' = 2^⌈log₂ d⌉, k ≤ d sampled rows R
  static const SketchKind countsketch;  ///< one ±1 per column of S, in a random row (Clarkson–Woodruff)
  /// ORF (Yu et al. 2016): blocks of d orthonormal rows, the Q factor of a d × d Gaussian
  /// (Haar-distributed), rows scaled by χ(d) norms or √d (SketchOptions::row_norms).
  static const SketchKind orthogonal;
  /// SORF: blocks √d'·H·D₁·H·D₂·H·D₃ (normalised H on d zero-padded to d', random signs Dᵢ),
  /// O(d' log d') per row and block, O(k) memory.
  static const SketchKind structured_orthogonal;
  /// H·D₁·H·D₂·H·D₃, the pseudo-random rotation of cross-polytope LSH (Andoni et al. 2015):
  /// orthogonal (k = d = d') with raw entries; blocks of d' rows when k > d'.
  static const SketchKind hadamard_rotation;
  /// SimRFs (Reid et al. 2023): each block of d rows is a regular simplex (pairwise
  /// cosines −1/(d − 1)), randomly rotated, rows scaled as for orthogonal. d ≥ 2.
  static const SketchKind simplex;

  /// gaussian.
  SketchKind() noexcept;
  /// The registered name ("gaussian", "structured_orthogonal", …): static storage.
  const char* name() const noexcept;
  /// One line for help texts.
  const char* summary() const noexcept;
  /// Why the kind rejects this description (empty when it accepts it): dims, options.
  std::string check(std::int64_t input_dim, std::int64_t output_dim, const SketchOptions& options = {}) const;
  /// True when the kind accepts this description (check() is empty).
  bool accepts(std::int64_t input_dim, std::int64_t output_dim, const SketchOptions& options = {}) const {
    return check(input_dim, output_dim, options).empty();
  }
  /// Whether the kind reads SketchOptions::density / row_norms (the others refuse them).
  bool uses_density() const noexcept;
  bool uses_row_norms() const noexcept;  ///< As uses_density(), for row_norms.
  /// The options this kind takes from options shared by several kinds (an experiment over
  /// a list of kinds): density and row_norms are kept only where the kind reads them.
  SketchOptions own_options(const SketchOptions& shared) const noexcept;

  /// Kinds are equal when they are the same registered kind.
  friend bool operator==(SketchKind a, SketchKind b) noexcept { return a.entry_ == b.entry_; }

  /// Private: kinds are made only by the registry (src/operators/).
  constexpr explicit SketchKind(const detail::OperatorKindEntry* entry) noexcept : entry_(entry) {}
  /// The registry entry (internal).
  const detail::OperatorKindEntry& entry() const noexcept { return *entry_; }

 private:
  const detail::OperatorKindEntry* entry_;
};

/// Every registered kind, in the registry's fixed order (the order of help texts).
LOWDIM_API std::span<const SketchKind> sketch_kinds() noexcept;
/// "gaussian, rademacher, …": the valid names, for help texts and errors.
LOWDIM_API std::string sketch_kind_names();
/// kind.name().
LOWDIM_API const char* to_string(SketchKind kind) noexcept;
/// Parses a kind name ('-' and '_' are interchangeable); throws invalid_argument listing the valid names.
LOWDIM_API SketchKind parse_sketch_kind(std::string_view name);

/// A random k × d matrix S described by (kind, d, k, seed, options), applied to rows: Y = X Sᵀ.
class LOWDIM_API SketchOperator {
 public:
  /// S is output_dim × input_dim. Throws invalid_argument when the kind rejects the
  /// description (SketchKind::check): dims ≤ 0, a density outside (0, 1] or for a kind
  /// without one, k > d' for srht, d < 2 for simplex, …. Kinds that cannot be applied
  /// matrix-free (orthogonal, simplex) build S here: O(d·k·min(d, k)) time, O(d·k) memory.
  SketchOperator(SketchKind kind, std::int64_t input_dim, std::int64_t output_dim, std::uint64_t seed,
                 SketchOptions options = {});

  SketchKind kind() const noexcept { return kind_; }  ///< The kind.
  std::int64_t input_dim() const noexcept { return input_dim_; }  ///< d, the dimension of the input rows.
  std::int64_t output_dim() const noexcept { return output_dim_; }  ///< k, the dimension of the output rows.
  std::uint64_t seed() const noexcept { return seed_; }  ///< The seed S is drawn from.
  const SketchOptions& options() const noexcept { return options_; }  ///< The kind's options.
  /// The density actually used (sparse default resolved); 1 for the dense kinds;
  /// 1/k for countsketch (one non-zero per column).
  double density() const noexcept;
  /// The factor multiplying the raw entries: 1/√(k·density) with jl_scaling
  /// (1/√k for srht, the dense and the orthogonal kinds; √(d'/k) for hadamard_rotation;
  /// 1 for countsketch), else 1.
  double scale() const noexcept;
  /// d' = 2^⌈log₂ d⌉ for the Hadamard kinds (srht, structured_orthogonal, hadamard_rotation);
  /// d for the others.
  std::int64_t padded_dim() const noexcept;
  /// True when S·Sᵀ = gram_scale()·I_k exactly in exact arithmetic: orthogonal rows of one
  /// common norm (srht, hadamard_rotation and orthogonal with √d norms, for k ≤ d = d').
  bool orthogonal() const noexcept;
  /// The c of S·Sᵀ = c·I when orthogonal(); 0 otherwise.
  double gram_scale() const noexcept;

  /// True for the cached form (materialized(), and the kinds that are always cached).
  bool cached() const noexcept;
  /// The cached form of this operator: the same S and the same output bits, with what the
  /// matrix-free form regenerates per call (S or its blocks, signs, sparse columns) kept in
  /// memory, built on first use for each type. Applying it to one row costs about one
  /// gemv with S in memory. Copies share the cache.
  SketchOperator materialized() const;
  /// Bytes the cached form holds now beyond the description (what it builds on first use
  /// for each type and direction; 0 for a matrix-free operator).
  std::int64_t cached_bytes() const noexcept;

  /// y (n × k) = x (n × d) · Sᵀ: each row x_i ↦ S x_i. x and y must not overlap;
  /// non-finite input is an invalid_argument naming its row and column (y is then
  /// unspecified). Cost: gaussian/rademacher 2·n·d·k (plus d·k random numbers per call
  /// when matrix-free: pass many rows per call); sparse kinds n·nnz(S)/k·k; srht
  /// n·d'·log₂d'; structured_orthogonal/hadamard_rotation 3·n·⌈k/d'⌉·d'·log₂d';
  /// countsketch n·d; orthogonal/simplex 2·n·d·k. Extra memory O(block·k) (Hadamard kinds O(d')).
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

  /// Writes the description (kind, input_dim, output_dim, seed and the options the kind
  /// uses) into an archive, each key prefixed by `prefix`.
  void save_description(ArchiveWriter& archive, const std::string& prefix = "") const;
  /// The operator an archive describes; io_error naming `context` when the description is
  /// missing, corrupt or rejected by the kind.
  static SketchOperator load_description(const ArchiveReader& archive, const std::string& prefix,
                                         const std::string& context);

 private:
  SketchKind kind_;
  std::int64_t input_dim_, output_dim_;
  std::uint64_t seed_;
  SketchOptions options_;
  std::shared_ptr<const detail::OperatorImpl> impl_;
};

}  // namespace lowdim

#endif
