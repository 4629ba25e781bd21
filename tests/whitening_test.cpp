#include "test_support.hpp"

#include <lowdim/io.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/whitening.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

using namespace lowdim;
using namespace lowdim::test;

namespace {

constexpr WhiteningKind kAllKinds[] = {WhiteningKind::pca, WhiteningKind::zca, WhiteningKind::cholesky,
                                       WhiteningKind::zca_cor, WhiteningKind::pca_cor};

// n × d correlated data: Z·A + offset, A with singular values spread over [1, spread]
// (so the covariance has condition number ≈ spread²), columns scaled differently.
template <class T>
Matrix<T> correlated(std::int64_t n, std::int64_t d, std::uint64_t seed, double offset = 0, double spread = 4) {
  std::vector<double> s(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < d; ++i) s[static_cast<std::size_t>(i)] = 1 + (spread - 1) * double(i) / double(d - 1);
  auto a = with_spectrum<double>(d, d, s, seed);
  auto z = gaussian<double>(n, d, seed + 7);
  Matrix<double> x(n, d);
  linalg::matmul<double>(z.view(), a.view(), x.view());
  auto out = Matrix<T>::uninitialized(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) out(i, j) = static_cast<T>(x(i, j) * (1 + 0.5 * double(j % 3)) + offset);
  return out;
}

// Two-pass reference covariance (ddof 1) in long double on the exact stored values.
template <class T>
Matrix<double> reference_covariance(ConstMatrixView<T> x, std::vector<double>* mean_out = nullptr) {
  const std::int64_t n = x.rows(), d = x.cols();
  std::vector<long double> mean(static_cast<std::size_t>(d), 0.0L);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) mean[static_cast<std::size_t>(j)] += x(i, j);
  for (auto& m : mean) m /= n;
  Matrix<double> c(d, d);
  for (std::int64_t a = 0; a < d; ++a)
    for (std::int64_t b = 0; b <= a; ++b) {
      long double s = 0;
      for (std::int64_t i = 0; i < n; ++i)
        s += (x(i, a) - mean[static_cast<std::size_t>(a)]) * (x(i, b) - mean[static_cast<std::size_t>(b)]);
      c(a, b) = c(b, a) = static_cast<double>(s / (n - 1));
    }
  if (mean_out) mean_out->assign(mean.begin(), mean.end());
  return c;
}

double max_abs(ConstMatrixView<double> m) {
  double r = 0;
  for (std::int64_t i = 0; i < m.rows(); ++i)
    for (std::int64_t j = 0; j < m.cols(); ++j) r = std::max(r, std::abs(m(i, j)));
  return r;
}

// Σ⁻¹ by Cholesky and two triangular solves (independent of the whitening code).
Matrix<double> inverse_spd(ConstMatrixView<double> a) {
  const std::int64_t d = a.rows();
  auto l = Matrix<double>::copy_of(a);
  linalg::cholesky<double>(l.view());
  Matrix<double> x(d, d);
  for (std::int64_t i = 0; i < d; ++i) x(i, i) = 1;
  linalg::trsm<double>(Side::left, Triangle::lower, Op::none, 1.0, l.cview(), x.view());
  linalg::trsm<double>(Side::left, Triangle::lower, Op::transpose, 1.0, l.cview(), x.view());
  return x;
}

template <class T>
bool bit_identical(ConstMatrixView<T> a, ConstMatrixView<T> b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (std::int64_t i = 0; i < a.rows(); ++i)
    if (std::memcmp(a.row(i), b.row(i), sizeof(T) * static_cast<std::size_t>(a.cols())) != 0) return false;
  return true;
}
bool bit_identical(ConstMatrixView<double> a, ConstMatrixView<double> b) { return bit_identical<double>(a, b); }
bool bit_identical(ConstMatrixView<float> a, ConstMatrixView<float> b) { return bit_identical<float>(a, b); }

// Covariance (ddof 1) of the rows of y, through Moments in double.
template <class T>
Matrix<double> covariance_of(ConstMatrixView<T> y) {
  Moments m(y.cols());
  m.update<T>(y);
  return m.covariance(1);
}

double identity_error(ConstMatrixView<double> c) {
  double e = 0;
  for (std::int64_t i = 0; i < c.rows(); ++i)
    for (std::int64_t j = 0; j < c.cols(); ++j) e = std::max(e, std::abs(c(i, j) - (i == j ? 1.0 : 0.0)));
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Moments

TEMPLATE_TEST_CASE("moments match a two-pass reference whatever the batching", "[whitening][moments]", float,
                   double) {
  const std::int64_t n = 1000, d = 13;
  auto x = correlated<TestType>(n, d, 11, 3.0);
  std::vector<double> ref_mean;
  auto ref = reference_covariance<TestType>(x.cview(), &ref_mean);
  for (std::int64_t batch : {std::int64_t{1000}, std::int64_t{1}, std::int64_t{7}, std::int64_t{333}}) {
    Moments m(d);
    for (std::int64_t r = 0; r < n; r += batch) m.update<TestType>(x.row_block(r, std::min(batch, n - r)));
    REQUIRE(m.count() == n);
    auto cov = m.covariance();
    // Entries are O(10); double accumulation over 1000 rows: rounding ≲ √n·eps relative.
    CHECK(max_abs_diff<double>(cov.cview(), ref.cview()) <= 64 * eps<double> * max_abs(ref.cview()));
    for (std::int64_t j = 0; j < d; ++j)
      CHECK(std::abs(m.mean()[static_cast<std::size_t>(j)] - ref_mean[static_cast<std::size_t>(j)]) <=
            64 * eps<double> * 10);
  }
}

TEST_CASE("moments of data shifted by 1e6 keep full accuracy (naive XᵀX − nμμᵀ does not)", "[whitening][moments]") {
  const std::int64_t n = 2000, d = 6;
  auto x = correlated<double>(n, d, 5, 1e6);
  auto ref = reference_covariance<double>(x.cview());
  Moments m(d);
  for (std::int64_t r = 0; r < n; r += 300) m.update<double>(x.row_block(r, std::min<std::int64_t>(300, n - r)));
  auto cov = m.covariance();
  const double scale = max_abs(ref.cview());
  // Centring on the batch mean makes the error independent of the offset: ~√n·eps relative.
  CHECK(max_abs_diff<double>(cov.cview(), ref.cview()) <= 64 * eps<double> * scale);
  // The textbook one-pass formula on the same data loses ~ (1e6)²·eps ≈ 1e-4 absolute:
  // this is what the test would catch if the moments used it.
  Matrix<double> gram(d, d);
  linalg::syrk<double>(Op::transpose, 1.0, x.cview(), 0.0, gram.view());
  std::vector<double> mu(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) mu[static_cast<std::size_t>(j)] += x(i, j) / n;
  double naive_err = 0;
  for (std::int64_t a = 0; a < d; ++a)
    for (std::int64_t b = 0; b < d; ++b) {
      const double c = (gram(a, b) - n * mu[static_cast<std::size_t>(a)] * mu[static_cast<std::size_t>(b)]) / (n - 1);
      naive_err = std::max(naive_err, std::abs(c - ref(a, b)));
    }
  CHECK(naive_err > 1e6 * eps<double> * scale);

  // Float data at 1e6 (quantised to 1/16): still exact to double rounding on the stored values.
  auto xf = correlated<float>(n, d, 5, 1e6);
  auto reff = reference_covariance<float>(xf.cview());
  Moments mf(d);
  mf.update<float>(xf.cview());
  CHECK(max_abs_diff<double>(mf.covariance().cview(), reff.cview()) <= 64 * eps<double> * max_abs(reff.cview()));
}

TEST_CASE("merge(a, b) equals the moments of a ∪ b, in any order", "[whitening][moments]") {
  const std::int64_t d = 9;
  auto x = correlated<double>(900, d, 21, -50.0);
  Moments all(d), a(d), b(d), c(d);
  all.update<double>(x.cview());
  a.update<double>(x.row_block(0, 100));
  b.update<double>(x.row_block(100, 500));
  c.update<double>(x.row_block(600, 300));
  auto abc = Moments::merged(Moments::merged(a, b), c);
  auto cba = Moments::merged(c, Moments::merged(b, a));
  const double scale = max_abs(all.scatter());
  REQUIRE(abc.count() == 900);
  CHECK(max_abs_diff<double>(abc.scatter(), all.scatter()) <= 64 * eps<double> * scale);
  CHECK(max_abs_diff<double>(cba.scatter(), all.scatter()) <= 64 * eps<double> * scale);
  for (std::int64_t j = 0; j < d; ++j)
    CHECK(std::abs(abc.mean()[static_cast<std::size_t>(j)] - all.mean()[static_cast<std::size_t>(j)]) <=
          64 * eps<double> * 50);
  // Merging empty moments changes nothing, in either direction.
  Moments empty(d);
  auto same = Moments::merged(empty, all);
  CHECK(bit_identical(same.scatter(), all.scatter()));
  same.merge(empty);
  CHECK(bit_identical(same.scatter(), all.scatter()));
}

TEMPLATE_TEST_CASE("moments: bit-identical across thread counts, in double and in float panels",
                   "[whitening][moments][threads]", float, double) {
  // d = 257: several row tiles of the dense kernel, a partial panel, a partial micro-kernel row
  // block; 1900 rows: several 512-row scatter panels and a partial one.
  const std::int64_t d = 257;
  auto x = correlated<TestType>(3000, d, 3, 1.0);
  const auto run = [&](ScatterPrecision precision) {
    Moments m(d, precision);
    m.update<TestType>(x.row_block(0, 1900));
    m.update<TestType>(x.row_block(1900, 1100));
    return Matrix<double>::copy_of(m.scatter());
  };
  std::vector<Matrix<double>> exact, fast;
  for (int threads : {1, 2, 4})
    with_threads(threads, [&] {
      exact.push_back(run(ScatterPrecision::double_precision));
      fast.push_back(run(ScatterPrecision::block_float));
    });
  for (std::size_t i = 1; i < exact.size(); ++i) {
    CHECK(bit_identical(exact[i].cview(), exact[0].cview()));
    CHECK(bit_identical(fast[i].cview(), fast[0].cview()));
  }
  if constexpr (std::is_same_v<TestType, float>) CHECK(!bit_identical(fast[0].cview(), exact[0].cview()));
}

TEST_CASE("float scatter in float blocks stays within float rounding of the double path", "[whitening][moments]") {
  const std::int64_t d = 40;
  auto x = correlated<float>(6000, d, 9, 100.0);
  Moments exact(d), fast(d, ScatterPrecision::block_float);
  exact.update<float>(x.cview());
  fast.update<float>(x.cview());
  const double scale = max_abs(exact.scatter());
  const double err = max_abs_diff<double>(fast.scatter(), exact.scatter()) / scale;
  // Each 512-row float panel rounds its centred values and sums in float: ~√512·eps_float.
  CHECK(err <= std::sqrt(512.0) * eps<float>);
  CHECK(err > 0);  // it really took the float path
}

TEST_CASE("moments report bad input with the values involved", "[whitening][moments][errors]") {
  Moments m(3);
  Matrix<double> wrong(4, 2);
  REQUIRE_THROWS_AS(m.update<double>(wrong.cview()), dimension_mismatch);
  REQUIRE_THROWS_WITH(m.update<double>(wrong.cview()),
                      Catch::Contains("moments: the batch has 2 columns, the moments are of dimension 3"));
  Matrix<float> nan(5, 3);
  nan(3, 1) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(m.update<float>(nan.cview()), Catch::Contains("row 3, column 1"));
  CHECK(m.count() == 0);  // unchanged after the failed update
  REQUIRE_THROWS_WITH(Moments(0), Catch::Contains("moments: the dimension must be positive, not 0"));
  Moments other(4);
  REQUIRE_THROWS_WITH(m.merge(other),
                      Catch::Contains("moments: cannot merge moments of dimension 4 into moments of dimension 3"));
  REQUIRE_THROWS_WITH(m.covariance(), Catch::Contains("moments: 0 samples are too few for a covariance with ddof = 1"));
}

// ---------------------------------------------------------------------------------------------
// Whitening

TEMPLATE_TEST_CASE("every whitening kind makes the covariance the identity", "[whitening]", float, double) {
  const std::int64_t n = 3000, d = 12;
  // Offset 1e3 and condition number 16² of the covariance.
  auto x = correlated<TestType>(n, d, 17, 1e3);
  for (auto kind : kAllKinds) {
    DYNAMIC_SECTION(to_string(kind)) {
      Whitening w = Whitening::fit<TestType>(x.cview(), {.kind = kind});
      REQUIRE(w.output_dim() == d);
      auto y = w.transform<TestType>(x.cview());
      auto c = covariance_of<TestType>(y.cview());
      // The projection runs in T on centred data: error ≈ κ(W)·d·eps_T, κ(W) = 4 here.
      CHECK(identity_error(c.cview()) <= 4.0 * double(d) * 16 * eps<TestType>);
    }
  }
}

TEST_CASE("whitening and its output are bit-identical on 1, 2 and 4 threads", "[whitening][threads]") {
  // d = 300: large enough for OpenBLAS to thread the eigensolver's reductions.
  const std::int64_t d = 300;
  auto x = correlated<float>(2000, d, 12, 5.0);
  std::vector<Matrix<double>> w;
  std::vector<Matrix<float>> y;
  for (int threads : {1, 2, 4})
    with_threads(threads, [&] {
      for (auto kind : {WhiteningKind::zca, WhiteningKind::pca}) {
        auto fitted = Whitening::fit<float>(x.cview(), {.kind = kind, .components = kind == WhiteningKind::pca ? 100 : 0});
        w.push_back(Matrix<double>::copy_of(fitted.matrix()));
        y.push_back(fitted.transform<float>(x.cview()));
      }
    });
  for (std::size_t i = 2; i < w.size(); ++i) {
    CHECK(bit_identical(w[i].cview(), w[i % 2].cview()));
    CHECK(bit_identical(y[i].cview(), y[i % 2].cview()));
  }
}

TEST_CASE("W·Wᵀ = Σ⁻¹ for every full-rank kind, ZCA is symmetric, Cholesky lower triangular", "[whitening]") {
  const std::int64_t d = 10;
  auto x = correlated<double>(800, d, 23, -7.0, 3.0);
  auto sigma = reference_covariance<double>(x.cview());
  auto inv = inverse_spd(sigma.cview());
  for (auto kind : kAllKinds) {
    DYNAMIC_SECTION(to_string(kind)) {
      auto w = Whitening::fit<double>(x.cview(), {.kind = kind});
      Matrix<double> wwt(d, d);
      linalg::syrk<double>(Op::none, 1.0, w.matrix(), 0.0, wwt.view());
      // κ(Σ) ≈ 9·(1.5·3)²: the inverse's rounding is a few hundred eps relative.
      CHECK(max_abs_diff<double>(wwt.cview(), inv.cview()) <= 1e3 * eps<double> * max_abs(inv.cview()));
      // M = W⁻¹ for the full-rank kinds.
      Matrix<double> wm(d, d);
      linalg::matmul<double>(w.matrix(), w.inverse_matrix(), wm.view());
      CHECK(identity_error(wm.cview()) <= 1e3 * eps<double>);
    }
  }
  auto zca = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::zca});
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) REQUIRE(zca.matrix()(i, j) == zca.matrix()(j, i));
  auto chol = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::cholesky});
  for (std::int64_t i = 0; i < d; ++i) {
    CHECK(chol.matrix()(i, i) > 0);
    for (std::int64_t j = i + 1; j < d; ++j) REQUIRE(chol.matrix()(i, j) == 0.0);
  }
}

TEST_CASE("whitening agrees with exact double references built another way", "[whitening]") {
  const std::int64_t n = 500, d = 8;
  auto x = correlated<double>(n, d, 31, 2.5, 3.0);
  std::vector<double> mu;
  auto sigma = reference_covariance<double>(x.cview(), &mu);
  const double tol = 1e3 * eps<double>;

  SECTION("pca: right singular vectors of the centred data, scaled by √(n−1)/s") {
    auto xc = Matrix<double>::copy_of(x.cview());
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) xc(i, j) -= mu[static_cast<std::size_t>(j)];
    Matrix<double> u(n, d), vt(d, d);
    std::vector<double> s(static_cast<std::size_t>(d));
    linalg::svd<double>(xc.view(), u.view(), s, vt.view());
    auto w = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::pca, .components = 5});
    REQUIRE(w.output_dim() == 5);
    for (std::int64_t c = 0; c < 5; ++c) {
      // Sign convention: the entry of largest magnitude of each eigenvector is positive.
      std::int64_t arg = 0;
      for (std::int64_t j = 1; j < d; ++j)
        if (std::abs(vt(c, j)) > std::abs(vt(c, arg))) arg = j;
      const double sign = vt(c, arg) > 0 ? 1.0 : -1.0;
      const double f = std::sqrt(double(n - 1)) / s[static_cast<std::size_t>(c)];
      for (std::int64_t j = 0; j < d; ++j) CHECK(std::abs(w.matrix()(j, c) - sign * vt(c, j) * f) <= tol * f);
    }
  }
  SECTION("cholesky: the Cholesky factor of an explicitly inverted Σ") {
    auto l = inverse_spd(sigma.cview());
    linalg::cholesky<double>(l.view());
    auto w = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::cholesky});
    CHECK(max_abs_diff<double>(w.matrix(), l.cview()) <= tol * max_abs(l.cview()));
  }
  SECTION("zca-cor: V^{-1/2}·P^{-1/2} with P^{-1/2} from an SVD of P") {
    Matrix<double> p(d, d);
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) p(i, j) = sigma(i, j) / std::sqrt(sigma(i, i) * sigma(j, j));
    Matrix<double> u(d, d), vt(d, d);
    std::vector<double> s(static_cast<std::size_t>(d));
    linalg::svd<double>(p.view(), u.view(), s, vt.view());
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t c = 0; c < d; ++c) u(i, c) /= std::sqrt(s[static_cast<std::size_t>(c)]);
    Matrix<double> ref(d, d);
    linalg::matmul<double>(u.cview(), vt.cview(), ref.view());  // P^{-1/2} = U·S^{-1/2}·Vᵀ
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) ref(i, j) /= std::sqrt(sigma(i, i));
    auto w = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::zca_cor});
    CHECK(max_abs_diff<double>(w.matrix(), ref.cview()) <= tol * max_abs(ref.cview()));
  }
}

TEMPLATE_TEST_CASE("inverse_transform undoes transform", "[whitening]", float, double) {
  const std::int64_t d = 9;
  auto x = correlated<TestType>(400, d, 41, 20.0);
  for (auto kind : kAllKinds) {
    DYNAMIC_SECTION(to_string(kind)) {
      Whitening w = Whitening::fit<TestType>(x.cview(), {.kind = kind});
      auto y = w.transform<TestType>(x.cview());
      Matrix<TestType> back(400, d);  // caller-provided output buffer
      w.inverse_transform<TestType>(y.cview(), back.view());
      // Values ~20 + O(5); two products in T with κ(W) ≈ 4.
      CHECK(max_abs_diff<TestType>(back.cview(), x.cview()) <= 30.0 * 64 * eps<TestType>);
    }
  }
}

TEST_CASE("whitening fitted from merged moments equals whitening fitted on the union", "[whitening]") {
  const std::int64_t d = 7;
  auto x = correlated<double>(600, d, 43, 1e4);
  Moments a(d), b(d);
  a.update<double>(x.row_block(0, 250));
  b.update<double>(x.row_block(250, 350));
  for (auto kind : kAllKinds) {
    auto from_parts = Whitening::fit(Moments::merged(a, b), {.kind = kind});
    auto from_all = Whitening::fit<double>(x.cview(), {.kind = kind});
    CHECK(max_abs_diff<double>(from_parts.matrix(), from_all.matrix()) <=
          1e3 * eps<double> * max_abs(from_all.matrix()));
  }
}

TEST_CASE("pca kinds keep k dimensions; normalize gives unit rows", "[whitening]") {
  const std::int64_t d = 10;
  auto x = correlated<double>(700, d, 47, 0.0, 5.0);
  for (auto kind : {WhiteningKind::pca, WhiteningKind::pca_cor}) {
    auto w = Whitening::fit<double>(x.cview(), {.kind = kind, .components = 4});
    REQUIRE(w.output_dim() == 4);
    auto y = w.transform<double>(x.cview());
    CHECK(identity_error(covariance_of<double>(y.cview()).cview()) <= 1e3 * eps<double>);
    // inverse maps back to the projection onto the kept subspace: transforming again is the identity.
    auto back = w.inverse_transform<double>(y.cview());
    auto again = w.transform<double>(back.cview());
    CHECK(max_abs_diff<double>(again.cview(), y.cview()) <= 1e3 * eps<double>);
  }
  auto wn = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::pca, .components = 3, .normalize = true});
  auto y = wn.transform<double>(x.cview());
  for (std::int64_t i = 0; i < y.rows(); ++i) {
    double s = 0;
    for (std::int64_t j = 0; j < 3; ++j) s += y(i, j) * y(i, j);
    REQUIRE(std::abs(s - 1) <= 8 * eps<double>);
  }
  REQUIRE_THROWS_WITH(wn.inverse_transform<double>(y.cview()),
                      Catch::Contains("inverse_transform is undefined for a model that L2-normalises its output"));
}

TEST_CASE("a zero-variance direction is an error naming the eigenvalue, or regularised if asked",
          "[whitening][errors]") {
  const std::int64_t n = 200, d = 5;
  auto x = correlated<double>(n, d, 53);
  for (std::int64_t i = 0; i < n; ++i) x(i, 4) = x(i, 0) - 2 * x(i, 1);  // rank 4
  for (auto kind : {WhiteningKind::pca, WhiteningKind::zca, WhiteningKind::cholesky}) {
    REQUIRE_THROWS_AS(Whitening::fit<double>(x.cview(), {.kind = kind}), numerical_error);
    REQUIRE_THROWS_WITH(Whitening::fit<double>(x.cview(), {.kind = kind}),
                        Catch::Contains("eigenvalue 5 of 5 of the covariance") &&
                            Catch::Contains("numerically zero"));
    // ε = 1e-3 regularises: everything finite, the kept directions whitened.
    auto w = Whitening::fit<double>(x.cview(), {.kind = kind, .epsilon = 1e-3});
    CHECK(!find_non_finite<double>(w.matrix()).has_value());
    CHECK(w.eigenvalues().back() >= 1e-3 * (1 - 1e-9));
  }
  // A relative rank cut-off: pca drops the direction, zca becomes the pseudo-inverse square root.
  auto p = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::pca, .rank_tolerance = 1e-10});
  CHECK(p.output_dim() == 4);
  CHECK(identity_error(covariance_of<double>(p.transform<double>(x.cview()).cview()).cview()) <= 1e3 * eps<double>);
  auto z = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::zca, .rank_tolerance = 1e-10});
  CHECK(z.output_dim() == d);
  CHECK(!find_non_finite<double>(z.matrix()).has_value());
  // Keeping only the 4 non-zero directions needs no regularisation at all.
  CHECK(Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::pca, .components = 4}).output_dim() == 4);

  // A constant column has zero variance: the -cor kinds name it.
  auto y = correlated<double>(n, d, 59);
  for (std::int64_t i = 0; i < n; ++i) y(i, 2) = 3.0;
  REQUIRE_THROWS_WITH(Whitening::fit<double>(y.cview(), {.kind = WhiteningKind::zca_cor}),
                      Catch::Contains("whitening (zca-cor): variable 2 has zero variance"));
  auto reg = Whitening::fit<double>(y.cview(), {.kind = WhiteningKind::pca_cor, .epsilon = 1e-6});
  CHECK(!find_non_finite<double>(reg.matrix()).has_value());
}

TEST_CASE("whitening reports bad arguments with their values", "[whitening][errors]") {
  auto x = correlated<double>(50, 4, 61);
  REQUIRE_THROWS_WITH(Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::pca, .components = 5}),
                      Catch::Contains("whitening: k = 5 exceeds the dimension d = 4"));
  REQUIRE_THROWS_WITH(Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::zca, .components = 2}),
                      Catch::Contains("zca whitening keeps all d = 4 dimensions; k = 2 is only allowed"));
  REQUIRE_THROWS_WITH(Whitening::fit<double>(x.row_block(0, 1), {.kind = WhiteningKind::pca}),
                      Catch::Contains("whitening: 1 samples are too few to estimate a covariance (need at least 2)"));
  REQUIRE_THROWS_WITH(Whitening::fit<double>(x.cview(), {.epsilon = -1}),
                      Catch::Contains("epsilon must be finite and non-negative, not -1"));
  REQUIRE_THROWS_WITH(Whitening::fit<double>(x.cview(), {.rank_tolerance = 1.5}),
                      Catch::Contains("rank_tolerance must be in [0, 1), not 1.5"));
  REQUIRE_THROWS_WITH(
      Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::cholesky, .rank_tolerance = 1e-8}),
      Catch::Contains("cholesky whitening needs a full-rank covariance"));
  REQUIRE_THROWS_WITH(parse_whitening_kind("zka"),
                      Catch::Contains("unknown kind 'zka' (valid: pca, zca, cholesky, zca-cor, pca-cor)"));
  CHECK(parse_whitening_kind("pca-cor") == WhiteningKind::pca_cor);

  auto w = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::pca, .components = 3});
  Matrix<double> wrong(10, 3), out(10, 3);
  REQUIRE_THROWS_AS(w.transform<double>(wrong.cview(), out.view()), dimension_mismatch);
  REQUIRE_THROWS_WITH(w.transform<double>(wrong.cview(), out.view()),
                      Catch::Contains("whitening: transform takes n x 4 to n x 3; got input 10 x 3, output 10 x 3"));
  Matrix<double> bad(10, 4), out3(10, 3);
  bad(7, 2) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(w.transform<double>(bad.cview(), out3.view()),
                      Catch::Contains("whitening: transform: non-finite value inf at row 7, column 2"));
  // The check runs on the output (cheaper when k < d); a finite input that overflows is
  // reported as such, not blamed on the input.
  Matrix<double> huge(2, 4);
  huge(1, 3) = 1e308;
  auto small = x.clone();  // variances ~1e-6, so W's entries are ~1e3
  for (auto& v : small.flat()) v *= 1e-3;
  auto tight = Whitening::fit<double>(small.cview(), {.kind = WhiteningKind::zca});
  Matrix<double> out4(2, 4);
  REQUIRE_THROWS_WITH(tight.transform<double>(huge.cview(), out4.view()),
                      Catch::Contains("whitening: transform: the output overflows (row 1, column") &&
                          Catch::Contains("although the input is finite"));
  // Column sums that overflow double: every value finite, the moments impossible.
  Matrix<double> big(3, 2);
  big(0, 1) = big(1, 1) = big(2, 1) = -1.5e308;
  big(1, 1) = 1.5e308;
  Moments m(2);
  REQUIRE_THROWS_WITH(m.update<double>(big.cview()),
                      Catch::Contains("moments: update: a column sum overflows double although every value is finite"));
  CHECK(m.count() == 0);
  Whitening unfitted;
  REQUIRE_THROWS_WITH(unfitted.transform<double>(x.cview()), Catch::Contains("whitening: transform before fit"));
}

TEST_CASE("bert_whitening is Su et al.'s recipe: SVD of cov, W = U·S^{-1/2}, first k columns", "[whitening][bert]") {
  const std::int64_t n = 600, d = 16, k = 6;
  auto x = correlated<float>(n, d, 67, 0.3, 6.0);
  // The recipe in double: μ, Σ = cov(X), U S Vᵀ = svd(Σ), W = U·diag(1/√S), y = (x − μ)·W[:, :k].
  std::vector<double> mu;
  auto sigma = reference_covariance<float>(x.cview(), &mu);
  Matrix<double> u(d, d), vt(d, d);
  std::vector<double> s(static_cast<std::size_t>(d));
  linalg::svd<double>(sigma.view(), u.view(), s, vt.view());
  for (bool normalize : {false, true}) {
    auto model = fit_bert_whitening<float>(x.cview(), {.components = k, .normalize = normalize});
    REQUIRE(model.kind() == WhiteningKind::pca);
    auto y = model.transform<float>(x.cview());
    REQUIRE(y.cols() == k);
    double worst = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      std::vector<double> ref(static_cast<std::size_t>(k), 0.0);
      double norm = 0;
      for (std::int64_t c = 0; c < k; ++c) {
        // Align the SVD's arbitrary sign to the library's convention (largest |entry| positive).
        std::int64_t arg = 0;
        for (std::int64_t j = 1; j < d; ++j)
          if (std::abs(u(j, c)) > std::abs(u(arg, c))) arg = j;
        const double sign = u(arg, c) > 0 ? 1 : -1;
        for (std::int64_t j = 0; j < d; ++j)
          ref[static_cast<std::size_t>(c)] +=
              (x(i, j) - mu[static_cast<std::size_t>(j)]) * sign * u(j, c) / std::sqrt(s[static_cast<std::size_t>(c)]);
        norm += ref[static_cast<std::size_t>(c)] * ref[static_cast<std::size_t>(c)];
      }
      for (std::int64_t c = 0; c < k; ++c) {
        const double r = normalize ? ref[static_cast<std::size_t>(c)] / std::sqrt(norm) : ref[static_cast<std::size_t>(c)];
        worst = std::max(worst, std::abs(double(y(i, c)) - r));
      }
    }
    // Float projection of O(1) outputs over d = 16 terms, κ(W) ≈ 6.
    CHECK(worst <= 6.0 * 16 * 8 * eps<float>);
  }
  REQUIRE_THROWS_WITH(fit_bert_whitening<float>(x.cview(), {.components = 17}),
                      Catch::Contains("bert_whitening: k = 17 must be in [1, d = 16]"));
}

// ---------------------------------------------------------------------------------------------
// PCA

TEMPLATE_TEST_CASE("pca matches the SVD of the centred data", "[whitening][pca]", float, double) {
  const std::int64_t n = 400, d = 10, k = 4;
  std::vector<double> spectrum = {50, 30, 20, 10, 5, 4, 3, 2, 1, 0.5};
  auto x = with_spectrum<TestType>(n, d, spectrum, 71);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) x(i, j) += TestType(100);
  auto p = Pca::fit<TestType>(x.cview(), {.components = k});
  REQUIRE(p.components_count() == k);
  REQUIRE(p.dim() == d);
  // Reference: SVD of the centred data in double.
  std::vector<double> mu;
  reference_covariance<TestType>(x.cview(), &mu);
  Matrix<double> xc(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) xc(i, j) = double(x(i, j)) - mu[static_cast<std::size_t>(j)];
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) total += xc(i, j) * xc(i, j);
  Matrix<double> u(n, d), vt(d, d);
  std::vector<double> s(static_cast<std::size_t>(d));
  linalg::svd<double>(xc.view(), u.view(), s, vt.view());
  auto sv = p.singular_values();
  auto ratio = p.explained_variance_ratio();
  const double tol = 1e3 * eps<double>;
  for (std::int64_t c = 0; c < k; ++c) {
    const auto cs = static_cast<std::size_t>(c);
    CHECK(std::abs(sv[cs] - s[cs]) <= tol * s[0]);
    CHECK(std::abs(p.explained_variance()[cs] - s[cs] * s[cs] / (n - 1)) <= tol * s[0] * s[0] / (n - 1));
    CHECK(std::abs(ratio[cs] - s[cs] * s[cs] / total) <= tol);
    std::int64_t arg = 0;
    for (std::int64_t j = 1; j < d; ++j)
      if (std::abs(p.components()(c, j)) > std::abs(p.components()(c, arg))) arg = j;
    CHECK(p.components()(c, arg) > 0);  // the documented sign convention
    const double sign = vt(c, arg) > 0 ? 1 : -1;
    for (std::int64_t j = 0; j < d; ++j) CHECK(std::abs(p.components()(c, j) - sign * vt(c, j)) <= tol * 10);
  }
  // transform = centred data · componentsᵀ; inverse_transform = the rank-k reconstruction.
  auto y = p.template transform<TestType>(x.cview());
  auto back = p.template inverse_transform<TestType>(y.cview());
  double err = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      double rec = mu[static_cast<std::size_t>(j)];
      for (std::int64_t c = 0; c < k; ++c)
        rec += u(i, c) * s[static_cast<std::size_t>(c)] * vt(c, j);
      err = std::max(err, std::abs(double(back(i, j)) - rec));
    }
  // Values ~100: the reconstruction rounds at ~100·eps_T, the products in T add a few ulps.
  CHECK(err <= 100.0 * 64 * eps<TestType>);
  // Full PCA: the ratios add up to one.
  auto full = Pca::fit<TestType>(x.cview());
  double sum = 0;
  for (double r : full.explained_variance_ratio()) sum += r;
  CHECK(std::abs(sum - 1) <= 64 * eps<double>);
}

TEMPLATE_TEST_CASE("randomized pca (single-pass sketch of the implicitly centred X) matches exact pca",
                   "[whitening][pca]", float, double) {
  // A spectrum that decays past k: 100·0.5^i, plus an offset that the sketch must not see.
  const std::int64_t n = 3000, d = 60, k = 5;
  std::vector<double> spectrum(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < d; ++i) spectrum[static_cast<std::size_t>(i)] = 100 * std::pow(0.5, double(i));
  auto x = with_spectrum<TestType>(n, d, spectrum, 101);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) x(i, j) += TestType(1000 + j);
  auto exact = Pca::fit<TestType>(x.cview(), {.components = k});
  auto fast = Pca::fit<TestType>(x.cview(), {.components = k, .solver = PcaSolver::randomized, .seed = 3});
  REQUIRE(fast.components_count() == k);
  // Default sketch k' = 4k + 10 = 30 (core: all 60). Two error sources: the tail the sketch
  // misses, σ_{k'+1}/σ_k = 0.5^26 relative to each variance, and rounding in T of products
  // whose scale is the top variance λ₁ (so a small λ_c gets an error ~ eps·λ₁, not eps·λ_c).
  const double tol = 1e3 * eps<TestType>;
  const double lambda1 = exact.explained_variance()[0];
  for (std::int64_t c = 0; c < k; ++c) {
    const auto cs = static_cast<std::size_t>(c);
    CHECK(std::abs(fast.explained_variance()[cs] - exact.explained_variance()[cs]) <=
          64 * eps<TestType> * lambda1 + 1e3 * std::pow(0.5, 26) * exact.explained_variance()[cs]);
    double dot = 0;
    for (std::int64_t j = 0; j < d; ++j) dot += fast.components()(c, j) * exact.components()(c, j);
    CHECK(dot >= 1 - tol);  // same sign convention, so +1, not ±1
  }
  CHECK(std::abs(fast.total_variance() - exact.total_variance()) <= 1e3 * eps<TestType> * exact.total_variance());
  for (std::int64_t j = 0; j < d; ++j)
    CHECK(std::abs(fast.mean()[static_cast<std::size_t>(j)] - exact.mean()[static_cast<std::size_t>(j)]) <=
          64 * eps<TestType> * 1060);
  // The same on 1, 2 and 4 threads.
  std::vector<Matrix<double>> runs;
  for (int threads : {1, 2, 4})
    with_threads(threads, [&] {
      runs.push_back(Matrix<double>::copy_of(
          Pca::fit<TestType>(x.cview(), {.components = k, .solver = PcaSolver::randomized, .seed = 3}).components()));
    });
  // The sketch and the Rayleigh–Ritz products are bit-identical on any thread count.
  CHECK(bit_identical(runs[0].cview(), runs[1].cview()));
  CHECK(bit_identical(runs[0].cview(), runs[2].cview()));
  REQUIRE_THROWS_WITH(Pca::fit(Moments(3), {.components = 1, .solver = PcaSolver::randomized}),
                      Catch::Contains("pca: the randomized solver sketches the data itself"));
  REQUIRE_THROWS_WITH(Pca::fit<TestType>(x.cview(), {.solver = PcaSolver::randomized}),
                      Catch::Contains("the randomized solver needs the number of components k >= 1, not 0"));
  REQUIRE_THROWS_WITH(
      Pca::fit<TestType>(x.cview(), {.components = 5, .solver = PcaSolver::randomized, .sketch_size = 4}),
      Catch::Contains("pca: sketch_size 4 must be in [k, min(n, d)] = [5, 60]"));
  // A small sketch on the same data: the subspace degrades with the tail it misses (0.5^7 of the
  // top at k' = 7), and Rayleigh–Ritz variances can only fall short of the exact ones.
  auto coarse = Pca::fit<TestType>(x.cview(), {.components = k, .solver = PcaSolver::randomized, .sketch_size = 7});
  CHECK(std::abs(coarse.explained_variance()[0] - exact.explained_variance()[0]) <= 1e-2 * exact.explained_variance()[0]);
  for (std::int64_t c = 0; c < k; ++c)
    CHECK(coarse.explained_variance()[static_cast<std::size_t>(c)] <=
          exact.explained_variance()[static_cast<std::size_t>(c)] * (1 + 1e3 * eps<TestType>));
}

TEST_CASE("pca reports bad arguments", "[whitening][pca][errors]") {
  auto x = correlated<double>(30, 5, 73);
  REQUIRE_THROWS_WITH(Pca::fit<double>(x.cview(), {.components = 6}),
                      Catch::Contains("pca: k = 6 components exceed the dimension d = 5"));
  REQUIRE_THROWS_WITH(Pca::fit<double>(x.row_block(0, 1)), Catch::Contains("pca: 1 samples are too few (need at least 2)"));
  auto p = Pca::fit<double>(x.cview(), {.components = 2});
  Matrix<double> y(3, 3), out(3, 5);
  REQUIRE_THROWS_WITH(p.inverse_transform<double>(y.cview(), out.view()),
                      Catch::Contains("pca: inverse_transform takes n x 2 to n x 5; got input 3 x 3, output 3 x 5"));
}

// ---------------------------------------------------------------------------------------------
// docs/whitening.md's worked example, verbatim, so the guide cannot rot.

TEST_CASE("docs/whitening.md worked example", "[whitening][docs]") {
  // Four points around the mean (10, 20): ±(3, 3) and ±(1, −1).
  Matrix<double> x(4, 2);
  const double rows[4][2] = {{13, 23}, {7, 17}, {11, 19}, {9, 21}};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) x(i, j) = rows[i][j];
  // Σ = [[20/3, 16/3], [16/3, 20/3]]: eigenvalues 12 and 4/3 on (1, 1)/√2 and (1, −1)/√2.
  auto zca = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::zca});
  // W = Σ^{-1/2} = (1/√3)·[[1, −1/2], [−1/2, 1]].
  const double r3 = 1 / std::sqrt(3.0);
  CHECK(zca.matrix()(0, 0) == Approx(r3).epsilon(1e-14));
  CHECK(zca.matrix()(0, 1) == Approx(-r3 / 2).epsilon(1e-14));
  auto y = zca.transform<double>(x.cview());
  CHECK(y(0, 0) == Approx(std::sqrt(3.0) / 2).epsilon(1e-14));  // (3, 3)·W = (√3/2, √3/2)
  CHECK(y(0, 1) == Approx(std::sqrt(3.0) / 2).epsilon(1e-14));

  auto pca = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::pca, .components = 1});
  CHECK(pca.eigenvalues()[0] == Approx(12.0).epsilon(1e-14));
  CHECK(pca.matrix()(0, 0) == Approx(1 / std::sqrt(24.0)).epsilon(1e-14));  // (1, 1)/√2 / √12
  auto y1 = pca.transform<double>(x.cview());
  CHECK(y1(0, 0) == Approx(std::sqrt(1.5)).epsilon(1e-14));  // 6/√24
  CHECK(std::abs(y1(2, 0)) <= 1e-14);                        // (1, −1) is orthogonal to the kept axis

  Moments a(2), b(2);
  a.update<double>(x.row_block(0, 2));
  b.update<double>(x.row_block(2, 2));
  auto same = Whitening::fit(Moments::merged(a, b), {.kind = WhiteningKind::zca});
  CHECK(max_abs_diff<double>(same.matrix(), zca.matrix()) <= 16 * eps<double>);
}

// ---------------------------------------------------------------------------------------------
// Save / load and streaming from files

TEST_CASE("whitening and pca models survive save/load bit for bit", "[whitening][io]") {
  TempDir dir("whitening-save");
  auto x = correlated<float>(300, 6, 83, 5.0);
  for (auto kind : kAllKinds) {
    WhiteningOptions options{.kind = kind, .epsilon = 1e-6, .normalize = kind == WhiteningKind::pca_cor};
    if (kind == WhiteningKind::pca) options.components = 4;
    auto w = Whitening::fit<float>(x.cview(), options);
    const auto path = dir.file(std::string(to_string(kind)) + ".ldm");
    w.save(path);
    auto back = Whitening::load(path);
    CHECK(back.kind() == kind);
    CHECK(back.options().normalize == options.normalize);
    CHECK(back.options().epsilon == options.epsilon);
    CHECK(back.samples() == 300);
    CHECK(bit_identical(back.matrix(), w.matrix()));
    CHECK(bit_identical(back.inverse_matrix(), w.inverse_matrix()));
    auto y0 = w.transform<float>(x.cview());
    auto y1 = back.transform<float>(x.cview());
    CHECK(max_abs_diff<float>(y0.cview(), y1.cview()) == 0);
  }
  auto p = Pca::fit<float>(x.cview(), {.components = 3});
  p.save(dir.file("p.ldm"));
  auto q = Pca::load(dir.file("p.ldm"));
  CHECK(bit_identical(q.components(), p.components()));
  CHECK(q.explained_variance_ratio() == p.explained_variance_ratio());
  CHECK(q.singular_values() == p.singular_values());
}

TEST_CASE("loading a corrupt, foreign or newer model file is a clear io_error", "[whitening][io][errors]") {
  TempDir dir("whitening-corrupt");
  auto x = correlated<double>(100, 4, 89);
  auto w = Whitening::fit<double>(x.cview(), {.kind = WhiteningKind::zca});
  const auto good = dir.file("w.ldm");
  w.save(good);
  // One flipped byte in the middle: the CRC catches it.
  {
    std::fstream f(good, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<std::streamoff>(f.tellg());
    f.seekg(size / 2);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(size / 2);
    f.write(&c, 1);
  }
  REQUIRE_THROWS_AS(Whitening::load(good), io_error);
  REQUIRE_THROWS_WITH(Whitening::load(good), Catch::Contains("w.ldm") && Catch::Contains("CRC-32"));
  // A PCA model is not a whitening model.
  Pca::fit<double>(x.cview()).save(dir.file("p.ldm"));
  REQUIRE_THROWS_WITH(Whitening::load(dir.file("p.ldm")),
                      Catch::Contains("wrong archive kind: the file holds a 'lowdim.pca', expected a 'lowdim.whitening'"));
  REQUIRE_THROWS_WITH(Pca::load(dir.file("missing.ldm")), Catch::Contains("missing.ldm"));
  // Archives that are well formed but whose content is not a valid model.
  const auto write = [&](const std::string& name, std::uint32_t version, const std::string& kind,
                         std::int64_t w_cols) {
    ArchiveWriter a("lowdim.whitening", version);
    a.put("kind", kind);
    a.put("components", std::int64_t{0});
    a.put("epsilon", 0.0);
    a.put("rank_tolerance", 0.0);
    a.put("normalize", std::int64_t{0});
    a.put("ddof", std::int64_t{1});
    a.put("samples", std::int64_t{100});
    Matrix<double> mean(1, 4), ev(1, 4), wm(4, w_cols), m(4, 4);
    a.put<double>("mean", mean.cview());
    a.put<double>("eigenvalues", ev.cview());
    a.put<double>("W", wm.cview());
    a.put<double>("M", m.cview());
    a.save(dir.file(name));
    return dir.file(name);
  };
  REQUIRE_THROWS_WITH(Whitening::load(write("v2.ldm", 2, "zca", 4)),
                      Catch::Contains("format version 2; this build reads up to version 1"));
  REQUIRE_THROWS_WITH(Whitening::load(write("kind.ldm", 1, "zebra", 4)),
                      Catch::Contains("kind.ldm is corrupt: unknown kind 'zebra'"));
  REQUIRE_THROWS_WITH(Whitening::load(write("shape.ldm", 1, "zca", 3)),
                      Catch::Contains("shape.ldm is corrupt: 'M' is 4 x 4, expected 3 x 4"));
  REQUIRE_NOTHROW(Whitening::load(write("fine.ldm", 1, "zca", 4)));

  // A PCA file whose components are not unit rows (scaled by 2 here) is corrupt.
  for (const double scale : {1.0, 2.0}) {
    ArchiveWriter a("lowdim.pca", 1);
    a.put("samples", std::int64_t{10});
    a.put("total_variance", 3.0);
    a.put<double>("mean", Matrix<double>(1, 3).cview());
    a.put<double>("explained_variance", Matrix<double>(1, 2).cview());
    Matrix<double> c(2, 3);
    c(0, 0) = scale;
    c(1, 1) = scale;
    a.put<double>("components", c.cview());
    a.save(dir.file("pca.ldm"));
    if (scale == 1)
      REQUIRE(Pca::load(dir.file("pca.ldm")).components_count() == 2);
    else
      REQUIRE_THROWS_WITH(Pca::load(dir.file("pca.ldm")), Catch::Contains("pca.ldm is corrupt: component 0 has norm 2, not 1"));
  }
}

TEMPLATE_TEST_CASE("moments streamed from a file in blocks equal the in-memory moments", "[whitening][io]", float,
                   double) {
  TempDir dir("whitening-stream");
  const std::int64_t n = 3000, d = 24;
  auto x = correlated<TestType>(n, d, 97, 1e3);
  const auto path = dir.file("x.npy");
  write_npy<TestType>(path, x.cview());
  Moments whole(d);
  whole.update<TestType>(x.cview());
  for (std::int64_t block : {std::int64_t{7}, std::int64_t{333}, std::int64_t{100000}}) {
    auto streamed = Moments::from_file(path, block);
    REQUIRE(streamed.count() == n);
    CHECK(max_abs_diff<double>(streamed.scatter(), whole.scatter()) <= 64 * eps<double> * max_abs(whole.scatter()));
  }
  // The same batches as in memory: bit-identical.
  Moments same(d);
  for (std::int64_t r = 0; r < n; r += 333) same.update<TestType>(x.row_block(r, std::min<std::int64_t>(333, n - r)));
  CHECK(bit_identical(Moments::from_file(path, 333).scatter(), same.scatter()));
  // A NaN deep in the file is reported with its row in the file, not in the block.
  x(2321, 5) = std::numeric_limits<TestType>::quiet_NaN();
  write_npy<TestType>(dir.file("nan.npy"), x.cview());
  REQUIRE_THROWS_WITH(Moments::from_file(dir.file("nan.npy"), 1000), Catch::Contains("row 2321, column 5"));
  REQUIRE_THROWS_WITH(Moments::from_file(path, 0), Catch::Contains("moments: block_rows must be positive, not 0"));
}

TEST_CASE("moments stream IDX (uint8, gzip) through RowReader", "[whitening][io]") {
  const std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(images)) return;  // the dataset package is optional
  auto streamed = Moments::from_file(images, 777);
  auto all = read_matrix<float>(images);
  Moments whole(all.cols());
  whole.update<float>(all.cview());
  REQUIRE(streamed.count() == 10000);
  REQUIRE(streamed.dim() == 784);
  CHECK(max_abs_diff<double>(streamed.scatter(), whole.scatter()) <= 64 * eps<double> * max_abs(whole.scatter()));
}

TEST_CASE("moments about a given shift merge with the bits of update(); state() round-trips exactly",
          "[whitening][moments]") {
  // What lowdim::mpi::moments relies on: blocks' moments about the stream's first row, merged in
  // order, are the moments update() accumulates block after block.
  auto x = test::gaussian<double>(700, 6, 31);
  for (std::int64_t i = 0; i < x.rows(); ++i) x(i, 3) += 1e5;
  Moments sequential(6);
  std::vector<double> shift(x.row(0), x.row(0) + 6);
  Moments merged(6, shift);
  for (std::int64_t r0 = 0; r0 < 700; r0 += 128) {
    const auto block = x.cview().row_block(r0, std::min<std::int64_t>(128, 700 - r0));
    sequential.update<double>(block);
    Moments b(6, shift);
    b.update<double>(block);
    // Through state(): what travels between ranks.
    merged = Moments::from_state(merged.state());
    merged.merge(Moments::from_state(b.state()));
  }
  CHECK(merged.count() == 700);
  CHECK(std::memcmp(merged.mean().data(), sequential.mean().data(), 6 * sizeof(double)) == 0);
  for (std::int64_t i = 0; i < 6; ++i)
    CHECK(std::memcmp(merged.scatter().row(i), sequential.scatter().row(i), 6 * sizeof(double)) == 0);
  // Without the common shift, blocks merged by merge() agree to rounding only.
  Moments other(6);
  for (std::int64_t r0 = 0; r0 < 700; r0 += 128) {
    Moments b(6);
    b.update<double>(x.cview().row_block(r0, std::min<std::int64_t>(128, 700 - r0)));
    other.merge(b);
  }
  CHECK(test::max_abs_diff<double>(other.scatter(), sequential.scatter()) <= 1e-9 * 700);
  CHECK_THROWS_WITH(Moments(6, std::vector<double>(5, 0.0)), Catch::Contains("the shift has 5 values"));
  CHECK_THROWS_WITH(Moments::from_state(std::vector<double>{2, 1, 0, 0, 1}), Catch::Contains("holds 12 values, not 5"));
  CHECK_THROWS_WITH(Moments::from_state(std::vector<double>{-1, 0, 0, 0}), Catch::Contains("not valid"));
}
