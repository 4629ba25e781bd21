// Randomized SVD family. The math and the measured defaults are in docs/rsvd.md.
//
// Every product with A is a BLAS GEMM through linalg; A is only read. Random
// test matrices come from RandomStream(seed, StreamId) with one stream id per
// purpose (the StreamId registry in random.hpp). OpenBLAS is held single-threaded (SequentialBlas) and the big
// products are split into fixed tiles (gemm_reproducible), so results are
// bit-identical for a seed on any thread count.

#include <lowdim/rsvd.hpp>

#include <lowdim/random.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>

namespace lowdim {
namespace {

// Stream ids: one per independent random object.

template <class T>
constexpr double eps = std::numeric_limits<T>::epsilon();

template <class T>
constexpr const char* type_name = std::is_same_v<T, float> ? "float" : "double";

// ---------------------------------------------------------------- the range of A
//
// Every routine works on A as it is when max|a_ij| lies in [2^(−E/4), 2^(E/4)] (E = max_exponent:
// 2^±32 for float, 2^±256 for double): there no product, Gram matrix or sum of squares in T can
// overflow or underflow into the denormals (a Gram of an m × b block is at most m·n·max|a|²·b).
// Outside it A is replaced by a copy scaled by the power of two that brings max|a_ij| into [1, 2)
// (exact: a power of two changes exponents only, and lifts denormals to normal numbers), and the
// scale-covariant results (singular values, eigenvalues, B, errors) are scaled back at the end.
template <class T>
constexpr int kSafeExponent = std::numeric_limits<T>::max_exponent / 4;

// max|a_ij|, with the finiteness check in the same sweep (a non-finite entry is then reported
// with its row and column by check_finite).
template <class T>
double max_abs_finite(In<T> a, const char* who) {
  double best = 0;
  bool bad = false;
#pragma omp parallel for schedule(static) reduction(max : best) reduction(|| : bad) if (a.size() > (1 << 16))
  for (std::int64_t i = 0; i < a.rows(); ++i) {
    const T* row = a.row(i);
    T largest = 0;
    bool row_bad = false;
    for (std::int64_t j = 0; j < a.cols(); ++j) {
      const T x = std::abs(row[j]);
      row_bad |= !(x <= std::numeric_limits<T>::max());  // NaN and ±inf
      largest = x > largest ? x : largest;
    }
    best = std::max(best, static_cast<double>(largest));
    bad = bad || row_bad;
  }
  if (bad) check_finite<T>(a, who);
  return best;
}

// e with 2^e·max_abs in [1, 2) when max_abs lies outside the safe range; 0 inside it and for 0.
template <class T>
int scale_exponent(double max_abs) {
  if (max_abs == 0) return 0;
  const int e = std::ilogb(max_abs);
  return e >= -kSafeExponent<T> && e <= kSafeExponent<T> ? 0 : -e;
}

// A, or its copy scaled by 2^exponent when the range demands it.
template <class T>
struct ScaledInput {
  Matrix<T> copy;
  ConstMatrixView<T> view;
  int exponent = 0;  // view = 2^exponent · A
  double max_abs = 0;  // of view
};

template <class T>
ScaledInput<T> scaled_input(In<T> a, const char* who) {
  ScaledInput<T> out;
  const double largest = max_abs_finite<T>(a, who);
  out.exponent = scale_exponent<T>(largest);
  out.max_abs = std::ldexp(largest, out.exponent);
  if (out.exponent == 0) {
    out.view = a;
    return out;
  }
  out.copy = Matrix<T>::uninitialized(a.rows(), a.cols());
  const int e = out.exponent;
#pragma omp parallel for schedule(static) if (a.size() > (1 << 16))
  for (std::int64_t i = 0; i < a.rows(); ++i) {
    const T* src = a.row(i);
    T* dst = out.copy.row(i);
    for (std::int64_t j = 0; j < a.cols(); ++j) dst[j] = std::ldexp(src[j], e);
  }
  out.view = out.copy.cview();
  return out;
}

// x·2^(−exponent) in T, or a numerical_error naming the value when T cannot hold it.
template <class T>
T unscaled(double x, int exponent, const char* who, const char* what) {
  const long double v = std::ldexp(static_cast<long double>(x), -exponent);
  if (!(std::abs(v) <= static_cast<long double>(std::numeric_limits<T>::max())))
    LOWDIM_THROW(numerical_error,
                 "{}: {} {:.4g} exceeds the largest {} ({:.4g}): A is too large to factor in {} (scale it down or "
                 "use double)",
                 who, what, v, type_name<T>, static_cast<double>(std::numeric_limits<T>::max()), type_name<T>);
  return static_cast<T>(v);
}

double unscaled_norm(double x, int exponent, const char* who, const char* what) {
  if (x < 0) return x;  // "not computed"
  return unscaled<double>(x, exponent, who, what);
}

template <class T>
bool all_finite(In<T> m) {
  for (std::int64_t i = 0; i < m.rows(); ++i)
    for (std::int64_t j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j))) return false;
  return true;
}

template <class T>
bool all_finite(const std::vector<T>& v) {
  return std::all_of(v.begin(), v.end(), [](T x) { return std::isfinite(x); });
}

// Scales the singular values and errors of a result computed on 2^exponent·A back, and
// guarantees a result without NaN or Inf (the last check is a backstop: a non-finite value here
// would be a defect, reported rather than returned).
template <class T>
void finish(SvdResult<T>& r, int exponent, const char* who) {
  if (exponent != 0) {
    for (auto& x : r.s) x = unscaled<T>(x, exponent, who, "singular value");
    r.error = unscaled_norm(r.error, exponent, who, "the error ||A - U S Vt||_F");
  }
  if (!all_finite<T>(r.u.cview()) || !all_finite<T>(r.s) || !all_finite<T>(r.vt.cview()))
    LOWDIM_THROW(numerical_error, "{}: the factorisation produced a non-finite value (internal error)", who);
}

template <class T>
void finish(EigResult<T>& r, int exponent, const char* who) {
  if (exponent != 0)
    for (auto& x : r.w) x = unscaled<T>(x, exponent, who, "eigenvalue");
  if (!all_finite<T>(r.u.cview()) || !all_finite<T>(r.w))
    LOWDIM_THROW(numerical_error, "{}: the factorisation produced a non-finite value (internal error)", who);
}


// Y = A·X and Y = Aᵀ·X.
template <class T>
void mul(In<T> a, In<T> x, MatrixView<T> y) {
  linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), a, x, T(0), y);
}
template <class T>
void mul_t(In<T> a, In<T> x, MatrixView<T> y) {
  linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), a, x, T(0), y);
}

void check_not_empty(std::int64_t m, std::int64_t n, const char* who) {
  LOWDIM_CHECK(m > 0 && n > 0, "{}: the input matrix is empty ({} x {})", who, m, n);
}

void check_rank(std::int64_t rank, std::int64_t m, std::int64_t n, const char* who) {
  LOWDIM_CHECK(rank > 0, "{}: rank must be positive, got {}", who, rank);
  LOWDIM_CHECK(rank <= std::min(m, n), "{}: rank {} exceeds min(rows, cols) = {}", who, rank, std::min(m, n));
}

// The seed of the SketchOperator standing for test matrix (stream, first) of a seed: a
// splitmix64 mix, so blocks of adaptive QB get independent operators.
std::uint64_t operator_seed(std::uint64_t seed, StreamId stream, std::uint64_t first) noexcept {
  std::uint64_t z = seed ^ (static_cast<std::uint64_t>(stream) * 0x9E3779B97F4A7C15ULL) ^ (first * 0xD1B54A32D192ED03ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

bool generated_here(SketchKind kind) { return kind == SketchKind::gaussian || kind == SketchKind::rademacher; }

// Ω (n × l, raw entries, Y = A·Ω). gaussian / rademacher: element (r, c) is number
// first + r·l + c of RandomStream(seed, stream); the other kinds: Sᵀ of the SketchOperator
// (kind, n → l, raw entries) whose seed mixes (seed, stream, first).
template <class T>
void fill_test_matrix(MatrixView<T> omega, SketchKind kind, std::uint64_t seed, StreamId stream,
                      std::uint64_t first) {
  if (kind == SketchKind::gaussian) {
    fill_normal<T>(omega, RandomStream(seed, stream), first);
  } else if (kind == SketchKind::rademacher) {
    fill_rademacher<T>(omega, RandomStream(seed, stream), first);
  } else {
    const SketchOperator op(kind, omega.rows(), omega.cols(), operator_seed(seed, stream, first),
                            {.jl_scaling = false});
    const auto s = op.materialize<T>();
    linalg::transpose<T>(s.cview(), omega);
  }
}

// Y (m × l) = A·Ω for the test matrix of (kind, seed, stream 0 offset 0): a GEMM with the
// generated Ω, or the SketchOperator's matrix-free apply (srht: O(mn log n); sparse kinds: O(nnz)).
template <class T>
void sketch_range(In<T> a, MatrixView<T> y, SketchKind kind, std::uint64_t seed, StreamId stream) {
  if (generated_here(kind)) {
    auto omega = Matrix<T>::uninitialized(a.cols(), y.cols());
    fill_test_matrix<T>(omega.view(), kind, seed, stream, 0);
    linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), a, omega.view(), T(0), y);
    return;
  }
  const SketchOperator op(kind, a.cols(), y.cols(), operator_seed(seed, stream, 0), {.jl_scaling = false});
  op.apply<T>(a, y);
}

// Thin QR of W (rows × c, rows ≥ c), W ← Q, r ← R if wanted. Tall-skinny blocks (rows ≥ 4c)
// go through Cholesky QR (GEMM-rich, parallel, reproducible; falls back to Householder on a
// breakdown): Householder's panel work on a long block is single-threaded and memory-bound
// (0.6 s for 200 000 × 32, against 0.03–0.05 s). single_round: one Cholesky QR round (see
// linalg::cholesky_qr), for a block that is orthogonalised again.
template <class T>
void orth(MatrixView<T> w, MatrixView<T> r = {}, bool single_round = false) {
  if (w.rows() >= 4 * w.cols()) {
    linalg::cholesky_qr<T>(w, r, single_round);
  } else {
    linalg::qr<T>(w, r);
  }
}

template <class T>
void normalize(MatrixView<T> y, Normalizer normalizer) {
  switch (normalizer) {
    case Normalizer::none:
      return;
    case Normalizer::lu:
      linalg::lu_normalize<T>(y);
      return;
    case Normalizer::qr:
      orth<T>(y);
      return;
  }
}

// The entry of largest magnitude of each column of u positive (the first one on a tie);
// the matching row of vt (if any) flipped with it.
template <class T>
void fix_signs(MatrixView<T> u, MatrixView<T> vt) {
  const std::int64_t k = u.cols();
  if (u.rows() == 0 || k == 0) return;
  // One row-major sweep (a column-by-column scan of a long U would stride through it k times).
  std::vector<T> best(static_cast<std::size_t>(k), T(-1)), value(static_cast<std::size_t>(k), T(0));
  for (std::int64_t i = 0; i < u.rows(); ++i) {
    const T* row = u.row(i);
    for (std::int64_t j = 0; j < k; ++j) {
      const auto jj = static_cast<std::size_t>(j);
      if (std::abs(row[j]) > best[jj]) {
        best[jj] = std::abs(row[j]);
        value[jj] = row[j];
      }
    }
  }
  std::vector<T> flip(static_cast<std::size_t>(k));
  bool any = false;
  for (std::int64_t j = 0; j < k; ++j) {
    flip[static_cast<std::size_t>(j)] = value[static_cast<std::size_t>(j)] < T(0) ? T(-1) : T(1);
    any = any || value[static_cast<std::size_t>(j)] < T(0);
  }
  if (!any) return;
  for (std::int64_t i = 0; i < u.rows(); ++i) {
    T* row = u.row(i);
    for (std::int64_t j = 0; j < k; ++j) row[j] *= flip[static_cast<std::size_t>(j)];
  }
  if (!vt.empty()) {
    for (std::int64_t j = 0; j < k; ++j) {
      if (flip[static_cast<std::size_t>(j)] > T(0)) continue;
      T* row = vt.row(j);
      for (std::int64_t c = 0; c < vt.cols(); ++c) row[c] = -row[c];
    }
  }
}

// W ← W − B·(Bᵀ·W) for B with orthonormal columns.
template <class T>
void project_out(In<T> basis, MatrixView<T> w) {
  if (basis.cols() == 0) return;
  Matrix<T> c = Matrix<T>::uninitialized(basis.cols(), w.cols());
  linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), basis, w, T(0), c.view());
  linalg::gemm_reproducible<T>(Op::none, Op::none, T(-1), basis, c.view(), T(1), w);
}

// Overwrites W (rows × b) with an orthonormal block orthogonal to the orthonormal columns of
// basis (rows × c, c + b ≤ rows) and spanning W's component outside range(basis) when that
// component has full numerical rank: block classical Gram–Schmidt twice with Householder QR
// (BCGS2). When the block is numerically inside range(basis) (an exhausted Krylov space, an
// exactly low-rank A) the deficient block is replaced by a Gaussian one, so the basis stays
// orthonormal; callers never rely on W's coefficients, they project explicitly. Returns true when
// the block was replaced (then range(basis, W) need not contain W). A block that stays deficient
// even then (possible only with non-finite values, which the callers exclude) is a numerical_error.
template <class T>
bool orthonormalize_against(In<T> basis, MatrixView<T> w, std::uint64_t seed, std::uint64_t fallback_index) {
  const std::int64_t b = w.cols();
  if (b == 0) return false;
  project_out<T>(basis, w);
  if (basis.cols() == 0) {
    orth<T>(w);  // orthonormal whatever its input
    return false;
  }
  // The first orthonormalisation need not be exact: the second round below finishes it.
  orth<T>(w, {}, true);
  Matrix<T> r = Matrix<T>::uninitialized(b, b);
  bool replaced = false;
  for (int attempt = 0; attempt < 6; ++attempt) {
    if (attempt == 3) {
      replaced = true;
      // Three rounds could not separate W from range(basis): it lies inside it. Use fresh
      // directions (generic with probability one as c + b ≤ rows).
      fill_normal<T>(w, RandomStream(seed, StreamId::krylov_fallback), fallback_index * static_cast<std::uint64_t>(w.size()));
      project_out<T>(basis, w);
      orth<T>(w);
    }
    project_out<T>(basis, w);
    orth<T>(w, r.view());
    T smallest = std::abs(r(0, 0));
    for (std::int64_t i = 1; i < b; ++i) smallest = std::min(smallest, std::abs(r(i, i)));
    // The block lost at most 3/4 of its norm² to range(basis): its rounding-level component
    // in range(basis) is now O(eps), "twice is enough" (Giraud, Langou & Rozložník 2005).
    if (smallest >= T(0.5)) return replaced;
  }
  LOWDIM_THROW(numerical_error,
               "orthonormalize_against: no orthonormal completion of {} columns against {} in dimension {} was found "
               "(non-finite intermediate values)",
               b, basis.cols(), w.rows());
}

template <class T>
int automatic_power_iterations(std::int64_t rank, std::int64_t m, std::int64_t n) {
  return 10 * rank < std::min(m, n) ? 7 : 4;
}

// SVD of the small l × c matrix `small` (destroyed) lifted to A ≈ (left·Us) diag(s) (Vs·rightᵀ),
// truncated to k, with the sign convention. left: m × l (or empty: U = Us); right: n × c (or
// empty: Vt = Vs).
template <class T>
SvdResult<T> lift_svd(MatrixView<T> small, In<T> left, In<T> right, std::int64_t k) {
  const std::int64_t l = small.rows(), c = small.cols(), r = std::min(l, c);
  LOWDIM_ASSERT(k <= r);
  auto us = Matrix<T>::uninitialized(l, r);
  auto vs = Matrix<T>::uninitialized(r, c);
  std::vector<T> s(static_cast<std::size_t>(r));
  linalg::svd<T>(small, us.view(), s, vs.view());
  SvdResult<T> out;
  const std::int64_t m = left.cols() > 0 ? left.rows() : l;
  const std::int64_t n = right.cols() > 0 ? right.rows() : c;
  out.u = Matrix<T>::uninitialized(m, k);
  out.vt = Matrix<T>::uninitialized(k, n);
  if (left.cols() > 0) {
    linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), left, us.block(0, 0, l, k), T(0), out.u.view());
  } else {
    out.u.view().copy_from(us.block(0, 0, l, k));
  }
  if (right.cols() > 0) {
    linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), vs.block(0, 0, k, c), right, T(0), out.vt.view());
  } else {
    out.vt.view().copy_from(vs.block(0, 0, k, c));
  }
  out.s.assign(s.begin(), s.begin() + k);
  fix_signs<T>(out.u.view(), out.vt.view());
  return out;
}

struct RangeSetup {
  std::int64_t l;
  int q;
};

template <class T>
RangeSetup check_rsvd(In<T> a, const RsvdOptions& o, const char* who) {
  const std::int64_t m = a.rows(), n = a.cols();
  check_not_empty(m, n, who);
  check_rank(o.rank, m, n, who);
  LOWDIM_CHECK(o.oversampling >= 0, "{}: oversampling must be >= 0, got {}", who, o.oversampling);
  LOWDIM_CHECK(o.power_iterations >= 0 || o.power_iterations == automatic,
               "{}: power_iterations must be >= 0 (or automatic), got {}", who, o.power_iterations);
  const std::int64_t l = std::min(o.rank + o.oversampling, std::min(m, n));
  const int q = o.power_iterations == automatic ? automatic_power_iterations<T>(o.rank, m, n) : o.power_iterations;
  return {l, q};
}

// Range finder on a validated A; returns Q (m × l) and counts passes.
template <class T>
Matrix<T> range_finder_impl(In<T> a, std::int64_t l, int q, const RsvdOptions& o, std::int64_t& passes,
                            const char* who) {
  const std::int64_t m = a.rows(), n = a.cols();
  (void)who;
  auto y = Matrix<T>::uninitialized(m, l);
  sketch_range<T>(a, y.view(), o.sketch, o.seed, StreamId::rsvd_range);
  ++passes;
  auto z = Matrix<T>::uninitialized(n, l);
  for (int i = 0; i < q; ++i) {
    normalize<T>(y.view(), o.normalizer);
    mul_t<T>(a, y.view(), z.view());
    normalize<T>(z.view(), o.normalizer);
    mul<T>(a, z.view(), y.view());
    passes += 2;
  }
  orth<T>(y.view());
  return y;
}

}  // namespace

const char* to_string(Normalizer normalizer) noexcept {
  switch (normalizer) {
    case Normalizer::none:
      return "none";
    case Normalizer::lu:
      return "lu";
    case Normalizer::qr:
      return "qr";
  }
  return "?";
}

Normalizer parse_normalizer(std::string_view name) {
  if (name == "none") return Normalizer::none;
  if (name == "lu") return Normalizer::lu;
  if (name == "qr") return Normalizer::qr;
  LOWDIM_THROW(invalid_argument, "unknown normalizer '{}' (valid: none, lu, qr)", name);
}

const char* to_string(SvdMethod method) noexcept {
  switch (method) {
    case SvdMethod::krylov:
      return "krylov";
    case SvdMethod::rsvd:
      return "rsvd";
    case SvdMethod::qb:
      return "qb";
    case SvdMethod::single_pass:
      return "single-pass";
  }
  return "?";
}

SvdMethod parse_svd_method(std::string_view name) {
  if (name == "krylov") return SvdMethod::krylov;
  if (name == "rsvd") return SvdMethod::rsvd;
  if (name == "qb") return SvdMethod::qb;
  if (name == "single-pass") return SvdMethod::single_pass;
  LOWDIM_THROW(invalid_argument, "unknown svd method '{}' (valid: krylov, rsvd, qb, single-pass)", name);
}

// ---------------------------------------------------------------- range finder, rsvd

template <class T>
Matrix<T> range_finder(In<T> a_in, const RsvdOptions& options) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const auto setup = check_rsvd<T>(a_in, options, "range_finder");
  const auto scaled = scaled_input<T>(a_in, "range_finder");  // Q is scale-invariant
  std::int64_t passes = 0;
  auto q = range_finder_impl<T>(scaled.view, setup.l, setup.q, options, passes, "range_finder");
  if (!all_finite<T>(q.cview()))
    LOWDIM_THROW(numerical_error, "range_finder: the basis has a non-finite value (internal error)");
  return q;
}

template <class T>
SvdResult<T> rsvd(In<T> a_in, const RsvdOptions& options) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const auto setup = check_rsvd<T>(a_in, options, "rsvd");
  const auto scaled = scaled_input<T>(a_in, "rsvd");
  const auto a = scaled.view;
  std::int64_t passes = 0;
  auto q = range_finder_impl<T>(a, setup.l, setup.q, options, passes, "rsvd");
  const std::int64_t l = setup.l, n = a.cols();
  SvdResult<T> out;
  if (n >= 4 * l) {
    // A wide B = QᵀA (l × n): Householder-based SVD of it is single-threaded panel work on
    // a long block. Take Bᵀ = AᵀQ = P·R (n × l) by Cholesky QR instead: B = Rᵀ·Pᵀ, and the
    // SVD of the small Rᵀ lifts to Vt = V_Rᵀ·Pᵀ.
    auto bt = Matrix<T>::uninitialized(n, l);
    mul_t<T>(a, q.view(), bt.view());
    ++passes;
    auto r = Matrix<T>::uninitialized(l, l);
    orth<T>(bt.view(), r.view());
    auto rt = Matrix<T>::uninitialized(l, l);
    linalg::transpose<T>(r.view(), rt.view());
    out = lift_svd<T>(rt.view(), q.view(), bt.view(), options.rank);
  } else {
    auto b = Matrix<T>::uninitialized(l, n);
    mul_t<T>(q.view(), a, b.view());  // B = Qᵀ·A (l × n)
    ++passes;
    out = lift_svd<T>(b.view(), q.view(), ConstMatrixView<T>{}, options.rank);
  }
  out.passes = passes;
  out.iterations = setup.q;
  finish<T>(out, scaled.exponent, "rsvd");
  return out;
}

// ---------------------------------------------------------------- block Krylov

namespace {

// Widens a row-major matrix to at least `need` columns (by doubling, at most `limit`), keeping the
// first `used` columns and zeros elsewhere.
template <class T>
void reserve_cols(Matrix<T>& mtx, std::int64_t used, std::int64_t need, std::int64_t limit) {
  if (mtx.cols() >= need) return;
  Matrix<T> bigger(mtx.rows(), std::min(limit, std::max(need, 2 * mtx.cols())));
  if (used > 0) bigger.block(0, 0, mtx.rows(), used).copy_from(mtx.block(0, 0, mtx.rows(), used));
  mtx = std::move(bigger);
}

// The square G (lower block triangular) grown to at least need × need, as above.
template <class T>
void reserve_square(Matrix<T>& g, std::int64_t used, std::int64_t need, std::int64_t limit) {
  if (g.rows() >= need) return;
  const std::int64_t size = std::min(limit, std::max(need, 2 * g.rows()));
  Matrix<T> bigger(size, size);
  if (used > 0) bigger.block(0, 0, used, used).copy_from(g.block(0, 0, used, used));
  g = std::move(bigger);
}

}  // namespace

template <class T>
SvdResult<T> block_krylov_svd(In<T> a_in, const KrylovOptions& o) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const char* who = "block_krylov_svd";
  const std::int64_t m = a_in.rows(), n = a_in.cols(), mn = std::min(m, n), k = o.rank;
  check_not_empty(m, n, who);
  check_rank(o.rank, m, n, who);
  LOWDIM_CHECK(o.block_size > 0 || o.block_size == automatic, "{}: block_size must be positive, got {}", who,
               o.block_size);
  LOWDIM_CHECK(o.iterations > 0 || o.iterations == automatic, "{}: iterations must be positive, got {}", who,
               o.iterations);
  LOWDIM_CHECK(o.tol == automatic || (o.tol >= 0 && o.tol < 1), "{}: tol {} is outside [0, 1)", who, o.tol);
  const std::int64_t b = std::min<std::int64_t>(o.block_size == automatic ? 32 : o.block_size, mn);
  std::int64_t max_blocks = o.iterations;
  if (max_blocks == automatic) {
    // The passes of scikit-learn's defaults, (2q + 2)·(k + 10) columns, spent in blocks of b.
    const std::int64_t q = automatic_power_iterations<T>(k, m, n);
    max_blocks = std::max<std::int64_t>(q + 1, ((q + 1) * (k + 10) + b - 1) / b);
  }
  LOWDIM_CHECK(std::min(max_blocks * b, mn) >= k, "{}: iterations {} x block size {} = {} is less than rank {}", who,
               max_blocks, b, max_blocks * b, k);
  max_blocks = std::min(max_blocks, (mn + b - 1) / b);  // the space fills min(m, n)
  const double tol = o.tol == automatic ? std::sqrt(eps<T>) : o.tol;
  const auto scaled = scaled_input<T>(a_in, who);
  const auto a = scaled.view;

  // A wide A (n > m) is run as Aᵀ, so that the test block Ω is the short m × b one (drawing
  // n × b normals costs about a pass) and the roles of the two bases swap: below, "A" is
  // op(A) = A or Aᵀ, of rows × cols. The other sketch kinds apply their own operator to A.
  const bool flip = n > m && generated_here(o.sketch);
  const std::int64_t rows = flip ? n : m, cols = flip ? m : n;
  const auto apply = [&](In<T> x, MatrixView<T> y) { flip ? mul_t<T>(a, x, y) : mul<T>(a, x, y); };
  const auto apply_t = [&](In<T> x, MatrixView<T> y) { flip ? mul<T>(a, x, y) : mul_t<T>(a, x, y); };

  // Q = [Q_1 Q_2 …] (rows × ·), P = [P_1 P_2 …] (cols × ·), G = Qᵀ·op(A)·P, grown as blocks are
  // added (room for the usual depth first: a space of about twice the rank).
  const std::int64_t room = std::min(mn, (std::max<std::int64_t>(3, (2 * k + b - 1) / b) + 1) * b);
  Matrix<T> q(rows, room), p(cols, room), g(room, room);
  std::int64_t passes = 0, dim = 0, qdim = 0, blocks = 0;

  // Q_1 = orth(op(A)·Ω).
  {
    auto q1 = q.block(0, 0, rows, b);
    if (flip) {
      auto omega = Matrix<T>::uninitialized(cols, b);
      fill_test_matrix<T>(omega.view(), o.sketch, o.seed, StreamId::rsvd_range, 0);
      apply(omega.view(), q1);
    } else {
      sketch_range<T>(a, q1, o.sketch, o.seed, StreamId::rsvd_range);
    }
    ++passes;
    orthonormalize_against<T>(ConstMatrixView<T>(q.data(), rows, 0, q.cols()), q1, o.seed, 0);
    qdim = b;
  }
  // The residual check needs the SVD of G (about 10·dim³ flops): it runs once the passes since the
  // previous check have cost as much (2·m·n flops per column), which never delays it on a large A.
  const double pass_flops = 2.0 * static_cast<double>(m) * static_cast<double>(n);
  double work = pass_flops * static_cast<double>(b);
  bool exact_projection = true;  // op(A)·P lies in range(Q): no Q block was replaced by random columns
  bool converged = false;
  auto z_buf = Matrix<T>::uninitialized(cols, b);
  auto w_buf = Matrix<T>::uninitialized(rows, b);
  Matrix<T> coupling;  // Q_{i+1}ᵀ·op(A)·P_i, kept when the check passes
  for (;;) {
    // Z = op(A)ᵀ·Q_j, P_j = orth(Z ⟂ P_1..P_{j−1}), row block j of G = Zᵀ·[P_1..P_j].
    const std::int64_t c0 = dim, w = qdim - c0;
    reserve_cols(p, dim, c0 + w, mn);
    reserve_square(g, dim, c0 + w, mn);
    auto z = z_buf.block(0, 0, cols, w);
    apply_t(q.block(0, c0, rows, w), z);
    ++passes;
    work += pass_flops * static_cast<double>(w);
    auto pj = p.block(0, c0, cols, w);
    pj.copy_from(z);
    orthonormalize_against<T>(p.block(0, 0, cols, c0), pj, o.seed, static_cast<std::uint64_t>(2 * blocks + 1));
    linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), z, p.block(0, 0, cols, c0 + w), T(0),
                                 g.block(c0, 0, w, c0 + w));
    dim = c0 + w;
    ++blocks;
    if (blocks >= max_blocks || dim >= mn) break;  // finish with G

    // Q_{j+1} = orth(op(A)·P_j ⟂ Q_1..Q_j); the last block may be narrower than P_j.
    const std::int64_t next = std::min(w, mn - dim);
    reserve_cols(q, qdim, dim + next, mn);
    auto wblock = w_buf.block(0, 0, rows, w);
    apply(pj, wblock);
    ++passes;
    work += pass_flops * static_cast<double>(w);
    auto qn = q.block(0, dim, rows, next);
    qn.copy_from(wblock.block(0, 0, rows, next));
    if (orthonormalize_against<T>(q.block(0, 0, rows, dim), qn, o.seed, static_cast<std::uint64_t>(2 * blocks)))
      exact_projection = false;
    qdim = dim + next;

    // Residual check. For a Ritz triplet (σ, u = Q·y, v = P·x) of G = Y·diag(σ)·Xᵀ, op(A)ᵀu = σv
    // exactly and op(A)v − σu = (I − QQᵀ)·op(A)·P_j·x_j = Q_{j+1}·C·x_j, with x_j the last block of
    // x and C = Q_{j+1}ᵀ·op(A)·P_j: r = ‖C·x_j‖.
    const double d = static_cast<double>(dim);
    if (tol == 0 || !exact_projection || next != w || dim < k || work < 10 * d * d * d) continue;
    work = 0;
    Matrix<T> c(next, w);
    linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), qn, wblock, T(0), c.view());
    auto gs = Matrix<T>::copy_of(g.block(0, 0, dim, dim));
    auto ug = Matrix<T>::uninitialized(dim, dim);
    auto xt = Matrix<T>::uninitialized(dim, dim);
    std::vector<T> sg(static_cast<std::size_t>(dim));
    linalg::svd<T>(gs.view(), ug.view(), sg, xt.view());
    const double floor = 16.0 * std::sqrt(d) * eps<T> * static_cast<double>(sg[0]);
    converged = true;
    for (std::int64_t t = 0; t < k && converged; ++t) {
      double r2 = 0;
      for (std::int64_t i = 0; i < next; ++i) {
        double ci = 0;
        for (std::int64_t l = 0; l < w; ++l) ci += static_cast<double>(c(i, l)) * xt(t, dim - w + l);
        r2 += ci * ci;
      }
      converged = std::sqrt(r2) <= tol * static_cast<double>(sg[static_cast<std::size_t>(t)]) + floor;
    }
    if (converged) {
      coupling = std::move(c);
      break;
    }
  }

  SvdResult<T> out;
  if (converged) {
    // The pass op(A)·P_j is not wasted: op(A)·P = [Q, Q_{j+1}]·H with H = [G; C·E_jᵀ] exactly, and
    // the SVD of H (the Rayleigh–Ritz of the right space) has singular values ≥ those of G.
    const std::int64_t w = coupling.cols(), next = coupling.rows();
    Matrix<T> h(dim + next, dim);
    h.block(0, 0, dim, dim).copy_from(g.block(0, 0, dim, dim));
    h.block(dim, dim - w, next, w).copy_from(coupling.cview());
    const auto left = q.block(0, 0, rows, dim + next);
    const auto right = p.block(0, 0, cols, dim);
    if (flip) {
      auto ht = Matrix<T>::uninitialized(dim, dim + next);
      linalg::transpose<T>(h.view(), ht.view());
      out = lift_svd<T>(ht.view(), right, left, k);
    } else {
      out = lift_svd<T>(h.view(), left, right, k);
    }
  } else {
    auto gd = Matrix<T>::copy_of(g.block(0, 0, dim, dim));
    const auto left = q.block(0, 0, rows, dim);
    const auto right = p.block(0, 0, cols, dim);
    if (flip) {
      // Aᵀ ≈ Q·G·Pᵀ, so A ≈ P·Gᵀ·Qᵀ: the SVD of Gᵀ lifted by P on the left and Q on the right.
      auto gt = Matrix<T>::uninitialized(dim, dim);
      linalg::transpose<T>(gd.view(), gt.view());
      out = lift_svd<T>(gt.view(), right, left, k);
    } else {
      out = lift_svd<T>(gd.view(), left, right, k);
    }
  }
  out.passes = passes;
  out.iterations = blocks;
  finish<T>(out, scaled.exponent, who);
  return out;
}

// ---------------------------------------------------------------- adaptive QB

namespace {

// ‖A − Q·B‖²_F in double, by blocks of rows (one pass over A).
template <class T>
double residual_squared(In<T> a, In<T> q, In<T> b) {
  const std::int64_t m = a.rows(), n = a.cols(), chunk = std::max<std::int64_t>(1, (1 << 20) / std::max<std::int64_t>(n, 1));
  auto tmp = Matrix<T>::uninitialized(std::min(chunk, m), n);
  double sum = 0;
  for (std::int64_t r0 = 0; r0 < m; r0 += chunk) {
    const std::int64_t h = std::min(chunk, m - r0);
    auto t = tmp.block(0, 0, h, n);
    t.copy_from(a.row_block(r0, h));
    linalg::gemm_reproducible<T>(Op::none, Op::none, T(-1), q.row_block(r0, h), b, T(1), t);
    const double f = linalg::norm_fro<T>(t);
    sum += f * f;
  }
  return sum;
}

// Grows a row-major buffer to at least `rows` rows (by doubling), keeping the first `used` rows.
template <class T>
void reserve_rows(Matrix<T>& buf, std::int64_t used, std::int64_t rows) {
  if (buf.rows() >= rows) return;
  auto bigger = Matrix<T>::uninitialized(std::max(rows, 2 * buf.rows()), buf.cols());
  if (used > 0) bigger.row_block(0, used).copy_from(buf.row_block(0, used));
  buf = std::move(bigger);
}

}  // namespace

namespace {

// adaptive_qb on A as given (validated, finite, in the safe range: see scaled_input).
template <class T>
QbResult<T> adaptive_qb_impl(In<T> a, const QbOptions& o) {
  const std::int64_t m = a.rows(), n = a.cols(), mn = std::min(m, n);
  const std::int64_t max_rank = o.max_rank == automatic ? mn : o.max_rank;
  const std::int64_t b = std::min(o.block_size, max_rank);

  const double norm_a = linalg::norm_fro<T>(a);
  const double total = norm_a * norm_a;
  const double threshold = o.tol * o.tol * total;
  // Rounding in B = QᵀA (computed in T) makes ‖A‖² − ‖B‖² uncertain by about this much;
  // below 1000× this the difference is not trusted and the residual is computed directly.
  const double noise = 100.0 * eps<T> * total;

  // Q is kept transposed (rank × m) so that growing it is appending rows.
  Matrix<T> qt(std::min<std::int64_t>(4 * b, max_rank), m), bm(std::min<std::int64_t>(4 * b, max_rank), n);
  std::int64_t rank = 0, passes = 0;
  double err2 = total;  // ‖A − QB‖²_F, tracked
  bool converged = err2 <= threshold;
  auto y = Matrix<T>::uninitialized(m, b);
  auto z = Matrix<T>::uninitialized(n, b);
  auto small = Matrix<T>::uninitialized(max_rank, b);
  for (std::int64_t block = 0; !converged && rank < max_rank; ++block) {
    const std::int64_t w = std::min(b, max_rank - rank);
    auto yv = y.block(0, 0, m, w);
    auto zv = z.block(0, 0, n, w);
    auto q_now = ConstMatrixView<T>(qt.data(), rank, m, m);  // Qᵀ (rank × m)
    auto b_now = ConstMatrixView<T>(bm.data(), rank, n, n);
    auto sv = small.block(0, 0, rank, w);
    // Y = (A − QB)·Ω_i.
    fill_test_matrix<T>(zv, o.sketch, o.seed, StreamId::rsvd_qb,
                        static_cast<std::uint64_t>(block) * static_cast<std::uint64_t>(n * b));
    mul<T>(a, zv, yv);
    ++passes;
    linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), b_now, zv, T(0), sv);
    linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(-1), q_now, sv, T(1), yv);
    orth<T>(yv);
    for (int it = 0; it < o.power_iterations; ++it) {
      // Z = (A − QB)ᵀ·Y = AᵀY − Bᵀ(QᵀY); Y = (A − QB)·Z.
      mul_t<T>(a, yv, zv);
      linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), q_now, yv, T(0), sv);
      linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(-1), b_now, sv, T(1), zv);
      orth<T>(zv);
      mul<T>(a, zv, yv);
      linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), b_now, zv, T(0), sv);
      linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(-1), q_now, sv, T(1), yv);
      orth<T>(yv);
      passes += 2;
    }
    // Re-orthogonalise against Q (rounding and the deflation leave O(eps) components).
    {
      auto q_cols = Matrix<T>::uninitialized(m, rank);
      if (rank > 0) linalg::transpose<T>(q_now, q_cols.view());
      orthonormalize_against<T>(q_cols.view(), yv, o.seed, static_cast<std::uint64_t>(block));
    }
    // B_i = Y_iᵀ·A; append.
    reserve_rows(qt, rank, rank + w);
    reserve_rows(bm, rank, rank + w);
    auto bi = bm.block(rank, 0, w, n);
    mul_t<T>(yv, a, bi);
    ++passes;
    linalg::transpose<T>(yv, qt.block(rank, 0, w, m));
    rank += w;
    const double nb = linalg::norm_fro<T>(bi);
    err2 -= nb * nb;
    if (err2 > threshold + noise) continue;
    if (err2 < 1000.0 * noise) {
      // ‖A‖² − ‖B‖² is dominated by rounding: measure the residual itself.
      auto q_cols = Matrix<T>::uninitialized(m, rank);
      linalg::transpose<T>(ConstMatrixView<T>(qt.data(), rank, m, m), q_cols.view());
      err2 = residual_squared<T>(a, q_cols.view(), ConstMatrixView<T>(bm.data(), rank, n, n));
      ++passes;
    }
    converged = err2 <= threshold;
  }
  QbResult<T> out;
  out.rank = rank;
  out.q = Matrix<T>::uninitialized(m, rank);
  if (rank > 0) linalg::transpose<T>(ConstMatrixView<T>(qt.data(), rank, m, m), out.q.view());
  out.b = Matrix<T>::copy_of(ConstMatrixView<T>(bm.data(), rank, n, n));
  out.error = std::sqrt(std::max(err2, 0.0));
  out.relative_error = norm_a > 0 ? out.error / norm_a : 0.0;
  out.converged = converged;
  out.passes = passes;
  return out;
}

template <class T>
ScaledInput<T> check_qb(In<T> a, const QbOptions& o, const char* who) {
  const std::int64_t m = a.rows(), n = a.cols(), mn = std::min(m, n);
  check_not_empty(m, n, who);
  LOWDIM_CHECK(o.tol > 0 && o.tol < 1, "{}: tol {} is outside (0, 1)", who, o.tol);
  LOWDIM_CHECK(o.block_size > 0, "{}: block_size must be positive, got {}", who, o.block_size);
  LOWDIM_CHECK(o.max_rank > 0 || o.max_rank == automatic, "{}: max_rank must be positive, got {}", who, o.max_rank);
  LOWDIM_CHECK(o.max_rank <= mn, "{}: max_rank {} exceeds min(rows, cols) = {}", who, o.max_rank, mn);
  LOWDIM_CHECK(o.power_iterations >= 0, "{}: power_iterations must be >= 0, got {}", who, o.power_iterations);
  return scaled_input<T>(a, who);
}

}  // namespace

template <class T>
QbResult<T> adaptive_qb(In<T> a_in, const QbOptions& options) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const char* who = "adaptive_qb";
  const auto scaled = check_qb<T>(a_in, options, who);
  auto out = adaptive_qb_impl<T>(scaled.view, options);
  if (scaled.exponent != 0) {
    for (std::int64_t i = 0; i < out.b.rows(); ++i)
      for (std::int64_t j = 0; j < out.b.cols(); ++j) out.b(i, j) = unscaled<T>(out.b(i, j), scaled.exponent, who, "entry of B");
    out.error = unscaled_norm(out.error, scaled.exponent, who, "the error ||A - QB||_F");
  }
  if (!all_finite<T>(out.q.cview()) || !all_finite<T>(out.b.cview()))
    LOWDIM_THROW(numerical_error, "{}: the factorisation produced a non-finite value (internal error)", who);
  return out;
}

template <class T>
SvdResult<T> qb_svd(In<T> a_in, const QbOptions& options) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const char* who = "qb_svd";
  const auto scaled = check_qb<T>(a_in, options, "adaptive_qb");
  const auto a = scaled.view;
  auto qb = adaptive_qb_impl<T>(a, options);
  const std::int64_t blocks =
      (qb.rank + std::min(options.block_size, std::max<std::int64_t>(qb.rank, 1)) - 1) /
      std::min(options.block_size, std::max<std::int64_t>(qb.rank, 1));
  const double norm_a = qb.relative_error > 0 ? qb.error / qb.relative_error : linalg::norm_fro<T>(a);
  if (qb.rank == 0) {
    SvdResult<T> out;
    out.u = Matrix<T>(a.rows(), 0);
    out.vt = Matrix<T>(0, a.cols());
    out.error = qb.error;
    out.relative_error = qb.relative_error;
    out.passes = qb.passes;
    finish<T>(out, scaled.exponent, who);
    return out;
  }
  const std::int64_t r = qb.rank, n = a.cols();
  auto us = Matrix<T>::uninitialized(r, r);
  std::vector<T> s(static_cast<std::size_t>(r));
  // B = Us·diag(s)·Vs·Pᵀ: P = I (empty) for a direct SVD of B; for a wide B (n ≥ 4r), as in
  // rsvd, Bᵀ = P·R by Cholesky QR and the SVD is of the small Rᵀ (r × r).
  Matrix<T> vs, pt;
  if (n >= 4 * r) {
    pt = Matrix<T>::uninitialized(n, r);
    linalg::transpose<T>(qb.b.view(), pt.view());
    auto rf = Matrix<T>::uninitialized(r, r);
    orth<T>(pt.view(), rf.view());
    auto rt = Matrix<T>::uninitialized(r, r);
    linalg::transpose<T>(rf.view(), rt.view());
    vs = Matrix<T>::uninitialized(r, r);
    linalg::svd<T>(rt.view(), us.view(), s, vs.view());
  } else {
    vs = Matrix<T>::uninitialized(r, n);
    linalg::svd<T>(qb.b.view(), us.view(), s, vs.view());
  }
  // Smallest rank t with ‖A − QB‖² + Σ_{j ≥ t} s_j² ≤ tol²‖A‖² (orthogonal parts: QᵀA = B).
  const double err2 = qb.error * qb.error, threshold = options.tol * options.tol * norm_a * norm_a;
  std::int64_t t = r;
  double tail = 0;
  if (qb.converged) {
    while (t > 1) {
      const double next = tail + static_cast<double>(s[static_cast<std::size_t>(t - 1)]) * s[static_cast<std::size_t>(t - 1)];
      if (err2 + next > threshold) break;
      tail = next;
      --t;
    }
  }
  SvdResult<T> out;
  out.u = Matrix<T>::uninitialized(a.rows(), t);
  linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), qb.q.view(), us.block(0, 0, r, t), T(0), out.u.view());
  if (pt.empty()) {
    out.vt = Matrix<T>::copy_of(vs.block(0, 0, t, n));
  } else {
    out.vt = Matrix<T>::uninitialized(t, n);
    linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), vs.block(0, 0, t, r), pt.view(), T(0), out.vt.view());
  }
  out.s.assign(s.begin(), s.begin() + t);
  fix_signs<T>(out.u.view(), out.vt.view());
  out.error = std::sqrt(err2 + tail);
  out.relative_error = norm_a > 0 ? out.error / norm_a : 0.0;
  out.passes = qb.passes;
  out.iterations = blocks;
  finish<T>(out, scaled.exponent, who);
  return out;
}

template <class T>
double projection_error(In<T> a, const SvdResult<T>& r) {
  const std::int64_t k = static_cast<std::int64_t>(r.s.size());
  LOWDIM_CHECK_SHAPE(r.u.rows() == a.rows() && r.u.cols() == k && r.vt.rows() == k && r.vt.cols() == a.cols(),
                     "projection_error: A is {} x {} but U is {} x {}, S has {}, Vt is {} x {}", a.rows(), a.cols(),
                     r.u.rows(), r.u.cols(), k, r.vt.rows(), r.vt.cols());
  const char* who = "projection_error";
  LOWDIM_CHECK(all_finite<T>(r.u.cview()) && all_finite<T>(r.s) && all_finite<T>(r.vt.cview()),
               "{}: the factorisation has a non-finite value", who);
  const linalg::SequentialBlas sequential;
  // On 2^e·A (scaled_input) with the singular values scaled alike; the error is scaled back.
  const auto scaled = scaled_input<T>(a, who);
  const int e = scaled.exponent;
  const double norm_a = linalg::norm_fro<T>(scaled.view);
  std::vector<double> s(r.s.size());
  for (std::size_t j = 0; j < s.size(); ++j) s[j] = std::ldexp(static_cast<double>(r.s[j]), e);
  double kept = 0;
  for (const double x : s) kept += x * x;
  const double total = norm_a * norm_a, noise = 100.0 * eps<T> * total;
  const double diff = total - kept;
  double err = 0;
  if (std::isfinite(diff) && diff >= 1000.0 * noise) {
    err = std::sqrt(diff);
  } else {
    // Rounding dominates ‖A‖² − Σ s²: measure ‖A − (U·diag(S))·Vt‖ itself.
    auto us = Matrix<T>::copy_of(r.u.view());
    for (std::int64_t i = 0; i < us.rows(); ++i)
      for (std::int64_t j = 0; j < k; ++j) us(i, j) *= static_cast<T>(s[static_cast<std::size_t>(j)]);
    err = std::sqrt(residual_squared<T>(scaled.view, us.view(), r.vt.view()));
  }
  if (!std::isfinite(err))
    LOWDIM_THROW(numerical_error, "{}: the residual is not finite: the singular values do not fit A", who);
  return unscaled<double>(err, e, who, "the error ||A - U S Vt||_F");
}

// ---------------------------------------------------------------- symmetric: eigh, Nyström

namespace {

// Validates a square, finite, symmetric A and returns it scaled into the safe range.
template <class T>
ScaledInput<T> check_symmetric(In<T> a_in, const char* who) {
  const std::int64_t n = a_in.rows();
  LOWDIM_CHECK_SHAPE(a_in.cols() == n, "{}: A must be square, not {} x {}", who, a_in.rows(), a_in.cols());
  check_not_empty(n, n, who);
  auto scaled = scaled_input<T>(a_in, who);
  const auto a = scaled.view;
  const double tol = 100.0 * eps<T> * scaled.max_abs;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j)
      if (std::abs(static_cast<double>(a(i, j)) - static_cast<double>(a(j, i))) > tol)
        LOWDIM_THROW(invalid_argument, "{}: A is not symmetric: A({}, {}) = {} but A({}, {}) = {}", who, i, j,
                     a_in(i, j), j, i, a_in(j, i));
  return scaled;
}

}  // namespace

template <class T>
EigResult<T> randomized_eigh(In<T> a_in, const RsvdOptions& options) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const char* who = "randomized_eigh";
  const auto scaled = check_symmetric<T>(a_in, who);
  const auto a = scaled.view;
  const auto setup = check_rsvd<T>(a, options, who);
  const std::int64_t n = a.rows(), l = setup.l, k = options.rank;
  std::int64_t passes = 0;
  auto q = range_finder_impl<T>(a, l, setup.q, options, passes, who);
  auto aq = Matrix<T>::uninitialized(n, l);
  mul<T>(a, q.view(), aq.view());
  ++passes;
  auto c = Matrix<T>::uninitialized(l, l);
  mul_t<T>(q.view(), aq.view(), c.view());
  for (std::int64_t i = 0; i < l; ++i)
    for (std::int64_t j = 0; j < i; ++j) c(i, j) = c(j, i) = (c(i, j) + c(j, i)) / T(2);
  std::vector<T> w(static_cast<std::size_t>(l));
  linalg::eigh<T>(c.view(), w);
  // Order by descending magnitude (ties: the larger value first).
  // Insertion sort (O(l²), below eigh's O(l³)); a std:: sort would export its template
  // instantiations from the shared library (default visibility of namespace std).
  std::vector<std::int64_t> order(static_cast<std::size_t>(l));
  std::iota(order.begin(), order.end(), 0);
  const auto before = [&](std::int64_t x, std::int64_t y) {
    const T ax = std::abs(w[static_cast<std::size_t>(x)]), ay = std::abs(w[static_cast<std::size_t>(y)]);
    return ax != ay ? ax > ay : w[static_cast<std::size_t>(x)] > w[static_cast<std::size_t>(y)];
  };
  for (std::size_t i = 1; i < order.size(); ++i)
    for (std::size_t j = i; j > 0 && before(order[j], order[j - 1]); --j) std::swap(order[j], order[j - 1]);
  auto vk = Matrix<T>::uninitialized(l, k);
  EigResult<T> out;
  for (std::int64_t j = 0; j < k; ++j) {
    const auto src = order[static_cast<std::size_t>(j)];
    for (std::int64_t i = 0; i < l; ++i) vk(i, j) = c(i, src);
    out.w.push_back(w[static_cast<std::size_t>(src)]);
  }
  out.u = Matrix<T>::uninitialized(n, k);
  mul<T>(q.view(), vk.view(), out.u.view());
  fix_signs<T>(out.u.view(), MatrixView<T>{});
  out.passes = passes;
  finish<T>(out, scaled.exponent, who);
  return out;
}

template <class T>
EigResult<T> nystrom(In<T> a_in, const RsvdOptions& options) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const char* who = "nystrom";
  LOWDIM_CHECK(options.power_iterations == automatic && options.normalizer == Normalizer::lu,
               "{}: power_iterations and normalizer are not used (Nystrom makes one pass, no power iterations)", who);
  const auto scaled = check_symmetric<T>(a_in, who);
  const auto a = scaled.view;
  const auto setup = check_rsvd<T>(a, options, who);
  const std::int64_t n = a.rows(), l = setup.l, k = options.rank;
  auto omega = Matrix<T>::uninitialized(n, l);
  fill_test_matrix<T>(omega.view(), options.sketch, options.seed, StreamId::rsvd_range, 0);
  orth<T>(omega.view());
  auto y = Matrix<T>::uninitialized(n, l);
  mul<T>(a, omega.view(), y.view());
  // Shift ν = eps·√n·‖Y‖_F (≥ the spacing of floating point numbers at ‖Y‖₂, times √n).
  const double norm_y = linalg::norm_fro<T>(y.view());
  if (norm_y == 0) {
    // AΩ = 0 for an orthonormal Ω of a PSD A: A = 0 on range(Ω) and the Nyström approximation
    // AΩ(ΩᵀAΩ)†ΩᵀA is 0. Any orthonormal U: Ω's first k columns.
    EigResult<T> out;
    out.u = Matrix<T>::copy_of(omega.block(0, 0, n, k));
    out.w.assign(static_cast<std::size_t>(k), T(0));
    out.passes = 1;
    return out;
  }
  const double nu = eps<T> * std::sqrt(static_cast<double>(n)) * norm_y;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < l; ++j) y(i, j) += static_cast<T>(nu) * omega(i, j);
  // M = Ωᵀ·Y_ν = L·Lᵀ, B = Y_ν·L⁻ᵀ; A_ν ≈ B·Bᵀ.
  auto mtx = Matrix<T>::uninitialized(l, l);
  mul_t<T>(omega.view(), y.view(), mtx.view());
  for (std::int64_t i = 0; i < l; ++i)
    for (std::int64_t j = 0; j < i; ++j) mtx(i, j) = mtx(j, i) = (mtx(i, j) + mtx(j, i)) / T(2);
  try {
    linalg::cholesky<T>(mtx.view());
  } catch (const numerical_error&) {
    LOWDIM_THROW(numerical_error, "{}: A is not positive semi-definite (the shifted core ΩᵀAΩ + νI has no Cholesky "
                 "factor; ν = {})", who, std::ldexp(nu, -scaled.exponent));
  }
  linalg::trsm<T>(Side::right, Triangle::lower, Op::transpose, T(1), mtx.view(), y.view());
  auto u = Matrix<T>::uninitialized(n, l);
  auto vt = Matrix<T>::uninitialized(l, l);
  std::vector<T> s(static_cast<std::size_t>(l));
  linalg::svd<T>(y.view(), u.view(), s, vt.view());
  EigResult<T> out;
  out.u = Matrix<T>::copy_of(u.block(0, 0, n, k));
  for (std::int64_t j = 0; j < k; ++j) {
    const double sj = s[static_cast<std::size_t>(j)];
    out.w.push_back(static_cast<T>(std::max(0.0, sj * sj - nu)));
  }
  fix_signs<T>(out.u.view(), MatrixView<T>{});
  out.passes = 1;
  finish<T>(out, scaled.exponent, who);
  return out;
}

// ---------------------------------------------------------------- single-pass streaming sketch

namespace {
// Test matrices of the streaming sketch. Ω (k × n) and Ψ (s × n) are stored as Ωᵀ, Ψᵀ;
// Υ (k × m), Φ (s × m), Θ (q × m) are generated by row index of A: their transposes'
// row i (Υᵀ row i = column i of Υ) has indices i·k … i·k + k − 1, so any chunking of the
// rows sees the same numbers.
constexpr std::int64_t kRegenerateRows = 4096;  // rows of Φᵀ / Θᵀ regenerated at a time in finalize

// out (c × w) = Testᵀ·M for the row-indexed test matrix Test (c × m, stream id) and M (m × w),
// by blocks of rows of M (fixed blocking: deterministic).
template <class T>
void row_indexed_product(std::uint64_t seed, StreamId stream, std::int64_t c, In<T> mtx, MatrixView<T> out) {
  const std::int64_t m = mtx.rows();
  auto block = Matrix<T>::uninitialized(std::min(kRegenerateRows, m), c);
  out.fill(T(0));
  for (std::int64_t r0 = 0; r0 < m; r0 += kRegenerateRows) {
    const std::int64_t h = std::min(kRegenerateRows, m - r0);
    auto tb = block.block(0, 0, h, c);
    fill_normal<T>(tb, RandomStream(seed, stream), static_cast<std::uint64_t>(r0) * static_cast<std::uint64_t>(c));
    linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), tb, mtx.row_block(r0, h), T(1), out);
  }
}
}  // namespace

template <class T>
StreamingSketch<T>::StreamingSketch(std::int64_t rows, std::int64_t cols, const StreamingOptions& o)
    : m_(rows), n_(cols), r_(o.rank), seed_(o.seed) {
  const linalg::SequentialBlas sequential;
  const char* who = "streaming sketch";
  check_not_empty(rows, cols, who);
  check_rank(o.rank, rows, cols, who);
  const std::int64_t mn = std::min(rows, cols);
  LOWDIM_CHECK(o.range_size == automatic || (o.range_size >= o.rank && o.range_size <= mn),
               "{}: range_size {} must lie in [rank, min(rows, cols)] = [{}, {}]", who, o.range_size, o.rank, mn);
  k_ = o.range_size == automatic ? std::min(2 * o.rank + 1, mn) : o.range_size;
  LOWDIM_CHECK(o.core_size == automatic || (o.core_size >= k_ && o.core_size <= mn),
               "{}: core_size {} must lie in [range_size, min(rows, cols)] = [{}, {}]", who, o.core_size, k_, mn);
  s_ = o.core_size == automatic ? std::min(2 * k_ + 1, mn) : o.core_size;
  LOWDIM_CHECK(o.error_sketch_size > 0, "{}: error_sketch_size must be positive, got {}", who, o.error_sketch_size);
  q_ = o.error_sketch_size;
  y_ = Matrix<T>::uninitialized(m_, k_);
  y_.view().fill(T(0));
  x_ = Matrix<T>::uninitialized(k_, n_);
  x_.view().fill(T(0));
  z_ = Matrix<T>(s_, s_);
  w_ = Matrix<T>::uninitialized(q_, n_);
  w_.view().fill(T(0));
  omega_t_ = Matrix<T>::uninitialized(n_, k_);
  psi_t_ = Matrix<T>::uninitialized(n_, s_);
  fill_normal<T>(omega_t_.view(), RandomStream(seed_, StreamId::streaming_omega));
  fill_normal<T>(psi_t_.view(), RandomStream(seed_, StreamId::streaming_psi));
}

template <class T>
void StreamingSketch<T>::append(In<T> chunk) {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  const char* who = "streaming sketch";
  LOWDIM_CHECK_SHAPE(chunk.cols() == n_, "{}: chunk has {} columns, the matrix has {}", who, chunk.cols(), n_);
  LOWDIM_CHECK(seen_ + chunk.rows() <= m_, "{}: chunk of {} rows after {} overflows the {} rows announced", who,
               chunk.rows(), seen_, m_);
  if (chunk.rows() == 0) return;
  if (const auto bad = find_non_finite<T>(chunk))
    LOWDIM_THROW(invalid_argument, "{}: non-finite value {} at row {}, column {}", who, bad->value, seen_ + bad->row,
                 bad->col);
  // The scale: the sketches hold 2^exponent_·A. A chunk that needs a smaller exponent (larger
  // values) lowers it for everything seen so far; rows far smaller than the rest only lose
  // digits below the rounding of the large ones.
  const double largest = max_abs_finite<T>(chunk, who);
  if (largest > 0) {
    const int wanted = scale_exponent<T>(largest);
    if (!scale_set_) {
      exponent_ = wanted;
      scale_set_ = true;
    } else if (wanted < exponent_) {
      const int shift = wanted - exponent_;
      const auto rescale = [shift](MatrixView<T> v) {
        for (std::int64_t i = 0; i < v.rows(); ++i)
          for (std::int64_t j = 0; j < v.cols(); ++j) v(i, j) = std::ldexp(v(i, j), shift);
      };
      rescale(y_.row_block(0, seen_));
      rescale(x_.view());
      rescale(z_.view());
      rescale(w_.view());
      exponent_ = wanted;
    }
  }
  Matrix<T> scaled_chunk;
  if (exponent_ != 0) {
    scaled_chunk = Matrix<T>::uninitialized(chunk.rows(), chunk.cols());
    for (std::int64_t i = 0; i < chunk.rows(); ++i)
      for (std::int64_t j = 0; j < chunk.cols(); ++j) scaled_chunk(i, j) = std::ldexp(chunk(i, j), exponent_);
    chunk = scaled_chunk.cview();
  }
  const std::int64_t h = chunk.rows();
  const auto first = static_cast<std::uint64_t>(seen_);
  // Y rows = chunk·Ωᵀ.
  mul<T>(chunk, omega_t_.view(), y_.row_block(seen_, h));
  // X += Υ(:, rows)·chunk, W += Θ(:, rows)·chunk.
  auto up = Matrix<T>::uninitialized(h, k_);
  fill_normal<T>(up.view(), RandomStream(seed_, StreamId::streaming_upsilon), first * static_cast<std::uint64_t>(k_));
  linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), up.view(), chunk, T(1), x_.view());
  auto th = Matrix<T>::uninitialized(h, q_);
  fill_normal<T>(th.view(), RandomStream(seed_, StreamId::streaming_theta), first * static_cast<std::uint64_t>(q_));
  linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), th.view(), chunk, T(1), w_.view());
  // Z += Φ(:, rows)·(chunk·Ψᵀ).
  auto cp = Matrix<T>::uninitialized(h, s_);
  mul<T>(chunk, psi_t_.view(), cp.view());
  auto ph = Matrix<T>::uninitialized(h, s_);
  fill_normal<T>(ph.view(), RandomStream(seed_, StreamId::streaming_phi), first * static_cast<std::uint64_t>(s_));
  linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), ph.view(), cp.view(), T(1), z_.view());
  seen_ += h;
}

template <class T>
SvdResult<T> StreamingSketch<T>::finalize() const {
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count
  LOWDIM_CHECK(seen_ == m_, "streaming sketch: {} of {} rows fed; feed all rows before finalize", seen_, m_);
  // Q = orth(Y) (m × k), P = orth(Xᵀ) (n × k).
  auto q = Matrix<T>::copy_of(y_.view());
  orth<T>(q.view());
  auto p = Matrix<T>::uninitialized(n_, k_);
  linalg::transpose<T>(x_.view(), p.view());
  orth<T>(p.view());
  // C = (ΦQ)† Z ((ΨP)†)ᵀ via thin QRs ΦQ = U₁R₁, ΨP = U₂R₂: C = R₁⁻¹ (U₁ᵀ Z U₂) R₂⁻ᵀ.
  auto phi_q = Matrix<T>::uninitialized(s_, k_);
  row_indexed_product<T>(seed_, StreamId::streaming_phi, s_, q.view(), phi_q.view());
  auto psi_p = Matrix<T>::uninitialized(s_, k_);
  linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), psi_t_.view(), p.view(), T(0), psi_p.view());
  auto r1 = Matrix<T>::uninitialized(k_, k_);
  auto r2 = Matrix<T>::uninitialized(k_, k_);
  orth<T>(phi_q.view(), r1.view());
  orth<T>(psi_p.view(), r2.view());
  auto tmp = Matrix<T>::uninitialized(k_, s_);
  linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), phi_q.view(), z_.view(), T(0), tmp.view());
  auto c = Matrix<T>::uninitialized(k_, k_);
  linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), tmp.view(), psi_p.view(), T(0), c.view());
  linalg::trsm<T>(Side::left, Triangle::upper, Op::none, T(1), r1.view(), c.view());
  linalg::trsm<T>(Side::right, Triangle::upper, Op::transpose, T(1), r2.view(), c.view());
  // Â = Q·C·Pᵀ truncated to rank r.
  auto out = lift_svd<T>(c.view(), q.view(), p.view(), r_);
  out.passes = 1;
  // A-posteriori error: E‖Θ(A − Â)‖²_F = q‖A − Â‖²_F with W = ΘA.
  auto theta_u = Matrix<T>::uninitialized(q_, r_);
  row_indexed_product<T>(seed_, StreamId::streaming_theta, q_, out.u.view(), theta_u.view());
  for (std::int64_t i = 0; i < q_; ++i)
    for (std::int64_t j = 0; j < r_; ++j) theta_u(i, j) *= out.s[static_cast<std::size_t>(j)];
  auto resid = Matrix<T>::copy_of(w_.view());
  linalg::gemm_reproducible<T>(Op::none, Op::none, T(-1), theta_u.view(), out.vt.view(), T(1), resid.view());
  const double e = linalg::norm_fro<T>(resid.view()) / std::sqrt(static_cast<double>(q_));
  const double norm_a = linalg::norm_fro<T>(w_.view()) / std::sqrt(static_cast<double>(q_));
  out.error = e;
  out.relative_error = norm_a > 0 ? e / norm_a : 0.0;
  finish<T>(out, exponent_, "streaming sketch");
  return out;
}

template <class T>
SvdResult<T> single_pass_svd(In<T> a, const StreamingOptions& options) {
  StreamingSketch<T> sketch(a.rows(), a.cols(), options);
  const std::int64_t chunk = std::max<std::int64_t>(256, (1 << 22) / std::max<std::int64_t>(a.cols(), 1));
  for (std::int64_t r0 = 0; r0 < a.rows(); r0 += chunk) sketch.append(a.row_block(r0, std::min(chunk, a.rows() - r0)));
  return sketch.finalize();
}

template class LOWDIM_API StreamingSketch<float>;
template class LOWDIM_API StreamingSketch<double>;

// ---------------------------------------------------------------- dispatch

namespace {
// An option that the chosen method does not use is an error, never silently dropped.
void refuse(bool set, const char* option, SvdMethod method, const char* why) {
  LOWDIM_CHECK(!set, "svd: {} is not used by method {} ({})", option, to_string(method), why);
}
}  // namespace

template <class T>
SvdResult<T> svd(In<T> a, const SvdOptions& o) {
  const SvdMethod method = o.method;
  if (method != SvdMethod::qb)
    LOWDIM_CHECK(o.tol == 0, "svd: tol is only used by method qb ({} is fixed-rank)", to_string(method));
  switch (method) {
    case SvdMethod::krylov: {
      refuse(o.oversampling != automatic, "oversampling", method, "its sketch grows by blocks of block_size");
      KrylovOptions k;
      k.rank = o.rank;
      k.iterations = o.power_iterations;
      k.block_size = o.block_size;
      k.sketch = o.sketch;
      k.seed = o.seed;
      return block_krylov_svd<T>(a, k);
    }
    case SvdMethod::rsvd: {
      refuse(o.block_size != automatic, "block_size", method, "its sketch has rank + oversampling columns");
      RsvdOptions r;
      r.rank = o.rank;
      if (o.oversampling != automatic) r.oversampling = o.oversampling;
      r.power_iterations = o.power_iterations;
      r.sketch = o.sketch;
      r.seed = o.seed;
      return rsvd<T>(a, r);
    }
    case SvdMethod::qb: {
      refuse(o.oversampling != automatic, "oversampling", method, "it grows by blocks of block_size");
      LOWDIM_CHECK(o.rank >= 0, "svd: rank (the maximum rank for qb) must be >= 0, got {}", o.rank);
      QbOptions q;
      q.tol = o.tol;
      if (o.rank > 0) q.max_rank = o.rank;
      if (o.block_size != automatic) q.block_size = o.block_size;
      if (o.power_iterations != automatic) q.power_iterations = o.power_iterations;
      q.sketch = o.sketch;
      q.seed = o.seed;
      return qb_svd<T>(a, q);
    }
    case SvdMethod::single_pass: {
      refuse(o.power_iterations != automatic, "power_iterations", method, "it sees each row once");
      refuse(o.block_size != automatic, "block_size", method, "its sketch sizes follow the rank");
      LOWDIM_CHECK(o.sketch == SketchKind::gaussian,
                   "svd: sketch {} is not used by method single-pass (its test matrices are Gaussian, generated by "
                   "row index)", to_string(o.sketch));
      StreamingOptions s;
      s.rank = o.rank;
      if (o.oversampling != automatic) {
        LOWDIM_CHECK(o.oversampling >= 0, "svd: oversampling must be >= 0, got {}", o.oversampling);
        s.range_size = o.rank + o.oversampling;
      }
      s.seed = o.seed;
      return single_pass_svd<T>(a, s);
    }
  }
  LOWDIM_THROW(invalid_argument, "svd: unknown method");
}

#define LOWDIM_INSTANTIATE(T)                                                          \
  template LOWDIM_API Matrix<T> range_finder<T>(In<T>, const RsvdOptions&);            \
  template LOWDIM_API SvdResult<T> rsvd<T>(In<T>, const RsvdOptions&);                 \
  template LOWDIM_API SvdResult<T> block_krylov_svd<T>(In<T>, const KrylovOptions&);   \
  template LOWDIM_API QbResult<T> adaptive_qb<T>(In<T>, const QbOptions&);             \
  template LOWDIM_API SvdResult<T> qb_svd<T>(In<T>, const QbOptions&);                 \
  template LOWDIM_API EigResult<T> randomized_eigh<T>(In<T>, const RsvdOptions&);      \
  template LOWDIM_API EigResult<T> nystrom<T>(In<T>, const RsvdOptions&);              \
  template LOWDIM_API SvdResult<T> single_pass_svd<T>(In<T>, const StreamingOptions&); \
  template LOWDIM_API SvdResult<T> svd<T>(In<T>, const SvdOptions&);                 \
  template LOWDIM_API double projection_error<T>(In<T>, const SvdResult<T>&);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
