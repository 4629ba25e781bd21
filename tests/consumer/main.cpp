// Uses the installed headers (through the umbrella header) and liblowdim.so: random fill, gemm through the
// wrapper, an exception thrown in the library and caught here by type.
#include <lowdim/lowdim.hpp>  // the umbrella: every public header

#include <cmath>
#include <cstdio>

int main() {
  using namespace lowdim;
  Matrix<double> a(3, 4), b(4, 2), c(3, 2);
  fill_normal<double>(a.view(), RandomStream(1));
  fill_normal<double>(b.view(), RandomStream(2));
  linalg::matmul<double>(a.view(), b.view(), c.view());
  double ref = 0;
  for (int l = 0; l < 4; ++l) ref += a(2, l) * b(l, 1);
  if (std::abs(ref - c(2, 1)) > 1e-12) {
    std::printf("wrong product\n");
    return 1;
  }
  try {
    linalg::matmul<double>(a.view(), a.view(), c.view());
    std::printf("no exception\n");
    return 1;
  } catch (const dimension_mismatch& e) {
    std::printf("lowdim %s consumer ok (%s)\n", version(), e.what());
  }
  return 0;
}
