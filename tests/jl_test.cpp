#include "extreme_inputs.hpp"
#include "test_support.hpp"

#include <lowdim/jl.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <fstream>
#include <iterator>
#include <set>

#include <lowdim/io.hpp>

using namespace lowdim;
using namespace lowdim::test;

TEST_CASE("min_dim rounds the Dasgupta-Gupta bound up", "[jl][bounds]") {
  // scikit-learn's johnson_lindenstrauss_min_dim(1e6, eps=0.5) truncates to 663.
  REQUIRE(min_dim(1000000, 0.5) == 664);
  REQUIRE(min_dim(60000, 0.1) == 9431);
  // Agreement with the formula over a grid (computed here in double; the
  // library uses long double, which only matters within 1e-9 of an integer).
  int checked = 0;
  for (std::int64_t n : {2LL, 3LL, 10LL, 100LL, 1000LL, 60000LL, 1000000LL, 1000000000LL, 1LL << 40}) {
    for (double eps = 0.01; eps < 1; eps += 0.01) {
      const double value = 4 * std::log(double(n)) / (eps * eps / 2 - eps * eps * eps / 3);
      if (std::abs(value - std::round(value)) < 1e-9 * value) continue;
      INFO("n = " << n << ", eps = " << eps);
      REQUIRE(min_dim(n, eps) == static_cast<std::int64_t>(std::ceil(value)));
      // Rounded up: the truncated value is always one less.
      REQUIRE(min_dim(n, eps) == static_cast<std::int64_t>(value) + 1);
      ++checked;
    }
  }
  REQUIRE(checked > 800);
  // Decreasing in eps, increasing in n.
  REQUIRE(min_dim(1000, 0.2) > min_dim(1000, 0.3));
  REQUIRE(min_dim(2000, 0.2) > min_dim(1000, 0.2));
}

TEST_CASE("min_dim with a failure probability", "[jl][bounds]") {
  for (std::int64_t n : {2LL, 100LL, 60000LL, 1000000LL})
    for (double eps : {0.05, 0.1, 0.3, 0.5, 0.9})
      for (double delta : {0.5, 0.1, 0.01, 1e-6}) {
        const double c = eps * eps / 2 - eps * eps * eps / 3;
        const double value = 2 * std::log(double(n) * double(n - 1) / delta) / c;
        INFO("n = " << n << ", eps = " << eps << ", delta = " << delta);
        REQUIRE(std::abs(double(min_dim(n, eps, delta)) - std::ceil(value)) <= (value > 1e7 ? 1 : 0));
        // Per-pair tail 2·exp(−k·c/2) times n(n−1)/2 pairs is at most delta at the bound.
        const double k = double(min_dim(n, eps, delta));
        REQUIRE(double(n) * double(n - 1) * std::exp(-k * c / 2) <= delta * (1 + 1e-12));
      }
  // Smaller delta needs more dimensions.
  REQUIRE(min_dim(1000, 0.1, 0.001) > min_dim(1000, 0.1, 0.1));
}

TEST_CASE("guaranteed_eps inverts min_dim", "[jl][bounds]") {
  for (std::int64_t n : {10LL, 1000LL, 60000LL, 1000000LL})
    for (std::int64_t k : {400LL, 664LL, 1000LL, 5000LL, 100000LL}) {
      if (double(k) <= 24 * std::log(double(n))) continue;
      const double eps = guaranteed_eps(k, n);
      INFO("n = " << n << ", k = " << k << ", eps = " << eps);
      REQUIRE(eps > 0);
      REQUIRE(eps < 1);
      REQUIRE(min_dim(n, eps) <= k);
      REQUIRE(min_dim(n, std::nextafter(eps, 0.0)) > k);  // the smallest such eps
      const double eps_delta = guaranteed_eps(k * 3, n, 0.01);
      REQUIRE(min_dim(n, eps_delta, 0.01) <= k * 3);
      REQUIRE(min_dim(n, std::nextafter(eps_delta, 0.0), 0.01) > k * 3);
    }
  REQUIRE(guaranteed_eps(664, 1000000) <= 0.5);
  REQUIRE(guaranteed_eps(664, 1000000) > 0.499);
}

TEST_CASE("JL bounds reject bad eps, n and delta", "[jl][bounds][errors]") {
  for (double eps : {0.0, 1.0, -0.1, 1.5, std::nan("")}) {
    REQUIRE_THROWS_AS(min_dim(100, eps), invalid_argument);
    REQUIRE_THROWS_WITH(min_dim(100, eps), Catch::Contains("min_dim: eps = ") && Catch::Contains("is outside (0, 1)"));
  }
  REQUIRE_THROWS_WITH(min_dim(1, 0.1),
                      Catch::Contains("min_dim: n_points = 1 must be at least 2"));
  REQUIRE_THROWS_WITH(min_dim(-5, 0.1), Catch::Contains("n_points = -5"));
  REQUIRE_THROWS_WITH(min_dim(100, 0.1, 0.0), Catch::Contains("min_dim: delta = 0 is outside (0, 1)"));
  REQUIRE_THROWS_WITH(min_dim(100, 0.1, 1.0), Catch::Contains("min_dim: delta = 1 is outside (0, 1)"));
  REQUIRE_THROWS_WITH(min_dim(100, 1e-12), Catch::Contains("does not fit a 64-bit integer"));
  REQUIRE_THROWS_WITH(guaranteed_eps(100, 1000000),
                      Catch::Contains("guaranteed_eps: k = 100 guarantees no eps < 1 for 1000000 points"));
  REQUIRE_THROWS_WITH(guaranteed_eps(0, 100), Catch::Contains("guaranteed_eps: k = 0 must be positive"));
  REQUIRE_THROWS_WITH(guaranteed_eps(1000, 1), Catch::Contains("guaranteed_eps: n_points = 1"));
  REQUIRE_THROWS_WITH(guaranteed_eps(1000, 100, 2.0), Catch::Contains("guaranteed_eps: delta = 2 is outside (0, 1)"));
}

TEMPLATE_TEST_CASE("RandomProjection fits, transforms and inverts", "[jl][projection]", float, double) {
  using T = TestType;
  SECTION("k from (eps, n) and transform = the operator's apply") {
    RandomProjection p;
    REQUIRE_FALSE(p.fitted());
    p.fit(500, {.kind = SketchKind::sparse, .k = 0, .eps = 0.5, .n_points = 1000, .seed = 4});
    REQUIRE(p.output_dim() == min_dim(1000, 0.5));
    REQUIRE(p.input_dim() == 500);
    const auto x = gaussian<T>(30, 500, 1);
    const auto y = p.transform<T>(x);
    Matrix<T> direct(30, p.output_dim());
    SketchOperator(SketchKind::sparse, 500, p.output_dim(), 4).apply<T>(x, direct);
    REQUIRE(max_abs_diff<T>(y, direct) == 0);
  }
  SECTION("gaussian with k >= d: inverse_transform recovers x") {
    RandomProjection p;
    p.fit(40, {.kind = SketchKind::gaussian, .k = 60, .seed = 2});
    const auto x = gaussian<T>(25, 40, 3);
    const auto back = p.inverse_transform<T>(p.transform<T>(x));
    // Condition number of S is O(1) for k = 1.5 d: error a modest multiple of eps·√d.
    REQUIRE(max_abs_diff<T>(back, x) <= 1000 * eps<T> * std::sqrt(40.0) * 5);
  }
  SECTION("k < d: inverse_transform is the identity on the row space of S") {
    for (auto kind : {SketchKind::gaussian, SketchKind::sparse, SketchKind::rademacher, SketchKind::countsketch,
                      SketchKind::srht}) {
      for (std::int64_t d : {256, 300}) {  // srht: orthogonal shortcut (256) and the general route (300)
        INFO(to_string(kind) << " d = " << d);
        RandomProjection p;
        p.fit(d, {.kind = kind, .k = 32, .seed = 9});
        const auto z = gaussian<T>(10, 32, 4);
        Matrix<T> x(10, d);
        p.sketch().apply_transpose<T>(z, x);  // x = Sᵀz lies in the row space
        const auto back = p.inverse_transform<T>(p.transform<T>(x));
        double scale = 0;
        for (auto v : x.flat()) scale = std::max(scale, std::abs(double(v)));
        REQUIRE(max_abs_diff<T>(back, x) <= 2000 * eps<T> * scale);
        // And S·S⁺·y = y for y in the range (S has full row rank here).
        const auto y = p.transform<T>(x);
        const auto again = p.transform<T>(back);
        REQUIRE(max_abs_diff<T>(again, y) <= 4000 * eps<T> * scale * std::sqrt(double(d)));
      }
    }
  }
  SECTION("errors") {
    RandomProjection p;
    Matrix<T> x(3, 10), y(3, 5);
    REQUIRE_THROWS_WITH(p.transform<T>(x, y), Catch::Contains("RandomProjection::transform: the projection is not fitted"));
    REQUIRE_THROWS_WITH(p.fit(0, {.k = 5}), Catch::Contains("RandomProjection::fit: input dimension d = 0 must be positive"));
    REQUIRE_THROWS_WITH(p.fit(10, {.k = -1}), Catch::Contains("RandomProjection::fit: k = -1 must be positive"));
    REQUIRE_THROWS_WITH(p.fit(10, {.k = 0, .n_points = 0}),
                        Catch::Contains("k = 0 derives k from (eps, n_points), but n_points = 0"));
    REQUIRE_THROWS_WITH(p.fit(10, {.k = 0, .eps = 1.5, .n_points = 100}), Catch::Contains("eps = 1.5 is outside (0, 1)"));
    REQUIRE_THROWS_WITH(p.fit(10, {.kind = SketchKind::srht, .k = 11}),
                        Catch::Contains("sketch srht: output dimension k = 11 exceeds the input dimension d = 10"));
    p.fit(10, {.k = 5});
    REQUIRE_THROWS_WITH(p.inverse_transform<T>(x, Matrix<T>(3, 10).view()),
                        Catch::Contains("RandomProjection::inverse_transform: input has 10 columns, k is 5"));
    REQUIRE_THROWS_WITH(p.inverse_transform<T>(y, Matrix<T>(3, 9).view()),
                        Catch::Contains("output is 3 x 9, expected 3 x 10"));
    y(1, 2) = std::numeric_limits<T>::quiet_NaN();
    REQUIRE_THROWS_WITH(p.inverse_transform<T>(y, Matrix<T>(3, 10).view()),
                        Catch::Contains("non-finite value nan at row 1, column 2"));
  }
}

TEST_CASE("sample_pairs: all pairs when few, distinct uniform pairs otherwise", "[jl][pairs]") {
  const auto all = sample_pairs(6, 100, 1);
  REQUIRE(all.size() == 15);
  std::set<std::pair<std::int64_t, std::int64_t>> seen(all.begin(), all.end());
  REQUIRE(seen.size() == 15);
  for (auto [a, b] : all) REQUIRE((0 <= a && a < b && b < 6));

  const auto some = sample_pairs(1000, 20000, 7);
  REQUIRE(some.size() == 20000);
  std::set<std::pair<std::int64_t, std::int64_t>> distinct(some.begin(), some.end());
  REQUIRE(distinct.size() == 20000);
  std::vector<std::int64_t> degree(1000);
  for (auto [a, b] : some) {
    REQUIRE((0 <= a && a < b && b < 1000));
    ++degree[static_cast<std::size_t>(a)];
    ++degree[static_cast<std::size_t>(b)];
  }
  // Each point is in a pair with probability ~2/n per draw: mean degree 40, sd ≈ √40;
  // the first and the last points are not favoured (unranking bias check), 5 sd.
  double low = 0, high = 0;
  for (int i = 0; i < 100; ++i) low += degree[static_cast<std::size_t>(i)], high += degree[static_cast<std::size_t>(999 - i)];
  REQUIRE(std::abs(low - 4000) < 5 * std::sqrt(4000.0));
  REQUIRE(std::abs(high - 4000) < 5 * std::sqrt(4000.0));
  REQUIRE(sample_pairs(1000, 20000, 7) == some);
  REQUIRE(sample_pairs(1000, 20000, 8) != some);
  REQUIRE_THROWS_WITH(sample_pairs(1, 10, 0), Catch::Contains("sample_pairs: 1 points have no pair"));
  REQUIRE_THROWS_WITH(sample_pairs(10, 0, 0), Catch::Contains("sample_pairs: the number of pairs 0 must be positive"));
}

TEMPLATE_TEST_CASE("measure_distortion agrees with a direct computation", "[jl][distortion]", float, double) {
  using T = TestType;
  auto x = gaussian<T>(120, 200, 5);
  // Row 7 duplicates row 3: their pair (when sampled) has distance zero.
  std::copy_n(x.row(3), 200, x.row(7));
  DistortionOptions options;
  options.kinds = {SketchKind::gaussian, SketchKind::srht, SketchKind::countsketch};
  options.dims = {16, 64, 300};  // 300 > d: srht skips it
  options.eps = 0.2;
  options.pairs = 500;
  options.seed = 11;
  options.keep_ratios = true;
  std::vector<std::pair<std::int64_t, std::int64_t>> calls;
  options.progress = [&](std::int64_t done, std::int64_t total) { calls.emplace_back(done, total); };
  const auto report = measure_distortion<T>(x, options);
  REQUIRE(report.n_points == 120);
  REQUIRE(report.dim == 200);
  REQUIRE(report.min_dim_bound == min_dim(120, 0.2));
  const auto pairs = sample_pairs(120, 500, 11);
  const bool duplicate_sampled = std::find(pairs.begin(), pairs.end(), std::pair<std::int64_t, std::int64_t>{3, 7}) != pairs.end();
  REQUIRE(report.zero_distance_pairs == (duplicate_sampled ? 1 : 0));
  REQUIRE(report.pairs + report.zero_distance_pairs == 500);
  REQUIRE(report.results.size() == 8);
  REQUIRE(calls.size() == 8);
  REQUIRE(calls.back() == std::pair<std::int64_t, std::int64_t>{8, 8});

  for (const auto& r : report.results) {
    INFO(to_string(r.kind) << " k = " << r.k);
    REQUIRE(static_cast<std::int64_t>(r.ratios.size()) == report.pairs);
    // Recompute the ratios from a RandomProjection with the same description.
    RandomProjection p;
    p.fit(200, {.kind = r.kind, .k = r.k, .seed = 11});
    const auto y = p.transform<T>(x);
    std::size_t t = 0;
    double within = 0, sum = 0;
    double inner_sum = 0, inner_max = 0, cos_sum = 0, cos_max = 0;
    std::int64_t inner_pairs = 0;
    for (auto [a, b] : pairs) {
      double d0 = 0, d1 = 0;
      // Inner products and cosines computed directly, for the error metrics.
      double xx = 0, yy = 0, xy = 0, fxx = 0, fyy = 0, fxy = 0;
      for (std::int64_t c = 0; c < 200; ++c) {
        xx += double(x(a, c)) * double(x(a, c));
        yy += double(x(b, c)) * double(x(b, c));
        xy += double(x(a, c)) * double(x(b, c));
      }
      for (std::int64_t c = 0; c < r.k; ++c) {
        fxx += double(y(a, c)) * double(y(a, c));
        fyy += double(y(b, c)) * double(y(b, c));
        fxy += double(y(a, c)) * double(y(b, c));
      }
      if (xx > 0 && yy > 0) {
        const double inner = std::abs(fxy - xy) / std::sqrt(xx * yy);
        const double cosine = std::abs(fxy / std::sqrt(fxx * fyy) - xy / std::sqrt(xx * yy));
        inner_sum += inner;
        cos_sum += cosine;
        inner_max = std::max(inner_max, inner);
        cos_max = std::max(cos_max, cosine);
        ++inner_pairs;
      }
      for (std::int64_t c = 0; c < 200; ++c) d0 += std::pow(double(x(a, c)) - double(x(b, c)), 2);
      if (d0 == 0) continue;
      for (std::int64_t c = 0; c < r.k; ++c) d1 += std::pow(double(y(a, c)) - double(y(b, c)), 2);
      const double ratio = d1 / d0;
      // Same projected rows (apply is row-reproducible); the sums differ only in order.
      REQUIRE(std::abs(ratio - r.ratios[t]) <= 1e-6 * ratio + 1e-12);
      within += (ratio >= 0.8 && ratio <= 1.2);
      sum += ratio;
      ++t;
    }
    REQUIRE(std::abs(r.mean - sum / double(report.pairs)) <= 1e-6);
    REQUIRE(std::abs(r.within_eps - within / double(report.pairs)) <= 2.0 / double(report.pairs));
    REQUIRE((r.min <= r.q01 && r.q01 <= r.q05 && r.q05 <= r.q50 && r.q50 <= r.q95 && r.q95 <= r.q99 && r.q99 <= r.max));
    REQUIRE(r.std > 0);
    REQUIRE(r.inner_mean_abs_error <= r.inner_max_abs_error);
    REQUIRE(r.cosine_mean_abs_error <= r.cosine_max_abs_error);
    REQUIRE(inner_pairs > 0);
    REQUIRE(r.inner_mean_abs_error == Approx(inner_sum / double(inner_pairs)).epsilon(1e-6));
    REQUIRE(r.inner_max_abs_error == Approx(inner_max).epsilon(1e-6));
    REQUIRE(r.cosine_mean_abs_error == Approx(cos_sum / double(inner_pairs)).epsilon(1e-6));
    REQUIRE(r.cosine_max_abs_error == Approx(cos_max).epsilon(1e-6));
  }
  // More dimensions, less distortion (gaussian: std ≈ √(2/k) on isotropic data).
  REQUIRE(report.results[0].std > 2 * report.results[2].std);
  REQUIRE(std::abs(report.results[0].std - std::sqrt(2.0 / 16)) < 0.25 * std::sqrt(2.0 / 16));
}

TEST_CASE("measure_distortion and smallest_dim report bad input", "[jl][distortion][errors]") {
  auto x = gaussian<double>(50, 20, 1);
  DistortionOptions o;
  o.dims = {0};
  REQUIRE_THROWS_WITH(measure_distortion<double>(x, o),
                      Catch::Contains("measure_distortion: output dimension k = 0 must be positive"));
  o.dims = {8};
  o.eps = 1.0;
  REQUIRE_THROWS_WITH(measure_distortion<double>(x, o), Catch::Contains("measure_distortion: eps = 1 is outside (0, 1)"));
  o.eps = 0.1;
  x(17, 4) = std::numeric_limits<double>::infinity();
  o.pairs = 100000;  // all pairs: row 17 is used
  REQUIRE_THROWS_WITH(measure_distortion<double>(x, o), Catch::Contains("non-finite value inf at row 17, column 4"));
  // Options shared by the kinds: each kind takes those it reads; one none of them reads is an error.
  o.eps = 0.5;
  o.kinds = {SketchKind::gaussian, SketchKind::srht};
  o.sketch.density = 0.25;
  auto clean = gaussian<double>(50, 20, 1);
  REQUIRE_THROWS_WITH(measure_distortion<double>(clean, o),
                      Catch::Contains("measure_distortion: density 0.25 is given, but none of the kinds (gaussian, srht) takes one"));
  o.kinds = {SketchKind::gaussian, SketchKind::sparse};
  REQUIRE(measure_distortion<double>(clean, o).results.size() == 2);
  o.sketch.density = 1.5;
  REQUIRE_THROWS_WITH(measure_distortion<double>(clean, o),
                      Catch::Contains("measure_distortion: sketch sparse: density 1.5 is outside [1/(d k), 1]"));
  o.sketch = {};
  o.kinds = {SketchKind::gaussian, SketchKind::sparse, SketchKind::srht};
  o.eps = 0.1;
  Matrix<double> same(5, 3);
  REQUIRE_THROWS_WITH(measure_distortion<double>(same, o),
                      Catch::Contains("measure_distortion: all 10 sampled pairs are at distance zero"));
  REQUIRE_THROWS_WITH(measure_distortion<double>(Matrix<double>(1, 3), o),
                      Catch::Contains("measure_distortion: 1 points have no pair"));
  auto y = gaussian<double>(50, 20, 1);
  REQUIRE_THROWS_WITH(smallest_dim<double>(y, SketchKind::gaussian, 0.001, 1.0, o),
                      Catch::Contains("smallest_dim: even k = 20 keeps only"));
  REQUIRE_THROWS_WITH(smallest_dim<double>(y, SketchKind::gaussian, 0.1, 0.0, o),
                      Catch::Contains("smallest_dim: fraction 0 is outside (0, 1]"));
}

TEST_CASE("smallest_dim finds the boundary k of the search", "[jl][distortion]") {
  const auto x = gaussian<float>(400, 256, 2);
  DistortionOptions o;
  o.pairs = 2000;
  o.seed = 3;
  for (auto kind : {SketchKind::gaussian, SketchKind::srht}) {
    const auto found = smallest_dim<float>(x, kind, 0.25, 0.9, o);
    INFO(to_string(kind) << " k = " << found.k);
    REQUIRE(found.min_dim_bound == min_dim(400, 0.25));
    REQUIRE(found.within_eps >= 0.9);
    REQUIRE(found.k > 1);
    REQUIRE(found.k <= 256);
    // Check both sides with an independent measurement of the same projections.
    DistortionOptions check = o;
    check.kinds = {kind};
    check.dims = {found.k - 1, found.k};
    check.eps = 0.25;
    const auto r = measure_distortion<float>(x, check);
    REQUIRE(r.results[1].within_eps == found.within_eps);
    REQUIRE(r.results[0].within_eps < 0.9);
    // Theory: std ≈ √(2/k), so 90% within ±0.25 needs k around 2·(1.645/0.25)² ≈ 87.
    if (kind == SketchKind::gaussian) REQUIRE((found.k > 40 && found.k < 160));
  }
}

TEST_CASE("RandomProjection save/load round trip and corrupt files", "[jl][projection][io]") {
  TempDir dir("jl_save_load");
  const auto x = gaussian<float>(20, 300, 1);
  for (auto kind : {SketchKind::gaussian, SketchKind::rademacher, SketchKind::sparse, SketchKind::srht,
                    SketchKind::countsketch}) {
    INFO(to_string(kind));
    RandomProjection p;
    p.fit(300, {.kind = kind, .k = 24, .seed = 0xFEEDFACECAFEBEEFULL,
                .sketch = {.density = kind == SketchKind::rademacher ? 1.0 / 3 : 0.0, .jl_scaling = kind != SketchKind::srht}});
    const std::string path = dir.file(std::string(to_string(kind)) + ".ldm");
    p.save(path);
    const auto q = RandomProjection::load(path);
    REQUIRE(q.sketch().kind() == kind);
    REQUIRE(q.sketch().seed() == 0xFEEDFACECAFEBEEFULL);
    REQUIRE(q.sketch().options().jl_scaling == (kind != SketchKind::srht));
    REQUIRE(q.sketch().density() == p.sketch().density());
    const auto a = p.transform<float>(x);
    const auto b = q.transform<float>(x);
    REQUIRE(max_abs_diff<float>(a, b) == 0);
  }
  // Not fitted.
  REQUIRE_THROWS_WITH(RandomProjection().save(dir.file("none.ldm")),
                      Catch::Contains("RandomProjection::save: the projection is not fitted"));
  // Corrupt: flip one byte in the middle of a saved file.
  RandomProjection p;
  p.fit(50, {.k = 10, .seed = 3});
  const std::string path = dir.file("p.ldm");
  p.save(path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(bytes.size() > 20);
  bytes[bytes.size() / 2] ^= 0x5A;
  const std::string bad = dir.file("bad.ldm");
  std::ofstream(bad, std::ios::binary) << bytes;
  REQUIRE_THROWS_AS(RandomProjection::load(bad), io_error);
  // A missing file and a file of another kind.
  REQUIRE_THROWS_AS(RandomProjection::load(dir.file("missing.ldm")), io_error);
  std::ofstream(dir.file("text.ldm")) << "not an archive at all, just text\n";
  REQUIRE_THROWS_AS(RandomProjection::load(dir.file("text.ldm")), io_error);
}

// docs/jl.md's worked example, verbatim, with its claims checked.
TEST_CASE("docs/jl.md worked example", "[jl][docs]") {
  Matrix<float> x(2000, 1024);
  fill_normal<float>(x.view(), RandomStream(1));

  std::int64_t bound = min_dim(2000, 0.5);     // 365
  double eps_256 = guaranteed_eps(256, 2000);  // 0.6…
  REQUIRE(bound == 365);
  REQUIRE((eps_256 > 0.6 && eps_256 < 0.7));

  RandomProjection p;
  p.fit(1024, {.kind = SketchKind::srht, .k = 256, .seed = 7});
  Matrix<float> y = p.transform<float>(x);
  Matrix<float> back = p.inverse_transform<float>(y);
  Matrix<float> again = p.transform<float>(back);
  REQUIRE(y.rows() == 2000);
  REQUIRE(y.cols() == 256);
  double scale = 0;
  for (float v : y.flat()) scale = std::max(scale, double(std::abs(v)));
  // Two FWHT passes of length 1024 (~log₂1024 roundings each) and the scaling.
  REQUIRE(max_abs_diff<float>(again, y) <= 4 * 12 * eps<float> * scale * std::sqrt(1024.0 / 256.0));

  DistortionOptions o;
  o.kinds = {SketchKind::gaussian, SketchKind::srht};
  o.dims = {64, 256};
  o.eps = 0.2;
  o.pairs = 5000;
  DistortionReport r = measure_distortion<float>(x, o);
  REQUIRE(r.results.size() == 4);
  const auto& g = r.results[1];
  REQUIRE(g.kind == SketchKind::gaussian);
  REQUIRE(g.k == 256);
  // One S for all pairs: the mean over pairs of isotropic data varies by ~√(2/(k·d)) ≈ 0.003.
  REQUIRE(std::abs(g.mean - 1) < 0.02);
  REQUIRE(std::abs(g.std - std::sqrt(2.0 / 256)) < 0.1 * std::sqrt(2.0 / 256));
  REQUIRE((g.within_eps > 0.95 && g.within_eps < 0.995));
}

TEMPLATE_TEST_CASE("JL functions on extreme but finite input", "[jl][extreme]", float, double) {
  using T = TestType;
  const std::int64_t n = 40, d = 64, k = 16;
  const auto cases = extreme_cases<T>(n, d);
  const auto& reference = cases.front();
  REQUIRE(reference.info.name == "reference");
  for (const auto kind : {SketchKind::gaussian, SketchKind::sparse, SketchKind::srht, SketchKind::orthogonal}) {
    RandomProjection p;
    p.fit(d, {.kind = kind, .k = k, .seed = 3});
    const auto y_ref = p.transform<T>(reference.a);
    const auto x_ref = p.inverse_transform<T>(y_ref);
    DistortionOptions o;
    o.kinds = {kind};
    o.dims = {k};
    o.pairs = 200;
    const auto report_ref = measure_distortion<T>(reference.a, o);
    for (const auto& c : cases) {
      INFO(to_string(kind) << ", case " << c.info.name);
      if (c.a.rows() < 2) {
        REQUIRE_THROWS_WITH(measure_distortion<T>(c.a, o), Catch::Contains("have no pair"));
      } else if (kind == SketchKind::srht && c.a.cols() < k) {
        REQUIRE_THROWS_WITH(measure_distortion<T>(c.a, o),
                            Catch::Contains("no kind accepts any of the output dimensions for d = 1: sketch srht: "
                                            "output dimension k = 16 exceeds the input dimension d = 1"));
      } else if (c.info.name == "all zeros") {
        REQUIRE_THROWS_WITH(measure_distortion<T>(c.a, o), Catch::Contains("sampled pairs are at distance zero"));
      } else {
        const auto report = measure_distortion<T>(c.a, o);
        const auto& r = report.results.front();
        REQUIRE(std::isfinite(r.mean));
        REQUIRE(std::isfinite(r.inner_max_abs_error));
        if (c.info.scaled_reference) {
          // Ratios are scale-invariant and the experiment rescales its copy by a power of
          // two: the same figures, up to the bits the denormal copy lost.
          const double tol = c.info.name == "denormal" ? 1e-2 : sizeof(T) == 4 ? 1e-5 : 1e-12;
          REQUIRE(std::abs(r.mean - report_ref.results.front().mean) <= tol);
          REQUIRE(std::abs(r.q50 - report_ref.results.front().q50) <= tol);
        }
      }
      if (c.a.cols() != d) {
        REQUIRE_THROWS_AS(p.transform<T>(c.a), dimension_mismatch);
        continue;
      }
      // transform: the image is representable for every case here (entries ≤ 2^(max − 4)
      // times a JL-scaled operator of 64 columns would not be: then a numerical_error).
      Matrix<T> y;
      try {
        y = p.transform<T>(c.a);
      } catch (const numerical_error& e) {
        REQUIRE_THAT(e.what(), Catch::Contains("the image exceeds"));
        continue;
      }
      REQUIRE(all_finite<T>(y));
      const auto x = p.inverse_transform<T>(y);
      REQUIRE(all_finite<T>(x));
      if (c.info.scaled_reference && c.info.name != "denormal") {
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < k; ++j)
            REQUIRE(std::abs(double(y(i, j)) - c.info.scale * double(y_ref(i, j))) <=
                    64 * eps<T> * c.info.scale * (std::abs(double(y_ref(i, j))) + 1));
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < d; ++j)
            REQUIRE(std::abs(double(x(i, j)) - c.info.scale * double(x_ref(i, j))) <=
                    1024 * eps<T> * c.info.scale * (std::abs(double(x_ref(i, j))) + 1));
      }
    }
  }
}
