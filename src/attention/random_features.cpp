// Random-feature maps on the operator layer (docs/attention.md). W is a SketchOperator with raw
// entries (jl_scaling = false), materialized once: one batch of rows is one reproducible product.
// Each map is one entry of the tables below plus its branch of the elementwise step.

#include <lowdim/random_features.hpp>

#include <lowdim/error.hpp>

#include "detail/omp_exception.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <type_traits>
#include <vector>

namespace lowdim {
namespace {

std::string normalized(std::string_view name) {
  std::string s(name);
  std::replace(s.begin(), s.end(), '-', '_');
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct ProjectionEntry {
  FeatureProjection value;
  const char* name;
  const char* alias;
};
constexpr ProjectionEntry projection_table[] = {
    {FeatureProjection::iid, "iid", "gaussian"},
    {FeatureProjection::orf, "orf", "orthogonal"},
    {FeatureProjection::sorf, "sorf", "structured_orthogonal"},
    {FeatureProjection::simplex, "simplex", "simrf"},
};

struct MapEntry {
  FeatureMapKind value;
  const char* name;
  const char* alias;
  bool softmax;   // unbiased for exp(x·y)
  bool positive;  // all features > 0
  bool doubled;   // 2m features
};
constexpr MapEntry map_table[] = {
    {FeatureMapKind::positive, "positive", "favor", true, true, false},
    {FeatureMapKind::optimal, "optimal", "favor++", true, true, false},
    {FeatureMapKind::trig_softmax, "trig_softmax", "trig", true, false, true},
    {FeatureMapKind::trig_gaussian, "trig_gaussian", "rff", false, false, true},
    {FeatureMapKind::hyperbolic, "hyperbolic", "favor_hyp", true, true, true},
    {FeatureMapKind::relu, "relu", "relu", false, true, false},
    {FeatureMapKind::elu, "elu", "elu+1", false, true, false},
    {FeatureMapKind::exp, "exp", "exp", false, true, false},
};

const MapEntry& entry(FeatureMapKind kind) noexcept { return map_table[static_cast<int>(kind)]; }

bool generalized(FeatureMapKind kind) {
  return kind == FeatureMapKind::relu || kind == FeatureMapKind::elu || kind == FeatureMapKind::exp;
}

}  // namespace

const char* to_string(FeatureProjection projection) noexcept {
  return projection_table[static_cast<int>(projection)].name;
}

FeatureProjection parse_feature_projection(std::string_view name) {
  const std::string s = normalized(name);
  for (const auto& e : projection_table)
    if (s == e.name || s == e.alias) return e.value;
  LOWDIM_THROW(invalid_argument, "random features: unknown projection '{}' (valid: {})", name,
               feature_projection_names());
}

std::string feature_projection_names() {
  std::string names;
  for (const auto& e : projection_table) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

SketchKind sketch_kind_of(FeatureProjection projection) noexcept {
  switch (projection) {
    case FeatureProjection::orf: return SketchKind::orthogonal;
    case FeatureProjection::sorf: return SketchKind::structured_orthogonal;
    case FeatureProjection::simplex: return SketchKind::simplex;
    case FeatureProjection::iid: break;
  }
  return SketchKind::gaussian;
}

const char* to_string(FeatureMapKind kind) noexcept { return entry(kind).name; }

FeatureMapKind parse_feature_map(std::string_view name) {
  const std::string s = normalized(name);
  if (s == "favor+" || s == "favor_plus") return FeatureMapKind::positive;
  if (s == "favor_plus_plus" || s == "opt") return FeatureMapKind::optimal;
  for (const auto& e : map_table)
    if (s == e.name || s == e.alias) return e.value;
  LOWDIM_THROW(invalid_argument,
               "random features: unknown feature map '{}' (valid: {}; aliases favor, favor+, favor++, trig, rff)", name,
               feature_map_names());
}

std::string feature_map_names() {
  std::string names;
  for (const auto& e : map_table) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

bool estimates_softmax_kernel(FeatureMapKind kind) noexcept { return entry(kind).softmax; }
bool positive_features(FeatureMapKind kind) noexcept { return entry(kind).positive; }

double optimal_positive_parameter(double u, std::int64_t dim) {
  LOWDIM_CHECK(std::isfinite(u) && u >= 0, "optimal_positive_parameter: u = {} must be finite and >= 0", u);
  LOWDIM_CHECK(dim >= 1, "optimal_positive_parameter: dimension {} must be >= 1", dim);
  if (u == 0) return 0;
  const double d = static_cast<double>(dim);
  // ρ* solves 2uρ² + (2u + d)ρ − d = 0 (the stationary point of the second moment over ρ = 1/(1 − 8A)).
  // Written as 2d / ((2u + d) + √((2u + d)² + 8ud)): the same root, without cancellation for small u.
  const double b = 2 * u + d;
  const double rho = 2 * d / (b + std::sqrt(b * b + 8 * u * d));
  return (1 - 1 / rho) / 8;
}

namespace {
// The checks of RandomFeatures' constructor, and its projection W (materialized).
SketchOperator make_projection(FeatureMapKind kind, FeatureProjection projection, std::int64_t dim,
                               std::int64_t directions, std::uint64_t seed, const FeatureMapOptions& options) {
  LOWDIM_CHECK(static_cast<int>(kind) >= 0 && static_cast<int>(kind) < static_cast<int>(std::size(map_table)),
               "random features: invalid map {}", static_cast<int>(kind));
  LOWDIM_CHECK(dim >= 1, "random features: input dimension {} must be >= 1", dim);
  LOWDIM_CHECK(directions >= 1, "random features: number of random directions m = {} must be >= 1", directions);
  const FeatureMapOptions defaults;
  if (generalized(kind)) {
    LOWDIM_CHECK(std::isfinite(options.epsilon) && options.epsilon >= 0,
                 "random features: epsilon = {} must be finite and >= 0", options.epsilon);
  } else {
    LOWDIM_CHECK(options.epsilon == defaults.epsilon,
                 "random features: the {} map has no epsilon (given {}); only relu, elu and exp add one", entry(kind).name,
                 options.epsilon);
  }
  if (kind == FeatureMapKind::trig_gaussian) {
    LOWDIM_CHECK(std::isfinite(options.sigma) && options.sigma > 0, "random features: sigma = {} must be finite and > 0",
                 options.sigma);
  } else {
    LOWDIM_CHECK(options.sigma == defaults.sigma,
                 "random features: the {} map has no bandwidth sigma (given {}); only trig_gaussian has one",
                 entry(kind).name, options.sigma);
  }
  if (kind == FeatureMapKind::optimal && !std::isnan(options.optimal_a))
    LOWDIM_CHECK(std::isfinite(options.optimal_a) && options.optimal_a < 0.125,
                 "random features: optimal map parameter A = {} must be finite and < 1/8", options.optimal_a);
  const SketchKind sketch = sketch_kind_of(projection);
  SketchOptions sketch_options;
  sketch_options.jl_scaling = false;
  if (sketch.uses_row_norms()) sketch_options.row_norms = options.row_norms;
  else
    LOWDIM_CHECK(options.row_norms == RowNorms::chi,
                 "random features: the {} projection has no row norms option (given {}); only orf and simplex",
                 to_string(projection), to_string(options.row_norms));
  const std::string why = sketch.check(dim, directions, sketch_options);
  LOWDIM_CHECK(why.empty(), "random features: the {} projection rejects d = {}, m = {}: {}", to_string(projection), dim,
               directions, why);
  return SketchOperator(sketch, dim, directions, seed, sketch_options).materialized();
}

}  // namespace

RandomFeatures::RandomFeatures(FeatureMapKind kind, FeatureProjection projection, std::int64_t dim,
                               std::int64_t directions, std::uint64_t seed, FeatureMapOptions options)
    : kind_(kind), projection_(projection), dim_(dim), directions_(directions), seed_(seed), options_(options),
      operator_(make_projection(kind, projection, dim, directions, seed, options)) {
  const Matrix<double> w = operator_.materialize<double>();
  wt_double_ = Matrix<double>::uninitialized(dim, directions);
  wt_float_ = Matrix<float>::uninitialized(dim, directions);
  for (std::int64_t r = 0; r < directions; ++r)
    for (std::int64_t c = 0; c < dim; ++c) {
      wt_double_(c, r) = w(r, c);
      wt_float_(c, r) = static_cast<float>(w(r, c));
    }
  if (kind == FeatureMapKind::optimal) {
    row_sq_norms_.resize(static_cast<std::size_t>(directions));
    for (std::int64_t r = 0; r < directions; ++r) {
      double s = 0;
      for (std::int64_t c = 0; c < dim; ++c) s += w(r, c) * w(r, c);
      row_sq_norms_[static_cast<std::size_t>(r)] = s;
    }
  }
}

RandomFeatures::RandomFeatures(const RandomFeatures& o)
    : kind_(o.kind_), projection_(o.projection_), dim_(o.dim_), directions_(o.directions_), seed_(o.seed_),
      options_(o.options_), operator_(o.operator_), wt_float_(o.wt_float_.clone()), wt_double_(o.wt_double_.clone()),
      row_sq_norms_(o.row_sq_norms_) {}

RandomFeatures& RandomFeatures::operator=(const RandomFeatures& o) {
  if (this != &o) {
    RandomFeatures copy(o);
    *this = std::move(copy);
  }
  return *this;
}

std::int64_t RandomFeatures::features() const noexcept { return entry(kind_).doubled ? 2 * directions_ : directions_; }

RandomFeatures RandomFeatures::redrawn(std::uint64_t seed) const {
  return RandomFeatures(kind_, projection_, dim_, directions_, seed, options_);
}

RandomFeatures RandomFeatures::with_optimal_a(double a) const {
  LOWDIM_CHECK(std::isfinite(a) && a < 0.125, "random features: optimal map parameter A = {} must be finite and < 1/8",
               a);
  RandomFeatures copy = *this;
  copy.options_.optimal_a = a;
  return copy;
}

template <class T>
RandomFeatures RandomFeatures::fitted(In<T> x, In<T> y, double scale) const {
  if (kind_ != FeatureMapKind::optimal || !std::isnan(options_.optimal_a)) return *this;
  LOWDIM_CHECK_SHAPE(x.cols() == dim_ && y.cols() == dim_,
                     "random features: queries have {} columns and keys {}, the map takes d = {}", x.cols(), y.cols(),
                     dim_);
  LOWDIM_CHECK(x.rows() > 0 && y.rows() > 0, "random features: fitting A needs rows (given {} and {})", x.rows(),
               y.rows());
  // mean_ij ‖x_i + y_j‖² = mean ‖x‖² + mean ‖y‖² + 2 x̄·ȳ.
  std::vector<double> mx(static_cast<std::size_t>(dim_)), my(static_cast<std::size_t>(dim_));
  double sx = 0, sy = 0;
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (std::int64_t c = 0; c < dim_; ++c) {
      const double v = x(i, c);
      sx += v * v;
      mx[static_cast<std::size_t>(c)] += v;
    }
  for (std::int64_t i = 0; i < y.rows(); ++i)
    for (std::int64_t c = 0; c < dim_; ++c) {
      const double v = y(i, c);
      sy += v * v;
      my[static_cast<std::size_t>(c)] += v;
    }
  double cross = 0;
  for (std::int64_t c = 0; c < dim_; ++c)
    cross += mx[static_cast<std::size_t>(c)] / static_cast<double>(x.rows()) * my[static_cast<std::size_t>(c)] /
             static_cast<double>(y.rows());
  double u = (sx / static_cast<double>(x.rows()) + sy / static_cast<double>(y.rows()) + 2 * cross) * scale * scale;
  LOWDIM_CHECK(std::isfinite(u), "random features: non-finite mean squared norm {} of the data", u);
  return with_optimal_a(optimal_positive_parameter(std::max(u, 0.0), dim_));
}

template <class T>
void RandomFeatures::apply(In<T> x, MatrixView<T> phi, std::span<T> log_scale, double scale) const {
  const std::int64_t n = x.rows(), m = directions_, f = features();
  LOWDIM_CHECK_SHAPE(x.cols() == dim_, "random features: input has {} columns, the map takes d = {}", x.cols(), dim_);
  LOWDIM_CHECK_SHAPE(phi.rows() == n && phi.cols() == f,
                     "random features: output is {} x {}, expected {} x {} (n x features)", phi.rows(), phi.cols(), n,
                     f);
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(log_scale.size()) == n,
                     "random features: log_scale has {} entries, expected n = {}", log_scale.size(), n);
  LOWDIM_CHECK(std::isfinite(scale) && scale > 0, "random features: scale {} must be finite and > 0", scale);
  LOWDIM_CHECK(kind_ != FeatureMapKind::optimal || !std::isnan(options_.optimal_a),
               "random features: the optimal map's A is unset: call fitted(queries, keys) or with_optimal_a(A)");
  if (n == 0) return;
  check_finite(x, "random features: input");
  // z = scale·W x into the first m columns of phi (the doubled maps fill the second half from it):
  // one reproducible product with the cached Wᵀ.
  const Matrix<T>& wt = [&]() -> const Matrix<T>& {
    if constexpr (std::is_same_v<T, float>) return wt_float_;
    else return wt_double_;
  }();
  linalg::gemm_reproducible<T>(Op::none, Op::none, static_cast<T>(scale), x, wt, T(0), phi.block(0, 0, n, m));
  const double inv_sqrt_m = 1 / std::sqrt(static_cast<double>(m));
  const double a = options_.optimal_a;
  const double b = kind_ == FeatureMapKind::optimal ? std::sqrt(1 - 4 * a) : 1.0;
  const double log_d = kind_ == FeatureMapKind::optimal ? static_cast<double>(dim_) / 4 * std::log1p(-4 * a) : 0.0;
  const double eps = options_.epsilon, inv_sigma = 1 / options_.sigma;
  detail::OmpExceptions errors;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    errors.run([&] {
      T* row = phi.row(i);
      const T* xi = x.row(i);
      double u = 0;
      for (std::int64_t c = 0; c < dim_; ++c) u += static_cast<double>(xi[c]) * xi[c];
      u *= scale * scale;
      double s = 0;
      switch (kind_) {
        case FeatureMapKind::positive: {
          T mx = -std::numeric_limits<T>::infinity();
          for (std::int64_t r = 0; r < m; ++r) mx = std::max(mx, row[r]);
          const T norm = static_cast<T>(inv_sqrt_m);
          for (std::int64_t r = 0; r < m; ++r) row[r] = std::exp(row[r] - mx) * norm;
          s = static_cast<double>(mx) - u / 2;
          break;
        }
        case FeatureMapKind::optimal: {
          double mx = -std::numeric_limits<double>::infinity();
          for (std::int64_t r = 0; r < m; ++r) {
            const double e = a * row_sq_norms_[static_cast<std::size_t>(r)] + b * row[r];
            row[r] = static_cast<T>(e);
            mx = std::max(mx, e);
          }
          for (std::int64_t r = 0; r < m; ++r) row[r] = static_cast<T>(std::exp(row[r] - mx) * inv_sqrt_m);
          s = mx - u / 2 + log_d;
          break;
        }
        case FeatureMapKind::trig_softmax:
        case FeatureMapKind::trig_gaussian: {
          const double w = kind_ == FeatureMapKind::trig_gaussian ? inv_sigma : 1.0;
          for (std::int64_t r = 0; r < m; ++r) {
            const double z = w * row[r];
            row[r] = static_cast<T>(std::cos(z) * inv_sqrt_m);
            row[m + r] = static_cast<T>(std::sin(z) * inv_sqrt_m);
          }
          s = kind_ == FeatureMapKind::trig_softmax ? u / 2 : 0.0;
          break;
        }
        case FeatureMapKind::hyperbolic: {
          T mx = 0;
          for (std::int64_t r = 0; r < m; ++r) mx = std::max(mx, std::abs(row[r]));
          const T norm = static_cast<T>(inv_sqrt_m / std::sqrt(2.0));
          for (std::int64_t r = 0; r < m; ++r) {
            const T z = row[r];
            row[r] = std::exp(z - mx) * norm;
            row[m + r] = std::exp(-z - mx) * norm;
          }
          s = static_cast<double>(mx) - u / 2;
          break;
        }
        case FeatureMapKind::relu:
          for (std::int64_t r = 0; r < m; ++r) row[r] = std::max(row[r], T(0)) + static_cast<T>(eps);
          break;
        case FeatureMapKind::elu:
          for (std::int64_t r = 0; r < m; ++r) {
            const T z = row[r];
            row[r] = (z > 0 ? z + T(1) : std::exp(z)) + static_cast<T>(eps);
          }
          break;
        case FeatureMapKind::exp: {
          // e^{z} + ε = e^{s}(e^{z − s} + ε e^{−s}) with s = max(max z, 0): no overflow, and e^{−s} ≤ 1.
          T mx = 0;
          for (std::int64_t r = 0; r < m; ++r) mx = std::max(mx, row[r]);
          const T tail = static_cast<T>(eps * std::exp(-static_cast<double>(mx)));
          for (std::int64_t r = 0; r < m; ++r) row[r] = std::exp(row[r] - mx) + tail;
          s = static_cast<double>(mx);
          break;
        }
      }
      LOWDIM_CHECK(std::isfinite(s), "random features: non-finite log scale {} at row {}", s, i);
      log_scale[static_cast<std::size_t>(i)] = static_cast<T>(s);
    });
  }
  errors.rethrow();
}

template <class T>
void exact_kernel(KernelKind kind, In<T> x, In<T> y, MatrixView<T> k, double sigma) {
  LOWDIM_CHECK_SHAPE(x.cols() == y.cols(), "exact_kernel: x has {} columns and y {}", x.cols(), y.cols());
  LOWDIM_CHECK_SHAPE(k.rows() == x.rows() && k.cols() == y.rows(), "exact_kernel: output is {} x {}, expected {} x {}",
                     k.rows(), k.cols(), x.rows(), y.rows());
  LOWDIM_CHECK(std::isfinite(sigma) && sigma > 0, "exact_kernel: sigma = {} must be finite and > 0", sigma);
  check_finite(x, "exact_kernel: x");
  check_finite(y, "exact_kernel: y");
  linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), x, y, T(0), k);
  std::vector<double> ny(static_cast<std::size_t>(y.rows()));
  for (std::int64_t j = 0; j < y.rows(); ++j) {
    double s = 0;
    for (std::int64_t c = 0; c < y.cols(); ++c) s += static_cast<double>(y(j, c)) * y(j, c);
    ny[static_cast<std::size_t>(j)] = s;
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    double nx = 0;
    for (std::int64_t c = 0; c < x.cols(); ++c) nx += static_cast<double>(x(i, c)) * x(i, c);
    for (std::int64_t j = 0; j < y.rows(); ++j) {
      const double g = k(i, j);
      k(i, j) = static_cast<T>(kind == KernelKind::softmax
                                   ? std::exp(g)
                                   : std::exp(-std::max(nx + ny[static_cast<std::size_t>(j)] - 2 * g, 0.0) /
                                              (2 * sigma * sigma)));
    }
  }
}

template <class T>
void estimate_kernel(const RandomFeatures& features, In<T> x, In<T> y, MatrixView<T> k) {
  LOWDIM_CHECK_SHAPE(k.rows() == x.rows() && k.cols() == y.rows(),
                     "estimate_kernel: output is {} x {}, expected {} x {}", k.rows(), k.cols(), x.rows(), y.rows());
  const RandomFeatures map = features.fitted<T>(x, y);
  Matrix<T> px(x.rows(), map.features()), py(y.rows(), map.features());
  std::vector<T> sx(static_cast<std::size_t>(x.rows())), sy(static_cast<std::size_t>(y.rows()));
  map.apply<T>(x, px, sx);
  map.apply<T>(y, py, sy);
  linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), px, py, T(0), k);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (std::int64_t j = 0; j < y.rows(); ++j)
      k(i, j) = static_cast<T>(static_cast<double>(k(i, j)) *
                               std::exp(static_cast<double>(sx[static_cast<std::size_t>(i)]) +
                                        static_cast<double>(sy[static_cast<std::size_t>(j)])));
}

template <class T>
double mean_squared_error(In<T> a, In<T> b) {
  LOWDIM_CHECK_SHAPE(a.rows() == b.rows() && a.cols() == b.cols(), "mean_squared_error: shapes {} x {} and {} x {}",
                     a.rows(), a.cols(), b.rows(), b.cols());
  if (a.empty()) return 0;
  double s = 0;
  for (std::int64_t i = 0; i < a.rows(); ++i)
    for (std::int64_t j = 0; j < a.cols(); ++j) {
      const double e = static_cast<double>(a(i, j)) - static_cast<double>(b(i, j));
      s += e * e;
    }
  return s / static_cast<double>(a.size());
}

#define LOWDIM_INSTANTIATE(T)                                                                                    \
  template RandomFeatures RandomFeatures::fitted<T>(In<T>, In<T>, double) const;                      \
  template void RandomFeatures::apply<T>(In<T>, MatrixView<T>, std::span<T>, double) const;           \
  template LOWDIM_API void exact_kernel<T>(KernelKind, In<T>, In<T>, MatrixView<T>, double);                     \
  template LOWDIM_API void estimate_kernel<T>(const RandomFeatures&, In<T>, In<T>, MatrixView<T>);               \
  template LOWDIM_API double mean_squared_error<T>(In<T>, In<T>);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
