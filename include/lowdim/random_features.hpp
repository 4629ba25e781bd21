#ifndef LOWDIM_RANDOM_FEATURES_HPP
#define LOWDIM_RANDOM_FEATURES_HPP

/// \file
/// Random-feature maps φ on n × d rows, built on the sketch operator layer: the projection W
/// (m × d, rows w ~ N(0, I) marginally) is a SketchOperator with raw entries. E[φ(x)·φ(y)] is the
/// kernel: exp(x·y) (the softmax kernel) or exp(−‖x − y‖²/(2σ²)) (the Gaussian kernel).
///
/// Every map writes φ in a stabilised form: phi (n × features()) and a log scale s (n), the
/// feature being e^{s_i}·phi_i. For the positive maps s_i is the row maximum of the exponent, so
/// every entry of phi is at most 1/√m and nothing overflows; attention uses s to cancel or carry
/// the scale (docs/attention.md). Same seed, same bits, on any thread count.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>
#include <lowdim/sketch.hpp>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lowdim {

/// How the projection rows w₁ … w_m are drawn (all have E[w wᵀ] = I).
enum class FeatureProjection {
  iid,         ///< independent N(0, I) rows (the gaussian operator, raw entries)
  orf,         ///< orthogonal random features: orthogonal blocks of d rows, χ(d) or √d norms
  sorf,        ///< structured ORF: blocks √d'·H·D₁·H·D₂·H·D₃ (O(d log d) per row)
  simplex,     ///< simplex random features (SimRFs): blocks of d rows at cosine −1/(d − 1), χ norms
};

/// "iid", "orf", "sorf", "simplex".
LOWDIM_API const char* to_string(FeatureProjection projection) noexcept;
/// Parses a projection name ("gaussian", "orthogonal", "structured_orthogonal" too; '-' and '_'
/// interchangeable); invalid_argument listing the valid names.
LOWDIM_API FeatureProjection parse_feature_projection(std::string_view name);
/// "iid, orf, sorf, simplex".
LOWDIM_API std::string feature_projection_names();
/// The operator kind behind a projection (gaussian, orthogonal, structured_orthogonal, simplex).
LOWDIM_API SketchKind sketch_kind_of(FeatureProjection projection) noexcept;

/// The feature maps. z = W x (m values), u = ‖x‖².
enum class FeatureMapKind {
  positive,       ///< FAVOR+: exp(z − u/2)/√m; kernel exp(x·y)
  optimal,        ///< FAVOR++ (optimal positive): D·exp(A‖w‖² + √(1−4A)·z − u/2)/√m, D = (1−4A)^{d/4}
  trig_softmax,   ///< exp(u/2)/√m·[cos z, sin z] (2m features); kernel exp(x·y)
  trig_gaussian,  ///< 1/√m·[cos(z/σ), sin(z/σ)] (2m features); kernel exp(−‖x−y‖²/(2σ²)) (Rahimi & Recht)
  hyperbolic,     ///< exp(−u/2)/√(2m)·[e^{z}, e^{−z}] (2m positive features); kernel exp(x·y)
  relu,           ///< generalized: max(z, 0) + ε
  elu,            ///< generalized: elu(z) + 1 + ε
  exp,            ///< generalized: e^{z} + ε
};

/// "positive", "optimal", "trig_softmax", "trig_gaussian", "hyperbolic", "relu", "elu", "exp".
LOWDIM_API const char* to_string(FeatureMapKind kind) noexcept;
/// Parses a map name ('-'/'_' interchangeable; "favor", "favor+" = positive, "favor++" = optimal,
/// "trig" = trig_softmax); invalid_argument listing the valid names.
LOWDIM_API FeatureMapKind parse_feature_map(std::string_view name);
/// The valid names, for help texts and errors.
LOWDIM_API std::string feature_map_names();
/// True for the maps whose estimate is an unbiased estimate of the softmax kernel exp(x·y)
/// (positive, optimal, trig_softmax, hyperbolic).
LOWDIM_API bool estimates_softmax_kernel(FeatureMapKind kind) noexcept;
/// True for the maps whose features are all positive (everything but the trigonometric maps).
LOWDIM_API bool positive_features(FeatureMapKind kind) noexcept;

/// FAVOR++'s optimal parameter A for data with mean ‖x + y‖² = u over the query/key pairs, in
/// d dimensions (Likhosherstov et al. 2022, Theorem 3.1): ρ* = (√((2u + d)² + 8ud) − 2u − d)/(4u),
/// A = (1 − 1/ρ*)/8 ≤ 0; A = 0 (FAVOR+) when u = 0. Throws invalid_argument for u < 0, d < 1.
LOWDIM_API double optimal_positive_parameter(double u, std::int64_t dim);

/// Options of a feature map.
struct FeatureMapOptions {
  /// Row norms of orf and simplex (χ: unbiased; √d: lower variance, slightly biased).
  RowNorms row_norms = RowNorms::chi;
  /// ε added to the generalized maps (relu, elu, exp); ≥ 0. The other maps refuse a non-default value.
  double epsilon = 1e-3;
  /// σ of trig_gaussian (> 0); the other maps refuse a non-default value.
  double sigma = 1.0;
  /// A of the optimal map (< 1/8); set it from the data with optimal_positive_parameter (the
  /// attention functions do so when it is NaN, the default). The other maps ignore it.
  double optimal_a = std::numeric_limits<double>::quiet_NaN();
};

/// A feature map φ: R^d → R^{features()} with m random directions drawn from a seed.
/// Copies share nothing mutable: W is drawn once, at construction.
class LOWDIM_API RandomFeatures {
 public:
  /// d ≥ 1 input dimensions, m ≥ 1 random directions. Throws invalid_argument for d < 1 or
  /// m < 1, an option out of range or given to a map that does not read it, and when the
  /// projection rejects (d, m) (simplex needs d ≥ 2).
  RandomFeatures(FeatureMapKind kind, FeatureProjection projection, std::int64_t dim, std::int64_t directions,
                 std::uint64_t seed, FeatureMapOptions options = {});
  RandomFeatures(const RandomFeatures& other);             ///< A copy (the same W).
  RandomFeatures& operator=(const RandomFeatures& other);  ///< Copies other (the same W).
  RandomFeatures(RandomFeatures&&) noexcept = default;     ///< Moves.
  RandomFeatures& operator=(RandomFeatures&&) noexcept = default;  ///< Moves.
  ~RandomFeatures() = default;                             ///< Frees W.

  FeatureMapKind kind() const noexcept { return kind_; }                ///< The map.
  FeatureProjection projection() const noexcept { return projection_; }  ///< How W is drawn.
  std::int64_t dim() const noexcept { return dim_; }                    ///< d.
  std::int64_t directions() const noexcept { return directions_; }      ///< m, the rows of W.
  /// Columns of φ: 2m for trig_softmax, trig_gaussian and hyperbolic, m otherwise.
  std::int64_t features() const noexcept;
  std::uint64_t seed() const noexcept { return seed_; }                 ///< The seed W is drawn from.
  const FeatureMapOptions& options() const noexcept { return options_; }  ///< The options.
  /// The same map with W drawn again from another seed (Performer's feature redraw).
  RandomFeatures redrawn(std::uint64_t seed) const;
  /// The same map and W with another A for the optimal map (A < 1/8, finite).
  RandomFeatures with_optimal_a(double a) const;
  /// This map with the optimal map's A set from the data when it is unset (NaN):
  /// optimal_positive_parameter(u, d) for u = mean over pairs of ‖scale·(x_i + y_j)‖²
  /// (x: queries, y: keys, n × d each). Any other map, or A already set: a copy of this one.
  template <class T>
  RandomFeatures fitted(In<T> x, In<T> y, double scale = 1.0) const;
  /// The operator behind W (m × d, raw entries).
  const SketchOperator& projection_operator() const noexcept { return operator_; }

  /// phi (n × features()) and log_scale (n) for the rows of scale·x (x: n × d): the feature of
  /// row i is e^{log_scale[i]}·phi_i. Positive maps: log_scale[i] is the row maximum of the
  /// exponent, so 0 < phi ≤ 1/√m (for the optimal map 1/√m·D) and nothing overflows whatever ‖x‖;
  /// trig_softmax: log_scale = scale²‖x‖²/2; the others 0. Non-finite input is an
  /// invalid_argument naming its row and column; the optimal map with A unset (NaN) is an
  /// invalid_argument. Cost 2·n·d·m (SORF n·m·log d) + O(n·m) exponentials.
  template <class T>
  void apply(In<T> x, MatrixView<T> phi, std::span<T> log_scale, double scale = 1.0) const;

 private:
  FeatureMapKind kind_;
  FeatureProjection projection_;
  std::int64_t dim_, directions_;
  std::uint64_t seed_;
  FeatureMapOptions options_;
  SketchOperator operator_;
  Matrix<float> wt_float_;            // Wᵀ (d × m), for the one reproducible product per batch
  Matrix<double> wt_double_;
  std::vector<double> row_sq_norms_;  // ‖w_r‖², for the optimal map
};

/// Which kernel a kernel matrix is of.
enum class KernelKind {
  softmax,   ///< exp(x·y)
  gaussian,  ///< exp(−‖x − y‖²/(2σ²))
};

/// The exact kernel matrix K (n × n'), K_ij = k(x_i, y_j); x: n × d, y: n' × d. Products by
/// linalg::gemm_reproducible; cost 2·n·n'·d.
template <class T>
LOWDIM_API void exact_kernel(KernelKind kind, In<T> x, In<T> y, MatrixView<T> k, double sigma = 1.0);
/// The random-feature estimate K̂_ij = φ(x_i)·φ(y_j) of the map's kernel (softmax for the softmax
/// maps and the generalized maps, whose "kernel" is only what they estimate; gaussian for
/// trig_gaussian). Carries the log scales exactly (a value is e^{s_i + s_j}·phi_i·phi_j).
template <class T>
LOWDIM_API void estimate_kernel(const RandomFeatures& features, In<T> x, In<T> y, MatrixView<T> k);
/// Mean squared error between two matrices of one shape, accumulated in double.
template <class T>
LOWDIM_API double mean_squared_error(In<T> a, In<T> b);

}  // namespace lowdim

#endif
