#ifndef LOWDIM_JL_HPP
#define LOWDIM_JL_HPP

/// \file
/// Johnson–Lindenstrauss: how many dimensions a random projection needs
/// (bounds), the projection itself as a fitted transform (RandomProjection),
/// and empirical distortion experiments that measure what a projection does to
/// the pairwise distances of real data. The math is in docs/jl.md.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>
#include <lowdim/sketch.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lowdim {

// ---- bounds ---------------------------------------------------------------

/// The Dasgupta–Gupta bound k ≥ 4 ln n / (ε²/2 − ε³/3), rounded up: enough
/// dimensions for a Gaussian projection to keep all n(n−1)/2 squared distances
/// within [1 − ε, 1 + ε] with probability ≥ 1/n. min_dim(10⁶, 0.5) = 664.
/// Throws invalid_argument for n < 2 or ε ∉ (0, 1).
LOWDIM_API std::int64_t min_dim(std::int64_t n_points, double eps);

/// The same with failure probability at most δ: k ≥ 2 ln(n(n−1)/δ) / (ε²/2 − ε³/3)
/// (per-pair tail 2·exp(−k(ε²/2 − ε³/3)/2), union bound over the pairs).
/// Throws invalid_argument for δ ∉ (0, 1) too.
LOWDIM_API std::int64_t min_dim(std::int64_t n_points, double eps, double delta);

/// The inverse of min_dim: the smallest ε with min_dim(n_points, ε) ≤ k, i.e.
/// the distortion k dimensions guarantee. Throws invalid_argument when k is
/// below the bound for every ε < 1 (k < 24 ln n), or n < 2, or k < 1.
LOWDIM_API double guaranteed_eps(std::int64_t k, std::int64_t n_points);
/// As guaranteed_eps, for failure probability δ.
LOWDIM_API double guaranteed_eps(std::int64_t k, std::int64_t n_points, double delta);

// ---- RandomProjection ------------------------------------------------------

/// How RandomProjection::fit chooses its operator.
struct RandomProjectionOptions {
  SketchKind kind = SketchKind::gaussian;  ///< The operator kind.
  /// Output dimension; 0 means min_dim(n_points, eps).
  std::int64_t k = 0;
  /// Target distortion and number of points, used when k = 0.
  double eps = 0.1;
  std::int64_t n_points = 0;  ///< Number of points the projection must hold together (k = 0).
  std::uint64_t seed = 0;     ///< Seed of the operator.
  SketchOptions sketch = {};  ///< Kind-specific options (density, row norms, …).
};

/// f(x) = S x with a sketch operator S (k × d). Stores the description only
/// (kind, d, k, seed, options), never the matrix.
class LOWDIM_API RandomProjection {
 public:
  RandomProjection();
  ~RandomProjection();
  RandomProjection(RandomProjection&&) noexcept;             ///< Takes other's state; other is unfitted.
  RandomProjection& operator=(RandomProjection&&) noexcept;  ///< Takes other's state; other is unfitted.

  /// Fits for input dimension d. Throws invalid_argument for d ≤ 0, for k = 0
  /// without n_points ≥ 2, or when the operator rejects (kind, d, k).
  void fit(std::int64_t input_dim, const RandomProjectionOptions& options);
  bool fitted() const noexcept;  ///< True after fit or load.
  /// The operator; throws invalid_argument if not fitted.
  const SketchOperator& sketch() const;
  std::int64_t input_dim() const;   ///< d; throws invalid_argument if not fitted.
  std::int64_t output_dim() const;  ///< k; throws invalid_argument if not fitted.

  /// y (n × k) = f(x) for x (n × d). Cost as SketchOperator::apply.
  template <class T>
  void transform(In<T> x, MatrixView<T> y) const;
  /// As transform(x, y), into a new n × k matrix.
  template <class T>
  Matrix<T> transform(In<T> x) const;

  /// x (n × d) = S⁺ y, the least-squares preimage of minimal norm. For srht
  /// with d a power of two S⁺ = (k/d)·Sᵀ (rows of S are orthogonal); otherwise
  /// S⁺ = Sᵀ(S Sᵀ)⁺, with the k × k Gram matrix computed once (O(d·k²),
  /// O(k²) memory) and pseudo-inverted by a symmetric eigendecomposition.
  template <class T>
  void inverse_transform(In<T> y, MatrixView<T> x) const;
  /// As inverse_transform(y, x), into a new n × d matrix.
  template <class T>
  Matrix<T> inverse_transform(In<T> y) const;

  /// Writes the description atomically (io.hpp archive "lowdim.random_projection").
  void save(const std::string& path) const;
  /// Reads a saved projection; io_error for a missing, corrupt or foreign file.
  static RandomProjection load(const std::string& path);

 private:
  struct State;
  std::unique_ptr<State> state_;
  void adopt(SketchOperator op);
  const State& checked(const char* what) const;
};

// ---- distortion experiments -------------------------------------------------

/// P distinct unordered pairs (a < b) of [0, n), drawn uniformly without
/// replacement from (seed, stream); all n(n−1)/2 pairs when that is ≤ P.
/// Sorted. Throws for n < 2 or P < 1.
LOWDIM_API std::vector<std::pair<std::int64_t, std::int64_t>> sample_pairs(std::int64_t n, std::int64_t pairs,
                                                                           std::uint64_t seed);

/// What measure_distortion tries and how many pairs it samples.
struct DistortionOptions {
  /// Sketch kinds to try, in this order.
  std::vector<SketchKind> kinds = {SketchKind::gaussian, SketchKind::sparse, SketchKind::srht};
  /// Output dimensions to try; dimensions a kind rejects (srht: k > d) are skipped.
  std::vector<std::int64_t> dims = {16, 32, 64, 128, 256};
  double eps = 0.1;            ///< ε of within_eps and of the min_dim bound.
  std::int64_t pairs = 10000;  ///< Number of distinct pairs to sample.
  std::uint64_t seed = 0;      ///< Seed of the pairs and of the operators.
  /// Options shared by the kinds: each kind takes those it reads (SketchKind::own_options);
  /// one that none of the kinds reads is an invalid_argument.
  SketchOptions sketch = {};
  /// Keep every pair's ratio in the results (for plots).
  bool keep_ratios = false;
  /// Called after each (kind, k) with (done, total); may be empty.
  std::function<void(std::int64_t, std::int64_t)> progress = {};
};

/// What one projection (kind, k) did to the sampled pairs.
struct DistortionResult {
  SketchKind kind = SketchKind::gaussian;  ///< The operator kind.
  std::int64_t k = 0;                      ///< Its output dimension.
  /// \name Squared-distance ratio ‖f(x) − f(y)‖² / ‖x − y‖² over the pairs
  ///@{
  double mean = 0;  ///< Mean.
  double std = 0;   ///< Standard deviation.
  double min = 0;   ///< Smallest.
  double max = 0;   ///< Largest.
  double q01 = 0;   ///< 1 % quantile.
  double q05 = 0;   ///< 5 % quantile.
  double q50 = 0;   ///< Median.
  double q95 = 0;   ///< 95 % quantile.
  double q99 = 0;   ///< 99 % quantile.
  ///@}
  /// Fraction of pairs with ratio in [1 − ε, 1 + ε].
  double within_eps = 0;
  /// Inner products: |⟨f(x), f(y)⟩ − ⟨x, y⟩| / (‖x‖‖y‖), mean and max over
  /// the pairs (pairs with a zero vector skipped); cosines: |cos f − cos|.
  double inner_mean_abs_error = 0;
  double inner_max_abs_error = 0;    ///< Largest inner-product error, as inner_mean_abs_error.
  double cosine_mean_abs_error = 0;  ///< Mean |cos(f(x), f(y)) − cos(x, y)|.
  double cosine_max_abs_error = 0;   ///< Largest |cos(f(x), f(y)) − cos(x, y)|.
  std::vector<float> ratios;  ///< per pair, when keep_ratios
};

/// The result of measure_distortion: the data's shape, the pairs and one result per (kind, k).
struct DistortionReport {
  std::int64_t n_points = 0;            ///< Rows of the data.
  std::int64_t dim = 0;                 ///< Columns of the data.
  std::int64_t pairs = 0;               ///< pairs used (distance > 0)
  std::int64_t zero_distance_pairs = 0;  ///< sampled pairs skipped: ‖x − y‖ = 0
  double eps = 0;                  ///< The ε of the options.
  std::int64_t min_dim_bound = 0;  ///< min_dim(n_points, eps)
  std::vector<DistortionResult> results;  ///< kinds × dims, in option order
};

/// Projects the points that occur in the sampled pairs once per (kind, k) and
/// measures the distortion of every pair. x: n × d, n ≥ 2, finite. Cost: per
/// (kind, k), one apply on ≤ 2P rows and O(P·k).
template <class T>
LOWDIM_API DistortionReport measure_distortion(In<T> x, const DistortionOptions& options);

/// The result of smallest_dim: the smallest output dimension that met the target.
struct SmallestDim {
  std::int64_t k = 0;            ///< smallest k found whose within_eps ≥ the target
  double within_eps = 0;         ///< what it reached
  std::int64_t min_dim_bound = 0;  ///< the theoretical bound, for comparison
  std::int64_t evaluations = 0;  ///< projections tried
};

/// The smallest k (1 ≤ k ≤ max_k) keeping at least `fraction` of the sampled
/// pairs within ε, by doubling then bisection over k (each k one projection
/// with the same seed; within_eps is monotone in k only statistically, so the
/// answer is the smallest k on the search path). max_k = 0 means d (srht: d).
/// Throws invalid_argument if even max_k does not reach the fraction.
template <class T>
LOWDIM_API SmallestDim smallest_dim(In<T> x, SketchKind kind, double eps, double fraction,
                                    const DistortionOptions& options, std::int64_t max_k = 0);

}  // namespace lowdim

#endif
