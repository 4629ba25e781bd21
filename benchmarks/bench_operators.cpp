// The operator layer's cached form (issue 10 §4): one row, 784 → 512 float32 (an LSH query,
// one attention step), against a gemv with S in memory; and a batch, against the
// matrix-free form.
//   BM_OneRowMatrixFree/<kind>  apply to one row, S regenerated per call
//   BM_OneRowCached/<kind>      the same through materialized()
//   BM_OneRowGemv               OpenBLAS sgemv with S (512 × 784) materialized: the floor
//   BM_BatchMatrixFree/<kind>, BM_BatchCached/<kind>   10 000 rows
// Run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (make bench does).

#include <lowdim/linalg.hpp>
#include <lowdim/random.hpp>
#include <lowdim/sketch.hpp>

#include <benchmark/benchmark.h>

#include <vector>

using namespace lowdim;

namespace {

constexpr std::int64_t kDim = 784, kOut = 512, kBatch = 10000;

const SketchKind kKinds[] = {SketchKind::gaussian, SketchKind::sparse, SketchKind::srht, SketchKind::orthogonal,
                             SketchKind::structured_orthogonal};

Matrix<float> rows(std::int64_t n) {
  auto x = Matrix<float>::uninitialized(n, kDim);
  fill_normal<float>(x.view(), RandomStream(3, 77));
  return x;
}

SketchOperator make(std::int64_t kind_index) {
  const SketchKind kind = kKinds[kind_index];
  // srht needs k ≤ d.
  return SketchOperator(kind, kDim, kind == SketchKind::srht ? 256 : kOut, 42);
}

void run(benchmark::State& state, const SketchOperator& op, std::int64_t n) {
  const auto x = rows(n);
  Matrix<float> y(n, op.output_dim());
  op.apply<float>(x.cview(), y.view());  // warm-up: a cached form builds its cache here
  for (auto _ : state) {
    op.apply<float>(x.cview(), y.view());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(to_string(op.kind()));
}

void BM_OneRowMatrixFree(benchmark::State& state) { run(state, make(state.range(0)), 1); }
void BM_OneRowCached(benchmark::State& state) { run(state, make(state.range(0)).materialized(), 1); }
void BM_BatchMatrixFree(benchmark::State& state) { run(state, make(state.range(0)), kBatch); }
void BM_BatchCached(benchmark::State& state) { run(state, make(state.range(0)).materialized(), kBatch); }

void BM_OneRowGemv(benchmark::State& state) {
  const auto s = SketchOperator(SketchKind::gaussian, kDim, kOut, 42).materialize<float>();
  const auto x = rows(1);
  std::vector<float> y(kOut);
  for (auto _ : state) {
    linalg::gemv<float>(Op::none, 1.0f, s.cview(), x.flat(), 0.0f, y);
    benchmark::DoNotOptimize(y.data());
  }
}

void kinds(benchmark::internal::Benchmark* b) {
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(std::size(kKinds)); ++i) b->Arg(i);
}

}  // namespace

BENCHMARK(BM_OneRowGemv)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OneRowMatrixFree)->Apply(kinds)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OneRowCached)->Apply(kinds)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BatchMatrixFree)->Apply(kinds)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BatchCached)->Apply(kinds)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
