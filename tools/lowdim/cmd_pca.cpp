// lowdim pca: principal components of a file (streamed moments, exact eigensolver),
// the projected data and optionally the components, written atomically.

#include "command.hpp"
#include "output.hpp"
#include "output_dtype.hpp"

#include <lowdim/io.hpp>
#include <lowdim/whitening.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <string>

namespace lowdim::cli {
namespace {

struct PcaArgs {
  std::string input, output, components, model;
  std::string solver = "exact", dtype = "auto";
  std::int64_t k = 0;
  std::int64_t block_rows = 16384;
  std::uint64_t seed = 0;
  Output out;
};

// Projects the input, block by block, into the output .npy of T (committed when complete).
template <class T>
void project_stream(const Pca& p, const PcaArgs& a) {
  RowReader reader(a.input);
  auto in = Matrix<T>::uninitialized(std::max<std::int64_t>(1, std::min(a.block_rows, reader.rows())), reader.cols());
  auto out = Matrix<T>::uninitialized(in.rows(), p.components_count());
  NpyWriter<T> writer(a.output, p.components_count());
  Progress progress(a.out.progress());
  std::int64_t done = 0;
  while (const std::int64_t got = reader.read<T>(in.view())) {
    p.transform<T>(in.cview().row_block(0, got), out.view().row_block(0, got));
    writer.append(out.cview().row_block(0, got));
    done += got;
    progress.update("pca: projecting", done, reader.rows());
  }
  progress.finish();
  writer.commit();
}

const RegisterCommand registered{"pca", [](CLI::App& app) {
  auto args = std::make_shared<PcaArgs>();
  auto* cmd = app.add_subcommand("pca", "Principal component analysis: project a data file onto its top k components");
  cmd->add_option("--input,-i", args->input, "Data file: .npy, IDX (.gz) or .fvecs, n x d")->required();
  cmd->add_option("--k", args->k, "Number of components")->required();
  cmd->add_option("--output,-o", args->output, "Projected data .npy, n x k (written atomically; dtype: --dtype)")->required();
  cmd->add_option("--components", args->components, "Also write the components, k x d float64 .npy");
  cmd->add_option("--model", args->model, "Also save the fitted PCA model");
  cmd->add_option("--solver", args->solver,
                  "exact (streamed moments + eigh) | randomized (single-pass sketch; reads the file into memory)")
      ->capture_default_str();
  cmd->add_option("--dtype", args->dtype,
                  "Output dtype: auto (the input's: float64 for float64 input, else float32) | float32 | float64")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the randomized sketch")->capture_default_str();
  cmd->add_option("--block-rows", args->block_rows, "Rows read per block")->capture_default_str();
  add_output_options(cmd, args->out);
  cmd->callback([args] {
    const auto& a = *args;
    LOWDIM_CHECK(a.k >= 1, "pca: --k must be positive, not {}", a.k);
    LOWDIM_CHECK(a.block_rows >= 1, "pca: --block-rows must be positive, not {}", a.block_rows);
    LOWDIM_CHECK(a.solver == "exact" || a.solver == "randomized", "pca: --solver must be exact or randomized, not '{}'",
                 a.solver);
    const std::string dtype = output_dtype(a.dtype, a.input, "pca");
    Progress progress(a.out.progress());
    const auto moments_progress = [&](std::int64_t done, std::int64_t total) {
      progress.update("pca: moments", done, total);
    };
    const auto p = a.solver == "exact"
                       ? Pca::fit(Moments::from_file(a.input, a.block_rows, ScatterPrecision::double_precision,
                                                     moments_progress),
                                  {.components = a.k})
                   : dtype == "float64"
                       ? Pca::fit<double>(MatrixFile<double>(a.input).view(),
                                          {.components = a.k, .solver = PcaSolver::randomized, .seed = a.seed})
                       : Pca::fit<float>(MatrixFile<float>(a.input).view(),
                                         {.components = a.k, .solver = PcaSolver::randomized, .seed = a.seed});
    progress.finish();
    // Second streamed pass: project block by block into the output file, read as the output's
    // type (the transform centres in double, so float64 data far from the origin stay exact).
    if (dtype == "float64")
      project_stream<double>(p, a);
    else
      project_stream<float>(p, a);
    if (!a.components.empty()) write_npy<double>(a.components, p.components());
    if (!a.model.empty()) p.save(a.model);
    const auto ratio = p.explained_variance_ratio();
    if (a.out.wants_json()) {
      std::string variance, ratios;
      for (std::size_t i = 0; i < ratio.size(); ++i) {
        variance += (i ? ", " : "") + json_number(p.explained_variance()[i]);
        ratios += (i ? ", " : "") + json_number(ratio[i]);
      }
      a.out.write_json(fmt::format(
          "{{\"solver\": \"{}\", \"rows\": {}, \"dim\": {}, \"components\": {}, \"explained_variance\": [{}], "
          "\"explained_variance_ratio\": [{}], \"output\": {}, \"dtype\": \"{}\"}}",
          a.solver, p.samples(), p.dim(), p.components_count(), variance, ratios, json_string(a.output), dtype));
    }
    if (!a.out.table()) return;
    fmt::print("pca ({}): {} x {} -> {} components\n", a.solver, p.samples(), p.dim(), p.components_count());
    fmt::print("{:>9}  {:>14}  {:>9}  {:>10}\n", "component", "variance", "ratio", "cumulative");
    double cumulative = 0;
    for (std::size_t i = 0; i < ratio.size(); ++i) {
      cumulative += ratio[i];
      if (i < 10 || i + 1 == ratio.size())
        fmt::print("{:>9}  {:>14.6g}  {:>9.4f}  {:>10.4f}\n", i + 1, p.explained_variance()[i], ratio[i], cumulative);
      else if (i == 10)
        fmt::print("{:>9}\n", "...");
    }
    fmt::print("output: {} ({})\n", a.output, dtype);
  });
}};

}  // namespace
}  // namespace lowdim::cli
