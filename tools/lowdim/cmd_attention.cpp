// lowdim attention apply|error|bench: random-feature attention from the command line.
//   apply  exact or linear attention of .npy q, k, v (L x d or heads x L x d), RoPE optional.
//   error  kernel and output MSE of the feature maps against exact (mean and median over draws).
//   bench  time and extra peak memory of exact, bidirectional and causal attention against L.

#include "attention_plot.hpp"
#include "command.hpp"
#include "output.hpp"

#include <lowdim/attention.hpp>
#include <lowdim/io.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/random.hpp>
#include <lowdim/rope.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lowdim::cli {
namespace {

// ---------------------------------------------------------------- apply

struct ApplyArgs {
  std::string q, k, v, output, method = "favor", projection = "orf", rope = "none", rope_scaling = "none",
                                rope_on = "auto", grid, dtype = "auto";
  std::int64_t features = 256, block = 128, original_length = 0;
  double factor = 1, rope_base = 10000, scale = 0;
  std::uint64_t seed = 0;
  bool causal = false;
  int threads = 0;
  Output out;
};

struct Tensor3 {
  std::int64_t heads, length, dim;
  bool three_d;
};

Tensor3 shape_of(const std::string& path, const char* name) {
  const ArrayInfo info = probe(path);
  LOWDIM_CHECK(info.shape.size() == 2 || info.shape.size() == 3,
               "attention apply: --{} {} has {} dimensions, expected L x d or heads x L x d", name, path,
               info.shape.size());
  if (info.shape.size() == 2) return {1, info.shape[0], info.shape[1], false};
  return {info.shape[0], info.shape[1], info.shape[2], true};
}

// A C-order .npy of shape (heads, L, d) or (L, d), written atomically.
template <class T>
void write_tensor(const std::string& path, ConstMatrixView<T> m, const Tensor3& shape) {
  if (!shape.three_d) {
    write_npy<T>(path, m);
    return;
  }
  std::string header = fmt::format("{{'descr': '<f{}', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
                                   sizeof(T), shape.heads, shape.length, m.cols());
  const std::size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  AtomicFile file(path);
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  file.write(magic, 8);
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  const unsigned char len_bytes[2] = {static_cast<unsigned char>(len & 0xff), static_cast<unsigned char>(len >> 8)};
  file.write(len_bytes, 2);
  file.write(header.data(), header.size());
  for (std::int64_t r = 0; r < m.rows(); ++r) file.write(m.row(r), static_cast<std::size_t>(m.cols()) * sizeof(T));
  file.commit();
}

// "exact" or a feature map name (favor = positive, favor++ = optimal, trig = trig_softmax, …).
std::optional<FeatureMapKind> parse_method(const std::string& method) {
  if (method == "exact" || method == "softmax") return std::nullopt;
  return parse_feature_map(method);
}

template <class T>
void run_apply(const ApplyArgs& a) {
  const Tensor3 sq = shape_of(a.q, "q"), sk = shape_of(a.k, "k"), sv = shape_of(a.v, "v");
  LOWDIM_CHECK_SHAPE(sq.heads == sk.heads && sk.heads == sv.heads,
                     "attention apply: heads of q ({}), k ({}) and v ({}) differ", sq.heads, sk.heads, sv.heads);
  LOWDIM_CHECK_SHAPE(sq.dim == sk.dim, "attention apply: q has d = {} but k has {}", sq.dim, sk.dim);
  LOWDIM_CHECK_SHAPE(sk.length == sv.length, "attention apply: k has L = {} rows but v has {}", sk.length, sv.length);
  const auto read = [](const std::string& path, const Tensor3& s) {
    Matrix<T> flat = read_matrix<T>(path);
    Matrix<T> m = Matrix<T>::uninitialized(s.heads * s.length, s.dim);
    std::copy(flat.flat().begin(), flat.flat().end(), m.flat().begin());
    return m;
  };
  Matrix<T> q = read(a.q, sq), k = read(a.k, sk), v = read(a.v, sv);
  const auto method = parse_method(a.method);
  AttentionOptions o;
  o.causal = a.causal;
  o.block = a.block;
  o.scale = a.scale;
  // RoPE: on q and k (exact, or --rope-on qk), or on the features (linear attention, RoFormer).
  const std::string rope_on = a.rope_on == "auto" ? (method ? "features" : "qk") : a.rope_on;
  usage_check(rope_on == "qk" || rope_on == "features", "attention apply: --rope-on must be auto, qk or features, not '{}'",
              a.rope_on);
  usage_check(a.rope == "none" || a.rope == "1d" || a.rope == "1d-half" || a.rope == "2d",
              "attention apply: --rope must be none, 1d, 1d-half or 2d, not '{}'", a.rope);
  RopeOptions ro;
  ro.base = a.rope_base;
  ro.scaling = parse_rope_scaling(a.rope_scaling);
  ro.factor = a.factor;
  ro.original_length = a.original_length;
  if (a.rope == "none") {
    LOWDIM_CHECK(ro.scaling == RopeScaling::none && a.grid.empty() && a.rope_on == "auto",
                 "attention apply: --rope-scaling, --grid and --rope-on need --rope 1d, 1d-half or 2d");
  } else if (rope_on == "features") {
    LOWDIM_CHECK(method.has_value(), "attention apply: exact attention rotates q and k (--rope-on qk), not features");
    LOWDIM_CHECK(a.rope == "1d", "attention apply: --rope {} on the features: only 1d (interleaved pairs of features); "
                                 "use --rope-on qk for 1d-half or 2d", a.rope);
    LOWDIM_CHECK(a.grid.empty(), "attention apply: --grid is for --rope 2d");
  } else if (a.rope == "2d") {
    LOWDIM_CHECK(!a.grid.empty(), "attention apply: --rope 2d needs --grid HxW");
    std::int64_t gh = 0, gw = 0;
    char x = 0;
    std::istringstream in(a.grid);
    usage_check(static_cast<bool>(in >> gh >> x >> gw) && x == 'x' && in.peek() == EOF,
                "attention apply: --grid must be HxW, not '{}'", a.grid);
    LOWDIM_CHECK(gh * gw == sq.length && gh * gw == sk.length,
                 "attention apply: grid {}x{} has {} cells, but q has L = {} and k L = {}", gh, gw, gh * gw, sq.length,
                 sk.length);
    const GridPositions g = grid_positions(gh, gw);
    apply_rope_axial<T>(q, sq.heads, g.x, g.y, RopeLayout::interleaved, ro);
    apply_rope_axial<T>(k, sk.heads, g.x, g.y, RopeLayout::interleaved, ro);
  } else {
    LOWDIM_CHECK(a.grid.empty(), "attention apply: --grid is for --rope 2d");
    const RopeLayout layout = a.rope == "1d" ? RopeLayout::interleaved : RopeLayout::half_split;
    apply_rope<T>(q, sq.heads, layout, ro);
    apply_rope<T>(k, sk.heads, layout, ro);
  }
  Matrix<T> out(sq.heads * sq.length, sv.dim);
  const auto start = std::chrono::steady_clock::now();
  if (!method) {
    LOWDIM_CHECK(a.features == 256 && a.projection == "orf" && a.seed == 0,
                 "attention apply: --features, --projection and --seed are for the random-feature methods, not exact");
    softmax_attention<T>(q, k, v, sq.heads, out, o);
  } else {
    RandomFeatures f(*method, parse_feature_projection(a.projection), sq.dim, a.features, a.seed);
    if (a.rope != "none" && rope_on == "features")
      o.feature_rotation.frequencies = rope_frequencies(f.features(), ro, sq.length);
    linear_attention<T>(f, q, k, v, sq.heads, out, o);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_tensor<T>(a.output, out, Tensor3{sq.heads, sq.length, sv.dim, sq.three_d || sk.three_d});
  if (a.out.table())
    fmt::print("attention {} ({}{}): {} heads x L {} x d {} -> {} in {:.3f} s\n", a.method, a.causal ? "causal" : "bidirectional",
               a.rope == "none" ? "" : ", rope " + a.rope, sq.heads, sq.length, sq.dim, a.output, seconds);
  if (a.out.wants_json())
    a.out.write_json(fmt::format(
        "{{\"method\": {}, \"causal\": {}, \"heads\": {}, \"length\": {}, \"dim\": {}, \"value_dim\": {}, "
        "\"rope\": {}, \"output\": {}, \"seconds\": {}}}",
        json_string(a.method), a.causal, sq.heads, sq.length, sq.dim, sv.dim, json_string(a.rope),
        json_string(a.output), json_number(seconds)));
}

// ---------------------------------------------------------------- error

struct ErrorArgs {
  std::int64_t d = 64, length = 1024, kernel_rows = 256, repeats = 32;
  std::vector<std::int64_t> features = {16, 32, 64, 128, 256, 512, 1024};
  std::vector<std::string> maps = {"positive", "optimal", "trig_softmax"};
  std::vector<std::string> projections = {"iid", "orf", "sorf", "simplex"};
  double std_dev = 0.5;
  std::uint64_t seed = 0;
  bool causal = false;
  std::string plot;
  Output out;
};

void run_error(const ErrorArgs& a) {
  AttentionErrorOptions o;
  o.dim = a.d;
  o.length = a.length;
  o.kernel_rows = std::min(a.kernel_rows, a.length);
  o.features = a.features;
  o.repeats = a.repeats;
  o.seed = a.seed;
  o.input_std = a.std_dev;
  o.causal = a.causal;
  o.maps.clear();
  for (const auto& m : a.maps) o.maps.push_back(parse_feature_map(m));
  o.projections.clear();
  for (const auto& p : a.projections) o.projections.push_back(parse_feature_projection(p));
  Progress progress(a.out.progress());
  const auto results = attention_error_experiment(
      o, [&](std::int64_t done, std::int64_t total) { progress.update("attention error", done, total); });
  progress.finish();
  if (a.out.table()) {
    fmt::print("softmax kernel exp(q.k/sqrt(d)), d = {}, L = {} ({} x {} kernel entries), q, k, v ~ N(0, {}^2), {} draws; "
               "{} output\n",
               o.dim, o.length, o.kernel_rows, o.kernel_rows, o.input_std, o.repeats,
               o.causal ? "causal" : "bidirectional");
    fmt::print("{:<13} {:<8} {:>6} {:>12} {:>12} {:>12} {:>12}\n", "map", "proj", "m", "kernel mean", "kernel med",
               "output mean", "output med");
    for (const auto& r : results)
      fmt::print("{:<13} {:<8} {:>6} {:>12.4g} {:>12.4g} {:>12.4g} {:>12.4g}\n", to_string(r.map),
                 to_string(r.projection), r.features, r.kernel_mse, r.kernel_mse_median, r.output_mse,
                 r.output_mse_median);
  }
  if (a.out.wants_json()) {
    std::string json = fmt::format(
        "{{\"dim\": {}, \"length\": {}, \"kernel_rows\": {}, \"repeats\": {}, \"input_std\": {}, \"causal\": {}, "
        "\"results\": [",
        o.dim, o.length, o.kernel_rows, o.repeats, json_number(o.input_std), o.causal);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      json += fmt::format(
          "{}{{\"method\": {}, \"projection\": {}, \"features\": {}, \"kernel_mse\": {}, \"kernel_mse_median\": {}, "
          "\"output_mse\": {}, \"output_mse_median\": {}}}",
          i ? ", " : "", json_string(to_string(r.map)), json_string(to_string(r.projection)), r.features,
          json_number(r.kernel_mse), json_number(r.kernel_mse_median), json_number(r.output_mse),
          json_number(r.output_mse_median));
    }
    a.out.write_json(json + "]}");
  }
  if (!a.plot.empty()) {
    std::vector<PlotSeries> series;
    for (const auto& r : results) {
      const std::string name = fmt::format("{} / {}", to_string(r.map), to_string(r.projection));
      auto it = std::find_if(series.begin(), series.end(), [&](const PlotSeries& s) { return s.name == name; });
      if (it == series.end()) {
        series.push_back({name, {}, {}, static_cast<int>(r.map) * 4 + static_cast<int>(r.projection), static_cast<int>(r.map)});
        it = series.end() - 1;
      }
      it->x.push_back(static_cast<double>(r.features));
      it->y.push_back(r.kernel_mse_median);
    }
    write_line_plot(a.plot,
                    fmt::format("Median kernel MSE of exp(q.k/sqrt(d)), d = {}, {} draws", o.dim, o.repeats),
                    "random directions m", "median MSE", series);
  }
}

// ---------------------------------------------------------------- bench

struct BenchArgs {
  std::int64_t d = 64, features = 256, heads = 1, repeats = 3, block = 128;
  std::vector<std::int64_t> lengths = {1024, 4096, 16384};
  std::vector<std::string> methods = {"exact", "exact-causal", "favor", "favor-causal"};
  std::string projection = "orf", dtype = "float32", plot;
  std::uint64_t seed = 0;
  int threads = 0;
  Output out;
};

// Resident set size in bytes (/proc/self/statm).
std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

// Runs fn while a thread samples the resident size every millisecond: the largest growth above
// the size at the start (the extra peak memory of fn).
template <class Fn>
std::int64_t extra_peak(Fn&& fn) {
  const std::int64_t before = resident_bytes();
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> peak{before};
  std::thread sampler([&] {
    while (!done.load()) {
      peak.store(std::max(peak.load(), resident_bytes()));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  try {
    fn();
  } catch (...) {
    done = true;
    sampler.join();
    throw;
  }
  done = true;
  sampler.join();
  return std::max<std::int64_t>(0, std::max(peak.load(), resident_bytes()) - before);
}

struct BenchRow {
  std::string method;
  std::int64_t length;
  double seconds;
  std::int64_t extra_bytes;
};

template <class T>
std::vector<BenchRow> run_bench_typed(const BenchArgs& a, Progress& progress) {
  std::vector<BenchRow> rows;
  const auto total = static_cast<std::int64_t>(a.lengths.size() * a.methods.size());
  for (const auto& m : a.methods)
    usage_check(m == "exact" || m == "exact-causal" || m == "favor" || m == "favor-causal",
                "attention bench: unknown method '{}' (valid: exact, exact-causal, favor, favor-causal)", m);
  const RandomFeatures f(FeatureMapKind::positive, parse_feature_projection(a.projection), a.d, a.features, a.seed);
  for (std::int64_t L : a.lengths) {
    LOWDIM_CHECK(L >= 1, "attention bench: length {} must be >= 1", L);
    Matrix<T> q = Matrix<T>::uninitialized(a.heads * L, a.d), k = Matrix<T>::uninitialized(a.heads * L, a.d),
              v = Matrix<T>::uninitialized(a.heads * L, a.d);
    const RandomStream stream(a.seed, StreamId::attention_inputs);
    fill_normal<T>(q.view(), stream, 0);
    fill_normal<T>(k.view(), stream, static_cast<std::uint64_t>(a.heads * L * a.d));
    fill_normal<T>(v.view(), stream, static_cast<std::uint64_t>(2 * a.heads * L * a.d));
    Matrix<T> out(a.heads * L, a.d);
    for (const auto& m : a.methods) {
      AttentionOptions o;
      o.causal = m.ends_with("causal");
      o.block = a.block;
      double best = 1e300;
      std::int64_t extra = 0;
      for (std::int64_t r = 0; r < a.repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        extra = std::max(extra, extra_peak([&] {
          if (m.starts_with("exact")) softmax_attention<T>(q, k, v, a.heads, out, o);
          else linear_attention<T>(f, q, k, v, a.heads, out, o);
        }));
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      rows.push_back({m, L, best, extra});
      progress.update(fmt::format("attention bench L = {}", L), static_cast<std::int64_t>(rows.size()), total);
    }
  }
  return rows;
}

void run_bench(const BenchArgs& a) {
  usage_check(a.dtype == "float32" || a.dtype == "float64", "attention bench: --dtype must be float32 or float64");
  LOWDIM_CHECK(a.repeats >= 1 && a.heads >= 1, "attention bench: repeats {} and heads {} must be >= 1", a.repeats,
               a.heads);
  Progress progress(a.out.progress());
  const auto rows = a.dtype == "float32" ? run_bench_typed<float>(a, progress) : run_bench_typed<double>(a, progress);
  progress.finish();
  // Crossover: the smallest measured L where bidirectional FAVOR+ is faster than exact.
  std::int64_t crossover = 0;
  for (std::int64_t L : a.lengths) {
    double ex = 0, fa = 0;
    for (const auto& r : rows) {
      if (r.length == L && r.method == "exact") ex = r.seconds;
      if (r.length == L && r.method == "favor") fa = r.seconds;
    }
    if (ex > 0 && fa > 0 && fa < ex) {
      crossover = L;
      break;
    }
  }
  if (a.out.table()) {
    fmt::print("attention bench: {} heads, d = {}, m = {} ({}), {}, {} threads, best of {}\n", a.heads, a.d,
               a.features, a.projection, a.dtype, linalg::num_threads(), a.repeats);
    fmt::print("{:<14} {:>8} {:>12} {:>14}\n", "method", "L", "time (ms)", "extra peak MB");
    for (const auto& r : rows)
      fmt::print("{:<14} {:>8} {:>12.2f} {:>14.1f}\n", r.method, r.length, r.seconds * 1e3, r.extra_bytes / 1048576.0);
    if (crossover > 0) fmt::print("favor is faster than exact from L = {} on (of the lengths measured)\n", crossover);
    else fmt::print("favor is not faster than exact at any measured length\n");
  }
  if (a.out.wants_json()) {
    std::string json = fmt::format("{{\"heads\": {}, \"dim\": {}, \"features\": {}, \"dtype\": {}, \"crossover\": {}, \"results\": [",
                                   a.heads, a.d, a.features, json_string(a.dtype), crossover);
    for (std::size_t i = 0; i < rows.size(); ++i)
      json += fmt::format("{}{{\"method\": {}, \"length\": {}, \"seconds\": {}, \"extra_peak_bytes\": {}}}", i ? ", " : "",
                          json_string(rows[i].method), rows[i].length, json_number(rows[i].seconds),
                          rows[i].extra_bytes);
    a.out.write_json(json + "]}");
  }
  if (!a.plot.empty()) {
    std::vector<PlotSeries> series;
    int colour = 0;
    for (const auto& m : a.methods) {
      PlotSeries s{m, {}, {}, colour++, 0};
      for (const auto& r : rows)
        if (r.method == m) {
          s.x.push_back(static_cast<double>(r.length));
          s.y.push_back(r.seconds);
        }
      series.push_back(s);
    }
    write_line_plot(a.plot, fmt::format("Attention time, d = {}, m = {}, {}", a.d, a.features, a.dtype),
                    "sequence length L", "seconds", series);
  }
}

const RegisterCommand registered{"attention", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("attention", "Random-feature (Performer) attention: apply, error, bench");
  cmd->require_subcommand(1);

  auto* apply = cmd->add_subcommand("apply", "Exact or linear attention of q, k, v (.npy, L x d or heads x L x d)");
  auto a = std::make_shared<ApplyArgs>();
  apply->add_option("--q", a->q, "Queries .npy (L x d or heads x L x d)")->required();
  apply->add_option("--k", a->k, "Keys .npy")->required();
  apply->add_option("--v", a->v, "Values .npy")->required();
  apply->add_option("--output", a->output, "Output .npy (same rank as the inputs)")->required();
  apply->add_option("--method", a->method,
                    "exact, or a feature map: favor (positive), favor++ (optimal), trig, hyperbolic, relu, elu, exp")
      ->capture_default_str();
  apply->add_option("--features", a->features, "Random directions m")->capture_default_str();
  apply->add_option("--projection", a->projection, "Projection: " + feature_projection_names())->capture_default_str();
  apply->add_flag("--causal", a->causal, "Causal attention (query i sees keys j <= i)");
  apply->add_option("--block", a->block, "Block (exact) or chunk (linear) size")->capture_default_str();
  apply->add_option("--scale", a->scale, "Score scale (0: 1/sqrt(d))")->capture_default_str();
  apply->add_option("--rope", a->rope, "RoPE: none, 1d (interleaved), 1d-half (rotate_half), 2d (axial, needs --grid)")
      ->capture_default_str();
  apply->add_option("--rope-on", a->rope_on,
                    "Where RoPE acts: qk (rotate q and k) or features (RoFormer's linear attention); auto: features "
                    "for linear methods, qk for exact")
      ->capture_default_str();
  apply->add_option("--rope-base", a->rope_base, "RoPE base b")->capture_default_str();
  apply->add_option("--rope-scaling", a->rope_scaling, "Long-context scaling: " + rope_scaling_names())
      ->capture_default_str();
  apply->add_option("--factor", a->factor, "Scaling factor s")->capture_default_str();
  apply->add_option("--original-length", a->original_length, "Pre-training context L0 (dynamic_ntk, yarn, llama3)")
      ->capture_default_str();
  apply->add_option("--grid", a->grid, "Patch grid HxW for --rope 2d (H*W = L)");
  apply->add_option("--seed", a->seed, "Seed of the random features")->capture_default_str();
  apply->add_option("--dtype", a->dtype, "auto (float64 input stays float64), float32 or float64")->capture_default_str();
  apply->add_option("--threads", a->threads, "Threads (0: all)")->capture_default_str();
  add_output_options(apply, a->out);
  apply->callback([a] {
    if (a->threads > 0) linalg::set_num_threads(a->threads);
    usage_check(a->dtype == "auto" || a->dtype == "float32" || a->dtype == "float64",
                "attention apply: --dtype must be auto, float32 or float64, not '{}'", a->dtype);
    const bool f64 = a->dtype == "float64" || (a->dtype == "auto" && probe(a->q).dtype == DType::float64);
    if (f64) run_apply<double>(*a);
    else run_apply<float>(*a);
  });

  auto* error = cmd->add_subcommand("error", "MSE of the softmax-kernel estimate and of the attention output vs exact");
  auto e = std::make_shared<ErrorArgs>();
  error->add_option("--d", e->d, "Head dimension d")->capture_default_str();
  error->add_option("--L", e->length, "Sequence length L")->capture_default_str();
  error->add_option("--features", e->features, "Random directions m, comma-separated")->delimiter(',');
  error->add_option("--repeats", e->repeats, "Independent draws per figure")->capture_default_str();
  error->add_option("--kernel-rows", e->kernel_rows, "Queries/keys of the compared kernel matrix (<= L)")
      ->capture_default_str();
  error->add_option("--maps", e->maps, "Feature maps, comma-separated (softmax-kernel maps)")->delimiter(',');
  error->add_option("--projections", e->projections, "Projections, comma-separated: " + feature_projection_names())
      ->delimiter(',');
  error->add_option("--std", e->std_dev, "Standard deviation of the entries of q, k, v")->capture_default_str();
  error->add_option("--seed", e->seed, "Seed")->capture_default_str();
  error->add_flag("--causal", e->causal, "Output error of causal attention");
  error->add_option("--plot", e->plot, "Write an SVG of the median kernel MSE against m (log-log)");
  add_output_options(error, e->out);
  error->callback([e] { run_error(*e); });

  auto* bench = cmd->add_subcommand("bench", "Time and extra peak memory of exact, FAVOR+ bidirectional and causal vs L");
  auto b = std::make_shared<BenchArgs>();
  bench->add_option("--d", b->d, "Head dimension d")->capture_default_str();
  bench->add_option("--features", b->features, "Random directions m")->capture_default_str();
  bench->add_option("--heads", b->heads, "Heads")->capture_default_str();
  bench->add_option("--lengths", b->lengths, "Sequence lengths, comma-separated")->delimiter(',');
  bench->add_option("--methods", b->methods, "exact, exact-causal, favor, favor-causal (comma-separated)")
      ->delimiter(',');
  bench->add_option("--projection", b->projection, "Projection of the features")->capture_default_str();
  bench->add_option("--block", b->block, "Block / chunk size")->capture_default_str();
  bench->add_option("--repeats", b->repeats, "Runs per figure (the best is reported)")->capture_default_str();
  bench->add_option("--dtype", b->dtype, "float32 or float64")->capture_default_str();
  bench->add_option("--seed", b->seed, "Seed")->capture_default_str();
  bench->add_option("--threads", b->threads, "Threads (0: all)")->capture_default_str();
  bench->add_option("--plot", b->plot, "Write an SVG of time against L (log-log)");
  add_output_options(bench, b->out);
  bench->callback([b] {
    if (b->threads > 0) linalg::set_num_threads(b->threads);
    run_bench(*b);
  });
}};

}  // namespace
}  // namespace lowdim::cli
