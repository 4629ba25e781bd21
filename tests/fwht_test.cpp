#include "test_support.hpp"

#include <lowdim/fwht.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>

using namespace lowdim;
using namespace lowdim::test;

namespace {
// H_m x computed from the definition H[i][j] = (−1)^popcount(i & j), in double.
std::vector<double> naive_hadamard(const double* x, std::int64_t m) {
  std::vector<double> out(static_cast<std::size_t>(m));
  for (std::int64_t i = 0; i < m; ++i) {
    double s = 0;
    for (std::int64_t j = 0; j < m; ++j)
      s += (std::popcount(static_cast<std::uint64_t>(i & j)) & 1) ? -x[j] : x[j];
    out[static_cast<std::size_t>(i)] = s;
  }
  return out;
}
}  // namespace

TEMPLATE_TEST_CASE("fwht matches the naive Hadamard product for every length up to 8192", "[fwht]", float, double) {
  // 8192 > the 2048-element cache block, so the blocked long stages are covered too.
  for (std::int64_t m = 1; m <= 8192; m *= 2) {
    const std::int64_t n = m <= 256 ? 3 : 1;
    auto x = gaussian<TestType>(n, m, static_cast<std::uint64_t>(m));
    auto y = x.clone();
    fwht<TestType>(y.view());
    for (std::int64_t r = 0; r < n; ++r) {
      std::vector<double> xd(x.row(r), x.row(r) + m);
      const auto ref = naive_hadamard(xd.data(), m);
      double l1 = 0;
      for (double v : xd) l1 += std::abs(v);
      // Each output is a ±1 sum of m inputs through log₂m additions: error ≤ log₂m·eps·‖x‖₁.
      const double bound = (std::log2(static_cast<double>(m)) + 1) * eps<TestType> * l1;
      for (std::int64_t i = 0; i < m; ++i) REQUIRE(std::abs(y(r, i) - ref[static_cast<std::size_t>(i)]) <= bound);
    }
  }
}

TEMPLATE_TEST_CASE("fwht is an involution up to m, fwht_normalized exactly one", "[fwht]", float, double) {
  const std::int64_t m = 4096;
  // Small integers: every partial sum is exact, so H·H·x = m·x holds bit for bit.
  Matrix<TestType> x(5, m);
  for (std::int64_t r = 0; r < 5; ++r)
    for (std::int64_t j = 0; j < m; ++j) x(r, j) = static_cast<TestType>((r * 7 + j * 13) % 9 - 4);
  auto y = x.clone();
  fwht<TestType>(y.view());
  fwht<TestType>(y.view());
  for (std::int64_t r = 0; r < 5; ++r)
    for (std::int64_t j = 0; j < m; ++j) REQUIRE(y(r, j) == static_cast<TestType>(m) * x(r, j));

  auto g = gaussian<TestType>(4, m, 11);
  auto z = g.clone();
  fwht_normalized<TestType>(z.view());
  // Orthonormal: norms kept; twice gives back the input (error ~ log₂m·eps per pass, relative to ‖x‖).
  for (std::int64_t r = 0; r < 4; ++r) {
    double a = 0, b = 0;
    for (std::int64_t j = 0; j < m; ++j) a += double(g(r, j)) * g(r, j), b += double(z(r, j)) * z(r, j);
    REQUIRE(std::abs(a - b) <= 2 * 13 * eps<TestType> * a);
  }
  fwht_normalized<TestType>(z.view());
  double norm = 0;
  for (auto v : g.flat()) norm = std::max(norm, std::abs(double(v)));
  REQUIRE(max_abs_diff<TestType>(z.view(), g.view()) <= 4 * 13 * eps<TestType> * std::sqrt(double(m)) * norm);
}

TEST_CASE("fwht rejects a length that is not a power of two", "[fwht][errors]") {
  Matrix<float> x(2, 100);
  REQUIRE_THROWS_AS(fwht<float>(x.view()), invalid_argument);
  REQUIRE_THROWS_WITH(fwht<float>(x.view()), Catch::Contains("fwht: row length 100 is not a power of two (pad with zeros to 128)"));
  REQUIRE_THROWS_WITH(fwht_normalized<float>(x.view()), Catch::Contains("fwht_normalized: row length 100"));
  REQUIRE(next_power_of_two(1) == 1);
  REQUIRE(next_power_of_two(784) == 1024);
  REQUIRE(next_power_of_two(1024) == 1024);
  REQUIRE_THROWS_WITH(next_power_of_two(0), Catch::Contains("next_power_of_two: 0 is outside"));
}

TEST_CASE("fwht on strided views and on 1, 2, 4 threads gives identical bits", "[fwht][threads]") {
  auto base = gaussian<float>(300, 600, 5);
  std::vector<Matrix<float>> outs;
  for (int threads : {1, 2, 4}) {
    with_threads(threads, [&] {
      auto c = base.clone();
      fwht<float>(c.view().block(0, 44, 300, 512));  // stride 600, offset columns
      outs.push_back(std::move(c));
    });
  }
  for (int t = 1; t < 3; ++t) REQUIRE(max_abs_diff<float>(outs[0].view(), outs[t].view()) == 0);
  // Columns outside the view are untouched.
  for (std::int64_t r = 0; r < 300; ++r) {
    for (std::int64_t j = 0; j < 44; ++j) REQUIRE(outs[0](r, j) == base(r, j));
    for (std::int64_t j = 556; j < 600; ++j) REQUIRE(outs[0](r, j) == base(r, j));
  }
}
