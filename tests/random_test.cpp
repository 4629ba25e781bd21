#include "test_support.hpp"

#include <lowdim/random.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

using namespace lowdim;
using namespace lowdim::test;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[random]") {
  // kat_vectors: counter (4 words), key (2 words) -> output. Our counter is
  // (index lo, index hi, stream lo, stream hi) and the key is the seed.
  REQUIRE(RandomStream(0, 0).bits(0) == std::array<std::uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  REQUIRE(RandomStream(~0ULL, ~0ULL).bits(~0ULL) ==
          std::array<std::uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  REQUIRE(RandomStream(0x299f31d0a4093822ULL, 0x0370734413198a2eULL).bits(0x85a308d3243f6a88ULL) ==
          std::array<std::uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

namespace {
// Kolmogorov–Smirnov statistic of a sample against the standard normal CDF.
double ks_normal(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double d = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double cdf = 0.5 * std::erfc(-x[i] / std::sqrt(2.0));
    d = std::max({d, cdf - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - cdf});
  }
  return d;
}
}  // namespace

TEST_CASE("fill_normal: moments and Kolmogorov-Smirnov against N(0, 1)", "[random]") {
  const std::int64_t n = 200000;
  Matrix<double> z(1, n);
  fill_normal<double>(z.view(), RandomStream(42));
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (double v : z.flat()) {
    m1 += v;
    m2 += v * v;
    m3 += v * v * v;
    m4 += v * v * v * v;
  }
  m1 /= n, m2 /= n, m3 /= n, m4 /= n;
  // Standard errors: mean 1/√n, variance √(2/n), skew √(15/n), kurtosis √(96/n); allow 5σ.
  const double s = std::sqrt(static_cast<double>(n));
  REQUIRE(std::abs(m1) < 5 / s);
  REQUIRE(std::abs(m2 - 1) < 5 * std::sqrt(2.0) / s);
  REQUIRE(std::abs(m3) < 5 * std::sqrt(15.0) / s);
  REQUIRE(std::abs(m4 - 3) < 5 * std::sqrt(96.0) / s);
  // KS: the 0.1% critical value is 1.95/√n.
  std::vector<double> sample(z.flat().begin(), z.flat().end());
  REQUIRE(ks_normal(sample) < 1.95 / s);
  // A biased generator must fail the same test: shift by 0.02 σ.
  for (double& v : sample) v += 0.02;
  REQUIRE(ks_normal(sample) > 1.95 / s);
}

TEST_CASE("fill_normal is Box-Muller on the Philox words of bits()", "[random]") {
  // Counter c gives normals 2c and 2c + 1 from u1 = 1 − top52(word 0,1)·2⁻⁵², u2 = top52(word 2,3)·2⁻⁵².
  // This pins the vectorized Philox path to the Random123 reference; the vector
  // log/sin/cos may differ from std's in the last bits only.
  const RandomStream s(2024, 3);
  Matrix<double> z(1, 64);
  fill_normal<double>(z.view(), s, 6);
  for (std::uint64_t i = 6; i < 70; i += 2) {
    const auto w = s.bits(i / 2);
    const auto top52 = [](std::uint32_t lo, std::uint32_t hi) {
      return static_cast<double>((static_cast<std::uint64_t>(hi) << 32 | lo) >> 12) * 0x1p-52;
    };
    const double u1 = 1.0 - top52(w[0], w[1]), u2 = top52(w[2], w[3]);
    const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
    REQUIRE(std::abs(z(0, static_cast<std::int64_t>(i - 6)) - r * std::cos(a)) < 64 * eps<double> * (1 + r));
    REQUIRE(std::abs(z(0, static_cast<std::int64_t>(i - 5)) - r * std::sin(a)) < 64 * eps<double> * (1 + r));
  }
}

TEST_CASE("fill_uniform and fill_rademacher have the right distribution", "[random]") {
  Matrix<float> u(500, 400);
  fill_uniform<float>(u.view(), RandomStream(7));
  double mean = 0, lo = 1, hi = 0;
  for (float v : u.flat()) {
    REQUIRE(v >= 0.0f);
    REQUIRE(v < 1.0f);
    mean += v;
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
  }
  mean /= static_cast<double>(u.size());
  REQUIRE(std::abs(mean - 0.5) < 5 * std::sqrt(1.0 / 12 / static_cast<double>(u.size())));
  REQUIRE(lo < 1e-4);
  REQUIRE(hi > 1 - 1e-4);

  Matrix<double> r(300, 333);
  fill_rademacher<double>(r.view(), RandomStream(8));
  double sum = 0;
  for (double v : r.flat()) {
    REQUIRE((v == 1.0 || v == -1.0));
    sum += v;
  }
  REQUIRE(std::abs(sum) < 5 * std::sqrt(static_cast<double>(r.size())));
}

TEST_CASE("Filling is a pure function of (seed, stream, index)", "[random]") {
  const RandomStream s(123, 4);
  Matrix<double> whole(37, 53);
  fill_normal<double>(whole.view(), s);
  // Element (r, c) is normal(r·cols + c).
  REQUIRE(whole(5, 7) == s.normal(5 * 53 + 7));
  REQUIRE(whole(36, 52) == s.normal(36 * 53 + 52));
  // Rows [10, 20) generated alone, with first = 10·cols, equal the same rows.
  Matrix<double> part(10, 53);
  fill_normal<double>(part.view(), s, 10 * 53);
  REQUIRE(max_abs_diff<double>(part.view(), whole.block(10, 0, 10, 53)) == 0);
  // The batched generator agrees with the scalar Random123 path (uniform(i) uses bits()).
  Matrix<double> u(3, 41);
  fill_uniform<double>(u.view(), s, 5);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 41; ++j) REQUIRE(u(i, j) == s.uniform(5 + static_cast<std::uint64_t>(i * 41 + j)));
  // Float is the double rounded.
  Matrix<float> f(37, 53);
  fill_normal<float>(f.view(), s);
  REQUIRE(f(11, 12) == static_cast<float>(whole(11, 12)));
  // Different streams and seeds differ.
  Matrix<double> other(37, 53);
  fill_normal<double>(other.view(), s.with_stream(5));
  REQUIRE(max_abs_diff<double>(other.view(), whole.view()) > 1);
}

TEST_CASE("Random fills are bit-identical on 1, 2 and 4 threads", "[random][threads]") {
  const RandomStream s(99, 1);
  std::vector<Matrix<float>> normals, uniforms, signs;
  for (int threads : {1, 2, 4}) {
    with_threads(threads, [&] {
      Matrix<float> a(257, 1031), b(3, 70001), c(129, 515);
      fill_normal<float>(a.view(), s);
      fill_uniform<float>(b.view(), s);
      fill_rademacher<float>(c.view(), s, 77);
      normals.push_back(std::move(a));
      uniforms.push_back(std::move(b));
      signs.push_back(std::move(c));
    });
  }
  for (int t = 1; t < 3; ++t) {
    REQUIRE(std::equal(normals[0].flat().begin(), normals[0].flat().end(), normals[t].flat().begin()));
    REQUIRE(std::equal(uniforms[0].flat().begin(), uniforms[0].flat().end(), uniforms[t].flat().begin()));
    REQUIRE(std::equal(signs[0].flat().begin(), signs[0].flat().end(), signs[t].flat().begin()));
  }
}

TEST_CASE("sample_without_replacement and permutation", "[random]") {
  const RandomStream s(5);
  for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{1000, 10}, {1000, 900}, {7, 7}, {5, 0}}) {
    auto idx = sample_without_replacement(n, k, s);
    REQUIRE(static_cast<std::int64_t>(idx.size()) == k);
    REQUIRE(std::is_sorted(idx.begin(), idx.end()));
    REQUIRE(std::set<std::int64_t>(idx.begin(), idx.end()).size() == idx.size());
    for (auto i : idx) REQUIRE((i >= 0 && i < n));
  }
  REQUIRE(sample_without_replacement(100, 10, s) == sample_without_replacement(100, 10, s));
  REQUIRE_THROWS_WITH(sample_without_replacement(5, 6, s), Catch::Contains("cannot draw 6 distinct indices from 5"));
  // Uniformity: each index of [0, 10) drawn ~ k/n of the time over many streams.
  std::vector<int> counts(10);
  for (std::uint64_t t = 0; t < 2000; ++t)
    for (auto i : sample_without_replacement(10, 3, RandomStream(t))) ++counts[static_cast<std::size_t>(i)];
  for (int c : counts) REQUIRE(std::abs(c - 600) < 5 * std::sqrt(600 * 0.7));
  auto p = permutation(50, s);
  std::sort(p.begin(), p.end());
  for (int i = 0; i < 50; ++i) REQUIRE(p[static_cast<std::size_t>(i)] == i);
}
