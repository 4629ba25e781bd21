// Moments, PCA and whitening (include/lowdim/whitening.hpp; math in docs/whitening.md).
// Save/load and the file-streaming fit live in whitening_io.cpp.

#include <lowdim/linalg.hpp>
#include <lowdim/rsvd.hpp>
#include <lowdim/whitening.hpp>

#include "detail/dense_kernel.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lowdim {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// Rows per chunk of the randomized PCA's passes: a bounded scratch (target_elements values),
// a function of d alone, so results never depend on the thread count.
std::int64_t block_rows_for(std::int64_t d, std::int64_t target_elements) {
  return std::clamp<std::int64_t>(target_elements / std::max<std::int64_t>(d, 1), 64, 8192);
}

// Mean of (x − shift) over the n × d batch, in double. OpenMP over column panels: every
// column is summed by one thread in row order, so the result does not depend on the
// thread count. Summing x − shift rather than x keeps the mean accurate to eps·spread
// instead of eps·|x| when the data sit far from the origin. It is also the batch's check
// for NaN and Inf (they make their column's sum non-finite), saving a pass over the data:
// only then is the batch scanned, to name the entry in the error.
template <class T>
std::vector<double> batch_mean(ConstMatrixView<T> x, std::span<const double> shift, std::string_view context) {
  const std::int64_t n = x.rows(), d = x.cols();
  std::vector<double> sum(static_cast<std::size_t>(d), 0.0);
  constexpr std::int64_t panel = 64;
  const std::int64_t panels = (d + panel - 1) / panel;
#pragma omp parallel for schedule(static)
  for (std::int64_t p = 0; p < panels; ++p) {
    const std::int64_t j0 = p * panel, j1 = std::min(d, j0 + panel);
    std::array<double, panel> acc{};
    for (std::int64_t i = 0; i < n; ++i) {
      const T* row = x.row(i);
      for (std::int64_t j = j0; j < j1; ++j)
        acc[static_cast<std::size_t>(j - j0)] += static_cast<double>(row[j]) - shift[static_cast<std::size_t>(j)];
    }
    for (std::int64_t j = j0; j < j1; ++j) sum[static_cast<std::size_t>(j)] = acc[static_cast<std::size_t>(j - j0)];
  }
  for (auto& s : sum) s /= static_cast<double>(n);
  if (!std::all_of(sum.begin(), sum.end(), [](double v) { return std::isfinite(v); })) {
    check_finite<T>(x, context);
    LOWDIM_THROW(numerical_error, "{}: a column sum overflows double although every value is finite", context);
  }
  return sum;
}

// A product's output checked instead of its input: a NaN or Inf in an input row makes every
// entry of its output row non-finite (they propagate through every fma, and Inf·0 is NaN),
// so a finite output proves a finite input at a fraction of the cost when k < d. Only then is
// the input scanned, to name the entry in the error.
template <class T>
void check_product_finite(ConstMatrixView<T> in, ConstMatrixView<T> out, std::string_view context) {
  const auto bad = find_non_finite<T>(out);
  if (!bad) return;
  check_finite<T>(in, context);
  LOWDIM_THROW(numerical_error, "{}: the output overflows (row {}, column {}) although the input is finite", context,
               bad->row, bad->col);
}

// out (rows × d, type U) = (x − shift) − offset, computed in double and rounded to U.
// Parallel only between the dense kernel's own OpenMP loops: between BLAS calls an OpenMP
// team spinning after each panel steals the cores OpenBLAS's threads need (measured: a
// 100000 × 768 projection took 3× longer with a parallel centring loop on 2 cores).
template <class T, class U>
void centre_into(ConstMatrixView<T> x, std::span<const double> shift, std::span<const double> offset,
                 MatrixView<U> out, bool parallel = false) {
  const std::int64_t n = x.rows(), d = x.cols();
#pragma omp parallel for schedule(static) if (parallel && n * d > (1 << 16))
  for (std::int64_t i = 0; i < n; ++i) {
    const T* in = x.row(i);
    U* o = out.row(i);
    for (std::int64_t j = 0; j < d; ++j)
      o[j] = static_cast<U>((static_cast<double>(in[j]) - shift[static_cast<std::size_t>(j)]) -
                            offset[static_cast<std::size_t>(j)]);
  }
}

// Rows per panel of the scatter: each panel's sum is one fma chain per element, added to
// the double scatter afterwards, so the rounding grows with the panel height, not with n
// (docs/whitening.md measures the trade-off for float panels).
constexpr std::int64_t kScatterPanel = 512;

// Scatter Σᵢ (xᵢ − c)(xᵢ − c)ᵀ of the n × d batch about c = shift + offset (d × d, full).
// Panels of rows are centred into type U (float for ScatterPrecision::block_float, else
// double), the dense kernel forms the upper triangle of Pᵀ·P (A = Pᵀ read in place, B = P
// packed) and the panel's sum is added to the double scatter. Bit-identical on any number
// of threads.
template <class T, class U>
Matrix<double> batch_scatter(ConstMatrixView<T> batch, std::span<const double> shift,
                             std::span<const double> offset) {
  const std::int64_t n = batch.rows(), d = batch.cols();
  const std::int64_t rows = std::min(kScatterPanel, n);
  Matrix<double> s(d, d);
  auto panel = Matrix<U>::uninitialized(rows, d);
  std::vector<U> packed(static_cast<std::size_t>(detail::packed_size<U>(rows, d)));
  auto partial = Matrix<U>::uninitialized(d, d);
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const std::int64_t nr = std::min(rows, n - r0);
    auto p = panel.row_block(0, nr);
    centre_into<T, U>(batch.row_block(r0, nr), shift, offset, p, true);
    detail::pack_panels(p.data(), nr, d, p.stride(), 1, packed.data());
    detail::multiply_packed<U>({.a = p.data(), .lda = p.stride(), .a_transposed = true, .m = d, .inner = nr,
                                .packed = packed.data(), .n = d, .c = partial.data(), .ldc = partial.stride(),
                                .upper = true});
#pragma omp parallel for schedule(static, 16)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = i; j < d; ++j) s(i, j) += static_cast<double>(partial(i, j));
  }
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < i; ++j) s(i, j) = s(j, i);
  return s;
}

// Chan, Golub & LeVeque: merges (nb, Sb) whose mean is mean_a + delta into (na, offset_a, Sa):
// S = Sa + Sb + (na·nb/n)·δδᵀ, offset_a += δ·nb/n. delta is formed by the caller from
// shifted means, so it is accurate to eps·|δ| even when both means are huge.
void chan_merge(std::int64_t& na, std::vector<double>& offset_a, MatrixView<double> sa, std::int64_t nb,
                const std::vector<double>& delta, ConstMatrixView<double> sb) {
  if (nb == 0) return;
  const std::int64_t d = static_cast<std::int64_t>(offset_a.size());
  const double n = static_cast<double>(na) + static_cast<double>(nb);
  const double fb = static_cast<double>(nb) / n;
  const double w = static_cast<double>(na) * static_cast<double>(nb) / n;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < d; ++i) {
    double* row = sa.row(i);
    const double* rb = sb.row(i);
    const double wi = w * delta[static_cast<std::size_t>(i)];
    for (std::int64_t j = 0; j < d; ++j) row[j] += rb[j] + wi * delta[static_cast<std::size_t>(j)];
  }
  for (std::int64_t j = 0; j < d; ++j) offset_a[static_cast<std::size_t>(j)] += delta[static_cast<std::size_t>(j)] * fb;
  na += nb;
}

// Eigen-decomposition of a symmetric matrix, largest eigenvalue first; each eigenvector
// (a column of vectors) signed so that its entry of largest magnitude is positive.
struct SymmetricEigen {
  std::vector<double> values;  // descending
  Matrix<double> vectors;      // d × d, column i ↔ values[i]
};

void fix_column_signs(MatrixView<double> v) {
  for (std::int64_t j = 0; j < v.cols(); ++j) {
    std::int64_t arg = 0;
    double best = -1;
    for (std::int64_t i = 0; i < v.rows(); ++i) {
      const double a = std::abs(v(i, j));
      if (a > best) {
        best = a;
        arg = i;
      }
    }
    if (v(arg, j) < 0)
      for (std::int64_t i = 0; i < v.rows(); ++i) v(i, j) = -v(i, j);
  }
}

SymmetricEigen eigh_descending(Matrix<double> a) {
  const std::int64_t d = a.rows();
  std::vector<double> w(static_cast<std::size_t>(d));
  linalg::eigh<double>(a.view(), w);
  SymmetricEigen out{std::vector<double>(w.rbegin(), w.rend()), Matrix<double>::uninitialized(d, d)};
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) out.vectors(i, j) = a(i, d - 1 - j);
  fix_column_signs(out.vectors.view());
  return out;
}

template <class U, class S = double>
Matrix<U> converted(ConstMatrixView<S> m) {
  auto out = Matrix<U>::uninitialized(m.rows(), m.cols());
  for (std::int64_t i = 0; i < m.rows(); ++i)
    for (std::int64_t j = 0; j < m.cols(); ++j) out(i, j) = static_cast<U>(m(i, j));
  return out;
}

// B (inner × n) packed for the dense kernel: b itself (op none) or bᵀ (op transpose).
template <class T>
std::vector<T> packed_operand(ConstMatrixView<T> b, Op op_b) {
  const bool t = op_b == Op::transpose;
  const std::int64_t inner = t ? b.cols() : b.rows(), n = t ? b.rows() : b.cols();
  std::vector<T> packed(static_cast<std::size_t>(detail::packed_size<T>(inner, n)));
  detail::pack_panels(b.data(), inner, n, t ? 1 : b.stride(), t ? b.stride() : 1, packed.data());
  return packed;
}

// out (n × k) = (x − μ)·op(B) by the dense kernel, which centres x block by block in
// double as it goes (no copy of x); each element one fma chain, the same on any number of
// threads. Accuracy does not depend on the data's offset.
template <class T>
void centred_product(ConstMatrixView<T> x, std::span<const double> mean, ConstMatrixView<T> b, Op op_b,
                     MatrixView<T> out) {
  const std::vector<T> packed = packed_operand(b, op_b);
  detail::multiply_packed<T>({.a = x.data(), .lda = x.stride(), .m = x.rows(), .inner = x.cols(),
                              .packed = packed.data(), .n = out.cols(), .c = out.data(), .ldc = out.stride(),
                              .centre = mean.data()});
}

// out (n × d) = y·B + μ.
template <class T>
void product_plus_mean(ConstMatrixView<T> y, ConstMatrixView<T> b, std::span<const double> mean,
                       MatrixView<T> out) {
  const std::vector<T> packed = packed_operand(b, Op::none);
  detail::multiply_packed<T>({.a = y.data(), .lda = y.stride(), .m = y.rows(), .inner = y.cols(),
                              .packed = packed.data(), .n = out.cols(), .c = out.data(), .ldc = out.stride()});
  const std::int64_t n = out.rows(), d = out.cols();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    T* o = out.row(i);
    for (std::int64_t j = 0; j < d; ++j)
      o[j] = static_cast<T>(static_cast<double>(o[j]) + mean[static_cast<std::size_t>(j)]);
  }
}

template <class T>
void normalize_rows(MatrixView<T> y) {
  const std::int64_t n = y.rows(), k = y.cols();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    T* row = y.row(i);
    double s = 0;
    for (std::int64_t j = 0; j < k; ++j) s += static_cast<double>(row[j]) * static_cast<double>(row[j]);
    if (s > 0) {
      const double inv = 1.0 / std::sqrt(s);
      for (std::int64_t j = 0; j < k; ++j) row[j] = static_cast<T>(static_cast<double>(row[j]) * inv);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Moments

Moments::Moments(std::int64_t dim, ScatterPrecision precision)
    : dim_(dim), precision_(precision) {
  LOWDIM_CHECK(dim >= 1, "moments: the dimension must be positive, not {}", dim);
  shift_.assign(static_cast<std::size_t>(dim), 0.0);
  offset_.assign(static_cast<std::size_t>(dim), 0.0);
  mean_.assign(static_cast<std::size_t>(dim), 0.0);
  scatter_ = Matrix<double>(dim, dim);
}

Moments::Moments(std::int64_t dim, std::span<const double> shift, ScatterPrecision precision)
    : Moments(dim, precision) {
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(shift.size()) == dim,
                     "moments: the shift has {} values, the moments are of dimension {}", shift.size(), dim);
  LOWDIM_CHECK(std::all_of(shift.begin(), shift.end(), [](double v) { return std::isfinite(v); }),
               "moments: the shift must be finite");
  shift_.assign(shift.begin(), shift.end());
  fixed_shift_ = true;
}

Moments Moments::clone() const {
  Moments m;
  m.dim_ = dim_;
  m.count_ = count_;
  m.precision_ = precision_;
  m.shift_ = shift_;
  m.offset_ = offset_;
  m.mean_ = mean_;
  m.fixed_shift_ = fixed_shift_;
  m.scatter_ = scatter_.clone();
  return m;
}

std::vector<double> Moments::state() const {
  const auto d = static_cast<std::size_t>(dim_);
  std::vector<double> out;
  out.reserve(4 + 2 * d + d * d);
  out.push_back(static_cast<double>(dim_));
  out.push_back(static_cast<double>(count_));
  out.push_back(precision_ == ScatterPrecision::block_float ? 1.0 : 0.0);
  out.push_back(fixed_shift_ ? 1.0 : 0.0);
  if (dim_ == 0) return out;
  out.insert(out.end(), shift_.begin(), shift_.end());
  out.insert(out.end(), offset_.begin(), offset_.end());
  for (std::int64_t i = 0; i < dim_; ++i) out.insert(out.end(), scatter_.row(i), scatter_.row(i) + dim_);
  return out;
}

Moments Moments::from_state(std::span<const double> state) {
  LOWDIM_CHECK(state.size() >= 4, "moments: a state holds at least 4 values, not {}", state.size());
  const double dim = state[0], count = state[1];
  LOWDIM_CHECK(dim >= 0 && dim <= 1e8 && dim == std::floor(dim) && count >= 0 && count == std::floor(count) &&
                   (state[2] == 0 || state[2] == 1) && (state[3] == 0 || state[3] == 1),
               "moments: the state's header (dim {}, count {}) is not valid", dim, count);
  const auto d = static_cast<std::size_t>(dim);
  LOWDIM_CHECK(state.size() == (d == 0 ? 4 : 4 + 2 * d + d * d),
               "moments: a state of dimension {} holds {} values, not {}", d, 4 + 2 * d + d * d, state.size());
  Moments m;
  if (d == 0) return m;
  m = Moments(static_cast<std::int64_t>(d), state[2] == 1 ? ScatterPrecision::block_float
                                                          : ScatterPrecision::double_precision);
  m.count_ = static_cast<std::int64_t>(count);
  m.fixed_shift_ = state[3] == 1;
  const double* p = state.data() + 4;
  m.shift_.assign(p, p + d);
  m.offset_.assign(p + d, p + 2 * d);
  for (std::size_t i = 0; i < d; ++i)
    std::copy(p + 2 * d + i * d, p + 2 * d + (i + 1) * d, m.scatter_.row(static_cast<std::int64_t>(i)));
  m.refresh_mean();
  return m;
}

void Moments::refresh_mean() {
  for (std::size_t j = 0; j < mean_.size(); ++j) mean_[j] = shift_[j] + offset_[j];
}

template <class T>
void Moments::update(ConstMatrixView<T> batch) {
  LOWDIM_CHECK(dim_ >= 1, "moments: update on moments constructed without a dimension");
  LOWDIM_CHECK_SHAPE(batch.cols() == dim_, "moments: the batch has {} columns, the moments are of dimension {}",
                     batch.cols(), dim_);
  if (batch.rows() == 0) return;
  const std::int64_t n = batch.rows(), d = dim_;
  // The first row ever seen is the shift: every later mean is stored relative to it.
  if (count_ == 0 && !fixed_shift_)
    for (std::int64_t j = 0; j < d; ++j) shift_[static_cast<std::size_t>(j)] = static_cast<double>(batch(0, j));
  const std::vector<double> offset_b = batch_mean(batch, shift_, "moments: update");
  // The batch's own scatter about the batch mean.
  Matrix<double> s;
  // block_float: float panels of the data centred in double, for float and double input alike.
  s = precision_ == ScatterPrecision::block_float ? batch_scatter<T, float>(batch, shift_, offset_b)
                                                  : batch_scatter<T, double>(batch, shift_, offset_b);
  std::vector<double> delta(static_cast<std::size_t>(d));
  for (std::size_t j = 0; j < delta.size(); ++j) delta[j] = offset_b[j] - offset_[j];
  if (count_ == 0) {
    count_ = n;
    offset_ = offset_b;
    scatter_ = std::move(s);
  } else {
    chan_merge(count_, offset_, scatter_.view(), n, delta, s.cview());
  }
  refresh_mean();
}

void Moments::merge(const Moments& other) {
  LOWDIM_CHECK_SHAPE(other.dim_ == dim_, "moments: cannot merge moments of dimension {} into moments of dimension {}",
                     other.dim_, dim_);
  if (other.count_ == 0) return;
  if (count_ == 0) {
    count_ = other.count_;
    shift_ = other.shift_;
    offset_ = other.offset_;
    mean_ = other.mean_;
    scatter_ = other.scatter_.clone();
    return;
  }
  // δ = μb − μa = (shift_b − shift_a) + (offset_b − offset_a): both differences are of
  // nearby numbers, so δ keeps its relative accuracy however far the data sit from 0.
  std::vector<double> delta(static_cast<std::size_t>(dim_));
  for (std::size_t j = 0; j < delta.size(); ++j)
    delta[j] = (other.shift_[j] - shift_[j]) + (other.offset_[j] - offset_[j]);
  chan_merge(count_, offset_, scatter_.view(), other.count_, delta, other.scatter_.cview());
  refresh_mean();
}

Moments Moments::merged(const Moments& a, const Moments& b) {
  Moments m = a.clone();
  m.merge(b);
  return m;
}

Matrix<double> Moments::covariance(std::int64_t ddof) const {
  LOWDIM_CHECK(ddof >= 0, "moments: ddof must be non-negative, not {}", ddof);
  LOWDIM_CHECK(count_ > ddof, "moments: {} samples are too few for a covariance with ddof = {} (need at least {})",
               count_, ddof, ddof + 1);
  auto c = Matrix<double>::uninitialized(dim_, dim_);
  const double scale = 1.0 / static_cast<double>(count_ - ddof);
  for (std::int64_t i = 0; i < dim_; ++i)
    for (std::int64_t j = 0; j < dim_; ++j) c(i, j) = scatter_(i, j) * scale;
  return c;
}

// ---------------------------------------------------------------------------------------------
// PCA

void Pca::prepare_float_copies() { components_f_ = converted<float>(components_.cview()); }

Pca Pca::fit(const Moments& moments, const PcaOptions& options) {
  const std::int64_t n = moments.count(), d = moments.dim();
  // d × d LAPACK work on one BLAS thread: OpenBLAS's threaded eigensolver changes the order
  // of some sums with the thread count, and the model must not.
  const linalg::SequentialBlas sequential;
  LOWDIM_CHECK(options.solver == PcaSolver::exact,
               "pca: the randomized solver sketches the data itself; call Pca::fit(x, options), not fit(moments)");
  LOWDIM_CHECK(d >= 1, "pca: the moments have no dimension");
  LOWDIM_CHECK(n >= 2, "pca: {} samples are too few (need at least 2)", n);
  LOWDIM_CHECK(options.components >= 0, "pca: the number of components must be non-negative, not {}",
               options.components);
  LOWDIM_CHECK(options.components <= d, "pca: k = {} components exceed the dimension d = {}", options.components, d);
  const std::int64_t k = options.components == 0 ? std::min(d, n - 1) : options.components;
  auto cov = moments.covariance(1);
  double trace = 0;
  for (std::int64_t i = 0; i < d; ++i) trace += cov(i, i);
  auto eig = eigh_descending(std::move(cov));
  Pca p;
  p.samples_ = n;
  p.total_variance_ = trace;
  p.mean_.assign(moments.mean().begin(), moments.mean().end());
  p.variance_.resize(static_cast<std::size_t>(k));
  p.components_ = Matrix<double>::uninitialized(k, d);
  for (std::int64_t c = 0; c < k; ++c) {
    // Rounding can leave a zero eigenvalue slightly negative; a variance is ≥ 0.
    p.variance_[static_cast<std::size_t>(c)] = std::max(0.0, eig.values[static_cast<std::size_t>(c)]);
    for (std::int64_t j = 0; j < d; ++j) p.components_(c, j) = eig.vectors(j, c);
  }
  p.prepare_float_copies();
  return p;
}

template <class T>
Pca Pca::fit(ConstMatrixView<T> x, const PcaOptions& options) {
  LOWDIM_CHECK(x.cols() >= 1, "pca: the input has no columns");
  if (options.solver == PcaSolver::randomized) return fit_randomized(x, options);
  Moments m(x.cols());
  m.update<T>(x);
  return fit(m, options);
}

template <class T>
Pca Pca::fit_randomized(ConstMatrixView<T> x, const PcaOptions& options) {
  const std::int64_t n = x.rows(), d = x.cols(), k = options.components;
  LOWDIM_CHECK(n >= 2, "pca: {} samples are too few (need at least 2)", n);
  LOWDIM_CHECK(k >= 1, "pca: the randomized solver needs the number of components k >= 1, not {}", k);
  LOWDIM_CHECK(k <= std::min(d, n - 1), "pca: k = {} components exceed min(d, n - 1) = {}", k, std::min(d, n - 1));
  const std::int64_t sketch_size =
      options.sketch_size == 0 ? std::min({n, d, 4 * k + 10}) : options.sketch_size;
  LOWDIM_CHECK(sketch_size >= k && sketch_size <= std::min(n, d),
               "pca: sketch_size {} must be in [k, min(n, d)] = [{}, {}]", sketch_size, k, std::min(n, d));
  // Pass 1: the mean, summed about the first row (see Moments); it checks for NaN and Inf.
  std::vector<double> shift(static_cast<std::size_t>(d));
  for (std::int64_t j = 0; j < d; ++j) shift[static_cast<std::size_t>(j)] = static_cast<double>(x(0, j));
  const std::vector<double> offset = batch_mean(x, shift, "pca: fit");
  // Pass 2: centred chunks into the single-pass sketch; the total variance on the way.
  // Rank k' (not k): the sketch supplies a k'-dimensional subspace, refined below.
  StreamingSketch<T> sketch(n, d,
                            StreamingOptions{.rank = sketch_size, .range_size = sketch_size, .seed = options.seed});
  const std::int64_t rows = block_rows_for(d, 1 << 19);
  auto chunk = Matrix<T>::uninitialized(std::min(rows, n), d);
  double total = 0;
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const std::int64_t nr = std::min(rows, n - r0);
    auto c = chunk.row_block(0, nr);
    centre_into<T, T>(x.row_block(r0, nr), shift, offset, c);
    for (std::int64_t i = 0; i < nr; ++i)
      for (std::int64_t j = 0; j < d; ++j) total += static_cast<double>(c(i, j)) * static_cast<double>(c(i, j));
    sketch.append(c);
  }
  const SvdResult<T> svd = sketch.finalize();  // vt: k' × d, orthonormal rows
  // Pass 3, Rayleigh–Ritz: the single-pass estimate of the singular values is biased by the
  // tail it did not capture (12 % too large on Fashion-MNIST at k = 3), so project the centred
  // data onto the sketched subspace V and take the exact eigenpairs of Vᵀ·Xcᵀ·Xc·V (k' × k').
  // Both products run on the dense kernel (X centred as it is read), so they are
  // bit-identical on any thread count, like the sketch.
  std::vector<double> mean(static_cast<std::size_t>(d));
  for (std::size_t j = 0; j < mean.size(); ++j) mean[j] = shift[j] + offset[j];
  const std::vector<double> zero(static_cast<std::size_t>(sketch_size), 0.0);
  Matrix<double> gram(sketch_size, sketch_size);
  auto z = Matrix<T>::uninitialized(std::min(rows, n), sketch_size);
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const std::int64_t nr = std::min(rows, n - r0);
    centred_product<T>(x.row_block(r0, nr), mean, svd.vt.cview(), Op::transpose, z.row_block(0, nr));
    const Matrix<double> part = batch_scatter<T, double>(z.row_block(0, nr), zero, zero);
    for (std::int64_t i = 0; i < sketch_size; ++i)
      for (std::int64_t j = 0; j < sketch_size; ++j) gram(i, j) += part(i, j);
  }
  // The small k' × k' and d × k' steps run on one BLAS thread: OpenBLAS's threaded eigensolver
  // and gemm change the order of some sums with the thread count.
  const linalg::SequentialBlas sequential;
  auto ritz = eigh_descending(std::move(gram));
  auto vt = converted<double, T>(svd.vt.cview());
  Pca p;
  p.samples_ = n;
  p.total_variance_ = total / static_cast<double>(n - 1);
  p.mean_ = mean;
  p.variance_.resize(static_cast<std::size_t>(k));
  for (std::int64_t c = 0; c < k; ++c)
    p.variance_[static_cast<std::size_t>(c)] =
        std::max(0.0, ritz.values[static_cast<std::size_t>(c)]) / static_cast<double>(n - 1);
  // Components as columns (d × k) = V·G_k, then the sign rule, then rows.
  Matrix<double> cols(d, k);
  linalg::gemm<double>(Op::transpose, Op::none, 1.0, vt.cview(), ritz.vectors.block(0, 0, sketch_size, k), 0.0,
                       cols.view());
  fix_column_signs(cols.view());
  p.components_ = Matrix<double>::uninitialized(k, d);
  linalg::transpose<double>(cols.cview(), p.components_.view());
  p.prepare_float_copies();
  return p;
}

std::vector<double> Pca::explained_variance_ratio() const {
  std::vector<double> r(variance_.size());
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = total_variance_ > 0 ? variance_[i] / total_variance_ : 0.0;
  return r;
}

std::vector<double> Pca::singular_values() const {
  std::vector<double> s(variance_.size());
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = std::sqrt(variance_[i] * static_cast<double>(samples_ - 1));
  return s;
}

template <class T>
void Pca::transform(ConstMatrixView<T> x, MatrixView<T> out) const {
  LOWDIM_CHECK(!components_.empty(), "pca: transform before fit");
  LOWDIM_CHECK_SHAPE(x.cols() == dim() && out.rows() == x.rows() && out.cols() == components_count(),
                     "pca: transform takes n x {} to n x {}; got input {} x {}, output {} x {}", dim(),
                     components_count(), x.rows(), x.cols(), out.rows(), out.cols());
  if constexpr (std::is_same_v<T, float>) {
    centred_product<float>(x, mean_, components_f_.cview(), Op::transpose, out);
  } else {
    centred_product<double>(x, mean_, components_.cview(), Op::transpose, out);
  }
  check_product_finite<T>(x, out, "pca: transform");
}

template <class T>
Matrix<T> Pca::transform(ConstMatrixView<T> x) const {
  auto out = Matrix<T>::uninitialized(x.rows(), components_count());
  transform<T>(x, out.view());
  return out;
}

template <class T>
void Pca::inverse_transform(ConstMatrixView<T> y, MatrixView<T> out) const {
  LOWDIM_CHECK(!components_.empty(), "pca: inverse_transform before fit");
  LOWDIM_CHECK_SHAPE(y.cols() == components_count() && out.rows() == y.rows() && out.cols() == dim(),
                     "pca: inverse_transform takes n x {} to n x {}; got input {} x {}, output {} x {}",
                     components_count(), dim(), y.rows(), y.cols(), out.rows(), out.cols());
  check_finite<T>(y, "pca: inverse_transform");
  if constexpr (std::is_same_v<T, float>) {
    product_plus_mean<float>(y, components_f_.cview(), mean_, out);
  } else {
    product_plus_mean<double>(y, components_.cview(), mean_, out);
  }
}

template <class T>
Matrix<T> Pca::inverse_transform(ConstMatrixView<T> y) const {
  auto out = Matrix<T>::uninitialized(y.rows(), dim());
  inverse_transform<T>(y, out.view());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Whitening

const char* to_string(WhiteningKind kind) noexcept {
  switch (kind) {
    case WhiteningKind::pca: return "pca";
    case WhiteningKind::zca: return "zca";
    case WhiteningKind::cholesky: return "cholesky";
    case WhiteningKind::zca_cor: return "zca-cor";
    case WhiteningKind::pca_cor: return "pca-cor";
  }
  return "unknown";
}

WhiteningKind parse_whitening_kind(std::string_view name) {
  for (auto k : {WhiteningKind::pca, WhiteningKind::zca, WhiteningKind::cholesky, WhiteningKind::zca_cor,
                 WhiteningKind::pca_cor})
    if (name == to_string(k)) return k;
  LOWDIM_THROW(invalid_argument, "whitening: unknown kind '{}' (valid: pca, zca, cholesky, zca-cor, pca-cor)", name);
}

void Whitening::prepare_float_copies() {
  w_f_ = converted<float>(w_.cview());
  m_f_ = converted<float>(m_.cview());
}

namespace {

bool is_pca_kind(WhiteningKind k) { return k == WhiteningKind::pca || k == WhiteningKind::pca_cor; }
bool is_cor_kind(WhiteningKind k) { return k == WhiteningKind::zca_cor || k == WhiteningKind::pca_cor; }

// Refuses to invert an eigenvalue that is numerically zero: the eigensolver's own
// rounding is about d·eps·λ_max, so anything at or below it carries no information.
void check_invertible(const std::vector<double>& values, std::int64_t used, double raw_max, WhiteningKind kind,
                      const char* matrix_name) {
  const auto d = static_cast<double>(values.size());
  const double floor = d * kEps * std::max(raw_max, 0.0);
  for (std::int64_t i = used - 1; i >= 0; --i) {  // smallest used first
    const double v = values[static_cast<std::size_t>(i)];
    if (!(v > floor) || !std::isfinite(v)) {
      LOWDIM_THROW(numerical_error,
                   "whitening ({}): eigenvalue {} of {} of the {} is {:.3g} (largest {:.3g}), numerically zero: "
                   "the data have a zero-variance direction; set epsilon > 0 or a rank_tolerance{}",
                   to_string(kind), i + 1, values.size(), matrix_name, v, raw_max,
                   is_pca_kind(kind) ? ", or keep fewer components" : "");
    }
  }
}

}  // namespace

Whitening Whitening::fit(const Moments& moments, const WhiteningOptions& options) {
  const std::int64_t n = moments.count(), d = moments.dim();
  const linalg::SequentialBlas sequential;  // bit-identical on any thread count (see Pca::fit)
  const WhiteningKind kind = options.kind;
  const char* name = to_string(kind);
  LOWDIM_CHECK(d >= 1, "whitening: the moments have no dimension");
  LOWDIM_CHECK(options.ddof >= 0, "whitening: ddof must be non-negative, not {}", options.ddof);
  LOWDIM_CHECK(n > options.ddof && n >= 2, "whitening: {} samples are too few to estimate a covariance (need at least {})",
               n, std::max<std::int64_t>(2, options.ddof + 1));
  LOWDIM_CHECK(std::isfinite(options.epsilon) && options.epsilon >= 0,
               "whitening: epsilon must be finite and non-negative, not {}", options.epsilon);
  LOWDIM_CHECK(options.rank_tolerance >= 0 && options.rank_tolerance < 1,
               "whitening: rank_tolerance must be in [0, 1), not {}", options.rank_tolerance);
  LOWDIM_CHECK(options.components >= 0, "whitening: k must be non-negative, not {}", options.components);
  LOWDIM_CHECK(options.components <= d, "whitening: k = {} exceeds the dimension d = {}", options.components, d);
  LOWDIM_CHECK(is_pca_kind(kind) || options.components == 0 || options.components == d,
               "whitening: {} whitening keeps all d = {} dimensions; k = {} is only allowed for pca and pca-cor", name,
               d, options.components);
  LOWDIM_CHECK(kind != WhiteningKind::cholesky || options.rank_tolerance == 0,
               "whitening: cholesky whitening needs a full-rank covariance, so rank_tolerance ({}) does not apply; "
               "use epsilon",
               options.rank_tolerance);
  const double eps = options.epsilon;

  Matrix<double> a = moments.covariance(options.ddof);
  // -cor kinds: standardise by s_j = √(σ_jj + ε) and work on the correlation P.
  std::vector<double> scale(static_cast<std::size_t>(d), 1.0);
  if (is_cor_kind(kind)) {
    for (std::int64_t j = 0; j < d; ++j) {
      const double v = a(j, j) + eps;
      if (!(v > 0))
        LOWDIM_THROW(numerical_error,
                     "whitening ({}): variable {} has zero variance, so the correlation is undefined; set epsilon > 0",
                     name, j);
      scale[static_cast<std::size_t>(j)] = std::sqrt(v);
    }
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        a(i, j) /= scale[static_cast<std::size_t>(i)] * scale[static_cast<std::size_t>(j)];
  }
  const char* matrix_name = is_cor_kind(kind) ? "correlation" : "covariance";
  Matrix<double> cov_copy = kind == WhiteningKind::cholesky ? a.clone() : Matrix<double>();
  auto eig = eigh_descending(std::move(a));
  const double raw_max = eig.values.front();
  for (auto& v : eig.values) v += eps;

  Whitening w;
  w.options_ = options;
  w.samples_ = n;
  w.mean_.assign(moments.mean().begin(), moments.mean().end());
  w.eigenvalues_ = eig.values;

  // Rank kept by the relative cut-off (eigenvalues are descending, so it is a prefix).
  std::int64_t rank = d;
  if (options.rank_tolerance > 0) {
    const double cut = options.rank_tolerance * eig.values.front();
    rank = 0;
    while (rank < d && eig.values[static_cast<std::size_t>(rank)] > cut) ++rank;
    LOWDIM_CHECK(rank >= 1, "whitening ({}): rank_tolerance {} leaves no direction (largest eigenvalue {:.3g})", name,
                 options.rank_tolerance, eig.values.front());
  }
  const auto& u = eig.vectors;
  const auto& lam = eig.values;
  const auto sqrt_lam = [&](std::int64_t i) { return std::sqrt(lam[static_cast<std::size_t>(i)]); };

  switch (kind) {
    case WhiteningKind::pca:
    case WhiteningKind::pca_cor: {
      const std::int64_t k = std::min(options.components == 0 ? d : options.components, rank);
      check_invertible(lam, k, raw_max, kind, matrix_name);
      w.w_ = Matrix<double>::uninitialized(d, k);
      w.m_ = Matrix<double>::uninitialized(k, d);
      for (std::int64_t i = 0; i < d; ++i) {
        const double s = scale[static_cast<std::size_t>(i)];
        for (std::int64_t c = 0; c < k; ++c) {
          w.w_(i, c) = u(i, c) / (sqrt_lam(c) * s);
          w.m_(c, i) = u(i, c) * sqrt_lam(c) * s;
        }
      }
      break;
    }
    case WhiteningKind::zca:
    case WhiteningKind::zca_cor: {
      check_invertible(lam, rank, raw_max, kind, matrix_name);
      // W = V^{-1/2}·U_r·Λ_r^{-1/2}·U_rᵀ and M = U_r·Λ_r^{1/2}·U_rᵀ·V^{1/2}.
      auto left = Matrix<double>::uninitialized(d, rank), right = Matrix<double>::uninitialized(d, rank);
      for (std::int64_t i = 0; i < d; ++i)
        for (std::int64_t c = 0; c < rank; ++c) {
          left(i, c) = u(i, c) / sqrt_lam(c);
          right(i, c) = u(i, c) * sqrt_lam(c);
        }
      auto ur = u.block(0, 0, d, rank);
      w.w_ = Matrix<double>(d, d);
      w.m_ = Matrix<double>(d, d);
      linalg::gemm<double>(Op::none, Op::transpose, 1.0, left.cview(), ur, 0.0, w.w_.view());
      linalg::gemm<double>(Op::none, Op::transpose, 1.0, right.cview(), ur, 0.0, w.m_.view());
      for (std::int64_t i = 0; i < d; ++i) {
        const double s = scale[static_cast<std::size_t>(i)];
        for (std::int64_t j = 0; j < d; ++j) {
          w.w_(i, j) /= s;
          w.m_(j, i) *= s;
        }
      }
      if (kind == WhiteningKind::zca) {  // exactly symmetric, not just to rounding
        for (std::int64_t i = 0; i < d; ++i)
          for (std::int64_t j = 0; j < i; ++j) {
            w.w_(i, j) = w.w_(j, i) = 0.5 * (w.w_(i, j) + w.w_(j, i));
            w.m_(i, j) = w.m_(j, i) = 0.5 * (w.m_(i, j) + w.m_(j, i));
          }
      }
      break;
    }
    case WhiteningKind::cholesky: {
      check_invertible(lam, d, raw_max, kind, matrix_name);
      // L with L·Lᵀ = (Σ + εI)⁻¹, lower triangular, without forming the inverse:
      // with J the reversal, J(Σ+εI)J = R·Rᵀ gives L = J·R⁻ᵀ·J and L⁻¹ = J·Rᵀ·J.
      auto rev = Matrix<double>::uninitialized(d, d);
      for (std::int64_t i = 0; i < d; ++i)
        for (std::int64_t j = 0; j < d; ++j) rev(i, j) = cov_copy(d - 1 - i, d - 1 - j) + (i == j ? eps : 0.0);
      linalg::cholesky<double>(rev.view());
      Matrix<double> rinv(d, d);
      for (std::int64_t i = 0; i < d; ++i) rinv(i, i) = 1.0;
      linalg::trsm<double>(Side::left, Triangle::lower, Op::none, 1.0, rev.cview(), rinv.view());
      w.w_ = Matrix<double>(d, d);
      w.m_ = Matrix<double>(d, d);
      for (std::int64_t i = 0; i < d; ++i)
        for (std::int64_t j = 0; j <= i; ++j) {
          w.w_(i, j) = rinv(d - 1 - j, d - 1 - i);
          w.m_(i, j) = rev(d - 1 - j, d - 1 - i);
        }
      break;
    }
  }
  w.prepare_float_copies();
  return w;
}

template <class T>
Whitening Whitening::fit(ConstMatrixView<T> x, const WhiteningOptions& options) {
  LOWDIM_CHECK(x.cols() >= 1, "whitening: the input has no columns");
  Moments m(x.cols());
  m.update<T>(x);
  return fit(m, options);
}

template <class T>
void Whitening::transform(ConstMatrixView<T> x, MatrixView<T> out) const {
  LOWDIM_CHECK(!w_.empty(), "whitening: transform before fit");
  LOWDIM_CHECK_SHAPE(x.cols() == dim() && out.rows() == x.rows() && out.cols() == output_dim(),
                     "whitening: transform takes n x {} to n x {}; got input {} x {}, output {} x {}", dim(),
                     output_dim(), x.rows(), x.cols(), out.rows(), out.cols());
  if constexpr (std::is_same_v<T, float>) {
    centred_product<float>(x, mean_, w_f_.cview(), Op::none, out);
  } else {
    centred_product<double>(x, mean_, w_.cview(), Op::none, out);
  }
  check_product_finite<T>(x, out, "whitening: transform");
  if (options_.normalize) normalize_rows<T>(out);
}

template <class T>
Matrix<T> Whitening::transform(ConstMatrixView<T> x) const {
  auto out = Matrix<T>::uninitialized(x.rows(), output_dim());
  transform<T>(x, out.view());
  return out;
}

template <class T>
void Whitening::inverse_transform(ConstMatrixView<T> y, MatrixView<T> out) const {
  LOWDIM_CHECK(!w_.empty(), "whitening: inverse_transform before fit");
  LOWDIM_CHECK(!options_.normalize,
               "whitening: inverse_transform is undefined for a model that L2-normalises its output (the norms are lost)");
  LOWDIM_CHECK_SHAPE(y.cols() == output_dim() && out.rows() == y.rows() && out.cols() == dim(),
                     "whitening: inverse_transform takes n x {} to n x {}; got input {} x {}, output {} x {}",
                     output_dim(), dim(), y.rows(), y.cols(), out.rows(), out.cols());
  check_finite<T>(y, "whitening: inverse_transform");
  if constexpr (std::is_same_v<T, float>) {
    product_plus_mean<float>(y, m_f_.cview(), mean_, out);
  } else {
    product_plus_mean<double>(y, m_.cview(), mean_, out);
  }
}

template <class T>
Matrix<T> Whitening::inverse_transform(ConstMatrixView<T> y) const {
  auto out = Matrix<T>::uninitialized(y.rows(), dim());
  inverse_transform<T>(y, out.view());
  return out;
}

template <class T>
Whitening fit_bert_whitening(ConstMatrixView<T> x, const BertWhiteningOptions& options) {
  LOWDIM_CHECK(x.cols() >= 1, "bert_whitening: the input has no columns");
  LOWDIM_CHECK(options.components >= 1 && options.components <= x.cols(),
               "bert_whitening: k = {} must be in [1, d = {}]", options.components, x.cols());
  Moments m(x.cols(), options.precision);
  m.update<T>(x);
  WhiteningOptions w;
  w.kind = WhiteningKind::pca;
  w.components = options.components;
  w.normalize = options.normalize;
  return Whitening::fit(m, w);
}

#define LOWDIM_INSTANTIATE(T)                                                                        \
  template LOWDIM_API void Moments::update<T>(ConstMatrixView<T>);                                   \
  template LOWDIM_API Pca Pca::fit<T>(ConstMatrixView<T>, const PcaOptions&);                        \
  template Pca Pca::fit_randomized<T>(ConstMatrixView<T>, const PcaOptions&);                          \
  template LOWDIM_API void Pca::transform<T>(ConstMatrixView<T>, MatrixView<T>) const;               \
  template LOWDIM_API Matrix<T> Pca::transform<T>(ConstMatrixView<T>) const;                         \
  template LOWDIM_API void Pca::inverse_transform<T>(ConstMatrixView<T>, MatrixView<T>) const;       \
  template LOWDIM_API Matrix<T> Pca::inverse_transform<T>(ConstMatrixView<T>) const;                 \
  template LOWDIM_API Whitening Whitening::fit<T>(ConstMatrixView<T>, const WhiteningOptions&);      \
  template LOWDIM_API void Whitening::transform<T>(ConstMatrixView<T>, MatrixView<T>) const;         \
  template LOWDIM_API Matrix<T> Whitening::transform<T>(ConstMatrixView<T>) const;                   \
  template LOWDIM_API void Whitening::inverse_transform<T>(ConstMatrixView<T>, MatrixView<T>) const; \
  template LOWDIM_API Matrix<T> Whitening::inverse_transform<T>(ConstMatrixView<T>) const;           \
  template LOWDIM_API Whitening fit_bert_whitening<T>(ConstMatrixView<T>, const BertWhiteningOptions&);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
