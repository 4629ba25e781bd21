#include <lowdim/matrix.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace lowdim;

TEST_CASE("Matrix is zero-filled, 64-byte aligned and row-major", "[matrix]") {
  Matrix<float> m(3, 5);
  REQUIRE(m.rows() == 3);
  REQUIRE(m.cols() == 5);
  REQUIRE(m.stride() == 5);
  REQUIRE(reinterpret_cast<std::uintptr_t>(m.data()) % 64 == 0);
  for (float v : m.flat()) REQUIRE(v == 0.0f);
  m(1, 2) = 7;
  REQUIRE(m.data()[1 * 5 + 2] == 7);
  Matrix<double> d(4, 4);
  REQUIRE(reinterpret_cast<std::uintptr_t>(d.data()) % 64 == 0);
}

TEST_CASE("Matrix moves without copying and clones explicitly", "[matrix]") {
  Matrix<double> a(2, 2);
  a(0, 1) = 3;
  const double* p = a.data();
  Matrix<double> b = std::move(a);
  REQUIRE(b.data() == p);
  REQUIRE(a.data() == nullptr);
  REQUIRE(a.rows() == 0);
  auto c = b.clone();
  REQUIRE(c.data() != b.data());
  REQUIRE(c(0, 1) == 3);
}

TEST_CASE("Views share memory and respect the row stride", "[matrix]") {
  Matrix<int> m(4, 6);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) m(i, j) = 10 * i + j;
  MatrixView<int> block = m.block(1, 2, 2, 3);
  REQUIRE(block.rows() == 2);
  REQUIRE(block.cols() == 3);
  REQUIRE(block.stride() == 6);
  REQUIRE(!block.contiguous());
  REQUIRE(block(1, 2) == 24);
  block(0, 0) = -1;
  REQUIRE(m(1, 2) == -1);
  ConstMatrixView<int> c = block;
  REQUIRE(c.data() == block.data());
  REQUIRE(c.block(1, 1, 1, 2)(0, 1) == 24);
  REQUIRE(m.row_block(2, 2).row(0) == m.row(2));
}

TEST_CASE("Views reject blocks outside the matrix and bad strides", "[matrix][errors]") {
  Matrix<float> m(3, 3);
  REQUIRE_THROWS_WITH(m.block(2, 0, 2, 3), Catch::Contains("[2, 4) x [0, 3) is outside a 3 x 3 matrix"));
  REQUIRE_THROWS_AS(m.block(-1, 0, 1, 1), invalid_argument);
  REQUIRE_THROWS_WITH(MatrixView<float>(m.data(), 3, 3, 2), Catch::Contains("stride 2 is smaller than cols 3"));
  REQUIRE_THROWS_WITH(Matrix<float>(-2, 3), Catch::Contains("negative shape -2 x 3"));
  REQUIRE_THROWS_WITH(Matrix<double>::uninitialized(INT64_MAX / 4, 8), Catch::Contains("overflows"));
}

TEST_CASE("copy_from checks shapes and copies strided data", "[matrix]") {
  Matrix<double> a(3, 4);
  for (int i = 0; i < 12; ++i) a.data()[i] = i;
  Matrix<double> b(2, 2);
  b.view().copy_from(a.block(1, 1, 2, 2));
  REQUIRE(b(0, 0) == 5);
  REQUIRE(b(1, 1) == 10);
  REQUIRE_THROWS_AS(b.view().copy_from(a.cview()), dimension_mismatch);
  auto c = Matrix<double>::copy_of(a.block(0, 2, 3, 2));
  REQUIRE(c(2, 1) == 11);
}

TEMPLATE_TEST_CASE("check_finite names the first NaN or Inf by row and column", "[matrix][errors]", float, double) {
  Matrix<TestType> m(300, 400);
  REQUIRE_FALSE(find_non_finite<TestType>(m.cview()).has_value());
  REQUIRE_NOTHROW(check_finite<TestType>(m.cview(), "test"));
  m(250, 7) = std::numeric_limits<TestType>::infinity();
  m(120, 399) = std::numeric_limits<TestType>::quiet_NaN();
  const auto bad = find_non_finite<TestType>(m.cview());
  REQUIRE(bad.has_value());
  REQUIRE(bad->row == 120);
  REQUIRE(bad->col == 399);
  REQUIRE_THROWS_WITH(check_finite<TestType>(m.cview(), "rsvd"),
                      Catch::Contains("rsvd: non-finite value nan at row 120, column 399"));
  // A view that excludes the NaN sees only the Inf.
  REQUIRE(find_non_finite<TestType>(m.block(200, 0, 100, 10))->row == 50);
}
