// lowdim pca under MPI: the distributed moments (whole blocks of --block-rows per rank, merged in
// global order: the components have the bits of the single-process `lowdim pca` with the same
// --block-rows), then every rank projects its slice; one output .npy (MPI-IO) or one per rank.

#include "distributed.hpp"
#include "output_dtype.hpp"

#include <lowdim/whitening.hpp>

namespace lowdim::cli {
namespace {

struct PcaArgs {
  std::string input, output, components, model;
  std::string solver = "exact", dtype = "auto";
  std::int64_t k = 0;
  std::int64_t block_rows = 16384;
  std::optional<std::uint64_t> seed;
  bool per_rank = false;
  Output out;
};

bool moments_in_float(DType dtype) {
  return dtype == DType::float32 || dtype == DType::uint8 || dtype == DType::int8 || dtype == DType::uint16 ||
         dtype == DType::int16;
}

template <class T>
Moments distributed_moments(const PcaArgs& a, const mpi::RowPartition& partition) {
  std::optional<mpi::NpySlice<T>> slice;
  mpi::collective(world(), [&] { slice.emplace(a.input, partition, world().rank()); });
  return mpi::moments<T>(world(), slice->local(), a.block_rows, ScatterPrecision::double_precision);
}

template <class T>
void project_distributed(const Pca& p, const PcaArgs& a, const mpi::RowPartition& partition) {
  Matrix<T> y;
  mpi::collective(world(), [&] {
    const mpi::NpySlice<T> slice(a.input, partition, world().rank());
    const auto local = slice.local();
    y = Matrix<T>::uninitialized(local.rows.rows(), p.components_count());
    for (std::int64_t r0 = 0; r0 < local.rows.rows(); r0 += a.block_rows) {
      const std::int64_t nr = std::min(a.block_rows, local.rows.rows() - r0);
      p.transform<T>(local.rows.row_block(r0, nr), y.view().row_block(r0, nr));
    }
  });
  mpi::write_rows<T>(world(), a.output, y.cview(), a.per_rank ? mpi::OutputLayout::per_rank : mpi::OutputLayout::single_file);
}

const RegisterCommand registered{"pca", [](CLI::App& app) {
  auto args = std::make_shared<PcaArgs>();
  auto* cmd = app.add_subcommand("pca", "Principal component analysis: project a data file onto its top k components");
  cmd->add_option("--input,-i", args->input, "Data file: .npy, IDX (.gz) or .fvecs, n x d")->required();
  cmd->add_option("--k", args->k, "Number of components")->required();
  cmd->add_option("--output,-o", args->output, "Projected data .npy, n x k (written atomically; dtype: --dtype)")->required();
  cmd->add_option("--components", args->components, "Also write the components, k x d float64 .npy");
  cmd->add_option("--model", args->model, "Also save the fitted PCA model");
  cmd->add_option("--solver", args->solver, "exact (distributed moments + eigh); randomized is not distributed")
      ->capture_default_str();
  cmd->add_option("--dtype", args->dtype,
                  "Output dtype: auto (the input's: float64 for float64 input, else float32) | float32 | float64")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the randomized solver (not distributed: refused)");
  cmd->add_option("--block-rows", args->block_rows,
                  "Rows per block: the ranks hold whole blocks; the result equals the single-process one with the "
                  "same value")
      ->capture_default_str();
  cmd->add_flag("--per-rank-output", args->per_rank, "One .npy per rank (OUT.rankR.npy) instead of one file");
  add_output_options(cmd, args->out);
  cmd->callback([args] {
    const auto& a = *args;
    std::string dtype;
    mpi::collective(world(), [&] {
      LOWDIM_CHECK(a.k >= 1, "pca: --k must be positive, not {}", a.k);
      LOWDIM_CHECK(a.block_rows >= 1, "pca: --block-rows must be positive, not {}", a.block_rows);
      LOWDIM_CHECK(a.solver == "exact" || a.solver == "randomized",
                   "pca: --solver must be exact or randomized, not '{}'", a.solver);
      LOWDIM_CHECK(a.solver == "exact",
                   "pca: under MPI only the exact solver is distributed (the randomized one reads the whole file)");
      LOWDIM_CHECK(!a.seed.has_value(), "pca: --seed is for the randomized solver, which is not distributed");
      dtype = output_dtype(a.dtype, a.input, "pca");
    });
    const ArrayInfo info = mpi::probe(world(), a.input);
    mpi::collective(world(), [&] {
      LOWDIM_CHECK(info.rows() >= 1 && info.cols() >= 1, "moments: {} holds no data ({} x {})", a.input, info.rows(),
                   info.cols());
    });
    const auto partition = mpi::RowPartition::blocked(info.rows(), world().size(), a.block_rows);
    const Moments moments = moments_in_float(info.dtype) ? distributed_moments<float>(a, partition)
                                                         : distributed_moments<double>(a, partition);
    std::optional<Pca> fitted;
    mpi::collective(world(), [&] { fitted = Pca::fit(moments, {.components = a.k}); });
    const Pca& p = *fitted;
    if (dtype == "float64")
      project_distributed<double>(p, a, partition);
    else
      project_distributed<float>(p, a, partition);
    on_root([&] {
      if (!a.components.empty()) write_npy<double>(a.components, p.components());
      if (!a.model.empty()) p.save(a.model);
    });
    if (world().rank() != 0) return;
    const auto ratio = p.explained_variance_ratio();
    if (a.out.wants_json()) {
      std::string variance, ratios;
      for (std::size_t i = 0; i < ratio.size(); ++i) {
        variance += (i ? ", " : "") + json_number(p.explained_variance()[i]);
        ratios += (i ? ", " : "") + json_number(ratio[i]);
      }
      a.out.write_json(fmt::format(
          "{{\"solver\": \"{}\", \"rows\": {}, \"dim\": {}, \"components\": {}, \"explained_variance\": [{}], "
          "\"explained_variance_ratio\": [{}], \"output\": {}, \"dtype\": \"{}\", {}, \"block_rows\": {}}}",
          a.solver, p.samples(), p.dim(), p.components_count(), variance, ratios, json_string(a.output), dtype,
          split_json(partition), a.block_rows));
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
    fmt::print("distributed: {} (blocks of {} rows)\n", split_text(partition), a.block_rows);
    fmt::print("output: {} ({})\n", a.output, dtype);
  });
}};

}  // namespace
}  // namespace lowdim::cli
