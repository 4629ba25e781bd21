// lowdim lsh build|query|insert|remove|eval: an LSH index in a file (archive "lowdim.lsh").
//   build  --input BASE --index FILE [--family F] [--tables L] [--hashes K] [--seed S] [--metric M]
//          or --target-recall R [--k 10] [--memory BYTES]: tuned (tune_lsh) first
//   query  --index FILE --queries Q --k 10 [--probes P | --candidates C] [--target-recall R] --output IDS.npy
//          [--distances D.npy] [--json STATS]
//   insert --index FILE --input NEW      (prints the new ids; rewrites FILE atomically)
//   remove --index FILE --ids IDS        (rewrites FILE atomically)
//   eval   --base BASE --queries Q --k 10 [--family F] [--json FILE] [--plot FILE.svg]
// Data: .npy, IDX (.gz), .fvecs; ids out as .npy (int64) or .ivecs (int32) by extension.
// Default eval data: Fashion-MNIST train (base) and test (queries).
// Every subcommand takes --quiet (no table, no progress) and --json [FILE] (its results; stdout
// without FILE), as the other commands do.

#include "command.hpp"
#include "output.hpp"

#include <lowdim/io.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/lsh.hpp>

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace lowdim::cli {
namespace {

constexpr const char* kFashionTrain = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
constexpr const char* kFashionTest = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

Matrix<float> read_data(const std::string& path, const char* what) {
  if (!std::filesystem::exists(path)) {
    if (path == kFashionTrain || path == kFashionTest)
      throw Exit{2, fmt::format("lsh: the default {} {} is missing. Install it with:  sudo apt-get install "
                                "dataset-fashion-mnist\n(or pass a file)",
                                what, path)};
  }
  return read_matrix<float>(path);
}

void write_ids(const std::string& path, const Matrix<std::int64_t>& ids) {
  if (ends_with(path, ".ivecs")) {
    Matrix<std::int32_t> narrow(ids.rows(), ids.cols());
    for (std::int64_t i = 0; i < ids.rows(); ++i)
      for (std::int64_t j = 0; j < ids.cols(); ++j) narrow(i, j) = static_cast<std::int32_t>(ids(i, j));
    write_ivecs(path, narrow.view());
  } else {
    write_npy<std::int64_t>(path, ids.view());
  }
}

void write_distances(const std::string& path, const Matrix<float>& d) {
  if (ends_with(path, ".fvecs"))
    write_fvecs(path, d.view());
  else
    write_npy<float>(path, d.view());
}

std::vector<std::int64_t> read_ids(const std::string& path) {
  std::vector<std::int64_t> ids;
  if (ends_with(path, ".ivecs")) {
    const auto m = read_ivecs(path);
    ids.assign(m.data(), m.data() + m.size());
    return ids;
  }
  const auto m = read_matrix<double>(path);
  for (std::int64_t i = 0; i < m.size(); ++i) {
    const double v = m.data()[i];
    if (v != std::floor(v)) throw Exit{2, fmt::format("lsh remove: {} holds {} at position {}, not an id", path, v, i)};
    ids.push_back(static_cast<std::int64_t>(v));
  }
  return ids;
}

/// "123", "64K", "512M", "2G" (powers of 1024) as bytes.
std::int64_t parse_bytes(const std::string& text) {
  std::size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "k" || unit == "KB" || unit == "KiB") scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  if (used == 0 || scale == 0 || !(value > 0))
    throw Exit{1, fmt::format("lsh build: --memory '{}' is not a size in bytes (e.g. 200000000, 512M, 2G)", text)};
  return static_cast<std::int64_t>(value * scale);
}

void write_text(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

struct LshArgs {
  std::string input, index, queries, output, distances, plot, ids, base = kFashionTrain;
  std::string family = "simhash", metric = "euclidean";
  std::int64_t tables = 0, hashes = 0, k = 10, probes = 0, candidates = 0, cp_dim = 0, sketch_dim = 0, rerank = 0;
  std::uint64_t seed = 0;
  double width = 0, target_recall = 0;
  std::string memory;
  std::int64_t holdout = 0, max_tables = 32;
  bool no_center = false;
  Output out;  // --quiet, --json [FILE] (every subcommand)
  int threads = 0;
  std::vector<std::int64_t> probe_list;
};

/// Defaults by family: simhash 20 × 16 bits (FALCONN's setting), cross_polytope 20 × 2
/// rotations of 256 (18 bits), pstable 20 × 12.
LshIndexOptions index_options(const LshArgs& a) {
  LshIndexOptions o;
  o.family = parse_lsh_family(a.family);
  o.metric = parse_metric(a.metric);
  o.tables = a.tables > 0 ? a.tables : 20;
  o.hashes = a.hashes > 0 ? a.hashes : o.family == LshFamily::cross_polytope ? 2 : o.family == LshFamily::pstable ? 12 : 16;
  o.seed = a.seed;
  o.family_options.width = a.width;
  o.family_options.cp_dim = a.cp_dim;
  o.center = !a.no_center;
  o.sketch_dim = a.sketch_dim;
  return o;
}

void add_index_options(CLI::App* cmd, LshArgs& a) {
  cmd->add_option("--family", a.family, "Hash family: " + lsh_family_names())->capture_default_str();
  cmd->add_option("--tables", a.tables, "Tables L (0: 20)");
  cmd->add_option("--hashes", a.hashes, "Hashes K per table (0: 16 simhash, 2 cross_polytope, 12 pstable)");
  cmd->add_option("--seed", a.seed, "Random seed")->capture_default_str();
  cmd->add_option("--metric", a.metric, "Distance: euclidean, cosine, inner_product")->capture_default_str();
  cmd->add_option("--width", a.width, "pstable bucket width w (0: 4 x the median 10-NN distance of a sample)");
  cmd->add_option("--cp-dim", a.cp_dim, "cross_polytope dimension, a power of two (0: min(2^ceil(log2 d), 256))");
  cmd->add_flag("--no-center", a.no_center, "Hash the data as given (angular families centre it by default)");
  cmd->add_option("--sketch-dim", a.sketch_dim, "Two-stage re-ranking on a JL sketch of this dimension (0: exact only)");
}

std::string stats_json(const std::vector<LshQueryStats>& stats, double seconds) {
  double c = 0, u = 0, p = 0, th = 0, tl = 0, tr = 0;
  std::int64_t extra = 0, scanned = 0;
  for (const auto& s : stats) {
    c += static_cast<double>(s.candidates);
    u += static_cast<double>(s.unique_candidates);
    p += static_cast<double>(s.probes);
    th += s.hash_seconds;
    tl += s.lookup_seconds;
    tr += s.rerank_seconds;
    extra += s.extra_probes;
    scanned += s.scanned;
  }
  const double n = std::max<double>(1, static_cast<double>(stats.size()));
  std::string per;
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const auto& s = stats[i];
    per += fmt::format("{}{{\"candidates\": {}, \"unique_candidates\": {}, \"probes\": {}, \"extra_probes\": {}, "
                       "\"scanned\": {}, \"hash_seconds\": {:.3e}, \"lookup_seconds\": {:.3e}, \"rerank_seconds\": {:.3e}, "
                       "\"estimated_recall\": {:.4f}}}",
                       i ? ",\n    " : "", s.candidates, s.unique_candidates, s.probes, s.extra_probes, s.scanned,
                       s.hash_seconds, s.lookup_seconds, s.rerank_seconds, s.estimated_recall);
  }
  return fmt::format(
      "{{\n  \"queries\": {}, \"seconds\": {:.6f}, \"qps\": {:.1f},\n  \"mean\": {{\"candidates\": {:.1f}, "
      "\"unique_candidates\": {:.1f}, \"probes\": {:.1f}, \"hash_seconds\": {:.3e}, \"lookup_seconds\": {:.3e}, "
      "\"rerank_seconds\": {:.3e}}},\n  \"extra_probes\": {}, \"scanned\": {},\n  \"per_query\": [\n    {}\n  ]\n}}\n",
      stats.size(), seconds, static_cast<double>(stats.size()) / seconds, c / n, u / n, p / n, th / n, tl / n, tr / n,
      extra, scanned, per);
}

struct EvalPoint {
  std::int64_t probes;
  double recall, qps, candidates;
};

std::string plot_svg(const std::string& family, const std::vector<EvalPoint>& points, double exact_qps, std::int64_t k) {
  const double W = 640, H = 420, left = 70, right = 20, top = 30, bottom = 50;
  double qmin = exact_qps, qmax = exact_qps;
  for (const auto& p : points) qmin = std::min(qmin, p.qps), qmax = std::max(qmax, p.qps);
  const double lmin = std::floor(std::log10(qmin)), lmax = std::ceil(std::log10(qmax) + 1e-9);
  double rmin = 1;
  for (const auto& p : points) rmin = std::min(rmin, p.recall);
  rmin = std::floor(rmin * 10) / 10;
  if (rmin >= 1) rmin = 0.9;
  auto X = [&](double r) { return left + (r - rmin) / (1 - rmin) * (W - left - right); };
  auto Y = [&](double q) { return top + (lmax - std::log10(q)) / std::max(1e-9, lmax - lmin) * (H - top - bottom); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\">recall@{} vs queries/s (log scale), {}</text>\n",
      W, H, W / 2, k, family);
  for (double l = lmin; l <= lmax + 1e-9; l += 1)
    s += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1f}\" "
                     "text-anchor=\"end\">1e{}</text>\n",
                     left, W - right, Y(std::pow(10, l)), Y(std::pow(10, l)), left - 5, Y(std::pow(10, l)) + 4, l);
  for (int i = 0; i <= 5; ++i) {
    const double r = rmin + (1 - rmin) * i / 5;
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.2f}</text>\n", X(r), H - bottom + 18, r);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">recall@{}</text>\n", (left + W - right) / 2, H - 10, k);
  s += fmt::format("<text x=\"15\" y=\"{}\" transform=\"rotate(-90 15 {})\" text-anchor=\"middle\">queries/s</text>\n",
                   H / 2, H / 2);
  s += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#c33\" stroke-dasharray=\"6,4\"/>"
                   "<text x=\"{}\" y=\"{:.1f}\" fill=\"#c33\" text-anchor=\"end\">exact ({:.0f} q/s)</text>\n",
                   left, W - right, Y(exact_qps), Y(exact_qps), W - right, Y(exact_qps) - 5, exact_qps);
  std::string line;
  for (const auto& p : points) line += fmt::format("{:.1f},{:.1f} ", X(p.recall), Y(p.qps));
  s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"#36c\" stroke-width=\"2\"/>\n", line);
  for (const auto& p : points)
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"#36c\"><title>{} probes: recall {:.3f}, {:.0f} q/s</title></circle>\n",
                     X(p.recall), Y(p.qps), p.probes, p.recall, p.qps);
  return s + "</svg>\n";
}

double recall_at(const Matrix<std::int64_t>& got, const Matrix<std::int64_t>& truth) {
  std::int64_t hit = 0;
  for (std::int64_t i = 0; i < got.rows(); ++i) {
    const std::set<std::int64_t> t(truth.row(i), truth.row(i) + truth.cols());
    for (std::int64_t j = 0; j < got.cols(); ++j) hit += static_cast<std::int64_t>(t.count(got(i, j)));
  }
  return static_cast<double>(hit) / static_cast<double>(got.size());
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const RegisterCommand registered{"lsh", [](CLI::App& app) {
  auto* lsh = app.add_subcommand("lsh", "Locality-sensitive hashing index: build, query, insert, remove, eval");
  lsh->require_subcommand(1);
  auto a = std::make_shared<LshArgs>();
  auto threads = [a] {
    if (a->threads > 0) linalg::set_num_threads(a->threads);
  };

  auto* build = lsh->add_subcommand("build", "Build an index over the rows of a data file (or tune it first)");
  build->add_option("--input", a->input, "Base data (.npy, IDX, .fvecs), n x d")->required();
  build->add_option("--index", a->index, "Index file to write")->required();
  add_index_options(build, *a);
  auto* target = build->add_option("--target-recall", a->target_recall,
                                   "Tune K, L and the probes for this recall@k on held-out rows (0 < R < 1)");
  build->add_option("--k", a->k, "Neighbours per query the tuner aims at")->capture_default_str()->needs(target);
  build->add_option("--memory", a->memory, "Tuner: memory budget of the index, data included (bytes; K, M, G suffixes)")
      ->needs(target);
  build->add_option("--holdout", a->holdout, "Tuner: held-out queries (0: n/10 within [20, 300])")->needs(target);
  build->add_option("--max-tables", a->max_tables, "Tuner: at most this many tables")->capture_default_str()->needs(target);
  build->add_option("--threads", a->threads, "Threads (0: all)");
  add_output_options(build, a->out);
  build->callback([a, threads, build] {
    threads();
    const auto data = read_data(a->input, "base");
    const auto t0 = std::chrono::steady_clock::now();
    // One opaque library call: a moving bar with the elapsed time (stderr, a terminal only).
    Activity activity(a->out.progress(), fmt::format("lsh build: {} {} x {}", a->target_recall != 0 ? "tuning" : "hashing",
                                             data.rows(), data.cols()));
    if (a->target_recall != 0) {
      for (const char* fixed : {"--tables", "--hashes"})
        if (build->count(fixed) > 0)
          throw Exit{1, fmt::format("lsh build: {} is chosen by the tuner; drop it or --target-recall", fixed)};
      const auto o = index_options(*a);
      LshTuneOptions t;
      t.family = o.family;
      t.metric = o.metric;
      t.k = a->k;
      t.target_recall = a->target_recall;
      t.memory_bytes = a->memory.empty() ? 0 : parse_bytes(a->memory);
      t.max_tables = a->max_tables;
      t.holdout = a->holdout;
      t.sketch_dim = o.sketch_dim;
      t.center = o.center;
      t.family_options = o.family_options;
      t.seed = o.seed;
      LshTuneResult r;
      const LshIndex<float> index = build_tuned_lsh<float>(data, t, &r);
      const double t_build = seconds(t0);
      index.save(a->index);
      activity.stop();
      if (a->out.wants_json())
        a->out.write_json(fmt::format(
            "{{\"index\": {}, \"family\": {}, \"rows\": {}, \"dim\": {}, \"tables\": {}, \"hashes\": {}, "
            "\"build_seconds\": {}, \"memory_bytes\": {}, \"tuned\": {{\"k\": {}, \"target_recall\": {}, "
            "\"probes\": {}, \"holdout_recall\": {}, \"model_recall\": {}, \"holdout\": {}, \"candidates\": {}, "
            "\"adaptive_recall\": {}, \"adaptive_probes\": {}, \"memory_budget\": {}}}}}",
            json_string(a->index), json_string(o.family.name()), data.rows(), data.cols(), index.options().tables,
            index.options().hashes, json_number(t_build), index.memory_bytes(), a->k, json_number(a->target_recall),
            r.probes, json_number(r.recall), json_number(r.model_recall), r.holdout, json_number(r.candidates),
            json_number(r.adaptive_recall), json_number(r.adaptive_probes), t.memory_bytes));
      if (!a->out.table()) return;
      fmt::print("tuned {} for recall@{} >= {}: {} tables x {} hashes, {} probes; held-out recall {:.4f} "
                 "(model {:.4f}, {} queries, {:.0f} candidates); adaptive: recall {:.4f} at {:.1f} probes\n",
                 o.family.name(), a->k, a->target_recall, index.options().tables, index.options().hashes, r.probes,
                 r.recall, r.model_recall, r.holdout, r.candidates, r.adaptive_recall, r.adaptive_probes);
      fmt::print("built {} tables x {} hashes ({}) over {} x {} in {:.3f} s; {} bytes{}; query with --probes {} "
                 "or --target-recall {}\n",
                 index.options().tables, index.options().hashes, index.options().family.name(), data.rows(),
                 data.cols(), t_build, index.memory_bytes(),
                 t.memory_bytes > 0 ? fmt::format(" (budget {})", t.memory_bytes) : std::string(), r.probes,
                 a->target_recall);
      return;
    }
    const LshIndex<float> index(data, index_options(*a));
    const double t = seconds(t0);
    index.save(a->index);
    activity.stop();
    if (a->out.wants_json())
      a->out.write_json(fmt::format(
          "{{\"index\": {}, \"family\": {}, \"rows\": {}, \"dim\": {}, \"tables\": {}, \"hashes\": {}, "
          "\"build_seconds\": {}, \"memory_bytes\": {}, \"table_bytes_per_point\": {}}}",
          json_string(a->index), json_string(index.options().family.name()), data.rows(), data.cols(),
          index.options().tables, index.options().hashes, json_number(t), index.memory_bytes(),
          json_number(index.table_bytes_per_point())));
    if (!a->out.table()) return;
    fmt::print("built {} tables x {} hashes ({}) over {} x {} in {:.3f} s; {:.1f} table bytes per point\n",
               index.options().tables, index.options().hashes, index.options().family.name(), data.rows(), data.cols(),
               t, index.table_bytes_per_point());
  });

  auto* query = lsh->add_subcommand("query", "k nearest neighbours of query rows");
  query->add_option("--index", a->index, "Index file")->required();
  query->add_option("--queries", a->queries, "Queries (.npy, IDX, .fvecs), q x d")->required();
  query->add_option("--k", a->k, "Neighbours per query")->capture_default_str();
  auto* probes = query->add_option("--probes", a->probes, "Buckets probed in all (>= tables; default: one per table)");
  auto* cands = query->add_option("--candidates", a->candidates, "Probe until this many unique candidates");
  probes->excludes(cands);
  query->add_option("--rerank", a->rerank, "Candidates ranked exactly after the sketch stage (0: max(20k, 200))");
  query->add_option("--target-recall", a->target_recall,
                    "Adaptive: per query, probe until the model's recall reaches R (--probes caps; 0: off)");
  query->add_option("--output", a->output, "Neighbour ids (.npy int64, or .ivecs)")->required();
  query->add_option("--distances", a->distances, "Distances (.npy float32, or .fvecs)");
  add_output_options(query, a->out);  // the JSON holds the per-query statistics
  query->add_option("--threads", a->threads, "Threads (0: all)");
  query->callback([a, threads] {
    threads();
    const auto index = LshIndex<float>::load(a->index);
    const auto q = read_data(a->queries, "queries");
    Matrix<std::int64_t> ids(q.rows(), a->k);
    Matrix<float> dist(q.rows(), a->k);
    std::vector<LshQueryStats> stats;
    const auto t0 = std::chrono::steady_clock::now();
    index.knn(q, a->k,
              {.probes = a->probes, .candidates = a->candidates, .rerank = a->rerank, .target_recall = a->target_recall},
              ids.view(), dist.view(), &stats);
    const double t = seconds(t0);
    write_ids(a->output, ids);
    if (!a->distances.empty()) write_distances(a->distances, dist);
    if (a->out.wants_json()) {
      std::string text = stats_json(stats, t);
      while (!text.empty() && text.back() == '\n') text.pop_back();
      a->out.write_json(text);
    }
    if (a->out.table())
      fmt::print("{} queries in {:.3f} s ({:.0f} q/s)\n", q.rows(), t, static_cast<double>(q.rows()) / t);
  });

  auto* insert = lsh->add_subcommand("insert", "Add rows to an index (the file is rewritten atomically)");
  insert->add_option("--index", a->index, "Index file")->required();
  insert->add_option("--input", a->input, "New rows (.npy, IDX, .fvecs)")->required();
  add_output_options(insert, a->out);
  insert->callback([a] {
    auto index = LshIndex<float>::load(a->index);
    const auto rows = read_data(a->input, "rows");
    const std::int64_t first = index.insert(rows);
    index.save(a->index);
    if (a->out.wants_json())
      a->out.write_json(fmt::format("{{\"first_id\": {}, \"inserted\": {}, \"size\": {}}}", first, rows.rows(),
                                    index.size()));
    if (a->out.table())
      for (std::int64_t i = 0; i < rows.rows(); ++i) fmt::print("{}\n", first + i);
  });

  auto* remove = lsh->add_subcommand("remove", "Remove ids from an index (the file is rewritten atomically)");
  remove->add_option("--index", a->index, "Index file")->required();
  remove->add_option("--ids", a->ids, "Ids to remove (.npy of integers, or .ivecs)")->required();
  add_output_options(remove, a->out);
  remove->callback([a] {
    auto index = LshIndex<float>::load(a->index);
    const auto ids = read_ids(a->ids);
    index.remove(ids);
    index.save(a->index);
    if (a->out.wants_json())
      a->out.write_json(fmt::format("{{\"removed\": {}, \"size\": {}}}", ids.size(), index.size()));
    if (a->out.table()) fmt::print("removed {} ids; {} points remain\n", ids.size(), index.size());
  });

  auto* eval = lsh->add_subcommand("eval", "recall@k against queries/s for a sweep of probe counts");
  eval->add_option("--base", a->base, "Base data (default: Fashion-MNIST train)")->capture_default_str();
  a->queries = kFashionTest;
  eval->add_option("--queries", a->queries, "Queries (default: Fashion-MNIST test)")->capture_default_str();
  eval->add_option("--k", a->k, "Neighbours per query")->capture_default_str();
  add_index_options(eval, *a);
  eval->add_option("--probe-list", a->probe_list, "Probe counts to sweep (default: L x 1, 2, 4, ..., 64)")->delimiter(',');
  eval->add_option("--rerank", a->rerank, "Candidates ranked exactly after the sketch stage (0: max(20k, 200))");
  eval->add_option("--plot", a->plot, "Recall/QPS curve (SVG)");
  eval->add_option("--threads", a->threads, "Threads (0: all)");
  add_output_options(eval, a->out);
  eval->callback([a, threads] {
    threads();
    const auto base = read_data(a->base, "base");
    const auto q = read_data(a->queries, "queries");
    const auto o = index_options(*a);
    // Steps: exact k-NN, the build, one per probe count; erased before each line of the table.
    std::vector<std::int64_t> list = a->probe_list;
    if (list.empty())
      for (std::int64_t m = 1; m <= 64; m *= 2) list.push_back(m * o.tables);
    Progress progress(a->out.progress());
    const std::int64_t steps = 2 + static_cast<std::int64_t>(list.size());
    progress.update("lsh eval: exact k-NN", 0, steps);
    Matrix<std::int64_t> truth(q.rows(), a->k);
    Matrix<float> truth_d(q.rows(), a->k);
    auto t0 = std::chrono::steady_clock::now();
    exact_knn<float>(base, q, a->k, o.metric, truth.view(), truth_d.view());
    const double exact_qps = static_cast<double>(q.rows()) / seconds(t0);
    progress.update("lsh eval: building the index", 1, steps);
    t0 = std::chrono::steady_clock::now();
    const LshIndex<float> index(base, o);
    const double build_s = seconds(t0);
    std::vector<EvalPoint> points;
    progress.finish();
    if (a->out.table()) {
      fmt::print("{} tables x {} hashes ({}), built in {:.3f} s, {:.1f} table bytes per point; exact: {:.0f} q/s\n",
                 o.tables, o.hashes, o.family.name(), build_s, index.table_bytes_per_point(), exact_qps);
      fmt::print("{:>8} {:>8} {:>10} {:>11}\n", "probes", "recall", "q/s", "candidates");
    }
    for (const std::int64_t p : list) {
      progress.update(fmt::format("lsh eval: {} probes", p), 2 + static_cast<std::int64_t>(points.size()), steps);
      Matrix<std::int64_t> ids(q.rows(), a->k);
      Matrix<float> dist(q.rows(), a->k);
      std::vector<LshQueryStats> stats;
      t0 = std::chrono::steady_clock::now();
      index.knn(q, a->k, {.probes = p, .rerank = a->rerank}, ids.view(), dist.view(), &stats);
      const double qps = static_cast<double>(q.rows()) / seconds(t0);
      double cand = 0;
      for (const auto& s : stats) cand += static_cast<double>(s.unique_candidates);
      points.push_back({p, recall_at(ids, truth), qps, cand / static_cast<double>(q.rows())});
      progress.finish();
      if (a->out.table())
        fmt::print("{:>8} {:>8.4f} {:>10.0f} {:>11.0f}\n", p, points.back().recall, qps, points.back().candidates);
    }
    if (a->out.wants_json()) {
      std::string r;
      for (const auto& p : points)
        r += fmt::format("{}{{\"family\": \"{}\", \"tables\": {}, \"hashes\": {}, \"probes\": {}, \"recall\": {:.5f}, "
                         "\"qps\": {:.1f}, \"candidates\": {:.1f}}}",
                         r.empty() ? "" : ",\n    ", o.family.name(), o.tables, o.hashes, p.probes, p.recall, p.qps,
                         p.candidates);
      a->out.write_json(fmt::format("{{\n  \"k\": {}, \"base\": {}, \"queries\": {}, \"build_seconds\": {:.4f}, "
                                    "\"table_bytes_per_point\": {:.2f}, \"exact_qps\": {:.1f},\n  \"results\": [\n    {}\n  ]\n}}",
                                      a->k, base.rows(), q.rows(), build_s, index.table_bytes_per_point(), exact_qps, r));
    }
    if (!a->plot.empty()) write_text(a->plot, plot_svg(o.family.name(), points, exact_qps, a->k));
  });
}};

}  // namespace
}  // namespace lowdim::cli
