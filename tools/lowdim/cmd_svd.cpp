// lowdim svd: a randomized SVD of a matrix file, written as PREFIX_U.npy, PREFIX_S.npy and
// PREFIX_Vt.npy (all three or none), with the singular values and the error estimate printed.

#include "command.hpp"
#include "output.hpp"

#include <lowdim/io.hpp>
#include <lowdim/rsvd.hpp>

#include <fmt/core.h>

#include <optional>
#include <span>
#include <string>

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
  Output output;
};

// Writes the three files to unique temporaries beside them (mkstemp: two jobs writing the same
// prefix never collide), then renames all three (commit_together): a failure before the renames
// leaves nothing, and a failed rename puts back the files already replaced, so the prefix holds
// the previous set or the new one. Only temporaries are ever removed.
template <class T>
void write_factors(const std::string& prefix, const SvdResult<T>& r) {
  AtomicFile u(prefix + "_U.npy"), s(prefix + "_S.npy"), vt(prefix + "_Vt.npy");
  write_npy<T>(u, r.u.cview());
  write_npy<T>(s, std::span<const T>(r.s));
  write_npy<T>(vt, r.vt.cview());
  AtomicFile* const files[] = {&u, &s, &vt};
  commit_together(files);
}

// What result.iterations counts, per method.
std::string iterations_text(SvdMethod method, std::int64_t n) {
  switch (method) {
    case SvdMethod::krylov:
      return fmt::format("{} Krylov block{} (depth chosen by the residual check)", n, n == 1 ? "" : "s");
    case SvdMethod::rsvd:
      return fmt::format("{} power iteration{}", n, n == 1 ? "" : "s");
    case SvdMethod::qb:
      return fmt::format("{} block{}", n, n == 1 ? "" : "s");
    case SvdMethod::single_pass:
      return "one pass, no iterations";
  }
  return "";
}

template <class T>
void run(ConstMatrixView<T> a, const SvdArgs& args, const char* dtype) {
  SvdOptions o;
  o.method = args.method.empty() ? (args.tol ? SvdMethod::qb : SvdMethod::krylov) : parse_svd_method(args.method);
  if (o.method == SvdMethod::qb) {
    LOWDIM_CHECK(args.tol.has_value(), "svd: method qb needs --tol (the relative Frobenius error to reach)");
  } else {
    LOWDIM_CHECK(!args.tol.has_value(), "svd: --tol needs --method qb (method {} is fixed-rank)", to_string(o.method));
    LOWDIM_CHECK(args.rank.has_value(), "svd: method {} needs --rank", to_string(o.method));
  }
  o.rank = args.rank.value_or(0);
  o.tol = args.tol.value_or(0.0);
  o.oversampling = args.oversampling;
  o.power_iterations = args.power_iterations;
  o.block_size = args.block_size;
  o.seed = args.seed;
  o.sketch = parse_sketch_kind(args.sketch);
  Activity activity(args.output.progress(), fmt::format("svd ({}) of {} x {}", to_string(o.method), a.rows(), a.cols()));
  auto r = svd<T>(a, o);
  const double error = r.error >= 0 ? r.error : projection_error<T>(a, r);
  const double norm_a = linalg::norm_fro<T>(a);
  const double relative = r.relative_error >= 0 ? r.relative_error : (norm_a > 0 ? error / norm_a : 0.0);
  const char* kind = o.method == SvdMethod::single_pass ? "estimated (independent Gaussian sketch)" : "computed";
  activity.stop();
  write_factors<T>(args.out, r);
  const auto k = static_cast<std::int64_t>(r.s.size());
  if (args.output.wants_json()) {
    std::string values;
    for (std::int64_t j = 0; j < k; ++j) values += fmt::format("{}{}", j ? ", " : "", r.s[static_cast<std::size_t>(j)]);
    args.output.write_json(fmt::format(
        "{{\"method\": \"{}\", \"rows\": {}, \"cols\": {}, \"dtype\": \"{}\", \"rank\": {}, \"passes\": {}, "
        "\"iterations\": {}, \"singular_values\": [{}], \"error\": {}, \"relative_error\": {}, \"error_kind\": "
        "\"{}\", \"files\": [{}, {}, {}]}}",
        to_string(o.method), a.rows(), a.cols(), dtype, k, r.passes, r.iterations, values, json_number(error),
        json_number(relative), o.method == SvdMethod::single_pass ? "estimated" : "computed",
        json_string(args.out + "_U.npy"), json_string(args.out + "_S.npy"), json_string(args.out + "_Vt.npy")));
  }
  if (!args.output.table()) return;
  fmt::print("svd of {} x {} {} by {}: rank {}, {} pass{} over A, {}\n", a.rows(), a.cols(), dtype,
             to_string(o.method), k, r.passes, r.passes == 1 ? "" : "es", iterations_text(o.method, r.iterations));
  fmt::print("singular values:\n");
  for (std::int64_t j = 0; j < k; ++j) fmt::print("  {:>5}  {:.10g}\n", j + 1, r.s[static_cast<std::size_t>(j)]);
  fmt::print("error ||A - U S Vt||_F = {:.6g} (relative {:.6g}), {}\n", error, relative, kind);
  if (o.method == SvdMethod::qb && relative > o.tol)
    fmt::print("note: tol {} not reached: stopped at the maximum rank {}\n", o.tol, k);
  fmt::print("wrote {}_U.npy ({} x {}), {}_S.npy ({}), {}_Vt.npy ({} x {})\n", args.out, a.rows(), k, args.out, k,
             args.out, k, a.cols());
}

const RegisterCommand registered{"svd", [](CLI::App& app) {
  auto args = std::make_shared<SvdArgs>();
  auto* cmd = app.add_subcommand("svd", "Randomized SVD of a matrix file: writes PREFIX_U/S/Vt.npy");
  cmd->add_option("--input,-i", args->input, "Matrix file (.npy, IDX, .fvecs): rows x cols")->required();
  auto* rank = cmd->add_option("--rank,-k", args->rank, "Target rank k (fixed-rank methods; qb: maximum rank)");
  cmd->add_option("--tol", args->tol, "Relative Frobenius error to reach, in (0, 1) (method qb, the default with --tol)");
  cmd->add_option("--method,-m", args->method,
                  "krylov (default), rsvd, qb (fixed accuracy) or single-pass (streaming sketch)");
  // An option the chosen method does not use is refused (lowdim::svd names it), never ignored.
  cmd->add_option("--oversampling,-p", args->oversampling,
                  "rsvd: extra columns (default 10); single-pass: range sketch k = rank + p (default rank + 1); "
                  "refused by krylov and qb");
  cmd->add_option("--power-iterations,-q", args->power_iterations,
                  "rsvd: power iterations (default 7 if k < min(m,n)/10 else 4); krylov: the most blocks (default: "
                  "stop on the residual check); qb: per block (default 1); refused by single-pass");
  cmd->add_option("--block-size,-b", args->block_size,
                  "krylov, qb: block width (default 32); refused by rsvd and single-pass");
  cmd->add_option("--sketch", args->sketch,
                  "Test matrix: gaussian (default), rademacher, sparse, srht, countsketch (single-pass: gaussian only)");
  cmd->add_option("--seed", args->seed, "Random seed (same seed, same result on any thread count)");
  cmd->add_option("--out,-o", args->out, "Output prefix: PREFIX_U.npy, PREFIX_S.npy, PREFIX_Vt.npy")->required();
  add_output_options(cmd, args->output);
  (void)rank;
  cmd->callback([args] {
    LOWDIM_CHECK(args->rank.has_value() || args->tol.has_value(), "svd: give --rank K or --tol T");
    // float32 and float64 .npy files are used in place (memory-mapped, never copied);
    // anything else is read and converted (float32 stays float32, the rest becomes double).
    const ArrayInfo info = probe(args->input);
    if (info.dtype == DType::float32) {
      const MatrixFile<float> a(args->input);
      return run<float>(a.view(), *args, "float32");
    }
    const MatrixFile<double> a(args->input);
    run<double>(a.view(), *args, "float64");
  });
}};

}  // namespace
}  // namespace lowdim::cli
