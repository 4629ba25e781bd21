// Whitening: BERT-whitening of n × 768 float32 to k = 256 (the item 9), and the
// pieces its time goes to: the moments pass (syrk, double vs float panels), the 768 × 768
// eigendecomposition, and the projection (one gemm). Peer comparison: peers/whitening.py.
//
// Data: LOWDIM_BENCH_DATA names an .npy (n × d float32) written by the peer script, so both
// sides see the same numbers; without it, a synthetic anisotropic 100000 × 768 set is made.
// LOWDIM_BENCH_OUTPUT, if set, receives the last whitened output (for the accuracy check).

#include <lowdim/io.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/random.hpp>
#include <lowdim/whitening.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

using namespace lowdim;

namespace {

constexpr std::int64_t kRows = 100000, kDim = 768, kKeep = 256;

// Synthetic stand-in for sentence embeddings: Z·A + b with a decaying spectrum and a mean
// far from zero (BERT vectors are anisotropic: a large common component).
Matrix<float> synthetic() {
  std::vector<double> s(static_cast<std::size_t>(kDim));
  for (std::int64_t i = 0; i < kDim; ++i) s[static_cast<std::size_t>(i)] = 1.0 / (1.0 + 0.05 * double(i));
  auto u = Matrix<float>::uninitialized(kDim, kDim);
  fill_normal<float>(u.view(), RandomStream(7, 1));
  linalg::qr<float>(u.view());
  for (std::int64_t i = 0; i < kDim; ++i)
    for (std::int64_t j = 0; j < kDim; ++j) u(i, j) *= static_cast<float>(s[static_cast<std::size_t>(j)]);
  auto z = Matrix<float>::uninitialized(kRows, kDim);
  fill_normal<float>(z.view(), RandomStream(7, 2));
  auto x = Matrix<float>::uninitialized(kRows, kDim);
  linalg::gemm<float>(Op::none, Op::transpose, 1.0f, z.view(), u.view(), 0.0f, x.view());
  for (std::int64_t i = 0; i < kRows; ++i)
    for (std::int64_t j = 0; j < kDim; ++j) x(i, j) += 0.3f + 0.001f * static_cast<float>(j % 17);
  return x;
}

const Matrix<float>& data() {
  static const Matrix<float> x = [] {
    const char* path = std::getenv("LOWDIM_BENCH_DATA");
    return path && *path ? read_matrix<float>(path) : synthetic();
  }();
  return x;
}

void BM_BertWhitening(benchmark::State& state) {
  const auto& x = data();
  const auto precision = static_cast<ScatterPrecision>(state.range(0));
  auto y = Matrix<float>::uninitialized(x.rows(), kKeep);
  for (auto _ : state) {
    auto model = fit_bert_whitening<float>(x.cview(), {.components = kKeep, .precision = precision});
    model.transform<float>(x.cview(), y.view());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(precision == ScatterPrecision::block_float ? "block_float" : "double_precision");
  if (const char* out = std::getenv("LOWDIM_BENCH_OUTPUT"); out && *out)
    write_npy<float>(std::string(out) + (precision == ScatterPrecision::block_float ? ".block_float.npy" : ".double.npy"),
                     y.cview());
}
BENCHMARK(BM_BertWhitening)
    ->Arg(static_cast<int>(ScatterPrecision::double_precision))
    ->Arg(static_cast<int>(ScatterPrecision::block_float))
    ->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Moments(benchmark::State& state) {
  const auto& x = data();
  const auto precision = static_cast<ScatterPrecision>(state.range(0));
  for (auto _ : state) {
    Moments m(x.cols(), precision);
    m.update<float>(x.cview());
    benchmark::DoNotOptimize(m.scatter().data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(double(x.rows()) * double(x.cols()) * double(x.cols() + 1),
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Moments)
    ->Arg(static_cast<int>(ScatterPrecision::double_precision))
    ->Arg(static_cast<int>(ScatterPrecision::block_float))
    ->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_WhiteningFromMoments(benchmark::State& state) {
  Moments m(data().cols());
  m.update<float>(data().cview());
  for (auto _ : state) {
    auto w = Whitening::fit(m, {.kind = WhiteningKind::pca, .components = kKeep});
    benchmark::DoNotOptimize(w.matrix().data());
  }
}
BENCHMARK(BM_WhiteningFromMoments)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Transform(benchmark::State& state) {
  const auto& x = data();
  auto w = fit_bert_whitening<float>(x.cview(), {.components = kKeep});
  auto y = Matrix<float>::uninitialized(x.rows(), kKeep);
  for (auto _ : state) {
    w.transform<float>(x.cview(), y.view());
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(BM_Transform)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
