// Tests of the random-feature maps (random_features.hpp).

#include <lowdim/attention.hpp>
#include <lowdim/random_features.hpp>

#include "test_support.hpp"

#include <catch2/catch.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace lowdim;
using lowdim::test::eps;

namespace {

constexpr FeatureMapKind all_maps[] = {FeatureMapKind::positive,      FeatureMapKind::optimal,
                                       FeatureMapKind::trig_softmax,  FeatureMapKind::trig_gaussian,
                                       FeatureMapKind::hyperbolic,    FeatureMapKind::relu,
                                       FeatureMapKind::elu,           FeatureMapKind::exp};
constexpr FeatureProjection all_projections[] = {FeatureProjection::iid, FeatureProjection::orf,
                                                 FeatureProjection::sorf, FeatureProjection::simplex};

template <class T>
Matrix<T> scaled_gaussian(std::int64_t rows, std::int64_t cols, std::uint64_t seed, double scale) {
  Matrix<T> m = lowdim::test::gaussian<T>(rows, cols, seed);
  for (T& x : m.flat()) x = static_cast<T>(x * scale);
  return m;
}

RandomFeatures make(FeatureMapKind kind, FeatureProjection proj, std::int64_t d, std::int64_t m, std::uint64_t seed) {
  RandomFeatures f(kind, proj, d, m, seed);
  return kind == FeatureMapKind::optimal ? f.with_optimal_a(-0.05) : f;
}

// The feature of row x by the textbook formula, with W materialized (no stabiliser), in double.
std::vector<double> direct_feature(const RandomFeatures& f, std::span<const double> x, double scale) {
  const Matrix<double> w = f.projection_operator().materialize<double>();
  const std::int64_t m = f.directions(), d = f.dim();
  std::vector<double> z(static_cast<std::size_t>(m));
  double u = 0;
  for (std::int64_t c = 0; c < d; ++c) u += x[c] * x[c] * scale * scale;
  for (std::int64_t r = 0; r < m; ++r) {
    double s = 0;
    for (std::int64_t c = 0; c < d; ++c) s += w(r, c) * x[c] * scale;
    z[static_cast<std::size_t>(r)] = s;
  }
  const double sm = std::sqrt(static_cast<double>(m)), eps_ = f.options().epsilon;
  std::vector<double> out;
  for (std::int64_t r = 0; r < m; ++r) {
    const double zr = z[static_cast<std::size_t>(r)];
    double wn = 0;
    for (std::int64_t c = 0; c < d; ++c) wn += w(r, c) * w(r, c);
    switch (f.kind()) {
      case FeatureMapKind::positive: out.push_back(std::exp(zr - u / 2) / sm); break;
      case FeatureMapKind::optimal: {
        const double a = f.options().optimal_a;
        out.push_back(std::pow(1 - 4 * a, d / 4.0) * std::exp(a * wn + std::sqrt(1 - 4 * a) * zr - u / 2) / sm);
        break;
      }
      case FeatureMapKind::relu: out.push_back(std::max(zr, 0.0) + eps_); break;
      case FeatureMapKind::elu: out.push_back((zr > 0 ? zr : std::expm1(zr)) + 1 + eps_); break;
      case FeatureMapKind::exp: out.push_back(std::exp(zr) + eps_); break;
      default: break;
    }
  }
  const auto pairs = [&](auto first, auto second) {
    for (std::int64_t r = 0; r < m; ++r) out.push_back(first(z[static_cast<std::size_t>(r)]));
    for (std::int64_t r = 0; r < m; ++r) out.push_back(second(z[static_cast<std::size_t>(r)]));
  };
  if (f.kind() == FeatureMapKind::trig_softmax)
    pairs([&](double v) { return std::exp(u / 2) * std::cos(v) / sm; },
          [&](double v) { return std::exp(u / 2) * std::sin(v) / sm; });
  if (f.kind() == FeatureMapKind::trig_gaussian)
    pairs([&](double v) { return std::cos(v) / sm; }, [&](double v) { return std::sin(v) / sm; });
  if (f.kind() == FeatureMapKind::hyperbolic)
    pairs([&](double v) { return std::exp(v - u / 2) / (sm * std::sqrt(2.0)); },
          [&](double v) { return std::exp(-v - u / 2) / (sm * std::sqrt(2.0)); });
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("random features: every map and projection matches its formula", "[random_features]", float,
                   double) {
  using T = TestType;
  const std::int64_t d = 12, m = 20, n = 7;
  const double scale = 0.7;
  const Matrix<T> x = scaled_gaussian<T>(n, d, 11, 0.8);
  Matrix<double> xd(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c) xd(i, c) = x(i, c);
  for (FeatureMapKind kind : all_maps)
    for (FeatureProjection proj : all_projections) {
      CAPTURE(to_string(kind), to_string(proj));
      const RandomFeatures f = make(kind, proj, d, m, 5);
      Matrix<T> phi(n, f.features());
      std::vector<T> s(n);
      f.apply<T>(x, phi, s, scale);
      double worst = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const auto want = direct_feature(f, xd.cview().row_span(i), scale);
        REQUIRE(static_cast<std::int64_t>(want.size()) == f.features());
        double largest = 0;  // errors relative to the row's largest feature (cos/sin pass through 0)
        for (double x : want) largest = std::max(largest, std::abs(x));
        for (std::int64_t r = 0; r < f.features(); ++r) {
          const double got = std::exp(static_cast<double>(s[i])) * phi(i, r);
          worst = std::max(worst, std::abs(got - want[r]) / largest);
        }
        if (positive_features(kind) && kind != FeatureMapKind::relu && kind != FeatureMapKind::elu)
          for (std::int64_t r = 0; r < f.features(); ++r) {
            REQUIRE(phi(i, r) > 0);
            // The stabilised features are at most 1/√m (times D ≤ 1 for the optimal map; 1 + ε for exp).
            REQUIRE(phi(i, r) <= (kind == FeatureMapKind::exp ? 1 + 2e-3 : 1 / std::sqrt(double(m)) * (1 + 8 * eps<T>)));
          }
      }
      // Relative error of the exp of a sum of d terms: a few hundred ulps of T (float: |z| ~ 3, exp amplifies).
      CHECK(worst < 400 * eps<T>);
    }
}

TEST_CASE("random features: the stabiliser keeps huge inputs finite", "[random_features]") {
  const std::int64_t d = 16, m = 32, n = 5;
  const Matrix<float> x = scaled_gaussian<float>(n, d, 3, 1e4);  // exp(w·x) would overflow by far
  for (FeatureMapKind kind : {FeatureMapKind::positive, FeatureMapKind::optimal, FeatureMapKind::hyperbolic,
                              FeatureMapKind::exp, FeatureMapKind::trig_gaussian}) {
    CAPTURE(to_string(kind));
    const RandomFeatures f = make(kind, FeatureProjection::orf, d, m, 1);
    Matrix<float> phi(n, f.features());
    std::vector<float> s(n);
    f.apply<float>(x, phi, s);
    for (float v : phi.flat()) REQUIRE(std::isfinite(v));
    for (float v : s) REQUIRE(std::isfinite(v));
    // The largest feature of each row is exactly the bound: nothing underflowed to all zeros.
    for (std::int64_t i = 0; i < n; ++i) {
      float mx = 0;
      for (std::int64_t r = 0; r < f.features(); ++r) mx = std::max(mx, phi(i, r));
      REQUIRE(mx > 0);
    }
  }
}

TEST_CASE("random features: the estimates are unbiased", "[random_features][statistical]") {
  // Mean over R draws of φ(x)·φ(y) against the exact kernel, within 5 standard errors (the
  // positive estimators are heavy-tailed, so the standard error is itself noisy).
  const std::int64_t d = 8, m = 32, n = 4, draws = 2000;
  const Matrix<double> x = scaled_gaussian<double>(n, d, 21, 0.4), y = scaled_gaussian<double>(n, d, 22, 0.4);
  for (FeatureMapKind kind : {FeatureMapKind::positive, FeatureMapKind::optimal, FeatureMapKind::trig_softmax,
                              FeatureMapKind::hyperbolic, FeatureMapKind::trig_gaussian})
    for (FeatureProjection proj : {FeatureProjection::iid, FeatureProjection::orf, FeatureProjection::simplex}) {
      CAPTURE(to_string(kind), to_string(proj));
      Matrix<double> exact(n, n), est(n, n), sum(n, n), sum2(n, n);
      exact_kernel<double>(kind == FeatureMapKind::trig_gaussian ? KernelKind::gaussian : KernelKind::softmax, x, y,
                           exact.view());
      for (std::int64_t r = 0; r < draws; ++r) {
        RandomFeatures f(kind, proj, d, m, 1000 + r);
        if (kind == FeatureMapKind::optimal) f = f.fitted<double>(x, y);
        estimate_kernel<double>(f, x, y, est.view());
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < n; ++j) {
            sum(i, j) += est(i, j);
            sum2(i, j) += est(i, j) * est(i, j);
          }
      }
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          const double mean = sum(i, j) / draws, var = sum2(i, j) / draws - mean * mean;
          const double se = std::sqrt(std::max(var, 0.0) / draws);
          CHECK(std::abs(mean - exact(i, j)) <= 5 * se + 1e-12);
        }
    }
}

TEST_CASE("random features: FAVOR++'s A minimises the second moment", "[random_features]") {
  // Second moment of the optimal features for mean ‖x + y‖² = u, up to constants in A:
  // d·log(1 − 4A) − (d/2)·log(1 − 8A) + 2u(1 − 4A)/(1 − 8A). Its minimum over a fine grid
  // must sit at optimal_positive_parameter(u, d).
  for (double u : {0.1, 1.0, 7.0, 40.0})
    for (std::int64_t d : {4, 64}) {
      const double a = optimal_positive_parameter(u, d);
      const auto moment = [&](double aa) {
        return d * std::log1p(-4 * aa) - d / 2.0 * std::log1p(-8 * aa) + 2 * u * (1 - 4 * aa) / (1 - 8 * aa);
      };
      double best = 0, best_value = moment(0);
      for (double aa = -5; aa < 0.124; aa += 1e-5)
        if (moment(aa) < best_value) best_value = moment(best = aa);
      CAPTURE(u, d, a, best);
      CHECK(a <= 0);
      CHECK(std::abs(a - best) < 2e-5);
      // The paper's closed form, ρ* = (√((2u+d)² + 8ud) − 2u − d)/(4u), A = (1 − 1/ρ*)/8.
      const double rho = (std::sqrt((2 * u + d) * (2 * u + d) + 8 * u * d) - 2 * u - d) / (4 * u);
      CHECK(a == Approx((1 - 1 / rho) / 8).epsilon(1e-9));
    }
  CHECK(optimal_positive_parameter(0, 8) == 0);
  CHECK_THROWS_WITH(optimal_positive_parameter(-1, 8), Catch::Contains("u = -1"));
}

TEST_CASE("random features: MSE order on medians (ORF < iid, simplex <= ORF, FAVOR++ <= FAVOR+)",
          "[random_features][statistical]") {
  // Inputs of std 0.5 in d = 16 (‖x‖² ≈ 1 after the d^(-1/4) scaling), where the published
  // orderings hold for the mean over pairs; medians over 32 draws with margins.
  AttentionErrorOptions o;
  o.dim = 16;
  o.length = 128;
  o.kernel_rows = 128;
  o.features = {16, 32};
  o.repeats = 32;
  o.seed = 3;
  o.input_std = 0.5;
  o.projections = {FeatureProjection::iid, FeatureProjection::orf, FeatureProjection::simplex};
  o.maps = {FeatureMapKind::positive, FeatureMapKind::optimal};
  const auto results = attention_error_experiment(o);
  REQUIRE(results.size() == 2 * 3 * 2);
  const auto find = [&](FeatureMapKind map, FeatureProjection p, std::int64_t m) {
    for (const auto& r : results)
      if (r.map == map && r.projection == p && r.features == m) return r;
    FAIL("missing result");
    return results[0];
  };
  for (std::int64_t m : o.features)
    for (FeatureMapKind map : o.maps) {
      CAPTURE(m, to_string(map));
      const auto iid = find(map, FeatureProjection::iid, m), orf = find(map, FeatureProjection::orf, m),
                 sim = find(map, FeatureProjection::simplex, m);
      // ORF beats iid by 10% in one block (m = d); with two blocks its gain on positive features
      // is smaller than the draw noise, so only "not worse by 10%" there.
      CHECK(orf.kernel_mse_median < (m == o.dim ? 0.9 : 1.1) * iid.kernel_mse_median);
      CHECK(sim.kernel_mse_median <= 1.05 * orf.kernel_mse_median);
    }
  for (std::int64_t m : o.features)
    for (FeatureProjection p : o.projections) {
      CAPTURE(m, to_string(p));
      CHECK(find(FeatureMapKind::optimal, p, m).kernel_mse_median <= find(FeatureMapKind::positive, p, m).kernel_mse_median);
    }
}

TEST_CASE("random features: same seed same bits on any thread count; redraw changes W", "[random_features][threads]") {
  const Matrix<double> x = scaled_gaussian<double>(300, 24, 4, 0.5);
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::sorf, 24, 64, 9);
  Matrix<double> a(300, 64), b(300, 64), c(300, 64);
  std::vector<double> sa(300), sb(300), sc(300);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  f.apply<double>(x, a, sa);
  omp_set_num_threads(std::max(2, threads));
  RandomFeatures(FeatureMapKind::positive, FeatureProjection::sorf, 24, 64, 9).apply<double>(x, b, sb);
  omp_set_num_threads(threads);
  CHECK(std::equal(a.flat().begin(), a.flat().end(), b.flat().begin()));
  CHECK(sa == sb);
  f.redrawn(10).apply<double>(x, c, sc);
  CHECK(lowdim::test::max_abs_diff<double>(a, c) > 1e-3);
}

TEST_CASE("random features: bad input is an error naming the values", "[random_features][errors]") {
  CHECK_THROWS_WITH(RandomFeatures(FeatureMapKind::positive, FeatureProjection::iid, 8, 0, 1),
                    Catch::Contains("m = 0"));
  CHECK_THROWS_WITH(RandomFeatures(FeatureMapKind::positive, FeatureProjection::iid, 0, 8, 1),
                    Catch::Contains("dimension 0"));
  CHECK_THROWS_WITH(RandomFeatures(FeatureMapKind::positive, FeatureProjection::simplex, 1, 8, 1),
                    Catch::Contains("simplex"));
  FeatureMapOptions o;
  o.epsilon = 0.5;
  CHECK_THROWS_WITH(RandomFeatures(FeatureMapKind::positive, FeatureProjection::iid, 8, 8, 1, o),
                    Catch::Contains("no epsilon"));
  o = {};
  o.sigma = -1;
  CHECK_THROWS_WITH(RandomFeatures(FeatureMapKind::trig_gaussian, FeatureProjection::iid, 8, 8, 1, o),
                    Catch::Contains("sigma = -1"));
  o = {};
  o.row_norms = RowNorms::sqrt_d;
  CHECK_THROWS_WITH(RandomFeatures(FeatureMapKind::positive, FeatureProjection::iid, 8, 8, 1, o),
                    Catch::Contains("no row norms"));
  CHECK_THROWS_WITH(parse_feature_map("softplus"), Catch::Contains("positive, optimal"));
  CHECK_THROWS_WITH(parse_feature_projection("fastfood"), Catch::Contains("iid, orf, sorf, simplex"));
  CHECK(parse_feature_map("favor++") == FeatureMapKind::optimal);
  CHECK(parse_feature_map("FAVOR+") == FeatureMapKind::positive);
  CHECK(parse_feature_projection("structured-orthogonal") == FeatureProjection::sorf);

  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::iid, 8, 16, 1);
  Matrix<double> x(3, 8), phi(3, 16), wrong(3, 7);
  std::vector<double> s(3);
  CHECK_THROWS_WITH(f.apply<double>(wrong, phi, s), Catch::Contains("input has 7 columns, the map takes d = 8"));
  x(1, 4) = std::nan("");
  CHECK_THROWS_WITH(f.apply<double>(x, phi, s), Catch::Contains("row 1, column 4"));
  const RandomFeatures opt(FeatureMapKind::optimal, FeatureProjection::iid, 8, 16, 1);
  x(1, 4) = 0;
  CHECK_THROWS_WITH(opt.apply<double>(x, phi, s), Catch::Contains("A is unset"));
  CHECK_THROWS_WITH(opt.with_optimal_a(0.2), Catch::Contains("A = 0.2"));
}
