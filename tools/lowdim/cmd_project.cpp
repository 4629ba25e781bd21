// lowdim project --input X --output Y.npy --kind KIND --k K [--seed S]:
// y = S x for every row of X, written as .npy. The output dtype is the
// input's float dtype (integer input gives float32). Rows are streamed in
// blocks, so memory stays bounded whatever the input size: a plain float
// .npy is memory-mapped and read in place; anything else (IDX, .gz, .fvecs,
// Fortran order, integers) goes through RowReader. The output is written to
// a temporary file and renamed into place when complete.

#include "command.hpp"
#include "output.hpp"

#include <lowdim/io.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/sketch.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <optional>
#include <string>

namespace lowdim::cli {
namespace {

struct ProjectArgs {
  std::string input, output, kind = "gaussian";
  std::int64_t k = 0;
  std::uint64_t seed = 0;
  double density = 0;
  int threads = 0;
  bool quiet = false;
};

// Rows per block: ~64 MiB of output, and (when rows are read into a buffer)
// ~64 MiB of input but at least 1024 rows, so that the d·k random numbers a
// dense kind regenerates per call are amortised over many rows.
constexpr std::int64_t kBlockBytes = std::int64_t{64} << 20;

template <class T>
void project(const ProjectArgs& args, const ArrayInfo& info) {
  const std::int64_t n = info.rows(), d = info.cols(), k = args.k;
  const SketchOperator op(parse_sketch_kind(args.kind), d, k, args.seed, SketchOptions{.density = args.density});
  const auto size = static_cast<std::int64_t>(sizeof(T));
  const std::int64_t out_rows = std::max<std::int64_t>(1, kBlockBytes / size / k);
  NpyWriter<T> writer(args.output, k);
  Progress progress(!args.quiet);
  const auto label = fmt::format("project {} -> {} ({})", d, k, args.kind);
  std::optional<MappedNpy> mapped;
  if (info.format == FileFormat::npy && !info.gzip) {
    mapped.emplace(args.input);
    if (!mapped->viewable<T>()) mapped.reset();
  }
  if (mapped) {
    // Zero-copy: blocks of the memory map go straight into apply; the extra
    // memory is the output block and the operator's block of S.
    const ConstMatrixView<T> x = mapped->view<T>();
    const std::int64_t block = std::min(out_rows, std::max<std::int64_t>(n, 1));
    auto y = Matrix<T>::uninitialized(block, k);
    for (std::int64_t r0 = 0; r0 < n; r0 += block) {
      const std::int64_t rows = std::min(block, n - r0);
      auto out = y.view().row_block(0, rows);
      op.apply<T>(x.row_block(r0, rows), out);
      writer.append(out);
      progress.update(label, r0 + rows, n);
    }
  } else {
    const std::int64_t in_rows = std::max<std::int64_t>(1024, kBlockBytes / size / d);
    const std::int64_t block = std::min({out_rows, in_rows, std::max<std::int64_t>(n, 1)});
    RowReader reader(args.input);
    auto x = Matrix<T>::uninitialized(block, d);
    auto y = Matrix<T>::uninitialized(block, k);
    std::int64_t done = 0;
    for (;;) {
      const std::int64_t got = reader.read<T>(x.view());
      if (got == 0) break;
      auto out = y.view().row_block(0, got);
      op.apply<T>(x.view().row_block(0, got), out);
      writer.append(out);
      done += got;
      progress.update(label, done, n);
    }
  }
  progress.finish();
  writer.commit();
}

const RegisterCommand registered{"project", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("project", "Random projection of every row of a data file: Y = X S^T, written as .npy");
  auto args = std::make_shared<ProjectArgs>();
  cmd->add_option("--input", args->input, "Data file (.npy, IDX, .fvecs; .gz too), n x d")->required();
  cmd->add_option("--output", args->output, "Output .npy, n x k (float32, or float64 for float64 input)")->required();
  cmd->add_option("--kind", args->kind, "Operator kind: " + sketch_kind_names())->capture_default_str();
  cmd->add_option("--k", args->k, "Output dimension")->required();
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  cmd->add_option("--density", args->density, "Non-zero fraction for rademacher/sparse (0: the kind's default)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Threads (0: all)")->capture_default_str();
  cmd->add_flag("--quiet", args->quiet, "No progress bar");
  cmd->callback([args] {
    if (args->threads > 0) linalg::set_num_threads(args->threads);
    const ArrayInfo info = probe(args->input);
    LOWDIM_CHECK(info.cols() >= 1, "project: {} has no columns", args->input);
    if (info.dtype == DType::float64)
      project<double>(*args, info);
    else
      project<float>(*args, info);
  });
}};

}  // namespace
}  // namespace lowdim::cli
