// JL random projection (issue 3's targets). Peer comparison: peers/jl.py.
//   BM_Gaussian     100 000 × 1 000 float32 → k = 256 with the gaussian sketch
//   BM_BareSgemm    the same shapes as one multi-threaded OpenBLAS sgemm on a
//                   pre-materialized S (the floor the sketch is measured against)
//   BM_Sparse       the same data with the very sparse sketch (density 1/√d)
//   BM_Srht1024 / BM_Gaussian1024   d = 1 024, k = 256: SRHT against gaussian
// Data: LOWDIM_BENCH_DATA (an .npy n × 1000 float32, written by the peer script
// so both sides see the same numbers) and LOWDIM_BENCH_DATA_1024; without them
// synthetic N(0, 1) data of the same shapes.

#include <lowdim/io.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/random.hpp>
#include <lowdim/sketch.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

using namespace lowdim;

namespace {

constexpr std::int64_t kRows = 100000, kDim = 1000, kDim1024 = 1024, kOut = 256;

Matrix<float> load(const char* variable, std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  if (const char* path = std::getenv(variable); path && *path) return read_matrix<float>(path);
  auto x = Matrix<float>::uninitialized(rows, cols);
  fill_normal<float>(x.view(), RandomStream(seed, 77));
  return x;
}

const Matrix<float>& data() {
  static const Matrix<float> x = load("LOWDIM_BENCH_DATA", kRows, kDim, 1);
  return x;
}
const Matrix<float>& data1024() {
  static const Matrix<float> x = load("LOWDIM_BENCH_DATA_1024", kRows, kDim1024, 2);
  return x;
}

void run_sketch(benchmark::State& state, SketchKind kind, const Matrix<float>& x) {
  const SketchOperator op(kind, x.cols(), kOut, 42);
  Matrix<float> y(x.rows(), kOut);  // zero-filled: page faults happen here, not in the timed loop
  for (auto _ : state) {
    op.apply<float>(x.cview(), y.view());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["rows"] = static_cast<double>(x.rows());
}

void BM_Gaussian(benchmark::State& state) { run_sketch(state, SketchKind::gaussian, data()); }
void BM_Sparse(benchmark::State& state) { run_sketch(state, SketchKind::sparse, data()); }
void BM_Srht1024(benchmark::State& state) { run_sketch(state, SketchKind::srht, data1024()); }
void BM_Gaussian1024(benchmark::State& state) { run_sketch(state, SketchKind::gaussian, data1024()); }

void BM_BareSgemm(benchmark::State& state) {
  const auto& x = data();
  const auto s = SketchOperator(SketchKind::gaussian, x.cols(), kOut, 42).materialize<float>();
  Matrix<float> y(x.rows(), kOut);
  for (auto _ : state) {
    linalg::gemm<float>(Op::none, Op::transpose, 1.0f, x.cview(), s.cview(), 0.0f, y.view());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * double(x.rows()) * double(x.cols()) * double(kOut),
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

}  // namespace

// Fixed iteration counts: one call takes 0.1–1 s, and min_time would stop after one.
BENCHMARK(BM_BareSgemm)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(4);
BENCHMARK(BM_Gaussian)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(4);
BENCHMARK(BM_Sparse)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(4);
BENCHMARK(BM_Srht1024)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(4);
BENCHMARK(BM_Gaussian1024)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(4);

BENCHMARK_MAIN();
