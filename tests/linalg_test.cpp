#include "test_support.hpp"

#include <lowdim/linalg.hpp>

#include "detail/omp_exception.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <string>
#include <new>
#include <thread>
#include <vector>

using namespace lowdim;
using namespace lowdim::test;

namespace {
// Reference product in double, C = op(A)·op(B).
template <class T>
Matrix<double> naive(Op oa, Op ob, ConstMatrixView<T> a, ConstMatrixView<T> b) {
  const auto at = [&](std::int64_t i, std::int64_t j) { return oa == Op::none ? a(i, j) : a(j, i); };
  const auto bt = [&](std::int64_t i, std::int64_t j) { return ob == Op::none ? b(i, j) : b(j, i); };
  const std::int64_t m = oa == Op::none ? a.rows() : a.cols(), k = oa == Op::none ? a.cols() : a.rows();
  const std::int64_t n = ob == Op::none ? b.cols() : b.rows();
  Matrix<double> c(m, n);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t l = 0; l < k; ++l) c(i, j) += static_cast<double>(at(i, l)) * static_cast<double>(bt(l, j));
  return c;
}
}  // namespace

TEMPLATE_TEST_CASE("gemm matches a naive product for every op and strided views", "[linalg]", float, double) {
  // Big buffers, used through interior blocks so that stride != cols.
  auto big_a = gaussian<TestType>(40, 50, 1);
  auto big_b = gaussian<TestType>(40, 50, 2);
  for (Op oa : {Op::none, Op::transpose}) {
    for (Op ob : {Op::none, Op::transpose}) {
      auto a = oa == Op::none ? big_a.block(3, 5, 13, 17) : big_a.block(3, 5, 17, 13);
      auto b = ob == Op::none ? big_b.block(1, 2, 17, 11) : big_b.block(1, 2, 11, 17);
      Matrix<TestType> c_buffer(20, 30);
      auto c = c_buffer.block(2, 3, 13, 11);
      c.fill(TestType(1));
      linalg::gemm<TestType>(oa, ob, TestType(2), a, b, TestType(0.5), c);
      auto ref = naive<TestType>(oa, ob, a, b);
      double err = 0;
      for (int i = 0; i < 13; ++i)
        for (int j = 0; j < 11; ++j) err = std::max(err, std::abs(c(i, j) - (2 * ref(i, j) + 0.5)));
      // k = 17 products of O(1) numbers: the error is a few hundred ulps at most.
      REQUIRE(err < 300 * eps<TestType>);
      REQUIRE(c_buffer(0, 0) == 0);  // outside the block: untouched
    }
  }
}

TEST_CASE("gemm with an empty inner dimension scales C by beta", "[linalg]") {
  Matrix<float> a(3, 0), b(0, 2), c(3, 2);
  c.view().fill(2.0f);
  linalg::gemm<float>(Op::none, Op::none, 1.0f, a.view(), b.view(), 3.0f, c.view());
  REQUIRE(c(2, 1) == 6.0f);
}

TEST_CASE("gemm names the shapes that do not fit", "[linalg][errors]") {
  Matrix<double> a(3, 4), b(5, 2), c(3, 2);
  REQUIRE_THROWS_AS(linalg::matmul<double>(a.view(), b.view(), c.view()), dimension_mismatch);
  REQUIRE_THROWS_WITH(linalg::matmul<double>(a.view(), b.view(), c.view()),
                      Catch::Contains("gemm: op(A) is 3 x 4, op(B) is 5 x 2, C is 3 x 2"));
}

TEMPLATE_TEST_CASE("gemv and syrk agree with gemm", "[linalg]", float, double) {
  auto a = gaussian<TestType>(30, 20, 3);
  auto x = gaussian<TestType>(20, 1, 4);
  std::vector<TestType> y(30, TestType(0));
  linalg::gemv<TestType>(Op::none, TestType(1), a.view(), x.flat(), TestType(0), y);
  Matrix<TestType> yy(30, 1);
  linalg::matmul<TestType>(a.view(), x.view(), yy.view());
  for (int i = 0; i < 30; ++i) REQUIRE(std::abs(y[i] - yy(i, 0)) < 100 * eps<TestType>);

  Matrix<TestType> g(20, 20), gg(20, 20);
  linalg::syrk<TestType>(Op::transpose, TestType(1), a.view(), TestType(0), g.view());
  linalg::gemm<TestType>(Op::transpose, Op::none, TestType(1), a.view(), a.view(), TestType(0), gg.view());
  REQUIRE(max_abs_diff<TestType>(g.view(), gg.view()) < 300 * eps<TestType>);
  REQUIRE(g(3, 17) == g(17, 3));  // both triangles written
}

TEMPLATE_TEST_CASE("qr gives orthonormal Q and upper-triangular R with A = QR", "[linalg]", float, double) {
  auto a = gaussian<TestType>(200, 30, 5);
  auto q = a.clone();
  Matrix<TestType> r(30, 30);
  linalg::qr<TestType>(q.view(), r.view());
  REQUIRE(orthogonality_error<TestType>(q.view()) < 50 * eps<TestType> * 30);
  for (int i = 0; i < 30; ++i)
    for (int j = 0; j < i; ++j) REQUIRE(r(i, j) == 0);
  Matrix<TestType> qr(200, 30);
  linalg::matmul<TestType>(q.view(), r.view(), qr.view());
  // Backward stability: ‖A − QR‖ ≲ n·eps·‖A‖, with ‖A‖_max ≈ 4 for this Gaussian.
  REQUIRE(max_abs_diff<TestType>(qr.view(), a.view()) < 100 * 30 * eps<TestType>);
  REQUIRE_THROWS_WITH(linalg::qr<TestType>(Matrix<TestType>(3, 5).view()),
                      Catch::Contains("qr: A is 3 x 5; the thin QR needs rows >= cols"));
}

TEMPLATE_TEST_CASE("lu_normalize returns P·L spanning range(A) with |L| <= 1", "[linalg]", float, double) {
  auto a = gaussian<TestType>(60, 8, 6);
  auto pl = a.clone();
  linalg::lu_normalize<TestType>(pl.view());
  int ones = 0;
  for (int i = 0; i < 60; ++i)
    for (int j = 0; j < 8; ++j) {
      REQUIRE(std::abs(pl(i, j)) <= 1 + 10 * eps<TestType>);
      ones += pl(i, j) == TestType(1);
    }
  REQUIRE(ones >= 8);  // one unit pivot per column
  // Every column of A is in range(P·L): the residual after projecting on Q(P·L) vanishes.
  auto q = pl.clone();
  linalg::qr<TestType>(q.view());
  Matrix<TestType> coef(8, 8), proj(60, 8);
  linalg::gemm<TestType>(Op::transpose, Op::none, 1, q.view(), a.view(), 0, coef.view());
  linalg::matmul<TestType>(q.view(), coef.view(), proj.view());
  REQUIRE(max_abs_diff<TestType>(proj.view(), a.view()) < 1000 * eps<TestType>);
  // Exactly rank-deficient input is accepted (U singular, L still a basis).
  Matrix<TestType> rank_one(10, 3);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 3; ++j) rank_one(i, j) = TestType(i + 1);
  REQUIRE_NOTHROW(linalg::lu_normalize<TestType>(rank_one.view()));
}

TEMPLATE_TEST_CASE("svd recovers a prescribed spectrum, tall and wide", "[linalg]", float, double) {
  for (auto [m, n] : {std::pair<int, int>{50, 20}, std::pair<int, int>{20, 50}}) {
    std::vector<double> s_true(20);
    for (int i = 0; i < 20; ++i) s_true[i] = std::exp(-0.3 * i);
    auto a = with_spectrum<TestType>(m, n, s_true, 7);
    auto work = a.clone();
    Matrix<TestType> u(m, 20), vt(20, n);
    std::vector<TestType> s(20);
    linalg::svd<TestType>(work.view(), u.view(), s, vt.view());
    for (int i = 0; i < 20; ++i) REQUIRE(std::abs(s[i] - s_true[i]) < 50 * eps<TestType>);
    REQUIRE(orthogonality_error<TestType>(u.view()) < 100 * eps<TestType>);
    // U·diag(s)·Vt reconstructs A.
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < 20; ++j) u(i, j) *= s[j];
    Matrix<TestType> back(m, n);
    linalg::matmul<TestType>(u.view(), vt.view(), back.view());
    REQUIRE(max_abs_diff<TestType>(back.view(), a.view()) < 100 * eps<TestType>);
    auto again = a.clone();
    std::vector<TestType> s_only(20);
    linalg::singular_values<TestType>(again.view(), s_only);
    for (int i = 0; i < 20; ++i) REQUIRE(std::abs(s_only[i] - s[i]) < 50 * eps<TestType>);
  }
}

TEMPLATE_TEST_CASE("eigh: ascending eigenvalues, eigenvectors in columns", "[linalg]", float, double) {
  auto x = gaussian<TestType>(40, 12, 8);
  Matrix<TestType> c(12, 12);
  linalg::syrk<TestType>(Op::transpose, TestType(1), x.view(), TestType(0), c.view());
  auto v = c.clone();
  std::vector<TestType> w(12);
  linalg::eigh<TestType>(v.view(), w);
  for (int i = 1; i < 12; ++i) REQUIRE(w[i - 1] <= w[i]);
  // C·v_i = w_i·v_i for each column.
  Matrix<TestType> cv(12, 12);
  linalg::matmul<TestType>(c.view(), v.view(), cv.view());
  double err = 0;
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 12; ++j) err = std::max<double>(err, std::abs(cv(i, j) - w[j] * v(i, j)));
  REQUIRE(err < 1000 * eps<TestType> * w.back());
  REQUIRE(orthogonality_error<TestType>(v.view()) < 100 * eps<TestType>);
}

TEMPLATE_TEST_CASE("cholesky factors an SPD matrix and rejects an indefinite one", "[linalg][errors]", float,
                   double) {
  auto x = gaussian<TestType>(50, 6, 9);
  Matrix<TestType> c(6, 6);
  linalg::syrk<TestType>(Op::transpose, TestType(1), x.view(), TestType(0), c.view());
  auto l = c.clone();
  linalg::cholesky<TestType>(l.view());
  for (int i = 0; i < 6; ++i)
    for (int j = i + 1; j < 6; ++j) REQUIRE(l(i, j) == 0);
  Matrix<TestType> llt(6, 6);
  linalg::gemm<TestType>(Op::none, Op::transpose, 1, l.view(), l.view(), 0, llt.view());
  REQUIRE(max_abs_diff<TestType>(llt.view(), c.view()) < 1000 * eps<TestType>);
  // trsm with L undoes the product: L⁻¹·(L·B) = B.
  auto b = gaussian<TestType>(6, 3, 10);
  Matrix<TestType> lb(6, 3);
  linalg::matmul<TestType>(l.view(), b.view(), lb.view());
  linalg::trsm<TestType>(Side::left, Triangle::lower, Op::none, 1, l.view(), lb.view());
  REQUIRE(max_abs_diff<TestType>(lb.view(), b.view()) < 1000 * eps<TestType>);

  Matrix<TestType> indefinite(2, 2);
  indefinite(0, 0) = 1;
  indefinite(1, 1) = -1;
  REQUIRE_THROWS_AS(linalg::cholesky<TestType>(indefinite.view()), numerical_error);
  REQUIRE_THROWS_WITH(linalg::cholesky<TestType>(indefinite.view()),
                      Catch::Contains("not positive definite") && Catch::Contains("order 2"));
}

TEST_CASE("transpose and norm_fro", "[linalg]") {
  auto a = gaussian<double>(70, 45, 11);
  Matrix<double> t(45, 70);
  linalg::transpose<double>(a.view(), t.view());
  REQUIRE(t(44, 69) == a(69, 44));
  REQUIRE(t(3, 17) == a(17, 3));
  double s = 0;
  for (double v : a.flat()) s += v * v;
  REQUIRE(linalg::norm_fro<double>(a.view()) == Approx(std::sqrt(s)).epsilon(1e-14));
}

// ---- gemm_reproducible and SequentialBlas (added for the randomized SVD family) ----

TEMPLATE_TEST_CASE("gemm_reproducible equals gemm up to rounding and is bit-identical on 1, 2, 4 threads",
                   "[linalg][reproducible]", float, double) {
  using T = TestType;
  // k = 300 sits where OpenBLAS's threaded and serial drivers split the sum differently.
  auto big_a = gaussian<T>(1100, 320, 3);
  auto x = gaussian<T>(300, 40, 4);
  auto y = gaussian<T>(1000, 40, 5);
  for (Op oa : {Op::none, Op::transpose}) {
    auto a = oa == Op::none ? big_a.block(7, 9, 1000, 300) : big_a.block(7, 9, 1000, 300);
    auto b = oa == Op::none ? x.cview() : y.cview();
    const std::int64_t rows = oa == Op::none ? 1000 : 300;
    std::vector<Matrix<T>> out;
    for (int threads : {1, 2, 4}) {
      with_threads(threads, [&] {
        Matrix<T> c(rows, 40);
        c.view().fill(T(1));
        linalg::gemm_reproducible<T>(oa, Op::none, T(2), a, b, T(0.5), c.view());
        out.push_back(std::move(c));
      });
    }
    REQUIRE(max_abs_diff<T>(out[0].view(), out[1].view()) == 0);
    REQUIRE(max_abs_diff<T>(out[0].view(), out[2].view()) == 0);
    Matrix<T> ref(rows, 40);
    ref.view().fill(T(1));
    linalg::gemm<T>(oa, Op::none, T(2), a, b, T(0.5), ref.view());
    // Sums of k ≤ 1000 products of N(0, 1) numbers (|C| ~ 2√k): a different order moves
    // them by a few·k·eps·|C| at most.
    REQUIRE(max_abs_diff<T>(out[0].view(), ref.view()) <= 4 * 1000 * eps<T> * 2 * std::sqrt(1000.0));
  }
  Matrix<T> c(3, 3);
  REQUIRE_THROWS_WITH(linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), x.view(), y.view(), T(0), c.view()),
                      Catch::Contains("gemm: op(A) is 300 x 40, op(B) is 1000 x 40, C is 3 x 3"));
}

TEST_CASE("SequentialBlas holds OpenBLAS single-threaded and restores the count", "[linalg][reproducible]") {
  with_threads(2, [] {
    REQUIRE(linalg::blas_info().find("; 2 threads") != std::string::npos);
    {
      const linalg::SequentialBlas sequential;
      REQUIRE(linalg::blas_info().find("; 1 threads") != std::string::npos);
    }
    REQUIRE(linalg::blas_info().find("; 2 threads") != std::string::npos);
  });
}

TEST_CASE("SequentialBlas scopes alive at once in several threads share the count", "[linalg][reproducible][threads]") {
  // Python threads run lowdim with the GIL released: scopes overlap. Every thread must see
  // OpenBLAS single-threaded for its whole scope, and the count must be restored at the end.
  with_threads(2, [] {
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&wrong] {
        for (int i = 0; i < 300; ++i) {
          const linalg::SequentialBlas sequential;
          if (linalg::blas_info().find("; 1 threads") == std::string::npos) ++wrong;
          std::this_thread::yield();
          if (linalg::blas_info().find("; 1 threads") == std::string::npos) ++wrong;
        }
      });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    REQUIRE(linalg::blas_info().find("; 2 threads") != std::string::npos);
    // set_num_threads inside a scope changes the count restored, not the scope's.
    {
      const linalg::SequentialBlas sequential;
      linalg::set_num_threads(3);
      REQUIRE(linalg::blas_info().find("; 1 threads") != std::string::npos);
    }
    REQUIRE(linalg::blas_info().find("; 3 threads") != std::string::npos);
    linalg::set_num_threads(2);
  });
}

TEMPLATE_TEST_CASE("gemm_reproducible splits a wide C by columns and a long inner dimension by slices",
                   "[linalg][reproducible]", float, double) {
  using T = TestType;
  // (C rows, C cols, inner k): 20 × 3000 (column tiles), 24 × 16 with k = 20 000 (k slices,
  // partial sums added in slice order), and 300 × 40 (row tiles, for comparison).
  struct Shape {
    std::int64_t m, n, k;
  };
  for (const Shape s : {Shape{20, 3000, 50}, Shape{24, 16, 20000}, Shape{300, 40, 2500}}) {
    for (Op oa : {Op::none, Op::transpose}) {
      for (Op ob : {Op::none, Op::transpose}) {
        INFO(s.m << " x " << s.n << " x " << s.k << ", op(A) " << int(oa) << ", op(B) " << int(ob));
        auto a = oa == Op::none ? gaussian<T>(s.m, s.k, 11) : gaussian<T>(s.k, s.m, 11);
        auto b = ob == Op::none ? gaussian<T>(s.k, s.n, 12) : gaussian<T>(s.n, s.k, 12);
        std::vector<Matrix<T>> out;
        for (int threads : {1, 2, 4}) {
          with_threads(threads, [&] {
            Matrix<T> c(s.m, s.n);
            c.view().fill(T(1));
            linalg::gemm_reproducible<T>(oa, ob, T(2), a.view(), b.view(), T(0.5), c.view());
            out.push_back(std::move(c));
          });
        }
        REQUIRE(max_abs_diff<T>(out[0].view(), out[1].view()) == 0);
        REQUIRE(max_abs_diff<T>(out[0].view(), out[2].view()) == 0);
        auto ref = naive<T>(oa, ob, a.view(), b.view());
        double err = 0;
        for (std::int64_t i = 0; i < s.m; ++i)
          for (std::int64_t j = 0; j < s.n; ++j)
            err = std::max(err, std::abs(static_cast<double>(out[0](i, j)) - (2 * ref(i, j) + 0.5)));
        // Entries are sums of k products of N(0, 1) numbers (|C| ~ 2√k); any summation order
        // is within k·eps·Σ|products| ≤ k·eps·2k of the exact sum, in practice √k times less.
        REQUIRE(err <= 4 * eps<T> * 2 * static_cast<double>(s.k) * std::sqrt(static_cast<double>(s.k)));
      }
    }
  }
}

TEST_CASE("the dense kernel is the one LOWDIM_KERNEL names, else the best this CPU has", "[linalg][kernel-choice]") {
  const char* env = std::getenv("LOWDIM_KERNEL");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const std::string best = avx2 && __builtin_cpu_supports("avx512f") ? "avx512" : avx2 ? "avx2" : "generic";
  const std::string expected = env != nullptr && *env != '\0' ? env : best;
  INFO("LOWDIM_KERNEL=" << (env ? env : "(unset)") << ", best " << best);
  REQUIRE(std::string(dense_kernel_isa()) == expected);
  // And the products run on it: a forced lesser kernel still gives the documented chain.
  Matrix<double> a(3, 5), b(5, 2), c(3, 2);
  for (std::int64_t i = 0; i < a.size(); ++i) a.data()[i] = 0.25 * static_cast<double>(i);
  for (std::int64_t i = 0; i < b.size(); ++i) b.data()[i] = 1.0 - 0.5 * static_cast<double>(i);
  linalg::gemm_reproducible<double>(Op::none, Op::none, 1.0, a.cview(), b.cview(), 0.0, c.view());
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 2; ++j) {
      double x = 0;
      for (std::int64_t t = 0; t < 5; ++t) x += a(i, t) * b(t, j);
      REQUIRE(c(i, j) == Approx(x).epsilon(1e-15));
    }
}

TEMPLATE_TEST_CASE("gemm_reproducible computes each element as its documented chain, whatever the split of C",
                   "[linalg][reproducible][kernel]", float, double) {
  using T = TestType;
  // The contract: C(i, j) is a function of row i of op(A) and column j of alpha·op(B) alone —
  // one fma chain per slice of 4096 inner indices, the first continuing from beta·C (from 0
  // when beta = 0), the slices added in order. So one row, a block of rows, a block of
  // columns or the whole C in one call give the same bits on any number of threads.
  const bool fused = dense_kernel_isa() != "generic";
  INFO("dense kernel " << dense_kernel_isa());
  struct Shape {
    std::int64_t m, n, k;
  };
  // k = 9000: three slices, the last partial; 24 × 16 takes the parallel-slices path, 300 × 40
  // (k = 9000) the sliced block path, 205 × 70 (k = 300) one slice with partial panels.
  for (const Shape sh : {Shape{205, 70, 300}, Shape{24, 16, 9000}, Shape{300, 40, 9000}, Shape{1, 33, 5000}}) {
    for (Op oa : {Op::none, Op::transpose}) {
      for (Op ob : {Op::none, Op::transpose}) {
        for (const T beta : {T(0), T(1), T(0.75)}) {
          INFO(sh.m << " x " << sh.n << " x " << sh.k << ", op(A) " << int(oa) << ", op(B) " << int(ob) << ", beta "
                    << beta);
          auto a = oa == Op::none ? gaussian<T>(sh.m, sh.k, 21) : gaussian<T>(sh.k, sh.m, 21);
          auto b = ob == Op::none ? gaussian<T>(sh.k, sh.n, 22) : gaussian<T>(sh.n, sh.k, 22);
          auto c0 = gaussian<T>(sh.m, sh.n, 23);
          if (beta == T(0)) c0.view().fill(std::numeric_limits<T>::quiet_NaN());  // never read
          const T alpha = T(1.5);
          const auto at = [&](std::int64_t i, std::int64_t t) { return oa == Op::none ? a(i, t) : a(t, i); };
          const auto bt = [&](std::int64_t t, std::int64_t j) { return ob == Op::none ? b(t, j) : b(j, t); };
          auto whole = c0.clone();
          with_threads(2, [&] { linalg::gemm_reproducible<T>(oa, ob, alpha, a.view(), b.view(), beta, whole.view()); });
          for (std::int64_t i = 0; i < sh.m; ++i)
            for (std::int64_t j = 0; j < sh.n; ++j) {
              T result = 0;
              for (std::int64_t t0 = 0; t0 < sh.k; t0 += 4096) {
                T c = t0 > 0 || beta == T(0) ? T(0) : beta == T(1) ? c0(i, j) : c0(i, j) * beta;
                for (std::int64_t t = t0; t < std::min(sh.k, t0 + 4096); ++t) {
                  const T x = at(i, t), y = alpha * bt(t, j);
                  c = fused ? std::fma(x, y, c) : c + x * y;
                }
                result = t0 == 0 ? c : result + c;
              }
              if (whole(i, j) != result)
                FAIL("element (" << i << ", " << j << ") = " << whole(i, j) << ", the chain gives " << result);
            }
          // Row by row and by column blocks, on one thread: the same bits.
          auto pieces = c0.clone();
          with_threads(1, [&] {
            for (std::int64_t i = 0; i < sh.m; i += 7) {
              const std::int64_t h = std::min<std::int64_t>(7, sh.m - i);
              for (std::int64_t j = 0; j < sh.n; j += 13) {
                const std::int64_t w = std::min<std::int64_t>(13, sh.n - j);
                auto ai = oa == Op::none ? a.block(i, 0, h, sh.k) : a.block(0, i, sh.k, h);
                auto bj = ob == Op::none ? b.block(0, j, sh.k, w) : b.block(j, 0, w, sh.k);
                linalg::gemm_reproducible<T>(oa, ob, alpha, ai, bj, beta, pieces.block(i, j, h, w));
              }
            }
          });
          REQUIRE(max_abs_diff<T>(whole.view(), pieces.view()) == 0);
        }
      }
    }
  }
}

TEST_CASE("gemm_reproducible with an empty inner dimension or alpha = 0 scales C by beta", "[linalg][reproducible]") {
  Matrix<double> a(3, 0), b(0, 2), c(3, 2);
  c.view().fill(2.0);
  linalg::gemm_reproducible<double>(Op::none, Op::none, 1.0, a.view(), b.view(), 0.5, c.view());
  REQUIRE(c(2, 1) == 1.0);
  Matrix<double> x(3, 4), y(4, 2);
  x.view().fill(std::numeric_limits<double>::quiet_NaN());
  linalg::gemm_reproducible<double>(Op::none, Op::none, 0.0, x.view(), y.view(), 0.0, c.view());
  REQUIRE(c(0, 0) == 0.0);
}

namespace {
// ‖A − Q·R‖_max, R upper triangular, for the cholesky_qr tests.
template <class T>
double reconstruction_error(ConstMatrixView<T> a, ConstMatrixView<T> q, ConstMatrixView<T> r) {
  for (std::int64_t i = 0; i < r.rows(); ++i)
    for (std::int64_t j = 0; j < i; ++j) REQUIRE(r(i, j) == T(0));
  Matrix<T> qr(a.rows(), a.cols());
  linalg::matmul<T>(q, r, qr.view());
  return max_abs_diff<T>(qr.view(), a);
}
}  // namespace

TEMPLATE_TEST_CASE("cholesky_qr: orthonormal Q and A = QR from well-conditioned to rank-deficient A",
                   "[linalg][cholesky_qr]", float, double) {
  using T = TestType;
  const std::int64_t m = 6000, n = 40;
  // σ_i spread geometrically from 1 down to 1/cond: 10 (CholeskyQR2), eps^(-1/2)·100 (beyond
  // plain CholeskyQR2: the shifted rounds), 1/(100·eps) (near-singular).
  const double e = eps<T>;
  for (const double cond : {10.0, 100 / std::sqrt(e), 1 / (100 * e)}) {
    INFO("cond " << cond);
    std::vector<double> s(n);
    for (std::int64_t i = 0; i < n; ++i) s[i] = std::pow(cond, -double(i) / double(n - 1));
    auto a = with_spectrum<T>(m, n, s, 21);
    auto q = Matrix<T>::copy_of(a.view());
    Matrix<T> r(n, n);
    linalg::cholesky_qr<T>(q.view(), r.view());
    // Orthogonality and backward error of Householder QR's order, O(n·eps) (measured ≤ 3 eps).
    CHECK(orthogonality_error<T>(q.view()) <= 10 * n * e);
    CHECK(reconstruction_error<T>(a.view(), q.view(), r.view()) <= 10 * n * e);
  }
  // Exactly rank-deficient (column 7 repeats column 3, column 9 is zero) and the zero matrix:
  // the Cholesky factor breaks down, and the Householder fallback still gives an orthonormal Q.
  auto a = gaussian<T>(m, n, 22);
  for (std::int64_t i = 0; i < m; ++i) {
    a(i, 7) = a(i, 3);
    a(i, 9) = T(0);
  }
  for (int which = 0; which < 2; ++which) {
    auto q = Matrix<T>::copy_of(a.view());
    if (which == 1) q.view().fill(T(0));
    Matrix<T> r(n, n);
    linalg::cholesky_qr<T>(q.view(), r.view());
    CHECK(orthogonality_error<T>(q.view()) <= 10 * n * e);  // measured ≤ 5 eps
    // Relative to the column norms √m (|a_ij| ~ 1); measured ≤ 1.1·√m·eps.
    if (which == 0) CHECK(reconstruction_error<T>(a.view(), q.view(), r.view()) <= 10 * n * e * std::sqrt(double(m)));
    if (which == 1) CHECK(max_abs_diff<T>(r.view(), Matrix<T>(n, n).view()) == 0);
  }
  REQUIRE_THROWS_WITH(linalg::cholesky_qr<T>(Matrix<T>(3, 5).view()),
                      Catch::Contains("cholesky_qr: A is 3 x 5; the thin QR needs rows >= cols"));
  Matrix<T> bad_r(4, 4);
  REQUIRE_THROWS_WITH(linalg::cholesky_qr<T>(Matrix<T>(10, 5).view(), bad_r.view()),
                      Catch::Contains("cholesky_qr: R must be 5 x 5, not 4 x 4"));
}

TEST_CASE("cholesky_qr is bit-identical on 1, 2, 4 threads; one round leaves O(eps cond^2)", "[linalg][cholesky_qr]") {
  std::vector<double> s(32);
  for (int i = 0; i < 32; ++i) s[i] = std::pow(1e4, -i / 31.0);  // cond 1e4
  auto a = with_spectrum<double>(20000, 32, s, 31);
  std::vector<Matrix<double>> out;
  for (int threads : {1, 2, 4}) {
    with_threads(threads, [&] {
      auto q = Matrix<double>::copy_of(a.view());
      linalg::cholesky_qr<double>(q.view());
      out.push_back(std::move(q));
    });
  }
  REQUIRE(max_abs_diff<double>(out[0].view(), out[1].view()) == 0);
  REQUIRE(max_abs_diff<double>(out[0].view(), out[2].view()) == 0);
  // One round: orthogonality lost in proportion to eps·cond² = 2e-8, far from eps, yet a
  // basis of the same span (a second round makes it orthonormal to eps).
  auto q1 = Matrix<double>::copy_of(a.view());
  Matrix<double> r1(32, 32);
  linalg::cholesky_qr<double>(q1.view(), r1.view(), true);
  const double loss = orthogonality_error<double>(q1.view());
  CHECK(loss <= 1e4 * 1e4 * eps<double> * 100);
  CHECK(loss >= 100 * 32 * eps<double>);
  CHECK(reconstruction_error<double>(a.view(), q1.view(), r1.view()) <= 10 * 32 * eps<double>);
  linalg::cholesky_qr<double>(q1.view());
  CHECK(orthogonality_error<double>(q1.view()) <= 10 * 32 * eps<double>);
}

TEST_CASE("OmpExceptions carries an exception out of an OpenMP region, bad_alloc included", "[linalg][threads]") {
  // An exception escaping a parallel region calls std::terminate: without the capture this
  // test aborts the whole test program.
  with_threads(2, [] {
    for (int kind = 0; kind < 2; ++kind) {
      detail::OmpExceptions errors;
      std::atomic<int> ran{0};
#pragma omp parallel for schedule(static)
      for (int i = 0; i < 64; ++i)
        errors.run([&] {
          ++ran;
          if (i == 37) {
            if (kind == 0) LOWDIM_THROW(invalid_argument, "iteration {} failed", i);
            throw std::bad_alloc();
          }
        });
      CHECK(ran >= 1);
      if (kind == 0)
        REQUIRE_THROWS_WITH(errors.rethrow(), Catch::Contains("iteration 37 failed"));
      else
        REQUIRE_THROWS_AS(errors.rethrow(), std::bad_alloc);
    }
    detail::OmpExceptions none;
#pragma omp parallel for
    for (int i = 0; i < 8; ++i) none.run([] {});
    REQUIRE_NOTHROW(none.rethrow());
  });
}
