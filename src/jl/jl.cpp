// Johnson–Lindenstrauss bounds, RandomProjection (save/load in jl_io.cpp),
// distortion experiments. Derivations in docs/jl.md.

#include <lowdim/jl.hpp>
#include <lowdim/random.hpp>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

namespace lowdim {
namespace {


void check_eps(double eps, const char* function) {
  LOWDIM_CHECK(eps > 0 && eps < 1, "{}: eps = {} is outside (0, 1)", function, eps);
}
void check_points(std::int64_t n, const char* function) {
  LOWDIM_CHECK(n >= 2, "{}: n_points = {} must be at least 2 (a bound on pairwise distances needs a pair)", function,
               n);
}
void check_delta(double delta, const char* function) {
  LOWDIM_CHECK(delta > 0 && delta < 1, "{}: delta = {} is outside (0, 1)", function, delta);
}

// ε²/2 − ε³/3, in long double.
long double dg_denominator(double eps) {
  const long double e = eps;
  return e * e / 2 - e * e * e / 3;
}

std::int64_t round_up(long double value, const char* function) {
  LOWDIM_CHECK(value < 9.0e18L, "{}: the bound {} does not fit a 64-bit integer", function,
               static_cast<double>(value));
  return static_cast<std::int64_t>(std::ceil(value));
}

// The smallest double ε in (0, 1) with bound(ε) ≤ k, by bisection on the
// (decreasing) integer bound itself, so that bound(result) ≤ k holds exactly.
template <class Bound>
double invert(std::int64_t k, Bound bound) {
  double lo = 0, hi = 1;  // bound(hi) ≤ k is known to hold in the limit; lo fails.
  for (int i = 0; i < 200 && std::nextafter(lo, 1.0) < hi; ++i) {
    const double mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (bound(mid) <= k)
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}

}  // namespace

std::int64_t min_dim(std::int64_t n_points, double eps) {
  check_points(n_points, "min_dim");
  check_eps(eps, "min_dim");
  return round_up(4 * std::log(static_cast<long double>(n_points)) / dg_denominator(eps), "min_dim");
}

std::int64_t min_dim(std::int64_t n_points, double eps, double delta) {
  check_points(n_points, "min_dim");
  check_eps(eps, "min_dim");
  check_delta(delta, "min_dim");
  const long double n = static_cast<long double>(n_points);
  const long double log_pairs_over_delta = std::log(n) + std::log(n - 1) - std::log(static_cast<long double>(delta));
  return round_up(2 * log_pairs_over_delta / dg_denominator(eps), "min_dim");
}

double guaranteed_eps(std::int64_t k, std::int64_t n_points) {
  check_points(n_points, "guaranteed_eps");
  LOWDIM_CHECK(k >= 1, "guaranteed_eps: k = {} must be positive", k);
  // As ε → 1 the bound falls to 4 ln n / (1/6) = 24 ln n.
  const long double floor_bound = 24 * std::log(static_cast<long double>(n_points));
  LOWDIM_CHECK(static_cast<long double>(k) > floor_bound,
               "guaranteed_eps: k = {} guarantees no eps < 1 for {} points (the bound needs k > 24 ln n = {:.1f})", k,
               n_points, static_cast<double>(floor_bound));
  return invert(k, [&](double eps) { return min_dim(n_points, eps); });
}

double guaranteed_eps(std::int64_t k, std::int64_t n_points, double delta) {
  check_points(n_points, "guaranteed_eps");
  check_delta(delta, "guaranteed_eps");
  LOWDIM_CHECK(k >= 1, "guaranteed_eps: k = {} must be positive", k);
  const long double n = static_cast<long double>(n_points);
  const long double floor_bound = 12 * (std::log(n) + std::log(n - 1) - std::log(static_cast<long double>(delta)));
  LOWDIM_CHECK(static_cast<long double>(k) > floor_bound,
               "guaranteed_eps: k = {} guarantees no eps < 1 for {} points at delta = {} (the bound needs k > {:.1f})",
               k, n_points, delta, static_cast<double>(floor_bound));
  return invert(k, [&](double eps) { return min_dim(n_points, eps, delta); });
}

// ---------------------------------------------------------------------------
// RandomProjection

struct RandomProjection::State {
  RandomProjectionOptions options;
  SketchOperator op;
  // (S Sᵀ)⁺, k × k, computed on the first general inverse_transform.
  mutable std::mutex mutex;
  // unique_ptr, not shared_ptr: shared_ptr's control block would export std
  // typeinfo symbols from liblowdim.so. Once set, a cache is never replaced,
  // so the references handed out stay valid for the State's lifetime.
  mutable std::unique_ptr<const Matrix<double>> gram_pinv;
  mutable std::unique_ptr<const Matrix<float>> gram_pinv_float;

  State(const RandomProjectionOptions& o, SketchOperator s) : options(o), op(std::move(s)) {}

  const Matrix<double>& pinv_double() const {
    std::lock_guard lock(mutex);
    return pinv_double_locked();
  }
  const Matrix<double>& pinv_double_locked() const {
    if (!gram_pinv) {
      const std::int64_t k = op.output_dim(), d = op.input_dim();
      Matrix<double> gram(k, k);
      const std::int64_t block = std::max<std::int64_t>(1, (std::int64_t{1} << 20) / k);
      for (std::int64_t j0 = 0; j0 < d; j0 += block) {
        const auto columns = op.materialize_columns<double>(j0, std::min(block, d - j0));
        linalg::gemm_reproducible<double>(Op::none, Op::transpose, 1.0, columns, columns, 1.0, gram);
      }
      std::vector<double> w(static_cast<std::size_t>(k));
      {
        const linalg::SequentialBlas sequential;  // the same bits on any thread count
        linalg::eigh<double>(gram, w);
      }
      // Eigenvalues below w_max·max(d, k)·eps are treated as zero (rank deficiency,
      // e.g. k > d or an empty countsketch bucket), as numpy's matrix_rank does.
      const double tol = w.back() * static_cast<double>(std::max(d, k)) * std::numeric_limits<double>::epsilon();
      Matrix<double> scaled(k, k);  // V·diag(1/w)
      for (std::int64_t i = 0; i < k; ++i)
        for (std::int64_t j = 0; j < k; ++j) {
          const double wj = w[static_cast<std::size_t>(j)];
          scaled(i, j) = wj > tol ? gram(i, j) / wj : 0.0;
        }
      auto pinv = std::make_unique<Matrix<double>>(k, k);
      linalg::gemm_reproducible<double>(Op::none, Op::transpose, 1.0, scaled, gram, 0.0, *pinv);
      gram_pinv = std::move(pinv);
    }
    return *gram_pinv;
  }
  const Matrix<float>& pinv_float() const {
    std::lock_guard lock(mutex);
    if (!gram_pinv_float) {
      const Matrix<double>& d = pinv_double_locked();
      auto f = std::make_unique<Matrix<float>>(d.rows(), d.cols());
      for (std::int64_t i = 0; i < d.size(); ++i) f->data()[i] = static_cast<float>(d.data()[i]);
      gram_pinv_float = std::move(f);
    }
    return *gram_pinv_float;
  }
};

RandomProjection::RandomProjection() = default;
RandomProjection::~RandomProjection() = default;
RandomProjection::RandomProjection(RandomProjection&&) noexcept = default;
RandomProjection& RandomProjection::operator=(RandomProjection&&) noexcept = default;

void RandomProjection::fit(std::int64_t input_dim, const RandomProjectionOptions& options) {
  LOWDIM_CHECK(input_dim >= 1, "RandomProjection::fit: input dimension d = {} must be positive", input_dim);
  LOWDIM_CHECK(options.k >= 0, "RandomProjection::fit: k = {} must be positive (or 0 to derive it from eps)",
               options.k);
  RandomProjectionOptions resolved = options;
  if (options.k == 0) {
    LOWDIM_CHECK(options.n_points >= 2,
                 "RandomProjection::fit: k = 0 derives k from (eps, n_points), but n_points = {} (need >= 2)",
                 options.n_points);
    resolved.k = min_dim(options.n_points, options.eps);
  }
  state_ = std::make_unique<State>(resolved,
                                   SketchOperator(options.kind, input_dim, resolved.k, options.seed, options.sketch));
}

void RandomProjection::adopt(SketchOperator op) {
  RandomProjectionOptions options;
  options.kind = op.kind();
  options.k = op.output_dim();
  options.seed = op.seed();
  options.sketch = op.options();
  state_ = std::make_unique<State>(options, std::move(op));
}

bool RandomProjection::fitted() const noexcept { return state_ != nullptr; }

const RandomProjection::State& RandomProjection::checked(const char* what) const {
  LOWDIM_CHECK(state_ != nullptr, "RandomProjection::{}: the projection is not fitted", what);
  return *state_;
}

const SketchOperator& RandomProjection::sketch() const { return checked("sketch").op; }
std::int64_t RandomProjection::input_dim() const { return checked("input_dim").op.input_dim(); }
std::int64_t RandomProjection::output_dim() const { return checked("output_dim").op.output_dim(); }

template <class T>
void RandomProjection::transform(In<T> x, MatrixView<T> y) const {
  checked("transform").op.apply<T>(x, y);
}

template <class T>
Matrix<T> RandomProjection::transform(In<T> x) const {
  const auto& s = checked("transform");
  auto y = Matrix<T>::uninitialized(x.rows(), s.op.output_dim());
  s.op.apply<T>(x, y.view());
  return y;
}

template <class T>
void RandomProjection::inverse_transform(In<T> y, MatrixView<T> x) const {
  const auto& s = checked("inverse_transform");
  const std::int64_t k = s.op.output_dim();
  LOWDIM_CHECK_SHAPE(y.cols() == k, "RandomProjection::inverse_transform: input has {} columns, k is {}", y.cols(), k);
  LOWDIM_CHECK_SHAPE(x.rows() == y.rows() && x.cols() == s.op.input_dim(),
                     "RandomProjection::inverse_transform: output is {} x {}, expected {} x {}", x.rows(), x.cols(),
                     y.rows(), s.op.input_dim());
  if (y.rows() == 0) return;
  check_finite(y, "RandomProjection::inverse_transform: input");
  // The preimage is linear in each row: row i is scaled by 2^e_i (its largest entry into
  // [1, 2)) and its preimage scaled back. Powers of two are exact, so ordinary rows give the
  // same bits as unscaled, and rows near the type's limits neither overflow on the way nor
  // lose bits in the denormals.
  const std::int64_t n = y.rows();
  auto z = Matrix<T>::uninitialized(n, k);
  std::vector<int> exponent(static_cast<std::size_t>(n), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    T largest = 0;
    for (std::int64_t j = 0; j < k; ++j) largest = std::max(largest, std::abs(y(i, j)));
    const int e = largest > 0 ? -std::ilogb(largest) : 0;
    exponent[static_cast<std::size_t>(i)] = e;
    for (std::int64_t j = 0; j < k; ++j) z(i, j) = std::ldexp(y(i, j), e);
  }
  if (s.op.orthogonal()) {
    // S Sᵀ = c·I, so S⁺ = Sᵀ/c.
    s.op.apply_transpose<T>(z, x);
    const T factor = static_cast<T>(1.0 / s.op.gram_scale());
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < x.cols(); ++j) x(i, j) *= factor;
  } else {
    // S⁺ y = Sᵀ (S Sᵀ)⁺ y, row by row: X = (Y·G⁺)·S.
    auto w = Matrix<T>::uninitialized(n, k);
    if constexpr (std::is_same_v<T, float>) {
      linalg::gemm_reproducible<float>(Op::none, Op::none, 1.0f, z, s.pinv_float(), 0.0f, w);
    } else {
      linalg::gemm_reproducible<double>(Op::none, Op::none, 1.0, z, s.pinv_double(), 0.0, w);
    }
    s.op.apply_transpose<T>(w, x);
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const int e = exponent[static_cast<std::size_t>(i)];
    for (std::int64_t j = 0; j < x.cols(); ++j) {
      const T v = std::ldexp(x(i, j), -e);
      if (!std::isfinite(v))
        LOWDIM_THROW(numerical_error, "RandomProjection::inverse_transform: row {}: the preimage exceeds the {} range",
                     i, sizeof(T) == 4 ? "float32" : "float64");
      x(i, j) = v;
    }
  }
}

template <class T>
Matrix<T> RandomProjection::inverse_transform(In<T> y) const {
  auto x = Matrix<T>::uninitialized(y.rows(), checked("inverse_transform").op.input_dim());
  inverse_transform<T>(y, x.view());
  return x;
}

// ---------------------------------------------------------------------------
// Distortion experiments

std::vector<std::pair<std::int64_t, std::int64_t>> sample_pairs(std::int64_t n, std::int64_t pairs,
                                                                std::uint64_t seed) {
  LOWDIM_CHECK(n >= 2, "sample_pairs: {} points have no pair (need at least 2)", n);
  LOWDIM_CHECK(pairs >= 1, "sample_pairs: the number of pairs {} must be positive", pairs);
  LOWDIM_CHECK(n <= (std::int64_t{1} << 31), "sample_pairs: n = {} exceeds 2^31", n);
  const std::int64_t total = n * (n - 1) / 2;
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  if (total <= pairs) {
    out.reserve(static_cast<std::size_t>(total));
    for (std::int64_t b = 1; b < n; ++b)
      for (std::int64_t a = 0; a < b; ++a) out.emplace_back(a, b);
    return out;
  }
  // Pair index t ↔ (a, b) with a < b, t = b(b − 1)/2 + a.
  const auto indices = sample_without_replacement(total, pairs, RandomStream(seed, StreamId::jl_pairs));
  out.reserve(indices.size());
  for (const std::int64_t t : indices) {
    auto b = static_cast<std::int64_t>((1 + std::sqrt(1 + 8.0 * static_cast<double>(t))) / 2);
    while (b * (b - 1) / 2 > t) --b;
    while ((b + 1) * b / 2 <= t) ++b;
    out.emplace_back(t - b * (b - 1) / 2, b);
  }
  return out;
}

namespace {

double quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(position));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = position - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

// The sampled pairs, the points they use (gathered once) and their exact
// geometry; evaluate() projects the points for one (kind, k).
template <class T>
class PairExperiment {
 public:
  PairExperiment(ConstMatrixView<T> x, const DistortionOptions& options) : options_(options) {
    LOWDIM_CHECK(x.rows() >= 2, "measure_distortion: {} points have no pair (need at least 2)", x.rows());
    LOWDIM_CHECK(x.cols() >= 1, "measure_distortion: the points have no columns");
    check_eps(options.eps, "measure_distortion");
    const auto sampled = sample_pairs(x.rows(), options.pairs, options.seed);
    // Points that occur in a pair, in increasing order, gathered once.
    std::vector<std::int32_t> slot(static_cast<std::size_t>(x.rows()), -1);
    for (const auto& [a, b] : sampled) slot[static_cast<std::size_t>(a)] = slot[static_cast<std::size_t>(b)] = 0;
    std::vector<std::int64_t> used;
    for (std::int64_t i = 0; i < x.rows(); ++i)
      if (slot[static_cast<std::size_t>(i)] == 0) {
        slot[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(used.size());
        used.push_back(i);
      }
    points_ = Matrix<T>::uninitialized(static_cast<std::int64_t>(used.size()), x.cols());
    for (std::size_t i = 0; i < used.size(); ++i) {
      const T* row = x.row(used[i]);
      for (std::int64_t c = 0; c < x.cols(); ++c)
        if (!std::isfinite(row[c]))
          LOWDIM_THROW(invalid_argument, "measure_distortion: input: non-finite value {} at row {}, column {}",
                       row[c], used[i], c);
      std::copy_n(row, x.cols(), points_.row(static_cast<std::int64_t>(i)));
    }
    // Every figure is a ratio, invariant under scaling: the gathered copy is scaled by a
    // power of two (largest entry into [1, 2)), so that data near the type's limits neither
    // overflows in the projection and the squared distances nor loses bits in the denormals.
    T largest = 0;
    for (const T v : points_.flat()) largest = std::max(largest, std::abs(v));
    if (largest > 0) {
      const int e = -std::ilogb(largest);
      for (T& v : points_.flat()) v = std::ldexp(v, e);
    }
    norms2_ = squared_norms(points_);
    // Exact geometry in double; pairs at distance zero are dropped and counted.
    for (const auto& [a, b] : sampled) {
      const std::int64_t i = slot[static_cast<std::size_t>(a)], j = slot[static_cast<std::size_t>(b)];
      double dist2 = 0, dot = 0;
      const T* p = points_.row(i);
      const T* q = points_.row(j);
      for (std::int64_t c = 0; c < x.cols(); ++c) {
        const double u = p[c], v = q[c];
        dist2 += (u - v) * (u - v);
        dot += u * v;
      }
      if (dist2 == 0) {
        ++zero_pairs_;
        continue;
      }
      pairs_.push_back({i, j, dist2, dot});
    }
  }

  std::int64_t pairs() const { return static_cast<std::int64_t>(pairs_.size()); }
  std::int64_t zero_pairs() const { return zero_pairs_; }

  DistortionResult evaluate(SketchKind kind, std::int64_t k, bool keep_ratios) const {
    const SketchOperator op(kind, points_.cols(), k, options_.seed, kind.own_options(options_.sketch));
    auto y = Matrix<T>::uninitialized(points_.rows(), k);
    op.apply<T>(points_, y.view());
    const auto proj_norms2 = squared_norms(y);
    const auto count = static_cast<std::int64_t>(pairs_.size());
    std::vector<double> ratio(pairs_.size()), inner(pairs_.size(), -1), cosine(pairs_.size(), -1);
#pragma omp parallel for schedule(static) if (count * k > 100000)
    for (std::int64_t t = 0; t < count; ++t) {
      const Pair& pr = pairs_[static_cast<std::size_t>(t)];
      const T* p = y.row(pr.i);
      const T* q = y.row(pr.j);
      double dist2 = 0, dot = 0;
      for (std::int64_t c = 0; c < k; ++c) {
        const double u = p[c], v = q[c];
        dist2 += (u - v) * (u - v);
        dot += u * v;
      }
      const auto ts = static_cast<std::size_t>(t);
      ratio[ts] = dist2 / pr.dist2;
      const double na = norms2_[static_cast<std::size_t>(pr.i)], nb = norms2_[static_cast<std::size_t>(pr.j)];
      if (na > 0 && nb > 0) {
        const double scale = std::sqrt(na * nb);
        inner[ts] = std::abs(dot - pr.dot) / scale;
        const double pa = proj_norms2[static_cast<std::size_t>(pr.i)], pb = proj_norms2[static_cast<std::size_t>(pr.j)];
        // A point projected to zero has no direction: its cosine counts as 0.
        const double projected_cos = (pa > 0 && pb > 0) ? dot / std::sqrt(pa * pb) : 0.0;
        cosine[ts] = std::abs(projected_cos - pr.dot / scale);
      }
    }
    DistortionResult r;
    r.kind = kind;
    r.k = k;
    if (count == 0) return r;
    double sum = 0, inner_sum = 0, cos_sum = 0;
    std::int64_t within = 0, inner_count = 0;
    for (std::size_t t = 0; t < ratio.size(); ++t) {
      sum += ratio[t];
      within += (ratio[t] >= 1 - options_.eps && ratio[t] <= 1 + options_.eps);
      if (inner[t] >= 0) {
        ++inner_count;
        inner_sum += inner[t];
        cos_sum += cosine[t];
        r.inner_max_abs_error = std::max(r.inner_max_abs_error, inner[t]);
        r.cosine_max_abs_error = std::max(r.cosine_max_abs_error, cosine[t]);
      }
    }
    r.mean = sum / static_cast<double>(count);
    double var = 0;
    for (double v : ratio) var += (v - r.mean) * (v - r.mean);
    r.std = count > 1 ? std::sqrt(var / static_cast<double>(count - 1)) : 0.0;
    r.within_eps = static_cast<double>(within) / static_cast<double>(count);
    if (inner_count > 0) {
      r.inner_mean_abs_error = inner_sum / static_cast<double>(inner_count);
      r.cosine_mean_abs_error = cos_sum / static_cast<double>(inner_count);
    }
    if (keep_ratios) r.ratios.assign(ratio.begin(), ratio.end());
    std::vector<double> sorted = std::move(ratio);
    std::sort(sorted.begin(), sorted.end());
    r.min = sorted.front();
    r.max = sorted.back();
    r.q01 = quantile(sorted, 0.01);
    r.q05 = quantile(sorted, 0.05);
    r.q50 = quantile(sorted, 0.50);
    r.q95 = quantile(sorted, 0.95);
    r.q99 = quantile(sorted, 0.99);
    return r;
  }

 private:
  struct Pair {
    std::int64_t i, j;
    double dist2, dot;
  };
  static std::vector<double> squared_norms(ConstMatrixView<T> m) {
    std::vector<double> out(static_cast<std::size_t>(m.rows()));
    for (std::int64_t i = 0; i < m.rows(); ++i) {
      double s = 0;
      for (std::int64_t c = 0; c < m.cols(); ++c) s += double(m(i, c)) * double(m(i, c));
      out[static_cast<std::size_t>(i)] = s;
    }
    return out;
  }

  const DistortionOptions& options_;
  Matrix<T> points_;
  std::vector<double> norms2_;
  std::vector<Pair> pairs_;
  std::int64_t zero_pairs_ = 0;
};



// Options shared by a list of kinds go to the kinds that read them; an option none of them
// reads, or one a kind refuses, is an error here rather than a silently skipped kind.
void check_kinds_and_options(const std::vector<SketchKind>& kinds, std::int64_t d, const SketchOptions& shared,
                             const char* who) {
  std::string names;
  bool density = false, row_norms = false;
  for (const auto kind : kinds) {
    names += (names.empty() ? "" : ", ") + std::string(kind.name());
    density |= kind.uses_density();
    row_norms |= kind.uses_row_norms();
    const std::string why = kind.check(d, 1, kind.own_options(shared));
    if (!why.empty()) throw invalid_argument(fmt::format("{}: {}", who, why));
  }
  LOWDIM_CHECK(shared.density == 0 || density, "{}: density {} is given, but none of the kinds ({}) takes one", who,
               shared.density, names);
  LOWDIM_CHECK(shared.row_norms == RowNorms::chi || row_norms,
               "{}: row norms are given, but none of the kinds ({}) takes them", who, names);
}

}  // namespace

template <class T>
DistortionReport measure_distortion(In<T> x, const DistortionOptions& options) {
  LOWDIM_CHECK(!options.kinds.empty(), "measure_distortion: no sketch kinds given");
  LOWDIM_CHECK(!options.dims.empty(), "measure_distortion: no output dimensions given");
  for (const std::int64_t k : options.dims)
    LOWDIM_CHECK(k >= 1, "measure_distortion: output dimension k = {} must be positive", k);
  const PairExperiment<T> experiment(x, options);
  DistortionReport report;
  report.n_points = x.rows();
  report.dim = x.cols();
  report.pairs = experiment.pairs();
  report.zero_distance_pairs = experiment.zero_pairs();
  report.eps = options.eps;
  report.min_dim_bound = min_dim(x.rows(), options.eps);
  LOWDIM_CHECK(report.pairs > 0, "measure_distortion: all {} sampled pairs are at distance zero",
               report.zero_distance_pairs);
  check_kinds_and_options(options.kinds, x.cols(), options.sketch, "measure_distortion");
  // Dimensions a kind rejects (srht: k > d) are skipped.
  std::int64_t total = 0, done = 0;
  for (auto kind : options.kinds)
    for (auto k : options.dims) total += kind.accepts(x.cols(), k, kind.own_options(options.sketch));
  LOWDIM_CHECK(total > 0, "measure_distortion: no kind accepts any of the output dimensions for d = {}: {}", x.cols(),
               options.kinds.front().check(x.cols(), options.dims.front(), options.kinds.front().own_options(options.sketch)));
  for (auto kind : options.kinds)
    for (auto k : options.dims) {
      if (!kind.accepts(x.cols(), k, kind.own_options(options.sketch))) continue;
      report.results.push_back(experiment.evaluate(kind, k, options.keep_ratios));
      if (options.progress) options.progress(++done, total);
    }
  return report;
}

template <class T>
SmallestDim smallest_dim(In<T> x, SketchKind kind, double eps, double fraction, const DistortionOptions& options,
                         std::int64_t max_k) {
  LOWDIM_CHECK(fraction > 0 && fraction <= 1, "smallest_dim: fraction {} is outside (0, 1]", fraction);
  LOWDIM_CHECK(max_k >= 0, "smallest_dim: max_k = {} is negative", max_k);
  DistortionOptions o = options;
  o.eps = eps;
  const PairExperiment<T> experiment(x, o);
  LOWDIM_CHECK(experiment.pairs() > 0, "smallest_dim: all {} sampled pairs are at distance zero",
               experiment.zero_pairs());
  const std::int64_t limit = max_k == 0 ? x.cols() : max_k;
  check_kinds_and_options({kind}, x.cols(), options.sketch, "smallest_dim");
  LOWDIM_CHECK(kind.accepts(x.cols(), limit, kind.own_options(options.sketch)),
               "smallest_dim: {} does not accept k = {} for d = {}", to_string(kind), limit, x.cols());
  SmallestDim out;
  out.min_dim_bound = min_dim(x.rows(), eps);
  std::map<std::int64_t, double> seen;
  const auto within = [&](std::int64_t k) {
    if (auto it = seen.find(k); it != seen.end()) return it->second;
    ++out.evaluations;
    const double w = experiment.evaluate(kind, k, false).within_eps;
    seen[k] = w;
    return w;
  };
  const double top = within(limit);
  LOWDIM_CHECK(top >= fraction,
               "smallest_dim: even k = {} keeps only {:.4f} of the pairs within eps = {} (target {})", limit, top, eps,
               fraction);
  std::int64_t lo = 0, hi = 1;  // within(lo) < fraction (lo = 0 by convention), within(hi) ≥ fraction
  while (hi < limit && within(hi) < fraction) {
    lo = hi;
    hi = std::min(limit, hi * 2);
  }
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (within(mid) >= fraction)
      hi = mid;
    else
      lo = mid;
  }
  out.k = hi;
  out.within_eps = within(hi);
  return out;
}

#define LOWDIM_INSTANTIATE(T)                                                                                   \
  template LOWDIM_API void RandomProjection::transform<T>(In<T>, MatrixView<T>) const;                          \
  template LOWDIM_API Matrix<T> RandomProjection::transform<T>(In<T>) const;                                    \
  template LOWDIM_API void RandomProjection::inverse_transform<T>(In<T>, MatrixView<T>) const;                  \
  template LOWDIM_API Matrix<T> RandomProjection::inverse_transform<T>(In<T>) const;                            \
  template LOWDIM_API DistortionReport measure_distortion<T>(In<T>, const DistortionOptions&);                  \
  template LOWDIM_API SmallestDim smallest_dim<T>(In<T>, SketchKind, double, double, const DistortionOptions&, \
                                                  std::int64_t);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
