// lowdim jl under MPI: the Johnson-Lindenstrauss distortion experiment with its projections (and the
// smallest-k searches, one per kind) dealt over the ranks; every rank holds the data (the sampled
// pairs reach any row; a float .npy is mapped in place, so the ranks share the page cache). The
// figures are bit-identical to the single-process `lowdim jl`; only rank 0 prints, and it says how
// the projections were split. Same flags as lowdim jl.

#include "distributed.hpp"
#include "jl_plot.hpp"

#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>
#include <lowdim/linalg.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace lowdim::cli {
namespace {

constexpr const char* kDefaultInput = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

struct JlArgs {
  std::string input = kDefaultInput;
  std::string kinds = "gaussian,rademacher,sparse,srht,countsketch";
  std::string dims = "16,32,64,128,256,512";
  double eps = 0.1;
  std::int64_t pairs = 10000;
  std::uint64_t seed = 0;
  int threads = 0;
  double target = 0.9;
  std::string plot;
  Output out;
};

std::vector<std::string> split(const std::string& text, const char* option) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const auto b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    usage_check(b != std::string::npos, "jl: {} '{}' has an empty item", option, text);
    out.push_back(item.substr(b, e - b + 1));
  }
  usage_check(!out.empty(), "jl: {} is empty", option);
  return out;
}

std::vector<std::int64_t> parse_dims(const std::string& text) {
  std::vector<std::int64_t> out;
  for (const auto& item : split(text, "--k")) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    usage_check(used == item.size() && v >= 1, "jl: --k item '{}' is not a positive integer", item);
    out.push_back(v);
  }
  return out;
}


struct Smallest {
  SketchKind kind;
  std::optional<SmallestDim> found;
  std::int64_t max_k = 0;
};


template <class T>
void run(const JlArgs& args, const std::vector<SketchKind>& kinds, const std::vector<std::int64_t>& dims) {
  const auto start = std::chrono::steady_clock::now();
  std::optional<MatrixFile<T>> mapped;
  mpi::collective(world(), [&] { mapped.emplace(args.input); });
  const MatrixFile<T>& file = *mapped;  // a float .npy is read in place (memory-mapped)
  const ConstMatrixView<T> x = file.view();
  DistortionOptions options;
  options.kinds = kinds;
  options.dims = dims;
  options.eps = args.eps;
  options.pairs = args.pairs;
  options.seed = args.seed;
  options.progress = {};  // each rank sees only its own projections: no bar under MPI
  const DistortionReport report = mpi::measure_distortion<T>(world(), x, options);

  std::vector<Smallest> smallest;
  if (args.target > 0) {
    const auto found = mpi::smallest_dims<T>(world(), x, kinds, args.eps, args.target, options);
    for (std::size_t i = 0; i < kinds.size(); ++i) smallest.push_back(Smallest{kinds[i], found[i], x.cols()});
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (world().rank() != 0) return;
  const int ranks = world().size();
  const std::size_t jobs = report.results.size();

  // ---- table ----
  if (args.out.table()) {
  fmt::print("Johnson-Lindenstrauss distortion of {}\n", args.input);
  fmt::print("n = {} points, d = {}, {} pairs (seed {}){}\n", report.n_points, report.dim, report.pairs, args.seed,
             report.zero_distance_pairs > 0 ? fmt::format(", {} pairs at distance 0 skipped", report.zero_distance_pairs)
                                            : std::string());
  fmt::print("ratio = |f(x) - f(y)|^2 / |x - y|^2; eps = {}; JL bound min_dim(n, eps) = {}\n\n", args.eps,
             report.min_dim_bound);
  fmt::print("{:<12} {:>5} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9} {:>8} {:>9}\n", "kind", "k",
             "mean", "std", "min", "q01", "q05", "q50", "q95", "q99", "max", "within", "inner err", "cos err",
             "JL eps(k)");
  for (const auto& r : report.results) {
    std::string guarantee = "-";
    try {
      guarantee = fmt::format("{:.3f}", guaranteed_eps(r.k, report.n_points));
    } catch (const invalid_argument&) {
    }
    fmt::print("{:<12} {:>5} {:>7.4f} {:>7.4f} {:>7.4f} {:>7.4f} {:>7.4f} {:>7.4f} {:>7.4f} {:>7.4f} {:>7.4f} {:>7.2f}% "
               "{:>9.4f} {:>8.4f} {:>9}\n",
               to_string(r.kind), r.k, r.mean, r.std, r.min, r.q01, r.q05, r.q50, r.q95, r.q99, r.max,
               100 * r.within_eps, r.inner_mean_abs_error, r.cosine_mean_abs_error, guarantee);
  }
  fmt::print("\nwithin = pairs with ratio in [1 - eps, 1 + eps]; inner/cos err = mean |<f(x), f(y)> - <x, y>| / "
             "(|x||y|) and mean |cos f - cos|;\nJL eps(k) = the distortion the bound guarantees for all pairs at this k "
             "('-': none below 1).\n");
  if (!smallest.empty()) {
    fmt::print("\nsmallest k keeping {:.0f}% of the pairs within eps = {} (JL bound: {}):\n", 100 * args.target, args.eps,
               report.min_dim_bound);
    for (const auto& s : smallest) {
      if (s.found)
        fmt::print("  {:<12} k = {:<6} ({:.2f}% within; {:.0f}x below the bound)\n", to_string(s.kind), s.found->k,
                   100 * s.found->within_eps, double(report.min_dim_bound) / double(s.found->k));
      else
        fmt::print("  {:<12} not reached up to k = {}\n", to_string(s.kind), s.max_k);
    }
  }
  fmt::print("\ndistributed: {} rank{}, {} projection{} dealt round-robin ({} to {} per rank); every rank holds "
             "the {} rows\n",
             ranks, ranks == 1 ? "" : "s", jobs, jobs == 1 ? "" : "s", jobs / ranks, (jobs + ranks - 1) / ranks,
             report.n_points);
  fmt::print("\n({:.1f} s)\n", seconds);
  }

  // ---- JSON ----
  if (args.out.wants_json()) {
    std::string j = "{\n";
    j += fmt::format("  \"ranks\": {},\n  \"rows_per_rank\": [{}],\n  \"projections_per_rank\": [{}],\n", ranks,
                     [&] {
                       std::string t;
                       for (int r = 0; r < ranks; ++r) t += fmt::format("{}{}", r ? ", " : "", report.n_points);
                       return t;
                     }(),
                     [&] {
                       std::string t;
                       for (int r = 0; r < ranks; ++r)
                         t += fmt::format("{}{}", r ? ", " : "", (jobs + ranks - 1 - static_cast<std::size_t>(r)) / ranks);
                       return t;
                     }());
    j += fmt::format("  \"input\": {},\n  \"n_points\": {},\n  \"dim\": {},\n  \"pairs\": {},\n", json_string(args.input),
                     report.n_points, report.dim, report.pairs);
    j += fmt::format("  \"zero_distance_pairs\": {},\n  \"eps\": {},\n  \"seed\": {},\n  \"min_dim_bound\": {},\n",
                     report.zero_distance_pairs, json_number(report.eps), args.seed, report.min_dim_bound);
    j += "  \"results\": [\n";
    for (std::size_t i = 0; i < report.results.size(); ++i) {
      const auto& r = report.results[i];
      std::string guarantee = "null";
      try {
        guarantee = json_number(guaranteed_eps(r.k, report.n_points));
      } catch (const invalid_argument&) {
      }
      j += fmt::format(
          "    {{\"kind\": \"{}\", \"k\": {}, \"mean\": {}, \"std\": {}, \"min\": {}, \"max\": {}, \"q01\": {}, "
          "\"q05\": {}, \"q50\": {}, \"q95\": {}, \"q99\": {}, \"within_eps\": {}, \"inner_mean_abs_error\": {}, "
          "\"inner_max_abs_error\": {}, \"cosine_mean_abs_error\": {}, \"cosine_max_abs_error\": {}, "
          "\"guaranteed_eps\": {}}}{}\n",
          to_string(r.kind), r.k, json_number(r.mean), json_number(r.std), json_number(r.min), json_number(r.max),
          json_number(r.q01), json_number(r.q05), json_number(r.q50), json_number(r.q95), json_number(r.q99),
          json_number(r.within_eps), json_number(r.inner_mean_abs_error), json_number(r.inner_max_abs_error),
          json_number(r.cosine_mean_abs_error), json_number(r.cosine_max_abs_error), guarantee,
          i + 1 < report.results.size() ? "," : "");
    }
    j += "  ]";
    if (!smallest.empty()) {
      j += fmt::format(",\n  \"target_fraction\": {},\n  \"smallest_k\": [\n", json_number(args.target));
      for (std::size_t i = 0; i < smallest.size(); ++i) {
        const auto& s = smallest[i];
        j += fmt::format("    {{\"kind\": \"{}\", \"k\": {}, \"within_eps\": {}}}{}\n", to_string(s.kind),
                         s.found ? std::to_string(s.found->k) : "null",
                         s.found ? json_number(s.found->within_eps) : "null", i + 1 < smallest.size() ? "," : "");
      }
      j += "  ]";
    }
    j += "\n}";
    args.out.write_json(j);
  }
  if (!args.plot.empty()) {
    JlPlotInfo plot{.input_name = std::filesystem::path(args.input).filename().string(),
                    .target_fraction = args.target,
                    .smallest = {}};
    for (const auto& s : smallest)
      if (s.found) plot.smallest.emplace_back(s.kind, s.found->k);
    write_jl_plot(args.plot, report, plot);
    if (args.out.table()) fmt::print("plot written to {}\n", args.plot);
  }
}

const RegisterCommand registered{"jl", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "jl", "Johnson-Lindenstrauss distortion experiment: how random projections to k dimensions change the "
            "pairwise distances of a data set (default: Fashion-MNIST)");
  auto args = std::make_shared<JlArgs>();
  cmd->add_option("--input", args->input, "Data file, n x d (.npy, IDX, .fvecs; .gz too)")->capture_default_str();
  cmd->add_option("--kinds", args->kinds, "Comma-separated sketch kinds")->capture_default_str();
  cmd->add_option("--k", args->dims, "Comma-separated target dimensions")->capture_default_str();
  cmd->add_option("--eps", args->eps, "Distortion tolerance, in (0, 1)")->capture_default_str();
  cmd->add_option("--pairs", args->pairs, "Random pairs of points (all pairs when n(n-1)/2 is fewer)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed for pairs and projections")->capture_default_str();
  cmd->add_option("--threads", args->threads, "Threads per rank (0: all)")->capture_default_str();
  cmd->add_option("--target", args->target,
                  "Find the smallest k keeping this fraction of pairs within eps (0: skip)")
      ->capture_default_str();
  add_output_options(cmd, args->out);
  cmd->add_option("--plot", args->plot, "Write an SVG picture of the distortion to this file");
  cmd->callback([args] {
    std::vector<SketchKind> kinds;
    const auto kind_names = split(args->kinds, "--kinds");
    mpi::collective(world(), [&] {
      LOWDIM_CHECK(args->pairs >= 1, "jl: --pairs {} must be positive", args->pairs);
      LOWDIM_CHECK(args->target >= 0 && args->target <= 1, "jl: --target {} is outside [0, 1]", args->target);
      LOWDIM_CHECK(args->eps > 0 && args->eps < 1, "jl: --eps {} is outside (0, 1)", args->eps);
      for (const auto& name : kind_names) kinds.push_back(parse_sketch_kind(name));
    });
    if (args->threads > 0) linalg::set_num_threads(args->threads);
    const auto dims = parse_dims(args->dims);
    if (args->input == kDefaultInput && !std::filesystem::exists(args->input))
      throw Exit{kExitIo, fmt::format("jl: the default input, Fashion-MNIST ({}), is not installed.\n"
                                "Install it with:  sudo apt-get install dataset-fashion-mnist\n"
                                "or pass another data file with --input FILE (.npy, IDX, .fvecs).",
                                args->input)};
    const ArrayInfo info = mpi::probe(world(), args->input);
    if (info.dtype == DType::float64)
      run<double>(*args, kinds, dims);
    else
      run<float>(*args, kinds, dims);
  });
}};

}  // namespace
}  // namespace lowdim::cli
