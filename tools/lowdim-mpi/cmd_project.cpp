// lowdim project under MPI: every rank maps its contiguous slice of the input (an even split),
// regenerates the same operator from the seed and projects its rows (no communication: the rows
// are bit-identical to the single-process run); the output is one .npy written with MPI-IO, or one
// file per rank (--per-rank-output), atomically.

#include "distributed.hpp"

#include <lowdim/linalg.hpp>
#include <lowdim/sketch.hpp>

namespace lowdim::cli {
namespace {

struct ProjectArgs {
  std::string input, output, kind = "gaussian";
  std::int64_t k = 0;
  std::uint64_t seed = 0;
  double density = 0;
  int threads = 0;
  bool per_rank = false;
  Output out;
};

template <class T>
void project(const ProjectArgs& a, const ArrayInfo& info) {
  const auto& comm = world();
  const std::int64_t n = info.rows(), d = info.cols();
  const auto partition = mpi::RowPartition::even(n, comm.size());
  std::optional<mpi::NpySlice<T>> slice;
  Matrix<T> y;
  mpi::collective(comm, [&] {
    const SketchOperator op(parse_sketch_kind(a.kind), d, a.k, a.seed, SketchOptions{.density = a.density});
    slice.emplace(a.input, partition, comm.rank());
    const auto local = slice->local();
    check_local_finite<T>(local, a.input, "project");
    y = Matrix<T>::uninitialized(local.rows.rows(), a.k);
    if (local.rows.rows() > 0) op.apply<T>(local.rows, y.view());
  });
  mpi::write_rows<T>(comm, a.output, y.cview(), a.per_rank ? mpi::OutputLayout::per_rank : mpi::OutputLayout::single_file);
  if (comm.rank() != 0) return;
  const char* dtype = std::is_same_v<T, double> ? "float64" : "float32";
  const std::string written = a.per_rank ? mpi::per_rank_path(a.output, 0) + " ... " +
                                               mpi::per_rank_path(a.output, comm.size() - 1)
                                         : a.output;
  if (a.out.table())
    fmt::print("project: {} x {} -> {} ({}, seed {}) on {}\nwrote {} ({})\n", n, d, a.k, a.kind, a.seed,
               split_text(partition), written, dtype);
  if (a.out.wants_json())
    a.out.write_json(fmt::format(
        "{{\"rows\": {}, \"dim\": {}, \"output_dim\": {}, \"kind\": {}, \"seed\": {}, \"dtype\": \"{}\", {}, "
        "\"output\": {}, \"per_rank_output\": {}}}",
        n, d, a.k, json_string(a.kind), a.seed, dtype, split_json(partition), json_string(a.output), a.per_rank));
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
  cmd->add_option("--threads", args->threads, "Threads per rank (0: all)")->capture_default_str();
  cmd->add_flag("--per-rank-output", args->per_rank, "One .npy per rank (OUT.rankR.npy) instead of one file");
  add_output_options(cmd, args->out);
  cmd->callback([args] {
    if (args->threads > 0) linalg::set_num_threads(args->threads);
    const ArrayInfo info = mpi::probe(world(), args->input);
    mpi::collective(world(), [&] { LOWDIM_CHECK(info.cols() >= 1, "project: {} has no columns", args->input); });
    if (info.dtype == DType::float64)
      project<double>(*args, info);
    else
      project<float>(*args, info);
  });
}};

}  // namespace
}  // namespace lowdim::cli
