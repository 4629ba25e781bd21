// lowdim whiten fit | apply: fit a whitening transform from a file (streamed in
// blocks, memory bounded), save the model; apply a saved model to a file.

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
  Output out;
};

// Streams input through the model into an .npy of T, block by block; the output appears
// atomically when complete.
template <class T>
std::int64_t apply_stream(const Whitening& w, const ApplyArgs& a) {
  RowReader reader(a.input);
  LOWDIM_CHECK_SHAPE(reader.cols() == w.dim(), "whiten apply: {} has {} columns, the model expects d = {}", a.input,
                     reader.cols(), w.dim());
  auto in = Matrix<T>::uninitialized(std::max<std::int64_t>(1, std::min(a.block_rows, reader.rows())), reader.cols());
  auto out = Matrix<T>::uninitialized(in.rows(), w.output_dim());
  NpyWriter<T> writer(a.output, w.output_dim());
  Progress progress(a.out.progress());
  std::int64_t done = 0;
  while (const std::int64_t got = reader.read<T>(in.view())) {
    auto block = in.cview().row_block(0, got);
    if (auto bad = find_non_finite<T>(block))
      LOWDIM_THROW(invalid_argument, "whiten apply: {}: non-finite value {} at row {}, column {}", a.input, bad->value,
                   done + bad->row, bad->col);
    w.transform<T>(block, out.view().row_block(0, got));
    writer.append(out.cview().row_block(0, got));
    done += got;
    progress.update("whiten apply", done, reader.rows());
  }
  progress.finish();
  writer.commit();
  return done;
}

const RegisterCommand registered{"whiten", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("whiten", "Fit a whitening transform (pca, zca, cholesky, zca-cor, pca-cor) or apply one");
  cmd->require_subcommand(1);

  auto fit_args = std::make_shared<FitArgs>();
  auto* fit = cmd->add_subcommand("fit", "Fit a whitening model from a data file (streamed; memory bounded)");
  fit->add_option("--input,-i", fit_args->input, "Data file: .npy, IDX (.gz) or .fvecs, n x d")->required();
  fit->add_option("--kind", fit_args->kind, "pca | zca | cholesky | zca-cor | pca-cor")->capture_default_str();
  fit->add_option("--k", fit_args->k, "Output dimension (pca, pca-cor); 0 = d")->capture_default_str();
  fit->add_option("--eps", fit_args->eps, "Added to every eigenvalue (regularisation)")->capture_default_str();
  fit->add_option("--rank-tol", fit_args->rank_tolerance, "Drop eigenvalues <= rank-tol * largest")
      ->capture_default_str();
  fit->add_flag("--normalize", fit_args->normalize, "L2-normalise each whitened row");
  fit->add_flag("--fast", fit_args->fast, "Float32 scatter panels, for float and double input (about 2x faster, ~1e-5 relative)");
  fit->add_option("--block-rows", fit_args->block_rows, "Rows read per block")->capture_default_str();
  fit->add_option("--model,-m", fit_args->model, "Model file to write")->required();
  add_output_options(fit, fit_args->out);
  fit->callback([fit_args] {
    const auto& a = *fit_args;
    WhiteningOptions options;
    options.kind = parse_whitening_kind(a.kind);
    options.components = a.k;
    options.epsilon = a.eps;
    options.rank_tolerance = a.rank_tolerance;
    options.normalize = a.normalize;
    Progress progress(a.out.progress());
    const auto moments = Moments::from_file(
        a.input, a.block_rows, a.fast ? ScatterPrecision::block_float : ScatterPrecision::double_precision,
        [&](std::int64_t done, std::int64_t total) { progress.update("whiten fit: moments", done, total); });
    progress.finish();
    const auto w = Whitening::fit(moments, options);
    w.save(a.model);
    const auto ev = w.eigenvalues();
    if (a.out.table()) {
      fmt::print("whiten fit: {} whitening of {} x {} -> {} dimensions{}\n", to_string(w.kind()), moments.count(),
                 w.dim(), w.output_dim(), w.options().normalize ? ", L2-normalised" : "");
      fmt::print("eigenvalues{}: largest {:.6g}, smallest {:.6g}\n",
                 ev.size() && w.options().epsilon > 0 ? " (+eps)" : "", ev.front(), ev.back());
      fmt::print("model: {}\n", a.model);
    }
    if (a.out.wants_json())
      a.out.write_json(fmt::format(
          "{{\"kind\": \"{}\", \"rows\": {}, \"dim\": {}, \"output_dim\": {}, \"normalize\": {}, "
          "\"largest_eigenvalue\": {}, \"smallest_eigenvalue\": {}, \"model\": {}}}",
          to_string(w.kind()), moments.count(), w.dim(), w.output_dim(), w.options().normalize,
          json_number(ev.empty() ? NAN : ev.front()), json_number(ev.empty() ? NAN : ev.back()), json_string(a.model)));
  });

  auto apply_args = std::make_shared<ApplyArgs>();
  auto* apply = cmd->add_subcommand("apply", "Whiten a data file with a saved model (streamed)");
  apply->add_option("--model,-m", apply_args->model, "Model file written by whiten fit")->required();
  apply->add_option("--input,-i", apply_args->input, "Data file, n x d")->required();
  apply->add_option("--output,-o", apply_args->output, "Output .npy, n x k (written atomically)")->required();
  apply->add_option("--dtype", apply_args->dtype,
                    "auto (the input's: float64 for float64 input, else float32) | float32 | float64")
      ->capture_default_str();
  apply->add_option("--block-rows", apply_args->block_rows, "Rows per block")->capture_default_str();
  add_output_options(apply, apply_args->out);
  apply->callback([apply_args] {
    const auto& a = *apply_args;
    const std::string dtype = output_dtype(a.dtype, a.input, "whiten apply");
    LOWDIM_CHECK(a.block_rows >= 1, "whiten apply: --block-rows must be positive, not {}", a.block_rows);
    const auto w = Whitening::load(a.model);
    // The input is read as the output's type and centred in double by the transform, so
    // float64 data far from the origin keep their precision (float32 would round x itself).
    const std::int64_t n = dtype == "float32" ? apply_stream<float>(w, a) : apply_stream<double>(w, a);
    if (a.out.table())
      fmt::print("whiten apply: {} rows x {} -> {} ({}) written to {}\n", n, w.dim(), w.output_dim(), dtype, a.output);
    if (a.out.wants_json())
      a.out.write_json(fmt::format(
          "{{\"rows\": {}, \"dim\": {}, \"output_dim\": {}, \"dtype\": \"{}\", \"output\": {}}}", n, w.dim(),
          w.output_dim(), dtype, json_string(a.output)));
  });
}};

}  // namespace
}  // namespace lowdim::cli
