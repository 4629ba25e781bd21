#include "test_support.hpp"

#include <lowdim/io.hpp>
#include <lowdim/sketch.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace lowdim;
using namespace lowdim::test;

namespace {

struct Case {
  SketchKind kind;
  std::int64_t d, k;
  double density;
  RowNorms row_norms = RowNorms::chi;
};

// Small configurations of every kind (d not a power of two, so srht pads).
const std::vector<Case> kSmallCases = {
    {SketchKind::gaussian, 300, 40, 0},   {SketchKind::rademacher, 300, 40, 0},
    {SketchKind::rademacher, 300, 40, 1.0 / 3}, {SketchKind::sparse, 300, 40, 0},
    {SketchKind::srht, 300, 40, 0},       {SketchKind::countsketch, 300, 40, 0},
    {SketchKind::orthogonal, 300, 40, 0}, {SketchKind::orthogonal, 300, 40, 0, RowNorms::sqrt_d},
    {SketchKind::structured_orthogonal, 300, 40, 0}, {SketchKind::hadamard_rotation, 300, 40, 0},
    {SketchKind::simplex, 300, 40, 0},    {SketchKind::simplex, 300, 40, 0, RowNorms::sqrt_d},
};

// Configurations in which S spans several generated blocks (see sketch.cpp:
// 2^20 generated elements, or expected non-zeros, per block).
const std::vector<Case> kBlockedCases = {
    {SketchKind::gaussian, 1300, 2048, 0},          // blocks of 512 columns: 3 blocks
    {SketchKind::rademacher, 1300, 2048, 0},        // same for dense ±1
    {SketchKind::rademacher, 1300, 4096, 1.0 / 3},  // 1365 non-zeros per column: 2 blocks
    {SketchKind::sparse, 40000, 6000, 0},           // 30 non-zeros per column: 2 blocks
    {SketchKind::srht, 1000, 300, 0},
    {SketchKind::countsketch, 5000, 70, 0},
    {SketchKind::orthogonal, 700, 1500, 0},             // three blocks of d rows, the last one partial
    {SketchKind::structured_orthogonal, 1000, 3000, 0},  // d' = 1024: three blocks
    {SketchKind::hadamard_rotation, 1024, 1024, 0},
    {SketchKind::simplex, 500, 1200, 0},                // three blocks, the last one partial
};

SketchOperator make(const Case& c, std::uint64_t seed, bool jl_scaling = true) {
  return SketchOperator(c.kind, c.d, c.k, seed,
                        SketchOptions{.density = c.density, .jl_scaling = jl_scaling, .row_norms = c.row_norms});
}

std::string name(const Case& c) {
  return fmt::format("{} d={} k={} density={} norms={}", to_string(c.kind), c.d, c.k, c.density,
                     c.row_norms == RowNorms::chi ? "chi" : "sqrt_d");
}

template <class T>
bool bit_equal(const Matrix<T>& a, const Matrix<T>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::equal(a.flat().begin(), a.flat().end(), b.flat().begin());
}

// Checks |out − a·bᵀ| ≤ (terms + 2)·eps·(|a|·|b|ᵀ) element-wise, with the
// reference in double: the standard forward error bound of a sum of `terms`
// products, plus two roundings for the scale factor.
template <class T>
void require_product(ConstMatrixView<T> out, ConstMatrixView<T> a, ConstMatrixView<T> b) {
  const std::int64_t terms = a.cols();
  for (std::int64_t i = 0; i < out.rows(); ++i)
    for (std::int64_t j = 0; j < out.cols(); ++j) {
      double ref = 0, abs_sum = 0;
      for (std::int64_t t = 0; t < terms; ++t) {
        ref += double(a(i, t)) * double(b(j, t));
        abs_sum += std::abs(double(a(i, t)) * double(b(j, t)));
      }
      const double bound = double(terms + 2) * eps<T> * abs_sum + std::numeric_limits<T>::min();
      INFO("element " << i << ", " << j);
      REQUIRE(std::abs(double(out(i, j)) - ref) <= bound);
    }
}

}  // namespace

TEST_CASE("Sketch kinds print and parse by name", "[sketch]") {
  REQUIRE(sketch_kinds().size() == 9);
  for (auto kind : sketch_kinds()) {
    REQUIRE(parse_sketch_kind(to_string(kind)) == kind);
    REQUIRE(std::string(kind.summary()).size() > 10);
  }
  REQUIRE(parse_sketch_kind("structured-orthogonal") == SketchKind::structured_orthogonal);
  REQUIRE(parse_sketch_kind("hadamard_rotation") == SketchKind::hadamard_rotation);
  REQUIRE(SketchKind() == SketchKind::gaussian);
  REQUIRE_FALSE(SketchKind::gaussian == SketchKind::rademacher);
  REQUIRE_THROWS_AS(parse_sketch_kind("gauss"), invalid_argument);
  REQUIRE_THROWS_WITH(parse_sketch_kind("gauss"),
                      Catch::Contains("unknown kind 'gauss' (valid: gaussian, rademacher, sparse, srht, countsketch, "
                                      "orthogonal, structured_orthogonal, hadamard_rotation, simplex)"));
}

TEST_CASE("Options a kind does not read are refused, never ignored", "[sketch][errors]") {
  for (auto kind : sketch_kinds()) {
    INFO(kind.name());
    const bool density = kind == SketchKind::rademacher || kind == SketchKind::sparse;
    const bool norms = kind == SketchKind::orthogonal || kind == SketchKind::simplex;
    REQUIRE(kind.uses_density() == density);
    REQUIRE(kind.uses_row_norms() == norms);
    if (!density)
      REQUIRE_THROWS_WITH(SketchOperator(kind, 64, 8, 1, {.density = 0.5}),
                          Catch::Contains(fmt::format("sketch {}: the kind has no density option (got 0.5", kind.name())));
    if (!norms)
      REQUIRE_THROWS_WITH(SketchOperator(kind, 64, 8, 1, {.row_norms = RowNorms::sqrt_d}),
                          Catch::Contains(fmt::format("sketch {}: the kind has no row-norm option", kind.name())));
    const SketchOptions shared{.density = 0.5, .row_norms = RowNorms::sqrt_d};
    REQUIRE(kind.accepts(64, 8, kind.own_options(shared)));
  }
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::simplex, 1, 1, 1),
                      Catch::Contains("sketch simplex: input dimension d = 1 is below 2"));
}

TEST_CASE("Sketch operators reject bad descriptions", "[sketch][errors]") {
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::gaussian, 0, 5, 1),
                      Catch::Contains("sketch gaussian: input dimension d = 0 must be positive"));
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::sparse, 10, 0, 1),
                      Catch::Contains("sketch sparse: output dimension k = 0 must be positive"));
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::gaussian, 10, -3, 1),
                      Catch::Contains("output dimension k = -3 must be positive"));
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::srht, 100, 101, 1),
                      Catch::Contains("sketch srht: output dimension k = 101 exceeds the input dimension d = 100"));
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::rademacher, 10, 5, 1, {.density = 1.5}),
                      Catch::Contains("sketch rademacher: density 1.5 is outside [1/(d k), 1] = [0.02, 1] for d = 10, k = 5"));
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::sparse, 10, 5, 1, {.density = -0.1}),
                      Catch::Contains("density -0.1 is outside [1/(d k), 1]"));
  // A density so small that S is almost surely zero (its scale would overflow): refused.
  REQUIRE_THROWS_WITH(SketchOperator(SketchKind::sparse, 10, 5, 1, {.density = 1e-300}),
                      Catch::Contains("density 1e-300 is outside [1/(d k), 1] = [0.02, 1]"));
  REQUIRE_NOTHROW(SketchOperator(SketchKind::sparse, 10, 5, 1, {.density = 0.02}));
  REQUIRE_THROWS_AS(SketchOperator(SketchKind::sparse, 10, 5, 1, {.density = std::nan("")}), invalid_argument);
  // k > d is fine where it does not matter.
  REQUIRE_NOTHROW(SketchOperator(SketchKind::gaussian, 10, 20, 1));
  REQUIRE_NOTHROW(SketchOperator(SketchKind::countsketch, 10, 20, 1));
}

TEST_CASE("Sketch apply rejects bad shapes, overlap and non-finite input", "[sketch][errors]") {
  for (const auto& c : kSmallCases) {
    INFO(name(c));
    const auto s = make(c, 3);
    const char* kind = to_string(c.kind);
    Matrix<float> x(6, c.d), y(6, c.k), wrong_x(6, c.d + 1), wrong_y(5, c.k);
    REQUIRE_THROWS_AS(s.apply<float>(wrong_x, y), dimension_mismatch);
    REQUIRE_THROWS_WITH(s.apply<float>(wrong_x, y),
                        Catch::Contains(fmt::format("sketch {} apply: input has {} columns, the input dimension d is {}",
                                                    kind, c.d + 1, c.d)));
    REQUIRE_THROWS_WITH(s.apply<float>(x, wrong_y),
                        Catch::Contains(fmt::format("sketch {} apply: output is 5 x {}, expected 6 x {} (n x k)", kind,
                                                    c.k, c.k)));
    REQUIRE_THROWS_WITH(s.apply_transpose<float>(x, wrong_x),
                        Catch::Contains(fmt::format("sketch {} apply_transpose: input has {} columns", kind, c.d)));
    REQUIRE_THROWS_WITH(s.apply_transpose<float>(y, Matrix<float>(6, c.k).view()),
                        Catch::Contains(fmt::format("apply_transpose: output is 6 x {}, expected 6 x {} (n x d)", c.k,
                                                    c.d)));
    x(2, 5) = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_AS(s.apply<float>(x, y), invalid_argument);
    REQUIRE_THROWS_WITH(s.apply<float>(x, y),
                        Catch::Contains(fmt::format("sketch {} apply: input: non-finite value nan at row 2, column 5",
                                                    kind)));
    y.view().fill(0.0f);  // a failed apply leaves y unspecified
    y(4, 1) = -std::numeric_limits<float>::infinity();
    Matrix<float> back(6, c.d);
    REQUIRE_THROWS_WITH(s.apply_transpose<float>(y, back),
                        Catch::Contains("apply_transpose: input: non-finite value -inf at row 4, column 1"));
    REQUIRE_THROWS_WITH(s.materialize_columns<float>(c.d - 2, 3),
                        Catch::Contains(fmt::format("materialize_columns: columns [{}, {}) are outside [0, {})",
                                                    c.d - 2, c.d + 1, c.d)));
  }
  // Input and output sharing memory.
  Matrix<double> buffer(4, 100);
  const SketchOperator s(SketchKind::gaussian, 60, 40, 1);
  REQUIRE_THROWS_WITH(s.apply<double>(buffer.block(0, 0, 4, 60), buffer.block(0, 50, 4, 40)),
                      Catch::Contains("sketch gaussian apply: input and output overlap"));
  REQUIRE_NOTHROW(s.apply<double>(buffer.block(0, 0, 4, 60), buffer.block(0, 60, 4, 40)));
}

TEMPLATE_TEST_CASE("Sketch apply and apply_transpose equal products with materialize()", "[sketch]", float, double) {
  for (const auto& c : kSmallCases) {
    INFO(name(c));
    const auto s = make(c, 17);
    const auto dense = s.materialize<TestType>();
    REQUIRE(dense.rows() == c.k);
    REQUIRE(dense.cols() == c.d);
    // Strided input: a block of a wider matrix.
    auto wide = gaussian<TestType>(37, c.d + 3, 5);
    const auto x = wide.block(0, 2, 37, c.d);
    Matrix<TestType> y(37, c.k);
    s.apply<TestType>(x, y);
    require_product<TestType>(y, x, dense);  // y = x·Sᵀ

    auto z = gaussian<TestType>(29, c.k, 6);
    Matrix<TestType> back(29, c.d);
    s.apply_transpose<TestType>(z, back);
    auto dense_t = Matrix<TestType>::uninitialized(c.d, c.k);
    linalg::transpose<TestType>(dense, dense_t.view());
    require_product<TestType>(back, z, dense_t);  // back = z·S

    // materialize_columns is materialize() in pieces.
    const auto middle = s.materialize_columns<TestType>(c.d / 3, c.d / 2);
    REQUIRE(max_abs_diff<TestType>(middle, dense.block(0, c.d / 3, c.k, c.d / 2)) == 0);
  }
}

// The dense kernel's contract (src/detail/dense_kernel.hpp): every output element is one
// chain over the inner index in order — fma(a, b, c) with the avx512/avx2 kernels,
// c + a·b rounded twice with the generic one — then multiplied by the scale. With k a
// power of 4 the scale 1/√k is a power of two, so the raw operator is materialize()/scale
// exactly, and the kernel's output can be recomputed bit for bit. Shapes cross every edge:
// partial panels, partial micro-kernel rows, several row tiles, inner blocks of 256 and
// (d = 1300, k = 1024) two generated blocks of S accumulated into one output.
TEMPLATE_TEST_CASE("Dense sketches compute each element as one fma chain in order", "[sketch][kernel]", float,
                   double) {
  using T = TestType;
  const bool fused = dense_kernel_isa() != "generic";
  INFO("dense kernel " << dense_kernel_isa());
  auto chain = [fused](auto&& term, std::int64_t terms, T scale) {
    T c = 0;
    for (std::int64_t t = 0; t < terms; ++t) {
      const auto [a, b] = term(t);
      c = fused ? std::fma(a, b, c) : c + a * b;
    }
    return c * scale;
  };
  for (const auto& [d, k] : {std::pair<std::int64_t, std::int64_t>{300, 16}, {300, 64}, {1300, 1024}}) {
    INFO("d = " << d << ", k = " << k);
    for (const auto kind : {SketchKind::gaussian, SketchKind::rademacher}) {
      const SketchOperator s(kind, d, k, 23);
      const auto scale = static_cast<T>(s.scale());
      REQUIRE(static_cast<double>(scale) == 1.0 / std::sqrt(double(k)));
      auto raw = s.materialize<T>();
      for (auto& v : raw.flat()) v /= scale;
      const std::int64_t n = 205;
      const auto x = gaussian<T>(n, d, 8);
      Matrix<T> y(n, k);
      s.apply<T>(x, y);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < k; ++j) {
          const T want = chain([&](std::int64_t t) { return std::pair{x(i, t), raw(j, t)}; }, d, scale);
          if (y(i, j) != want) FAIL("apply: element (" << i << ", " << j << ") = " << y(i, j) << ", chain " << want);
        }
      Matrix<T> back(n, d);
      s.apply_transpose<T>(y, back);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t t = 0; t < d; ++t) {
          const T want = chain([&](std::int64_t j) { return std::pair{y(i, j), raw(j, t)}; }, k, scale);
          if (back(i, t) != want)
            FAIL("apply_transpose: element (" << i << ", " << t << ") = " << back(i, t) << ", chain " << want);
        }
    }
  }
}

TEST_CASE("Sketch entries have the documented values and densities", "[sketch]") {
  const std::int64_t d = 2000, k = 50;
  SECTION("dense rademacher: ±1/√k, or ±1 raw") {
    const auto s = SketchOperator(SketchKind::rademacher, d, k, 1).materialize<double>();
    const auto raw = SketchOperator(SketchKind::rademacher, d, k, 1, {.jl_scaling = false}).materialize<double>();
    std::int64_t plus = 0;
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        REQUIRE(std::abs(raw(i, j)) == 1.0);
        REQUIRE(s(i, j) == raw(i, j) / std::sqrt(double(k)));
        plus += raw(i, j) > 0;
      }
    // Binomial(k·d, 1/2): 5 standard errors.
    REQUIRE(std::abs(double(plus) - k * d / 2.0) < 5 * std::sqrt(k * d / 4.0));
  }
  SECTION("Achlioptas (density 1/3) and Li (density 1/√d): ±1/√(k·s) with frequency s") {
    for (auto [kind, density] : {std::pair{SketchKind::rademacher, 1.0 / 3}, std::pair{SketchKind::sparse, 0.0}}) {
      const SketchOperator op(kind, d, k, 2, {.density = density});
      const double s = op.density();
      REQUIRE(s == (density == 0 ? 1 / std::sqrt(double(d)) : density));
      REQUIRE(op.scale() == 1 / std::sqrt(k * s));
      const auto m = op.materialize<double>();
      std::int64_t nonzero = 0, plus = 0;
      for (double v : m.flat()) {
        if (v == 0) continue;
        REQUIRE(std::abs(v) == op.scale());
        ++nonzero;
        plus += v > 0;
      }
      const double total = double(k * d);
      REQUIRE(std::abs(nonzero - total * s) < 5 * std::sqrt(total * s * (1 - s)));
      REQUIRE(std::abs(plus - nonzero / 2.0) < 5 * std::sqrt(nonzero / 4.0));
    }
  }
  SECTION("countsketch: exactly one ±1 per column, buckets uniform") {
    const SketchOperator op(SketchKind::countsketch, d, k, 3);
    const auto m = op.materialize<double>();
    std::vector<std::int64_t> bucket(static_cast<std::size_t>(k));
    for (std::int64_t j = 0; j < d; ++j) {
      int count = 0;
      for (std::int64_t i = 0; i < k; ++i)
        if (m(i, j) != 0) {
          REQUIRE(std::abs(m(i, j)) == 1.0);
          ++count;
          ++bucket[static_cast<std::size_t>(i)];
        }
      REQUIRE(count == 1);
    }
    // χ² test of uniform buckets: k − 1 = 49 degrees of freedom, 0.1% critical value 85.4.
    double chi2 = 0;
    for (auto b : bucket) chi2 += (b - double(d) / k) * (b - double(d) / k) / (double(d) / k);
    REQUIRE(chi2 < 85.4);
  }
  SECTION("gaussian raw entries are the scaled ones times √k") {
    const auto s = SketchOperator(SketchKind::gaussian, 300, 64, 4).materialize<double>();
    const auto raw = SketchOperator(SketchKind::gaussian, 300, 64, 4, {.jl_scaling = false}).materialize<double>();
    for (std::int64_t i = 0; i < s.size(); ++i)
      REQUIRE(std::abs(s.data()[i] - raw.data()[i] / 8.0) <= eps<double> * std::abs(raw.data()[i]));
  }
}

TEST_CASE("SRHT rows are orthogonal: S·Sᵀ = (d'/k)·I", "[sketch][srht]") {
  for (std::int64_t d : {1024, 4096}) {
    const std::int64_t k = 100;
    const SketchOperator op(SketchKind::srht, d, k, 9);
    REQUIRE(op.padded_dim() == d);
    const auto s = op.materialize<double>();
    // Through the FWHT path: applying S to the rows of Sᵀ gives S·Sᵀ.
    Matrix<double> gram(k, k);
    op.apply<double>(s, gram);
    Matrix<double> direct(k, k);
    linalg::gemm<double>(Op::none, Op::transpose, 1.0, s, s, 0.0, direct);
    const double expected = double(d) / double(k);
    // Sums of d terms ±1/k: rounding error ≤ (log₂d + 2)·eps·(d/k) through the FWHT, d·eps·(d/k) through GEMM.
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < k; ++j) {
        const double want = i == j ? expected : 0.0;
        REQUIRE(std::abs(gram(i, j) - want) <= (std::log2(double(d)) + 2) * eps<double> * expected);
        REQUIRE(std::abs(direct(i, j) - want) <= double(d) * eps<double> * expected);
      }
  }
  // Padding: d = 784 pads to 1024.
  REQUIRE(SketchOperator(SketchKind::srht, 784, 10, 1).padded_dim() == 1024);
  REQUIRE(SketchOperator(SketchKind::gaussian, 784, 10, 1).padded_dim() == 784);
}

TEST_CASE("Gaussian sketch: E[ratio] = 1 and Var[ratio] = 2/k", "[sketch][statistics]") {
  // ‖Sx‖²/‖x‖² is χ²_k / k for any fixed x: mean 1, variance 2/k. One sample per
  // independent operator (seed); bounds are 5 standard errors of the estimates.
  const std::int64_t d = 60, k = 24, trials = 4000;
  const auto x = gaussian<double>(1, d, 1);
  double norm2 = 0;
  for (double v : x.flat()) norm2 += v * v;
  std::vector<double> ratios;
  Matrix<double> y(1, k);
  for (std::int64_t t = 0; t < trials; ++t) {
    SketchOperator(SketchKind::gaussian, d, k, static_cast<std::uint64_t>(t)).apply<double>(x, y);
    double s = 0;
    for (double v : y.flat()) s += v * v;
    ratios.push_back(s / norm2);
  }
  double mean = 0, var = 0;
  for (double r : ratios) mean += r;
  mean /= trials;
  for (double r : ratios) var += (r - mean) * (r - mean);
  var /= trials - 1;
  const double kk = double(k), n = double(trials);
  REQUIRE(std::abs(mean - 1) < 5 * std::sqrt(2 / kk / n));
  // Var of the sample variance of χ²_k/k: (μ₄ − σ⁴)/n = (8/k² + 48/k³)/n.
  REQUIRE(std::abs(var - 2 / kk) < 5 * std::sqrt((8 / (kk * kk) + 48 / (kk * kk * kk)) / n));
}

TEST_CASE("Every kind preserves squared norms in expectation", "[sketch][statistics]") {
  // E‖Sx‖² = ‖x‖² under JL scaling; checked over 1500 independent operators
  // per kind, 5 empirical standard errors. A spiky x (one large coordinate)
  // is the hard case for sparse kinds; d = 300 makes srht pad.
  const std::int64_t trials = 1500;
  for (auto c : kSmallCases) {
    INFO(name(c));
    auto x = gaussian<double>(1, c.d, 2);
    x(0, 7) = 30;
    double norm2 = 0;
    for (double v : x.flat()) norm2 += v * v;
    Matrix<double> y(1, c.k);
    double sum = 0, sum2 = 0;
    for (std::int64_t t = 0; t < trials; ++t) {
      make(c, 1000 + static_cast<std::uint64_t>(t)).apply<double>(x, y);
      double s = 0;
      for (double v : y.flat()) s += v * v;
      sum += s / norm2;
      sum2 += (s / norm2) * (s / norm2);
    }
    const double mean = sum / trials, sd = std::sqrt(sum2 / trials - mean * mean);
    REQUIRE(std::abs(mean - 1) < 5 * sd / std::sqrt(double(trials)));
    REQUIRE(sd > 0);
  }
}

TEST_CASE("Sketch output does not depend on row chunking or thread count", "[sketch][threads]") {
  for (const auto& c : kBlockedCases) {
    INFO(name(c));
    const auto s = make(c, 123);
    // More rows than one 192-row tile of the dense kernel (and many 16-row tiles of the sparse
    // one), so the product really is split among the threads.
    const std::int64_t n = 200;
    const auto xf = gaussian<float>(n, c.d, 8);
    const auto xd = gaussian<double>(n, c.d, 8);
    std::vector<Matrix<float>> yf, backf;
    std::vector<Matrix<double>> yd;
    for (int threads : {1, 2, 4}) {
      with_threads(threads, [&] {
        Matrix<float> a(n, c.k), back(n, c.d);
        s.apply<float>(xf, a);
        s.apply_transpose<float>(a, back);
        Matrix<double> b(n, c.k);
        s.apply<double>(xd, b);
        yf.push_back(std::move(a));
        backf.push_back(std::move(back));
        yd.push_back(std::move(b));
      });
    }
    for (int t = 1; t < 3; ++t) {
      REQUIRE(bit_equal(yf[0], yf[t]));
      REQUIRE(bit_equal(yd[0], yd[t]));
      REQUIRE(bit_equal(backf[0], backf[t]));
    }
    // Rows in chunks of 1, 7 and 17 (across the 16-row tiles of the sparse kernel).
    // Each call regenerates S, so single rows are checked on the first 20 rows only
    // (past the first tile boundary of the sparse kernel); 7 and 17 on the first 70.
    for (std::int64_t chunk : {1, 7, 17}) {
      const std::int64_t m = chunk == 1 ? 20 : 70;
      Matrix<float> a(m, c.k);
      Matrix<double> b(m, c.k);
      for (std::int64_t r0 = 0; r0 < m; r0 += chunk) {
        const std::int64_t rows = std::min(chunk, m - r0);
        s.apply<float>(xf.row_block(r0, rows), a.row_block(r0, rows));
        s.apply<double>(xd.row_block(r0, rows), b.row_block(r0, rows));
      }
      INFO("chunk " << chunk);
      REQUIRE(bit_equal(a, Matrix<float>::copy_of(yf[0].row_block(0, m))));
      REQUIRE(bit_equal(b, Matrix<double>::copy_of(yd[0].row_block(0, m))));
      Matrix<float> back(m, c.d);
      for (std::int64_t r0 = 0; r0 < m; r0 += chunk) {
        const std::int64_t rows = std::min(chunk, m - r0);
        s.apply_transpose<float>(yf[0].row_block(r0, rows), back.row_block(r0, rows));
      }
      REQUIRE(bit_equal(back, Matrix<float>::copy_of(backf[0].row_block(0, m))));
    }
    // Same seed, same numbers; another seed, other numbers.
    Matrix<float> again(n, c.k), other(n, c.k);
    make(c, 123).apply<float>(xf, again);
    make(c, 124).apply<float>(xf, other);
    REQUIRE(bit_equal(again, yf[0]));
    REQUIRE(max_abs_diff<float>(other, yf[0]) > 0.01);
  }
}

TEST_CASE("Sketch apply leaves the input untouched and handles empty input", "[sketch]") {
  for (const auto& c : kSmallCases) {
    const auto s = make(c, 1);
    const auto x = gaussian<float>(20, c.d, 3);
    const auto copy = x.clone();
    Matrix<float> y(20, c.k);
    s.apply<float>(x, y);
    REQUIRE(bit_equal(x, copy));
    Matrix<float> none_in(0, c.d), none_out(0, c.k);
    REQUIRE_NOTHROW(s.apply<float>(none_in, none_out));
  }
}

TEST_CASE("Materialized operators give the bits of the matrix-free ones", "[sketch][cached]") {
  std::vector<Case> cases = kSmallCases;
  cases.insert(cases.end(), kBlockedCases.begin(), kBlockedCases.end());
  for (const auto& c : cases) {
    INFO(name(c));
    const auto free_form = make(c, 31);
    const auto cached = free_form.materialized();
    REQUIRE(cached.cached());
    REQUIRE(cached.kind() == free_form.kind());
    REQUIRE(cached.materialized().cached());
    const std::int64_t n = c.d > 10000 ? 9 : 33;
    const auto xf = gaussian<float>(n, c.d, 4);
    const auto xd = gaussian<double>(n, c.d, 4);
    Matrix<float> a(n, c.k), b(n, c.k), one(1, c.k);
    Matrix<double> e(n, c.k), f(n, c.k);
    free_form.apply<float>(xf, a);
    cached.apply<float>(xf, b);
    REQUIRE(bit_equal(a, b));
    free_form.apply<double>(xd, e);
    cached.apply<double>(xd, f);
    REQUIRE(bit_equal(e, f));
    // One row at a time (the LSH query / attention step use).
    for (std::int64_t r : {std::int64_t{0}, n - 1}) {
      cached.apply<float>(xf.row_block(r, 1), one);
      REQUIRE(bit_equal(one, Matrix<float>::copy_of(a.row_block(r, 1))));
    }
    Matrix<float> back_free(n, c.d), back_cached(n, c.d);
    free_form.apply_transpose<float>(a, back_free);
    cached.apply_transpose<float>(a, back_cached);
    REQUIRE(bit_equal(back_free, back_cached));
    REQUIRE(max_abs_diff<double>(free_form.materialize<double>(), cached.materialize<double>()) == 0);
    if (!free_form.cached()) REQUIRE(free_form.cached_bytes() == 0);
    // Something is cached once used, except by the kinds that keep nothing but signs.
    REQUIRE(cached.cached_bytes() > 0);
  }
}

TEST_CASE("Orthogonal kinds have the documented row structure", "[sketch][orthogonal]") {
  // Gram matrices of the raw rows (jl_scaling off), in double; the rows come from a
  // Householder QR or exact sign flips and FWHTs: errors of a few hundred eps.
  const double tol = 1000 * eps<double>;
  const auto gram_of = [](const SketchOperator& op) {
    const auto s = op.materialize<double>();
    Matrix<double> g(op.output_dim(), op.output_dim());
    linalg::gemm<double>(Op::none, Op::transpose, 1.0, s, s, 0.0, g);
    return g;
  };
  SECTION("orthogonal: orthonormal directions within a block, χ(d) or √d norms") {
    const std::int64_t d = 64, k = 150;  // blocks of 64, 64 and 22 rows
    const SketchOperator chi(SketchKind::orthogonal, d, k, 5, {.jl_scaling = false});
    const SketchOperator root(SketchKind::orthogonal, d, k, 5, {.jl_scaling = false, .row_norms = RowNorms::sqrt_d});
    const auto g = gram_of(chi), h = gram_of(root);
    double mean_norm2 = 0;
    for (std::int64_t i = 0; i < k; ++i) {
      mean_norm2 += g(i, i) / k;
      REQUIRE(std::abs(h(i, i) - d) <= tol * d);
      for (std::int64_t j = 0; j < k; ++j)
        if (i != j && i / d == j / d) {
          REQUIRE(std::abs(g(i, j)) <= tol * d);
          REQUIRE(std::abs(h(i, j)) <= tol * d);
        }
    }
    // χ²_d norms: mean d, variance 2d per row; 5 standard errors over k rows.
    REQUIRE(std::abs(mean_norm2 - d) < 5 * std::sqrt(2.0 * d / k));
    // Rows of different blocks are independent, not orthogonal.
    REQUIRE(std::abs(h(0, d)) > tol * d);
    REQUIRE_FALSE(chi.orthogonal());
    REQUIRE_FALSE(root.orthogonal());  // k > d
    const SketchOperator one_block(SketchKind::orthogonal, d, 40, 5, {.row_norms = RowNorms::sqrt_d});
    REQUIRE(one_block.orthogonal());
    REQUIRE(std::abs(one_block.gram_scale() - double(d) / 40) <= eps<double> * d);
  }
  SECTION("simplex: unit directions with pairwise cosine −1/(d − 1) within a block") {
    for (std::int64_t d : {2, 3, 17, 64}) {
      for (std::int64_t k : {d - 1, d, 2 * d + 1}) {
        if (k < 1) continue;
        INFO("d = " << d << ", k = " << k);
        const SketchOperator op(SketchKind::simplex, d, k, 9, {.jl_scaling = false, .row_norms = RowNorms::sqrt_d});
        const auto g = gram_of(op);
        for (std::int64_t i = 0; i < k; ++i)
          for (std::int64_t j = 0; j < k; ++j) {
            if (i / d != j / d) continue;
            const double want = i == j ? double(d) : -double(d) / double(d - 1);
            REQUIRE(std::abs(g(i, j) - want) <= tol * d);
          }
      }
    }
  }
  SECTION("hadamard_rotation is a rotation; structured_orthogonal is √d' times one") {
    for (std::int64_t d : {8, 256}) {
      const SketchOperator rotation(SketchKind::hadamard_rotation, d, d, 3, {.jl_scaling = false});
      const SketchOperator sorf(SketchKind::structured_orthogonal, d, d, 3, {.jl_scaling = false});
      REQUIRE(rotation.orthogonal());
      REQUIRE(rotation.gram_scale() == 1.0);
      REQUIRE(sorf.gram_scale() == double(d));
      const auto g = gram_of(rotation);
      const auto r = rotation.materialize<double>(), q = sorf.materialize<double>();
      for (std::int64_t i = 0; i < d; ++i)
        for (std::int64_t j = 0; j < d; ++j) {
          REQUIRE(std::abs(g(i, j) - (i == j ? 1.0 : 0.0)) <= tol);
          REQUIRE(std::abs(q(i, j) - std::sqrt(double(d)) * r(i, j)) <= tol * std::sqrt(double(d)));
        }
      // Not a signed permutation: the entries spread (|entry| far below 1 for d = 256).
      double largest = 0;
      for (double v : r.flat()) largest = std::max(largest, std::abs(v));
      if (d == 256) REQUIRE(largest < 0.5);
    }
    // JL scaling: √(d'/k)·B, so S·Sᵀ = (d'/k)·I for k ≤ d = d'.
    const SketchOperator jl(SketchKind::hadamard_rotation, 512, 128, 3);
    REQUIRE(jl.orthogonal());
    REQUIRE(std::abs(jl.gram_scale() - 4.0) <= 4 * eps<double>);
    // Padding or several blocks: not orthogonal.
    REQUIRE_FALSE(SketchOperator(SketchKind::hadamard_rotation, 300, 256, 3).orthogonal());
    REQUIRE_FALSE(SketchOperator(SketchKind::structured_orthogonal, 256, 300, 3).orthogonal());
  }
}

TEMPLATE_TEST_CASE("Extreme but finite rows are rescaled, never overflow silently", "[sketch][extreme]", float,
                   double) {
  using T = TestType;
  using limits = std::numeric_limits<T>;
  for (const auto& c : kSmallCases) {
    INFO(name(c));
    const auto op = make(c, 12);
    const auto x = gaussian<T>(6, c.d, 19);
    Matrix<T> y(6, c.k);
    op.apply<T>(x, y);
    for (const int e : {limits::max_exponent - 12, limits::min_exponent - 3, limits::min_exponent - limits::digits / 2}) {
      INFO("scale 2^" << e);
      auto scaled = Matrix<T>::uninitialized(6, c.d);
      for (std::int64_t i = 0; i < 6; ++i)
        for (std::int64_t j = 0; j < c.d; ++j) scaled(i, j) = std::ldexp(x(i, j), e);
      const auto before = scaled.clone();
      Matrix<T> out(6, c.k);
      op.apply<T>(scaled, out);
      REQUIRE(bit_equal(scaled, before));
      // S(2^e·x) = 2^e·S(x) up to the rounding of the denormal inputs themselves.
      const bool denormal_input = e < limits::min_exponent - 1;
      for (std::int64_t i = 0; i < 6; ++i)
        for (std::int64_t j = 0; j < c.k; ++j) {
          const double want = std::ldexp(double(y(i, j)), e);
          const double got = double(out(i, j));
          REQUIRE(std::isfinite(got));
          const double tol = denormal_input ? std::ldexp(double(c.d) * 4, limits::min_exponent - limits::digits + 1 - e)
                                            : 4 * eps<T>;
          double row_scale = 0;
          for (std::int64_t t = 0; t < c.k; ++t) row_scale = std::max(row_scale, std::abs(std::ldexp(double(y(i, t)), e)));
          REQUIRE(std::abs(got - want) <= tol * std::max(row_scale, std::abs(want)) + std::ldexp(1.0, limits::min_exponent - limits::digits));
        }
    }
    // A row near the largest normal number: its image, computed in long double from S,
    // either fits the type (then apply returns it, finite) or does not (numerical_error
    // naming the row); never Inf without an error.
    auto huge = Matrix<T>::copy_of(x.cview());
    for (std::int64_t j = 0; j < c.d; ++j) huge(3, j) = std::ldexp(x(3, j), limits::max_exponent - 3);
    const auto dense = op.materialize<double>();
    bool fits = true;
    for (std::int64_t i = 0; i < c.k; ++i) {
      long double sum = 0;
      for (std::int64_t j = 0; j < c.d; ++j) sum += static_cast<long double>(dense(i, j)) * huge(3, j);
      fits &= std::abs(sum) < static_cast<long double>(limits::max()) * 0.999L;
    }
    INFO("image fits: " << fits);
    if (fits) {
      op.apply<T>(huge, y);
      for (T v : y.flat()) REQUIRE(std::isfinite(v));
    } else {
      REQUIRE_THROWS_AS(op.apply<T>(huge, y), numerical_error);
      REQUIRE_THROWS_WITH(op.apply<T>(huge, y),
                          Catch::Contains(fmt::format("sketch {} apply: row 3: the image exceeds", to_string(c.kind))));
    }
    // Rows of zeros map to zeros.
    Matrix<T> zeros(3, c.d), image(3, c.k);
    image.view().fill(T(1));
    op.apply<T>(zeros, image);
    for (T v : image.flat()) REQUIRE(v == T(0));
  }
}

TEST_CASE("Operator descriptions round-trip through an archive", "[sketch][io]") {
  const TempDir dir("sketch-description");
  for (const auto& c : kSmallCases) {
    INFO(name(c));
    const auto op = make(c, 77, c.kind != SketchKind::srht);
    ArchiveWriter writer("lowdim.test_operator", 1);
    op.save_description(writer, "sketch.");
    writer.put("other", std::int64_t{5});
    writer.save(dir.file("op.ldm"));
    const ArchiveReader reader(dir.file("op.ldm"), "lowdim.test_operator");
    const auto back = SketchOperator::load_description(reader, "sketch.", "test");
    REQUIRE(back.kind() == op.kind());
    REQUIRE(back.input_dim() == op.input_dim());
    REQUIRE(back.output_dim() == op.output_dim());
    REQUIRE(back.seed() == op.seed());
    REQUIRE(back.options().jl_scaling == op.options().jl_scaling);
    REQUIRE(back.options().row_norms == op.options().row_norms);
    REQUIRE(max_abs_diff<double>(back.materialize<double>(), op.materialize<double>()) == 0);
  }
  ArchiveWriter bad("lowdim.test_operator", 1);
  bad.put("kind", std::string("orthogonal"));
  bad.put("input_dim", std::int64_t{10});
  bad.put("output_dim", std::int64_t{3});
  bad.put("seed", std::int64_t{1});
  bad.put("density", 0.5);
  bad.put("jl_scaling", std::int64_t{1});
  bad.save(dir.file("bad.ldm"));
  const ArchiveReader reader(dir.file("bad.ldm"), "lowdim.test_operator");
  REQUIRE_THROWS_AS(SketchOperator::load_description(reader, "", "loading bad.ldm"), io_error);
  REQUIRE_THROWS_WITH(SketchOperator::load_description(reader, "", "loading bad.ldm"),
                      Catch::Contains("loading bad.ldm: invalid sketch description: sketch orthogonal: the kind has no "
                                      "density option"));
}
