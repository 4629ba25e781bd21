// lowdim svd under MPI: the distributed randomized SVD (lowdim::mpi::rsvd) of a row-split matrix
// file; U is written by every rank into one PREFIX_U.npy (MPI-IO), S and Vt by rank 0, and the
// three are renamed together (all or none). Bit-identical for any number of ranks.

#include "distributed.hpp"

#include <lowdim/rsvd.hpp>

#include <span>

namespace lowdim::cli {
namespace {

struct SvdArgs {
  std::string input, out;
  std::optional<std::int64_t> rank;
  std::optional<double> tol;
  std::string method, sketch = "gaussian";
  std::int64_t oversampling = automatic, block_size = automatic;
  int power_iterations = automatic;
  std::uint64_t seed = 0;
  std::int64_t block_rows = 1024;
  Output output;
};

template <class T>
void run(const SvdArgs& args, std::int64_t rows, const char* dtype) {
  const auto& comm = world();
  const auto partition = mpi::RowPartition::blocked(rows, comm.size(), args.block_rows);
  std::optional<mpi::NpySlice<T>> slice;
  mpi::collective(comm, [&] { slice.emplace(args.input, partition, comm.rank()); });
  const auto local = slice->local();
  mpi::RsvdOptions o;
  o.rank = *args.rank;
  if (args.oversampling != automatic) o.oversampling = args.oversampling;
  o.power_iterations = args.power_iterations;
  o.seed = args.seed;
  o.block_rows = args.block_rows;
  mpi::collective(comm, [&] { o.sketch = parse_sketch_kind(args.sketch); });
  const double t0 = MPI_Wtime();
  const auto r = mpi::rsvd<T>(comm, local, o);
  const double seconds = MPI_Wtime() - t0;
  const double error = mpi::projection_error<T>(comm, local, r, args.block_rows);
  const double norm_a = mpi::norm_fro<T>(comm, local, args.block_rows);
  const double relative = norm_a > 0 ? error / norm_a : 0.0;
  auto u = mpi::write_rows_prepared<T>(comm, args.out + "_U.npy", r.u.cview());
  on_root([&] {
    AtomicFile s(args.out + "_S.npy"), vt(args.out + "_Vt.npy");
    write_npy<T>(s, std::span<const T>(r.s));
    write_npy<T>(vt, r.vt.cview());
    AtomicFile* const files[] = {u.get(), &s, &vt};
    commit_together(files);
  });
  // Bytes each rank sent (the counting Communicator), gathered before rank 0 reports.
  const std::vector<std::int64_t> sent = comm.all_gather(comm.traffic().bytes_sent);
  if (comm.rank() != 0) return;
  const auto k = static_cast<std::int64_t>(r.s.size());
  std::string sent_text;
  for (std::size_t i = 0; i < sent.size(); ++i) sent_text += fmt::format("{}{}", i ? ", " : "", sent[i]);
  if (args.output.wants_json()) {
    std::string values;
    for (std::int64_t j = 0; j < k; ++j) values += fmt::format("{}{}", j ? ", " : "", r.s[static_cast<std::size_t>(j)]);
    args.output.write_json(fmt::format(
        "{{\"method\": \"rsvd\", \"rows\": {}, \"cols\": {}, \"dtype\": \"{}\", \"rank\": {}, \"passes\": {}, "
        "\"iterations\": {}, \"singular_values\": [{}], \"error\": {}, \"relative_error\": {}, \"error_kind\": "
        "\"computed\", \"files\": [{}, {}, {}], {}, \"block_rows\": {}, \"seconds\": {}, "
        "\"bytes_sent_per_rank\": [{}]}}",
        local.total_rows, local.rows.cols(), dtype, k, r.passes, r.iterations, values, json_number(error),
        json_number(relative), json_string(args.out + "_U.npy"), json_string(args.out + "_S.npy"),
        json_string(args.out + "_Vt.npy"), split_json(partition), args.block_rows, seconds, sent_text));
  }
  if (!args.output.table()) return;
  fmt::print("svd of {} x {} {} by rsvd: rank {}, {} passes over A, {} power iteration{}\n", local.total_rows,
             local.rows.cols(), dtype, k, r.passes, r.iterations, r.iterations == 1 ? "" : "s");
  fmt::print("distributed: {} (blocks of {} rows)\n", split_text(partition), args.block_rows);
  fmt::print("singular values:\n");
  for (std::int64_t j = 0; j < k; ++j) fmt::print("  {:>5}  {:.10g}\n", j + 1, r.s[static_cast<std::size_t>(j)]);
  fmt::print("error ||A - U S Vt||_F = {:.6g} (relative {:.6g}), computed\n", error, relative);
  fmt::print("wrote {}_U.npy ({} x {}), {}_S.npy ({}), {}_Vt.npy ({} x {})\n", args.out, local.total_rows, k,
             args.out, k, args.out, k, local.rows.cols());
}

const RegisterCommand registered{"svd", [](CLI::App& app) {
  auto args = std::make_shared<SvdArgs>();
  auto* cmd = app.add_subcommand("svd", "Randomized SVD of a matrix file (rows split over the ranks): PREFIX_U/S/Vt.npy");
  cmd->add_option("--input,-i", args->input, "Matrix file (.npy, IDX, .fvecs): rows x cols")->required();
  cmd->add_option("--rank,-k", args->rank, "Target rank k");
  cmd->add_option("--tol", args->tol, "Fixed accuracy (method qb): not distributed, refused");
  cmd->add_option("--method,-m", args->method,
                  "rsvd (the default under MPI; krylov, qb and single-pass are not distributed and are refused)");
  cmd->add_option("--oversampling,-p", args->oversampling, "rsvd: extra columns (default 10)");
  cmd->add_option("--power-iterations,-q", args->power_iterations,
                  "rsvd: power iterations (default 7 if k < min(m,n)/10 else 4), each orthonormalised");
  cmd->add_option("--block-size,-b", args->block_size, "krylov, qb: block width; refused by rsvd");
  cmd->add_option("--sketch", args->sketch, "Test matrix: gaussian (default), rademacher, sparse, srht, countsketch");
  cmd->add_option("--seed", args->seed, "Random seed (same seed, same result on any number of ranks)");
  cmd->add_option("--block-rows", args->block_rows,
                  "Rows per block of the fixed reduction tree (the ranks hold whole blocks); results depend on it, "
                  "not on the number of ranks")
      ->capture_default_str();
  cmd->add_option("--out,-o", args->out, "Output prefix: PREFIX_U.npy, PREFIX_S.npy, PREFIX_Vt.npy")->required();
  add_output_options(cmd, args->output);
  cmd->callback([args] {
    const auto& a = *args;
    mpi::collective(world(), [&] {
      LOWDIM_CHECK(a.method.empty() || a.method == "rsvd",
                   "svd: under MPI only --method rsvd is distributed, not '{}' (krylov, qb and single-pass run in "
                   "one process: lowdim svd without mpirun)",
                   a.method);
      LOWDIM_CHECK(!a.tol.has_value(), "svd: --tol needs --method qb, which is not distributed");
      LOWDIM_CHECK(a.rank.has_value(), "svd: method rsvd needs --rank");
      LOWDIM_CHECK(a.block_size == automatic, "svd: --block-size is for krylov and qb, not rsvd");
      LOWDIM_CHECK(a.block_rows >= 1, "svd: --block-rows must be positive, not {}", a.block_rows);
    });
    const ArrayInfo info = mpi::probe(world(), a.input);
    if (info.dtype == DType::float32)
      run<float>(a, info.rows(), "float32");
    else
      run<double>(a, info.rows(), "float64");
  });
}};

}  // namespace
}  // namespace lowdim::cli
