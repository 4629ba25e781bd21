#ifndef LOWDIM_RSVD_HPP
#define LOWDIM_RSVD_HPP

/// \file
/// Randomized SVD family (Halko, Martinsson & Tropp 2011; Musco & Musco 2015;
/// Yu, Gu & Li 2018; Tropp, Yurtsever, Udell & Cevher 2017/2019). Every routine
/// works on a view A (m × n, tall or wide, any row stride) that it never copies
/// or modifies. The derivations, the default rules and the measured trade-offs
/// are in docs/rsvd.md.
///
/// Conventions shared by every result:
///  * singular values / eigenvalues are in descending order;
///  * sign: in each column of U the entry of largest magnitude (the first one on
///    a tie) is positive, and the matching row of Vt carries the same flip, so
///    U·diag(S)·Vt is unchanged;
///  * randomness comes only from RandomStream(seed, stream): the same seed gives
///    bit-identical results on any thread count;
///  * cost is counted in passes over A (one product of A or Aᵀ with a block of
///    columns); everything else is O((m + n)·l²) for sketch width l.
///
/// Errors: rank ≤ 0 or rank > min(m, n) ("rsvd: rank 600 exceeds min(rows, cols)
/// = 500"), an empty A, a non-finite entry of A (reported with row and column),
/// tol outside (0, 1), a non-square or non-symmetric A for the eigensolvers, and a
/// result that T cannot represent (numerical_error: a singular value above the largest
/// float, say). Any finite A is accepted: an A whose largest |a_ij| lies outside
/// [2^(−E/4), 2^(E/4)] (E = 128 for float, 1024 for double) is factored as a copy scaled by
/// a power of two (exact; memory m·n), so A and 2^j·A give the same U and V.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>
#include <lowdim/sketch.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace lowdim {

/// How the blocks are re-normalised between power iterations.
enum class Normalizer {
  none,  ///< plain powers (A Aᵀ)^q A Ω: loses the small directions in rounding for q ≥ 2
  lu,    ///< P·L of a pivoted LU: cheap, well conditioned (scikit-learn's choice)
  qr,    ///< orthonormal (Householder; Cholesky QR on tall-skinny blocks): the most stable
};
/// "none", "lu", "qr".
LOWDIM_API const char* to_string(Normalizer normalizer) noexcept;
/// Parses "none", "lu" or "qr"; throws invalid_argument listing the valid names.
LOWDIM_API Normalizer parse_normalizer(std::string_view name);

/// Sentinel for "choose automatically" in the options below.
inline constexpr int automatic = -1;

/// Options of the range finder and of the fixed-rank randomized SVD (HMT Alg. 4.4 / 5.1).
struct RsvdOptions {
  std::int64_t rank = 0;           ///< k, target rank: 1 ≤ k ≤ min(m, n) (required)
  std::int64_t oversampling = 10;  ///< p: the sketch has l = min(k + p, min(m, n)) columns
  /// q ≥ 0 passes of A Aᵀ; automatic: 7 if k < 0.1·min(m, n), else 4 (scikit-learn's rule;
  /// see docs/rsvd.md for why the fixed-rank default method is block Krylov instead).
  int power_iterations = automatic;
  Normalizer normalizer = Normalizer::lu;  ///< between power iterations (the last basis is always QR)
  /// Test matrix Ω (l × n, raw entries): gaussian draws N(0, 1) from RandomStream(seed);
  /// the other kinds go through SketchOperator with jl_scaling = false.
  SketchKind sketch = SketchKind::gaussian;
  std::uint64_t seed = 0;  ///< Seed of the test matrix.
};

/// A rank-k factorisation A ≈ U·diag(S)·Vt.
template <class T>
struct SvdResult {
  Matrix<T> u;             ///< m × k, orthonormal columns
  std::vector<T> s;        ///< k singular values, descending
  Matrix<T> vt;            ///< k × n, orthonormal rows
  std::int64_t passes = 0;  ///< products of A or Aᵀ with a block (the cost that dominates)
  /// Iterations the method ran: block Krylov: blocks i (chosen by the adaptive rule unless fixed);
  /// rsvd: power iterations q; qb: blocks added; single pass: 0.
  std::int64_t iterations = 0;
  /// ‖A − U·diag(S)·Vt‖_F when the method knows it (qb: computed; single pass: estimated);
  /// negative when not computed.
  double error = -1;
  double relative_error = -1;  ///< error / ‖A‖_F (negative when not computed)
};

/// Orthonormal basis Q (m × l) of the range of (A Aᵀ)^q A Ω, l = options.rank + oversampling
/// (capped at min(m, n)). Cost: 2q + 1 passes, plus QR/LU of m × l and n × l blocks.
template <class T>
LOWDIM_API Matrix<T> range_finder(In<T> a, const RsvdOptions& options);

/// Fixed-rank randomized SVD: Q = range_finder(A), B = QᵀA, SVD of B truncated to k.
/// Cost: 2q + 2 passes of width l, plus O((m + n)·l²).
template <class T>
LOWDIM_API SvdResult<T> rsvd(In<T> a, const RsvdOptions& options);

/// Options of block Krylov SVD (Musco & Musco 2015) by block Lanczos bidiagonalisation
/// with full re-orthogonalisation and an adaptive depth.
struct KrylovOptions {
  std::int64_t rank = 0;  ///< k (required), 1 ≤ k ≤ min(m, n)
  /// b, columns per block; automatic: 32 (capped at min(m, n)).
  std::int64_t block_size = automatic;
  /// Stopping tolerance: after block i the residuals r_j = ‖A·v_j − σ_j·u_j‖ of the top-k Ritz
  /// triplets are computed (Aᵀu_j = σ_j·v_j holds exactly); the run stops once every
  /// r_j ≤ tol·σ_j (+ rounding, 16·√(ib)·eps·σ_1). A relative residual tol bounds the relative
  /// error of σ_j by tol and in practice by ~tol². automatic: √eps_T (1.5e-8 for double, 3.5e-4
  /// for float), which leaves the singular values exact to rounding; 0: never stop early (run
  /// `iterations` blocks). 0 ≤ tol < 1.
  double tol = automatic;
  /// The most blocks i ≥ 1 to run: the left Krylov space is span{AΩ, (AAᵀ)AΩ, …,
  /// (AAᵀ)^{i−1}AΩ} of dimension i·b (capped at min(m, n)). automatic: the block count whose
  /// passes cost what scikit-learn's randomized_svd defaults cost, ⌈(q + 1)(k + 10)/b⌉ with
  /// q = 7 if k < 0.1·min(m, n) else 4 (at least q + 1), or until the space fills min(m, n).
  int iterations = automatic;
  SketchKind sketch = SketchKind::gaussian;  ///< test block Ω (b × n), raw entries
  std::uint64_t seed = 0;  ///< Seed of the test block.
};

/// Block Krylov SVD: builds orthonormal Q, P with QᵀA = G·Pᵀ exactly (G lower block
/// triangular), block by block, until the residual check above passes (docs/rsvd.md §3). When
/// it stops on the check, the pass A·P_i that the check needed extends Q by one block and the
/// result is the SVD of [Q, Q_{i+1}]ᵀ·A·P (so U·diag(S)·Vt = A·V·Vᵀ); otherwise that of G
/// (U·diag(S)·Vt = U·Uᵀ·A). result.iterations = i. Cost: 2i or 2i + 1 passes of width b, plus
/// O((m + n)·(ib)²) for the re-orthogonalisation and O((ib)³) per residual check (checks are
/// skipped while they would cost more than the passes since the previous one).
template <class T>
LOWDIM_API SvdResult<T> block_krylov_svd(In<T> a, const KrylovOptions& options);

/// Options of the fixed-accuracy adaptive QB (Yu, Gu & Li 2018, randQB_EI).
struct QbOptions {
  double tol = 0;                      ///< stop when ‖A − QB‖_F ≤ tol·‖A‖_F; 0 < tol < 1 (required)
  std::int64_t block_size = 32;        ///< columns added per step (capped at min(m, n))
  std::int64_t max_rank = automatic;   ///< stop at this rank at the latest; automatic: min(m, n)
  int power_iterations = 1;            ///< per block, on the deflated matrix A − QB
  SketchKind sketch = SketchKind::gaussian;  ///< Kind of the test matrices Ω_i.
  std::uint64_t seed = 0;  ///< Seed of the test matrices.
};

/// A ≈ Q·B with the error actually reached.
template <class T>
struct QbResult {
  Matrix<T> q;               ///< m × r, orthonormal columns
  Matrix<T> b;               ///< r × n, B = QᵀA
  std::int64_t rank = 0;     ///< r (a multiple of the block size, or max_rank)
  double error = 0;          ///< ‖A − QB‖_F
  double relative_error = 0;  ///< error / ‖A‖_F
  bool converged = false;    ///< relative_error ≤ tol (false: stopped at max_rank)
  std::int64_t passes = 0;  ///< Passes over A made.
};

/// Grows Q, B by blocks until ‖A − QB‖_F ≤ tol·‖A‖_F or rank max_rank. The error is tracked
/// as ‖A‖²_F − ‖B‖²_F in double and, once that difference falls to the level where rounding
/// dominates it, recomputed directly as ‖A − QB‖_F (one more pass). Cost per block of width b:
/// 2 + 2·power_iterations passes of width b.
template <class T>
LOWDIM_API QbResult<T> adaptive_qb(In<T> a, const QbOptions& options);

/// Fixed-accuracy SVD: adaptive_qb, then the SVD of B truncated to the smallest rank whose
/// error sqrt(‖A − QB‖²_F + Σ_{j>r} s_j²) is ≤ tol·‖A‖_F (error, relative_error set).
template <class T>
LOWDIM_API SvdResult<T> qb_svd(In<T> a, const QbOptions& options);

/// A symmetric rank-k factorisation A ≈ U·diag(w)·Uᵀ.
template <class T>
struct EigResult {
  Matrix<T> u;           ///< n × k, orthonormal columns (sign convention as for U above)
  std::vector<T> w;      ///< k eigenvalues by descending magnitude (Nyström: descending, ≥ 0)
  std::int64_t passes = 0;  ///< Passes over A made.
};

/// Randomized symmetric eigensolver (HMT Alg. 5.3): Q = range_finder(A), eigh(QᵀAQ), the k
/// eigenvalues of largest magnitude. A: n × n symmetric (indefinite allowed; checked to
/// |a_ij − a_ji| ≤ 100·eps·max|a|). Cost: 2q + 2 passes of width l.
template <class T>
LOWDIM_API EigResult<T> randomized_eigh(In<T> a, const RsvdOptions& options);

/// Nyström approximation of a positive semi-definite A (n × n) with the stabilising shift
/// ν = eps·√n·‖AΩ‖_F (Tropp, Yurtsever, Udell & Cevher 2017): A ≈ U·diag(w)·Uᵀ, rank k,
/// from one pass of width l = k + oversampling. power_iterations and normalizer must stay at their
/// defaults (a one-pass method has no power iterations): anything else is an invalid_argument.
/// Throws numerical_error when A is found not to be PSD (the shifted core has no Cholesky).
template <class T>
LOWDIM_API EigResult<T> nystrom(In<T> a, const RsvdOptions& options);

/// Options of the single-pass streaming sketch (Tropp, Yurtsever, Udell & Cevher 2019).
struct StreamingOptions {
  std::int64_t rank = 0;  ///< r, the rank of the approximation returned (required)
  /// k, range and co-range sketch size; automatic: 2r + 1 (capped at min(m, n)).
  std::int64_t range_size = automatic;
  /// s ≥ k, core sketch size; automatic: 2k + 1 (capped at min(m, n)).
  std::int64_t core_size = automatic;
  /// q, rows of the independent Gaussian sketch used for the a-posteriori error estimate.
  std::int64_t error_sketch_size = 10;
  std::uint64_t seed = 0;  ///< Seed of the test matrices.
};

/// Single-pass sketch of an m × n matrix whose rows arrive once, in order, in chunks of any
/// size. Stores Y = AΩᵀ (m × k), X = ΥA (k × n), Z = ΦAΨᵀ (s × s) and W = ΘA (q × n); the
/// test matrices are functions of the row index, so chunking changes the result only by
/// rounding (the order of the sums). Memory O(mk + (n + s)·(k + s) + qn). A chunk whose
/// largest |a_ij| lies outside the safe range of T (see the top of this header) is scaled by a
/// power of two (a copy of the chunk); when a later chunk needs a smaller scale, the sketches
/// are rescaled (O(rows seen·k + (k + q)·n + s²)).
template <class T>
class LOWDIM_API StreamingSketch {
 public:
  /// A sketch of a rows × cols matrix whose rows arrive in chunks, in order.
  StreamingSketch(std::int64_t rows, std::int64_t cols, const StreamingOptions& options);
  /// Feeds the next chunk.rows() rows (chunk.cols() == cols). Cost O(chunk rows·(n·(k + s + q))).
  void append(In<T> chunk);
  std::int64_t rows_seen() const noexcept { return seen_; }  ///< Rows appended so far.
  std::int64_t range_size() const noexcept { return k_; }  ///< k, the columns of the range sketch.
  std::int64_t core_size() const noexcept { return s_; }  ///< s, the size of the core sketch.
  /// The rank-r approximation (all rows must have been fed). error is the a-posteriori estimate
  /// sqrt(‖W − ΘÂ‖²_F / q) of ‖A − Â‖_F and relative_error its ratio to the estimate
  /// sqrt(‖W‖²_F / q) of ‖A‖_F. Cost O((m + n)·k·s).
  SvdResult<T> finalize() const;

 private:
  std::int64_t m_, n_, r_, k_, s_, q_;
  std::uint64_t seed_;
  std::int64_t seen_ = 0;
  // The sketches hold 2^exponent_ times the true ones: chunks outside the safe range of T are
  // scaled by a power of two on the way in (docs/rsvd.md §7), and exponent_ only decreases.
  int exponent_ = 0;
  bool scale_set_ = false;
  Matrix<T> y_, x_, z_, w_;
  Matrix<T> omega_t_, psi_t_;  // n × k and n × s, kept for the chunked products
};

/// Convenience: feeds A to a StreamingSketch in chunks of rows and finalizes.
template <class T>
LOWDIM_API SvdResult<T> single_pass_svd(In<T> a, const StreamingOptions& options);

/// ‖A − U·diag(S)·Vt‖_F for a factorisation that is a projection, U·diag(S)·Vt = U·Uᵀ·A or
/// A·V·Vᵀ (rsvd, block Krylov and qb results are): sqrt(‖A‖²_F − Σ s_j²) in double, recomputed
/// directly from the residual (one more pass, O(mnk)) when that difference is within 1000× its
/// rounding. O(mn).
template <class T>
LOWDIM_API double projection_error(In<T> a, const SvdResult<T>& result);

/// The method `svd` runs.
enum class SvdMethod {
  krylov,       ///< block_krylov_svd (the default: fastest to a given accuracy, docs/rsvd.md)
  rsvd,         ///< rsvd with power iterations
  qb,           ///< qb_svd (fixed accuracy: needs tol)
  single_pass,  ///< single_pass_svd
};
/// The name of a method, as parse_svd_method reads it.
LOWDIM_API const char* to_string(SvdMethod method) noexcept;
/// Parses "krylov", "rsvd", "qb", "single-pass"; throws invalid_argument listing the names.
LOWDIM_API SvdMethod parse_svd_method(std::string_view name);

/// One entry point for the CLI and the bindings: fixed rank (rank > 0) or, for qb, fixed
/// accuracy (tol). `automatic` means the method's default. An option the chosen method does not
/// use is an invalid_argument naming it ("svd: oversampling is not used by method krylov …"),
/// never silently ignored.
struct SvdOptions {
  SvdMethod method = SvdMethod::krylov;  ///< The algorithm (default: block Krylov with adaptive depth).
  std::int64_t rank = 0;  ///< fixed-rank methods: k (required); qb: the maximum rank (0: min(m, n))
  double tol = 0;         ///< qb only (required there): relative Frobenius error to reach
  std::int64_t oversampling = automatic;  ///< rsvd: p; single-pass: range size = rank + p; qb, krylov: error
  int power_iterations = automatic;  ///< rsvd: q; krylov: the most blocks; qb: per block; single-pass: error
  std::int64_t block_size = automatic;  ///< krylov and qb block width; rsvd, single-pass: error
  SketchKind sketch = SketchKind::gaussian;  ///< test matrix (single-pass: gaussian only)
  std::uint64_t seed = 0;  ///< Seed of the test matrix.
};
/// The SVD of a (m × n) by options.method: fixed rank or, for qb, fixed accuracy.
template <class T>
LOWDIM_API SvdResult<T> svd(In<T> a, const SvdOptions& options);

}  // namespace lowdim

#endif
