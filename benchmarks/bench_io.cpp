// File readers: Fashion-MNIST (IDX .gz, 47 MB of uint8 inflated and converted)
// and the same data as a 188 MB float32 .npy, read whole and streamed.
// Inputs come from the environment (benchmarks/peers/io.py sets them so that
// NumPy reads the very same files): LOWDIM_BENCH_IDX, LOWDIM_BENCH_NPY.

#include <lowdim/io.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

namespace {

std::string input(const char* variable, benchmark::State& state) {
  const char* path = std::getenv(variable);
  if (path == nullptr) state.SkipWithError((std::string(variable) + " is not set").c_str());
  return path != nullptr ? path : "";
}

void BM_ReadMatrixIdxGz(benchmark::State& state) {
  const std::string path = input("LOWDIM_BENCH_IDX", state);
  for (auto _ : state) {
    if (path.empty()) break;
    auto m = lowdim::read_matrix<float>(path);
    benchmark::DoNotOptimize(m.data());
  }
}

void BM_ReadMatrixNpy(benchmark::State& state) {
  const std::string path = input("LOWDIM_BENCH_NPY", state);
  for (auto _ : state) {
    if (path.empty()) break;
    auto m = lowdim::read_matrix<float>(path);
    benchmark::DoNotOptimize(m.data());
  }
}

// Streaming in blocks of 1000 rows: bounded memory, what `lowdim inspect` does.
void BM_RowReaderIdxGz(benchmark::State& state) {
  const std::string path = input("LOWDIM_BENCH_IDX", state);
  for (auto _ : state) {
    if (path.empty()) break;
    lowdim::RowReader reader(path);
    lowdim::Matrix<float> block(1000, reader.cols());
    double sum = 0;
    while (std::int64_t n = reader.read(block.view())) sum += block(n - 1, 0);
    benchmark::DoNotOptimize(sum);
  }
}

void BM_MappedNpy(benchmark::State& state) {
  const std::string path = input("LOWDIM_BENCH_NPY", state);
  for (auto _ : state) {
    if (path.empty()) break;
    lowdim::MappedNpy mapped(path);
    const auto view = mapped.view<float>();
    double sum = 0;
    for (std::int64_t i = 0; i < view.rows(); ++i) sum += view(i, 400);  // touch every row
    benchmark::DoNotOptimize(sum);
  }
}

}  // namespace

BENCHMARK(BM_ReadMatrixIdxGz)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly();
BENCHMARK(BM_ReadMatrixNpy)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly();
BENCHMARK(BM_RowReaderIdxGz)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly();
BENCHMARK(BM_MappedNpy)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly();
BENCHMARK_MAIN();
