// lowdim whiten fit | apply under MPI. fit: each rank maps its slice (split on whole blocks of
// --block-rows), forms its blocks' moments, and the blocks are merged in global order
// (lowdim::mpi::moments): the model has the bits of the single-process `lowdim whiten fit` with the
// same --block-rows, for any number of ranks. apply: each rank whitens its slice; one output .npy.

#include "distributed.hpp"
#include "output_dtype.hpp"

#include <lowdim/whitening.hpp>

namespace lowdim::cli {
namespace {

struct FitArgs {
  std::string input, model, kind = "zca";
  std::int64_t k = 0;
  double eps = 0, rank_tolerance = 0;
  bool normalize = false, fast = false;
  std::int64_t block_rows = 16384;
  Output out;
};

struct ApplyArgs {
  std::string model, input, output, dtype = "auto";
  std::int64_t block_rows = 16384;
  bool per_rank = false;
  Output out;
};

// float32 and the small integer dtypes are exact in float; the rest are read as double
// (Moments::from_file's rule, so the moments see the same values).
bool moments_in_float(DType dtype) {
  return dtype == DType::float32 || dtype == DType::uint8 || dtype == DType::int8 || dtype == DType::uint16 ||
         dtype == DType::int16;
}

template <class T>
Moments distributed_moments(const std::string& input, std::int64_t rows, std::int64_t block_rows,
                            ScatterPrecision precision, mpi::RowPartition& partition) {
  partition = mpi::RowPartition::blocked(rows, world().size(), block_rows);
  std::optional<mpi::NpySlice<T>> slice;
  mpi::collective(world(), [&] { slice.emplace(input, partition, world().rank()); });
  return mpi::moments<T>(world(), slice->local(), block_rows, precision);
}

template <class T>
std::int64_t apply_distributed(const Whitening& w, const ApplyArgs& a, std::int64_t rows, mpi::RowPartition& partition) {
  partition = mpi::RowPartition::even(rows, world().size());
  Matrix<T> y;
  mpi::collective(world(), [&] {
    const mpi::NpySlice<T> slice(a.input, partition, world().rank());
    const auto local = slice.local();
    LOWDIM_CHECK_SHAPE(local.rows.cols() == w.dim(), "whiten apply: {} has {} columns, the model expects d = {}",
                       a.input, local.rows.cols(), w.dim());
    check_local_finite<T>(local, a.input, "whiten apply");
    y = Matrix<T>::uninitialized(local.rows.rows(), w.output_dim());
    for (std::int64_t r0 = 0; r0 < local.rows.rows(); r0 += a.block_rows) {
      const std::int64_t nr = std::min(a.block_rows, local.rows.rows() - r0);
      w.transform<T>(local.rows.row_block(r0, nr), y.view().row_block(r0, nr));
    }
  });
  mpi::write_rows<T>(world(), a.output, y.cview(), a.per_rank ? mpi::OutputLayout::per_rank : mpi::OutputLayout::single_file);
  return rows;
}

const RegisterCommand registered{"whiten", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("whiten", "Fit a whitening transform (pca, zca, cholesky, zca-cor, pca-cor) or apply one");
  cmd->require_subcommand(1);

  auto fit_args = std::make_shared<FitArgs>();
  auto* fit = cmd->add_subcommand("fit", "Fit a whitening model from a data file (rows split over the ranks)");
  fit->add_option("--input,-i", fit_args->input, "Data file: .npy, IDX (.gz) or .fvecs, n x d")->required();
  fit->add_option("--kind", fit_args->kind, "pca | zca | cholesky | zca-cor | pca-cor")->capture_default_str();
  fit->add_option("--k", fit_args->k, "Output dimension (pca, pca-cor); 0 = d")->capture_default_str();
  fit->add_option("--eps", fit_args->eps, "Added to every eigenvalue (regularisation)")->capture_default_str();
  fit->add_option("--rank-tol", fit_args->rank_tolerance, "Drop eigenvalues <= rank-tol * largest")
      ->capture_default_str();
  fit->add_flag("--normalize", fit_args->normalize, "L2-normalise each whitened row");
  fit->add_flag("--fast", fit_args->fast, "Float32 scatter panels for float input (about 2x faster, ~1e-5 relative)");
  fit->add_option("--block-rows", fit_args->block_rows,
                  "Rows per block: the ranks hold whole blocks; the model equals the single-process one with the "
                  "same value")
      ->capture_default_str();
  fit->add_option("--model,-m", fit_args->model, "Model file to write")->required();
  add_output_options(fit, fit_args->out);
  fit->callback([fit_args] {
    const auto& a = *fit_args;
    WhiteningOptions options;
    mpi::collective(world(), [&] {
      LOWDIM_CHECK(a.block_rows >= 1, "moments: block_rows must be positive, not {}", a.block_rows);
      options.kind = parse_whitening_kind(a.kind);
    });
    options.components = a.k;
    options.epsilon = a.eps;
    options.rank_tolerance = a.rank_tolerance;
    options.normalize = a.normalize;
    const ArrayInfo info = mpi::probe(world(), a.input);
    mpi::collective(world(), [&] {
      LOWDIM_CHECK(info.rows() >= 1 && info.cols() >= 1, "moments: {} holds no data ({} x {})", a.input, info.rows(),
                   info.cols());
    });
    const auto precision = a.fast ? ScatterPrecision::block_float : ScatterPrecision::double_precision;
    mpi::RowPartition partition;
    const Moments moments = moments_in_float(info.dtype)
                                ? distributed_moments<float>(a.input, info.rows(), a.block_rows, precision, partition)
                                : distributed_moments<double>(a.input, info.rows(), a.block_rows, precision, partition);
    // The fit is d³ work on identical moments: rank 0 does it and writes the model.
    on_root([&] {
      const auto w = Whitening::fit(moments, options);
      w.save(a.model);
      const auto ev = w.eigenvalues();
      if (a.out.table()) {
        fmt::print("whiten fit: {} whitening of {} x {} -> {} dimensions{}\n", to_string(w.kind()), moments.count(),
                   w.dim(), w.output_dim(), w.options().normalize ? ", L2-normalised" : "");
        fmt::print("eigenvalues{}: largest {:.6g}, smallest {:.6g}\n",
                   ev.size() && w.options().epsilon > 0 ? " (+eps)" : "", ev.front(), ev.back());
        fmt::print("distributed: {} (blocks of {} rows)\n", split_text(partition), a.block_rows);
        fmt::print("model: {}\n", a.model);
      }
      if (a.out.wants_json())
        a.out.write_json(fmt::format(
            "{{\"kind\": \"{}\", \"rows\": {}, \"dim\": {}, \"output_dim\": {}, \"normalize\": {}, "
            "\"largest_eigenvalue\": {}, \"smallest_eigenvalue\": {}, \"model\": {}, {}, \"block_rows\": {}}}",
            to_string(w.kind()), moments.count(), w.dim(), w.output_dim(), w.options().normalize,
            json_number(ev.empty() ? NAN : ev.front()), json_number(ev.empty() ? NAN : ev.back()),
            json_string(a.model), split_json(partition), a.block_rows));
    });
  });

  auto apply_args = std::make_shared<ApplyArgs>();
  auto* apply = cmd->add_subcommand("apply", "Whiten a data file with a saved model (rows split over the ranks)");
  apply->add_option("--model,-m", apply_args->model, "Model file written by whiten fit")->required();
  apply->add_option("--input,-i", apply_args->input, "Data file, n x d")->required();
  apply->add_option("--output,-o", apply_args->output, "Output .npy, n x k (written atomically)")->required();
  apply->add_option("--dtype", apply_args->dtype,
                    "auto (the input's: float64 for float64 input, else float32) | float32 | float64")
      ->capture_default_str();
  apply->add_option("--block-rows", apply_args->block_rows, "Rows per transform call")
      ->capture_default_str();
  apply->add_flag("--per-rank-output", apply_args->per_rank, "One .npy per rank (OUT.rankR.npy) instead of one file");
  add_output_options(apply, apply_args->out);
  apply->callback([apply_args] {
    const auto& a = *apply_args;
    std::string dtype;
    std::optional<Whitening> w;
    mpi::collective(world(), [&] {
      dtype = output_dtype(a.dtype, a.input, "whiten apply");
      LOWDIM_CHECK(a.block_rows >= 1, "whiten apply: --block-rows must be positive, not {}", a.block_rows);
      w = Whitening::load(a.model);
    });
    const ArrayInfo info = mpi::probe(world(), a.input);
    mpi::RowPartition partition;
    const std::int64_t n = dtype == "float32" ? apply_distributed<float>(*w, a, info.rows(), partition)
                                              : apply_distributed<double>(*w, a, info.rows(), partition);
    if (world().rank() != 0) return;
    if (a.out.table())
      fmt::print("whiten apply: {} rows x {} -> {} ({}) written to {}\ndistributed: {}\n", n, w->dim(),
                 w->output_dim(), dtype, a.output, split_text(partition));
    if (a.out.wants_json())
      a.out.write_json(fmt::format(
          "{{\"rows\": {}, \"dim\": {}, \"output_dim\": {}, \"dtype\": \"{}\", \"output\": {}, {}}}", n, w->dim(),
          w->output_dim(), dtype, json_string(a.output), split_json(partition)));
  });
}};

}  // namespace
}  // namespace lowdim::cli
