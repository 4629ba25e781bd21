// Core layer: Gaussian fill throughput (vs std::normal_distribution) and the
// gemm wrapper against a bare cblas_sgemm on the same buffers (the wrapper must
// add nothing measurable). Peer comparisons: benchmarks/peers/core.py.

#include <lowdim/linalg.hpp>
#include <lowdim/random.hpp>

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>

using namespace lowdim;

namespace {

template <class T>
void BM_FillNormal(benchmark::State& state) {
  const auto n = state.range(0);
  auto m = Matrix<T>::uninitialized(1, n);
  std::uint64_t seed = 0;
  for (auto _ : state) {
    fill_normal<T>(m.view(), RandomStream(++seed));
    benchmark::DoNotOptimize(m.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK_TEMPLATE(BM_FillNormal, float)->Arg(1 << 24)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_FillNormal, double)->Arg(1 << 24)->UseRealTime()->Unit(benchmark::kMillisecond);

template <class T>
void BM_StdNormal(benchmark::State& state) {
  const auto n = state.range(0);
  auto m = Matrix<T>::uninitialized(1, n);
  std::mt19937_64 engine(1);
  std::normal_distribution<T> normal;
  for (auto _ : state) {
    for (auto& v : m.flat()) v = normal(engine);
    benchmark::DoNotOptimize(m.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK_TEMPLATE(BM_StdNormal, float)->Arg(1 << 24)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_StdNormal, double)->Arg(1 << 24)->UseRealTime()->Unit(benchmark::kMillisecond);

// C (m × n) = A (m × k) · B (k × n), float.
void gemm_args(benchmark::internal::Benchmark* b) {
  b->Args({2000, 2000, 2000})->Args({100000, 256, 1000})->Args({64, 64, 64})->Args({8, 8, 8});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

struct GemmData {
  Matrix<float> a, b, c;
  GemmData(std::int64_t m, std::int64_t n, std::int64_t k)
      : a(Matrix<float>::uninitialized(m, k)), b(Matrix<float>::uninitialized(k, n)), c(m, n) {
    fill_uniform<float>(a.view(), RandomStream(1));
    fill_uniform<float>(b.view(), RandomStream(2));
  }
};

void BM_GemmWrapper(benchmark::State& state) {
  GemmData d(state.range(0), state.range(1), state.range(2));
  // One untimed call first: OpenBLAS allocates and faults in its buffers on first use.
  linalg::gemm<float>(Op::none, Op::none, 1.0f, d.a.view(), d.b.view(), 0.0f, d.c.view());
  for (auto _ : state) {
    linalg::gemm<float>(Op::none, Op::none, 1.0f, d.a.view(), d.b.view(), 0.0f, d.c.view());
    benchmark::DoNotOptimize(d.c.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * static_cast<double>(d.a.rows() * d.b.cols() * d.a.cols()),
                                                benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_GemmWrapper)->Apply(gemm_args);

void BM_GemmBare(benchmark::State& state) {
  GemmData d(state.range(0), state.range(1), state.range(2));
  const int m = static_cast<int>(d.a.rows()), n = static_cast<int>(d.b.cols()), k = static_cast<int>(d.a.cols());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, d.a.data(), k, d.b.data(), n, 0.0f,
              d.c.data(), n);  // untimed warm-up, as above
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, d.a.data(), k, d.b.data(), n, 0.0f,
                d.c.data(), n);
    benchmark::DoNotOptimize(d.c.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}
BENCHMARK(BM_GemmBare)->Apply(gemm_args);

}  // namespace

BENCHMARK_MAIN();
