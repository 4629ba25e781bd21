// lowdim lsh build|query under MPI: sharded LSH (lowdim::mpi::ShardedLsh). build: every rank
// indexes its contiguous slice of the base rows (an even split) with the same options (the same
// hash functions); the index is a directory: one rankR.lsh per rank and layout.txt (the rank
// count and rows per rank), written last. query: rank 0 reads the queries and broadcasts them,
// every rank answers its top-k, the answers are merged to the global top-k with global ids (row
// numbers of the base file); rank 0 writes the outputs. Loading with another rank count is an
// error. The tuner (--target-recall at build), insert, remove and eval are not distributed.

#include "distributed.hpp"

#include <lowdim/io.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/lsh.hpp>

#include <chrono>
#include <optional>

namespace lowdim::cli {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

struct LshArgs {
  std::string input, index, queries, output, distances, json;
  std::string family = "simhash", metric = "euclidean";
  std::int64_t tables = 0, hashes = 0, k = 10, probes = 0, candidates = 0, cp_dim = 0, sketch_dim = 0, rerank = 0;
  std::uint64_t seed = 0;
  double width = 0, target_recall = 0;
  bool no_center = false;
  int threads = 0;
};

// The single-process defaults (tools/lowdim/cmd_lsh.cpp).
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

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string stats_json(const std::vector<LshQueryStats>& stats, double secs, const mpi::RowPartition& p) {
  double c = 0, u = 0, pr = 0, th = 0, tl = 0, tr = 0;
  std::int64_t extra = 0, scanned = 0;
  std::string per;
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const auto& s = stats[i];
    c += static_cast<double>(s.candidates);
    u += static_cast<double>(s.unique_candidates);
    pr += static_cast<double>(s.probes);
    th += s.hash_seconds;
    tl += s.lookup_seconds;
    tr += s.rerank_seconds;
    extra += s.extra_probes;
    scanned += s.scanned;
    per += fmt::format("{}{{\"candidates\": {}, \"unique_candidates\": {}, \"probes\": {}, \"extra_probes\": {}, "
                       "\"scanned\": {}, \"hash_seconds\": {:.3e}, \"lookup_seconds\": {:.3e}, \"rerank_seconds\": {:.3e}, "
                       "\"estimated_recall\": {:.4f}}}",
                       i ? ",\n    " : "", s.candidates, s.unique_candidates, s.probes, s.extra_probes, s.scanned,
                       s.hash_seconds, s.lookup_seconds, s.rerank_seconds, s.estimated_recall);
  }
  const double n = std::max<double>(1, static_cast<double>(stats.size()));
  return fmt::format(
      "{{\n  \"queries\": {}, \"seconds\": {:.6f}, \"qps\": {:.1f}, {},\n  \"mean\": {{\"candidates\": {:.1f}, "
      "\"unique_candidates\": {:.1f}, \"probes\": {:.1f}, \"hash_seconds\": {:.3e}, \"lookup_seconds\": {:.3e}, "
      "\"rerank_seconds\": {:.3e}}},\n  \"extra_probes\": {}, \"scanned\": {},\n  \"per_query\": [\n    {}\n  ]\n}}\n",
      stats.size(), secs, static_cast<double>(stats.size()) / secs, split_json(p), c / n, u / n, pr / n, th / n,
      tl / n, tr / n, extra, scanned, per);
}

/// The queries, read by rank 0 and broadcast (shape first).
Matrix<float> broadcast_queries(const std::string& path) {
  const auto& comm = world();
  Matrix<float> q;
  on_root([&] { q = read_matrix<float>(path); });
  std::vector<double> shape{static_cast<double>(q.rows()), static_cast<double>(q.cols())};
  comm.broadcast(std::span<double>(shape), 0);
  if (comm.rank() != 0) q = Matrix<float>(static_cast<std::int64_t>(shape[0]), static_cast<std::int64_t>(shape[1]));
  if (q.size() > 0) comm.broadcast(std::span<float>(q.data(), static_cast<std::size_t>(q.size())), 0);
  return q;
}

mpi::RowPartition layout_of(const mpi::ShardedLsh<float>& index) {
  return mpi::RowPartition::gather(world(), index.local() ? index.local()->size() : 0);
}

const RegisterCommand registered{"lsh", [](CLI::App& app) {
  auto* lsh = app.add_subcommand("lsh", "Sharded locality-sensitive hashing index: build, query (distributed)");
  lsh->require_subcommand(1);
  auto a = std::make_shared<LshArgs>();
  auto threads = [a] {
    if (a->threads > 0) linalg::set_num_threads(a->threads);
  };

  auto* build = lsh->add_subcommand("build", "Build a sharded index: every rank indexes its slice of the rows");
  build->add_option("--input", a->input, "Base data (.npy, IDX, .fvecs), n x d")->required();
  build->add_option("--index", a->index, "Index directory to write (rankR.lsh per rank + layout.txt)")->required();
  build->add_option("--family", a->family, "Hash family: " + lsh_family_names())->capture_default_str();
  build->add_option("--tables", a->tables, "Tables L (0: 20)");
  build->add_option("--hashes", a->hashes, "Hashes K per table (0: 16 simhash, 2 cross_polytope, 12 pstable)");
  build->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  build->add_option("--metric", a->metric, "Distance: euclidean, cosine, inner_product")->capture_default_str();
  build->add_option("--width", a->width, "pstable bucket width w (0: each shard's 4 x median 10-NN distance of a sample)");
  build->add_option("--cp-dim", a->cp_dim, "cross_polytope dimension, a power of two (0: min(2^ceil(log2 d), 256))");
  build->add_flag("--no-center", a->no_center, "Hash the data as given (angular families centre each shard by default)");
  build->add_option("--sketch-dim", a->sketch_dim, "Two-stage re-ranking on a JL sketch of this dimension (0: exact only)");
  build->add_option("--target-recall", a->target_recall, "Not distributed: tune with the single-process `lowdim lsh build`");
  build->add_option("--threads", a->threads, "Threads per rank (0: all)");
  build->callback([a, threads] {
    if (a->target_recall != 0)
      throw Exit{1, "lsh build: --target-recall (the tuner) is not distributed; tune with the single-process "
                    "`lowdim lsh build --target-recall`, then pass its --tables and --hashes here"};
    threads();
    const auto& comm = world();
    const ArrayInfo info = mpi::probe(comm, a->input);
    const auto partition = mpi::RowPartition::even(info.rows(), comm.size());
    std::optional<mpi::NpySlice<float>> slice;
    LshIndexOptions o;
    mpi::collective(comm, [&] {
      o = index_options(*a);
      slice.emplace(a->input, partition, comm.rank());
      check_local_finite<float>(slice->local(), a->input, "lsh build");
    });
    const auto t0 = std::chrono::steady_clock::now();
    const mpi::ShardedLsh<float> index(comm, slice->local(), o);
    const double t = seconds(t0);
    index.save(a->index);
    const std::int64_t bytes = comm.all_max(index.local() ? index.local()->memory_bytes() : 0);
    if (comm.rank() != 0) return;
    fmt::print("built {} tables x {} hashes ({}) over {} x {} in {:.3f} s; at most {} bytes per rank\n", o.tables,
               o.hashes, o.family.name(), info.rows(), info.cols(), t, bytes);
    fmt::print("distributed: {}; wrote {}\n", split_text(partition), a->index);
  });

  auto* query = lsh->add_subcommand("query", "k nearest neighbours of query rows over every shard (global ids)");
  query->add_option("--index", a->index, "Index directory (from mpirun lowdim lsh build)")->required();
  query->add_option("--queries", a->queries, "Queries (.npy, IDX, .fvecs), q x d")->required();
  query->add_option("--k", a->k, "Neighbours per query")->capture_default_str();
  auto* probes = query->add_option("--probes", a->probes, "Buckets probed in all per shard (>= tables; default: one per table)");
  auto* cands = query->add_option("--candidates", a->candidates, "Probe until this many unique candidates (per shard)");
  probes->excludes(cands);
  query->add_option("--rerank", a->rerank, "Candidates ranked exactly after the sketch stage (0: max(20k, 200))");
  query->add_option("--target-recall", a->target_recall,
                    "Adaptive: per query and shard, probe until the model's recall reaches R (--probes caps; 0: off)");
  query->add_option("--output", a->output, "Neighbour ids, global row numbers (.npy int64, or .ivecs)")->required();
  query->add_option("--distances", a->distances, "Distances (.npy float32, or .fvecs)");
  query->add_option("--json", a->json, "Per-query statistics, summed over the shards (JSON)");
  query->add_option("--threads", a->threads, "Threads per rank (0: all)");
  query->callback([a, threads] {
    threads();
    const auto& comm = world();
    const auto index = mpi::ShardedLsh<float>::load(comm, a->index);
    const auto partition = layout_of(index);
    const auto q = broadcast_queries(a->queries);
    Matrix<std::int64_t> ids(q.rows(), a->k);
    Matrix<float> dist(q.rows(), a->k);
    std::vector<LshQueryStats> stats;
    const auto t0 = std::chrono::steady_clock::now();
    index.knn(q, a->k,
              {.probes = a->probes, .candidates = a->candidates, .rerank = a->rerank, .target_recall = a->target_recall},
              ids.view(), dist.view(), a->json.empty() ? nullptr : &stats);
    const double t = seconds(t0);
    on_root([&] {
      if (ends_with(a->output, ".ivecs")) {
        Matrix<std::int32_t> narrow(ids.rows(), ids.cols());
        for (std::int64_t i = 0; i < ids.size(); ++i) narrow.data()[i] = static_cast<std::int32_t>(ids.data()[i]);
        write_ivecs(a->output, narrow.view());
      } else {
        write_npy<std::int64_t>(a->output, ids.view());
      }
      if (!a->distances.empty()) {
        if (ends_with(a->distances, ".fvecs"))
          write_fvecs(a->distances, dist.view());
        else
          write_npy<float>(a->distances, dist.view());
      }
      if (!a->json.empty()) {
        const std::string text = stats_json(stats, t, partition);
        AtomicFile file(a->json);
        file.write(text.data(), text.size());
        file.commit();
      }
    });
    if (comm.rank() != 0) return;
    fmt::print("{} queries in {:.3f} s ({:.0f} q/s)\ndistributed: {}\n", q.rows(), t,
               static_cast<double>(q.rows()) / t, split_text(partition));
  });

  for (const char* name : {"insert", "remove", "eval"}) {
    auto* cmd = lsh->add_subcommand(name, "Not distributed: use the single-process lowdim");
    cmd->allow_extras();
    cmd->callback([name] {
      throw Exit{1, fmt::format("lsh {} is not distributed (sharded indexes are built and queried under mpirun); "
                                "run it without mpirun", name)};
    });
  }
}};

}  // namespace
}  // namespace lowdim::cli
