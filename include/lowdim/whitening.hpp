#ifndef LOWDIM_WHITENING_HPP
#define LOWDIM_WHITENING_HPP

/// \file
/// Streaming mergeable moments, PCA, and the whitening family of Kessy, Lewin &
/// Strimmer (2018): pca, zca, cholesky, zca-cor, pca-cor; BERT-whitening (Su et
/// al. 2021) as a named entry point. Rows are samples: X is n × d.
/// Convention: y = (x − μ)·W with W d × k (the transpose of Kessy's z = W x).
/// Every fitted quantity is held in double; transforms take float or double.
/// The math, the sign convention and a worked example are in docs/whitening.md.

#include <lowdim/matrix.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lowdim {

/// How a batch's scatter is formed, for float and double input alike.
enum class ScatterPrecision {
  /// Centre each 512-row panel in double and sum its scatter in double, then add it to
  /// the total (default: relative error ~ eps_double · √n, independent of the data's offset).
  double_precision,
  /// Centre each 512-row panel in double, round it to float and sum its scatter in float,
  /// then add it in double (about twice as fast; relative error ~ eps_float · √512 per entry).
  block_float,
};

/// Count, mean and centred second moment (scatter, Σ (x − μ)(x − μ)ᵀ) of a stream of
/// d-dimensional rows, in double. update() costs n·d² (the upper triangle of XᵀX, on
/// the dense kernel); merge() costs d².
/// Within a batch, rows are centred on the batch mean before the product; batches and
/// moments are combined by Chan, Golub & LeVeque's pairwise update, never by
/// XᵀX − n·μμᵀ, so data shifted far from the origin keep full accuracy.
/// The same batches in the same order give bit-identical results on any thread count.
class LOWDIM_API Moments {
 public:
  Moments() = default;
  /// Empty moments of d-dimensional rows.
  explicit Moments(std::int64_t dim, ScatterPrecision precision = ScatterPrecision::double_precision);
  /// Empty moments whose mean is held relative to `shift` (d values) instead of the first row
  /// seen. Moments of consecutive batches, each about the same shift (the first row of the
  /// whole stream), merge with the same bits as update() called on the batches in turn: the
  /// distributed fold (lowdim::mpi::moments) relies on it.
  Moments(std::int64_t dim, std::span<const double> shift,
          ScatterPrecision precision = ScatterPrecision::double_precision);
  Moments(Moments&&) noexcept = default;  ///< Takes other's state.
  Moments& operator=(Moments&&) noexcept = default;  ///< Takes other's state.
  Moments clone() const;  ///< An independent copy.

  /// Adds an n × d batch. Throws on a column count ≠ dim() and on NaN/Inf (with row and column,
  /// rows numbered from the start of the batch); the moments are unchanged when it throws.
  template <class T>
  void update(ConstMatrixView<T> batch);
  /// Adds the rows other has seen (same dim). Chan's pairwise update: exact to rounding.
  void merge(const Moments& other);
  /// The moments of a ∪ b.
  static Moments merged(const Moments& a, const Moments& b);

  std::int64_t dim() const noexcept { return dim_; }  ///< d, the dimension of the rows.
  std::int64_t count() const noexcept { return count_; }  ///< n, the rows accumulated.
  ScatterPrecision precision() const noexcept { return precision_; }  ///< How the scatter is accumulated.
  std::span<const double> mean() const noexcept { return mean_; }  ///< The mean μ (d).
  /// The d × d centred scatter matrix Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ.
  ConstMatrixView<double> scatter() const noexcept { return scatter_.cview(); }
  /// scatter / (count − ddof), d × d. Throws unless count > ddof.
  Matrix<double> covariance(std::int64_t ddof = 1) const;

  /// The exact state as one flat array (dim, count, precision, whether the shift was given,
  /// shift, offset, scatter), for sending moments between processes: from_state() rebuilds
  /// moments with the same bits, so merges continue exactly as in one process.
  std::vector<double> state() const;
  /// Moments from a state() array; invalid_argument when its size or header is inconsistent.
  static Moments from_state(std::span<const double> state);

  /// Moments of every row of a .npy (memory-mapped, zero-copy when the dtype allows), IDX or
  /// .fvecs file, read block_rows rows at a time: memory O(block_rows · d + d²) whatever the
  /// file's size. Float files are accumulated as float batches, others as double.
  /// progress, when set, is called after each block with (rows done, rows in the file).
  static Moments from_file(const std::string& path, std::int64_t block_rows = 16384,
                           ScatterPrecision precision = ScatterPrecision::double_precision,
                           const std::function<void(std::int64_t, std::int64_t)>& progress = {});

 private:
  void refresh_mean();
  std::int64_t dim_ = 0;
  std::int64_t count_ = 0;
  ScatterPrecision precision_ = ScatterPrecision::double_precision;
  // The mean is held as shift + offset (shift: the first row seen), so differences of
  // means in merge() stay accurate for data far from the origin; mean_ caches the sum.
  std::vector<double> shift_, offset_, mean_;
  bool fixed_shift_ = false;  // shift_ given by the constructor, not taken from the first row
  Matrix<double> scatter_;
};

// ---------------------------------------------------------------------------------------------
// PCA

/// How Pca::fit computes the components.
enum class PcaSolver {
  /// eigh of the d × d covariance from the moments: cost n·d² + d³, exact to rounding.
  exact,
  /// rsvd's single-pass StreamingSketch of the implicitly centred X gives a k'-dimensional
  /// subspace V, then one more pass takes the exact eigenpairs of the covariance within it
  /// (Rayleigh–Ritz). Rows are centred in bounded chunks as they are fed, never as a centred
  /// copy of X. Three passes: the mean, O(n·d·(k' + s)) with k' = sketch_size, s = 2k' + 1
  /// (capped at d), and 2·n·d·k'; O(n·k') memory. Variances never exceed the exact ones;
  /// accurate when the spectrum has decayed by k' (docs/whitening.md). Needs the data
  /// (fit(x)), not moments.
  randomized,
};

/// How Pca::fit chooses k and its solver.
struct PcaOptions {
  std::int64_t components = 0;  ///< k; 0 means min(d, n − 1) (exact solver only)
  PcaSolver solver = PcaSolver::exact;  ///< The solver.
  std::uint64_t seed = 0;  ///< randomized: RandomStream seed of the sketch
  /// randomized: range sketch size k' ≥ k; 0 means min(n, d, 4k + 10).
  std::int64_t sketch_size = 0;
};

/// Principal component analysis. Components are the unit eigenvectors of the sample covariance
/// (ddof = 1), largest eigenvalue first, each signed so that its entry of largest magnitude is
/// positive (the first such entry on ties). transform: y = (x − μ)·Cᵀ; inverse: x = y·C + μ.
class LOWDIM_API Pca {
 public:
  Pca() = default;
  /// Exact PCA from moments (count ≥ 2).
  static Pca fit(const Moments& moments, const PcaOptions& options = {});
  /// PCA of the n × d rows of x (n ≥ 2).
  template <class T>
  static Pca fit(ConstMatrixView<T> x, const PcaOptions& options = {});

  std::int64_t dim() const noexcept { return components_.cols(); }  ///< d, the dimension of the input rows.
  /// k, the number of components.
  std::int64_t components_count() const noexcept { return components_.rows(); }
  std::int64_t samples() const noexcept { return samples_; }  ///< n, the rows the model was fitted on.
  std::span<const double> mean() const noexcept { return mean_; }  ///< The mean μ (d).
  /// k × d, one unit component per row (as scikit-learn's components_).
  ConstMatrixView<double> components() const noexcept { return components_.cview(); }
  /// k eigenvalues of the covariance (ddof = 1), descending.
  std::span<const double> explained_variance() const noexcept { return variance_; }
  /// explained_variance / total variance (trace of the covariance).
  std::vector<double> explained_variance_ratio() const;
  /// √(λᵢ·(n − 1)): the singular values of the centred X.
  std::vector<double> singular_values() const;
  double total_variance() const noexcept { return total_variance_; }  ///< The trace of the covariance.

  /// out (n × k) = (x − μ)·Cᵀ for x n × d. Cost 2·n·d·k.
  template <class T>
  void transform(ConstMatrixView<T> x, MatrixView<T> out) const;
  /// As transform(x, y), into a new n × k matrix.
  template <class T>
  Matrix<T> transform(ConstMatrixView<T> x) const;
  /// out (n × d) = y·C + μ for y n × k.
  template <class T>
  void inverse_transform(ConstMatrixView<T> y, MatrixView<T> out) const;
  /// As inverse_transform(y, x), into a new n × d matrix.
  template <class T>
  Matrix<T> inverse_transform(ConstMatrixView<T> y) const;

  /// Versioned archive ("lowdim.pca"); load throws io_error on a corrupt or wrong-kind file.
  void save(const std::string& path) const;
  /// Reads a model saved by save(); io_error for a missing, corrupt or foreign file.
  static Pca load(const std::string& path);

 private:
  void prepare_float_copies();
  template <class T>
  static Pca fit_randomized(ConstMatrixView<T> x, const PcaOptions& options);
  std::int64_t samples_ = 0;
  double total_variance_ = 0;
  std::vector<double> mean_;
  std::vector<double> variance_;
  Matrix<double> components_;  // k × d
  Matrix<float> components_f_;  // float copy for float transforms
};

// ---------------------------------------------------------------------------------------------
// Whitening

/// The whitening transforms of Kessy, Lewin & Strimmer (2018).
enum class WhiteningKind {
  pca,       ///< W = U·Λ^{-1/2} (first k columns): rotate to the principal axes, then scale
  zca,       ///< W = U·Λ^{-1/2}·Uᵀ = Σ^{-1/2}: symmetric, closest to the input (Mahalanobis)
  cholesky,  ///< W = L, lower triangular with L·Lᵀ = Σ⁻¹
  zca_cor,   ///< W = V^{-1/2}·P^{-1/2}: standardise, then ZCA of the correlation P
  pca_cor,   ///< W = V^{-1/2}·G·Θ^{-1/2}: standardise, then PCA of P = G·Θ·Gᵀ (first k columns)
};
/// "pca", "zca", "cholesky", "zca-cor", "pca-cor".
LOWDIM_API const char* to_string(WhiteningKind kind) noexcept;
/// Parses a kind name; throws invalid_argument listing the valid names.
LOWDIM_API WhiteningKind parse_whitening_kind(std::string_view name);

/// How Whitening::fit whitens.
struct WhiteningOptions {
  WhiteningKind kind = WhiteningKind::zca;  ///< The whitening kind.
  /// Output dimension k for pca and pca-cor (0 means d); other kinds need k = d (or 0).
  std::int64_t components = 0;
  /// ε ≥ 0 added to every eigenvalue of Σ (of P for the -cor kinds; and to each variance
  /// before standardising); cholesky factors Σ + ε·I.
  double epsilon = 0;
  /// Relative rank cut-off in [0, 1): eigenvalues ≤ rank_tolerance·λ_max are dropped
  /// (pca kinds: fewer output columns; zca kinds: pseudo-inverse square root). Not for cholesky.
  double rank_tolerance = 0;
  /// L2-normalise each output row (then the transform has no inverse).
  bool normalize = false;
  /// Delta degrees of freedom of the covariance: Σ = scatter / (n − ddof).
  std::int64_t ddof = 1;
};

/// A fitted whitening transform: y = (x − μ)·W, W d × k, so that cov(y) = I_k.
/// An eigenvalue that would be inverted while numerically zero (≤ d·eps·λ_max after ε)
/// is an error naming it, never an Inf/NaN in W.
class LOWDIM_API Whitening {
 public:
  Whitening() = default;
  /// Fit from moments (count > ddof). Cost O(d³).
  static Whitening fit(const Moments& moments, const WhiteningOptions& options = {});
  /// Fit from the n × d rows of x. Cost n·d² + O(d³).
  template <class T>
  static Whitening fit(ConstMatrixView<T> x, const WhiteningOptions& options = {});

  /// The options the model was fitted with.
  const WhiteningOptions& options() const noexcept { return options_; }
  WhiteningKind kind() const noexcept { return options_.kind; }  ///< The whitening kind.
  std::int64_t dim() const noexcept { return w_.rows(); }  ///< d, the dimension of the input rows.
  std::int64_t output_dim() const noexcept { return w_.cols(); }  ///< k, the dimension of the output rows.
  std::int64_t samples() const noexcept { return samples_; }  ///< n, the rows the model was fitted on.
  std::span<const double> mean() const noexcept { return mean_; }  ///< The mean μ (d).
  /// d × k whitening matrix.
  ConstMatrixView<double> matrix() const noexcept { return w_.cview(); }
  /// k × d dewhitening matrix M with x = y·M + μ (M = W⁻¹ for the full-rank kinds,
  /// the pseudo-inverse on the kept subspace otherwise).
  ConstMatrixView<double> inverse_matrix() const noexcept { return m_.cview(); }
  /// Eigenvalues of Σ (of P for the -cor kinds) with ε added, descending (all d).
  std::span<const double> eigenvalues() const noexcept { return eigenvalues_; }

  /// out (n × k) = (x − μ)·W, rows L2-normalised if asked. Cost 2·n·d·k.
  template <class T>
  void transform(ConstMatrixView<T> x, MatrixView<T> out) const;
  /// As transform(x, y), into a new n × k matrix.
  template <class T>
  Matrix<T> transform(ConstMatrixView<T> x) const;
  /// out (n × d) = y·M + μ. Throws if the model normalises its output.
  template <class T>
  void inverse_transform(ConstMatrixView<T> y, MatrixView<T> out) const;
  /// As inverse_transform(y, x), into a new n × d matrix.
  template <class T>
  Matrix<T> inverse_transform(ConstMatrixView<T> y) const;

  /// Versioned archive ("lowdim.whitening"); load throws io_error on a corrupt or wrong-kind file.
  void save(const std::string& path) const;
  /// Reads a model saved by save(); io_error for a missing, corrupt or foreign file.
  static Whitening load(const std::string& path);

 private:
  void prepare_float_copies();
  WhiteningOptions options_;
  std::int64_t samples_ = 0;
  std::vector<double> mean_;
  std::vector<double> eigenvalues_;
  Matrix<double> w_;    // d × k
  Matrix<double> m_;    // k × d
  Matrix<float> w_f_;   // float copies for float transforms
  Matrix<float> m_f_;
};

// ---------------------------------------------------------------------------------------------
// BERT-whitening (Su, Cao, Liu & Ou 2021)

/// How bert_whitening fits: k, normalisation and the scatter's precision.
struct BertWhiteningOptions {
  std::int64_t components = 256;  ///< k: the first k columns of U·Λ^{-1/2} are kept
  bool normalize = false;         ///< L2-normalise the whitened sentence vectors
  /// Scatter precision; block_float is about twice as fast (docs/whitening.md).
  ScatterPrecision precision = ScatterPrecision::double_precision;
};

/// Exactly Su et al.: μ = mean(X), Σ = cov(X) (ddof 1), Σ = U·Λ·Uᵀ, W = U·Λ^{-1/2}[:, :k],
/// y = (x − μ)·W, optionally normalised. A Whitening of kind pca with ε = 0. Cost n·d² + d³.
template <class T>
LOWDIM_API Whitening fit_bert_whitening(ConstMatrixView<T> x, const BertWhiteningOptions& options = {});

}  // namespace lowdim

#endif
