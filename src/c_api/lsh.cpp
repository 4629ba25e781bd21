// C API of the LSH index: handles over LshIndex<float>, behind the exception barrier.

#include "c_api/c_api_common.hpp"

#include <lowdim/c/lsh.h>
#include <lowdim/lsh.hpp>

#include <optional>
#include <string>
#include <vector>

struct lowdim_lsh {
  lowdim::LshIndex<float> index;
};

using lowdim::c_api::guarded;
using lowdim::c_api::in_view;
using lowdim::c_api::out_view;
using lowdim::c_api::require;

namespace {
void mean_stats(const std::vector<lowdim::LshQueryStats>& per, int64_t q, lowdim_lsh_stats* stats) {
  if (!stats) return;
  *stats = lowdim_lsh_stats{};
  for (const auto& s : per) {
    stats->candidates += static_cast<double>(s.candidates);
    stats->unique_candidates += static_cast<double>(s.unique_candidates);
    stats->probes += static_cast<double>(s.probes);
    stats->extra_probes += s.extra_probes;
    stats->scanned += s.scanned;
    stats->hash_seconds += s.hash_seconds;
    stats->lookup_seconds += s.lookup_seconds;
    stats->rerank_seconds += s.rerank_seconds;
  }
  const double m = q > 0 ? static_cast<double>(q) : 1.0;
  stats->candidates /= m;
  stats->unique_candidates /= m;
  stats->probes /= m;
  stats->hash_seconds /= m;
  stats->lookup_seconds /= m;
  stats->rerank_seconds /= m;
}
}  // namespace

extern "C" {

const char* lowdim_lsh_family_names(void) {
  static const std::string names = lowdim::lsh_family_names();
  return names.c_str();
}

int lowdim_lsh_build(const float* x, int64_t n, int64_t d, int64_t ldx, const char* family, const char* metric,
                     int64_t tables, int64_t hashes, uint64_t seed, double width, int64_t cp_dim, int64_t sketch_dim,
                     lowdim_lsh** out) {
  return guarded([&] {
    require(out, "lowdim_lsh_build", "out");
    *out = nullptr;
    require(family, "lowdim_lsh_build", "family");
    require(metric, "lowdim_lsh_build", "metric");
    lowdim::LshIndexOptions o;
    o.family = lowdim::parse_lsh_family(family);
    o.metric = lowdim::parse_metric(metric);
    o.tables = tables;
    o.hashes = hashes;
    o.seed = seed;
    o.family_options.width = width;
    o.family_options.cp_dim = cp_dim;
    o.sketch_dim = sketch_dim;
    *out = new lowdim_lsh{lowdim::LshIndex<float>(in_view(x, n, d, ldx, "lowdim_lsh_build", "x"), o)};
  });
}

void lowdim_lsh_destroy(lowdim_lsh* index) { delete index; }
int64_t lowdim_lsh_dim(const lowdim_lsh* index) { return index ? index->index.dim() : 0; }
int64_t lowdim_lsh_size(const lowdim_lsh* index) { return index ? index->index.size() : 0; }
int64_t lowdim_lsh_memory_bytes(const lowdim_lsh* index) { return index ? index->index.memory_bytes() : 0; }

int lowdim_lsh_knn(const lowdim_lsh* index, const float* queries, int64_t q, int64_t ldq, int64_t k, int64_t probes,
                   int64_t candidates, int64_t rerank, int64_t* ids, int64_t ldi, float* distances, int64_t ldd,
                   lowdim_lsh_stats* stats) {
  return guarded([&] {
    require(index, "lowdim_lsh_knn", "index");
    const auto& ix = index->index;
    std::vector<lowdim::LshQueryStats> per;
    ix.knn(in_view(queries, q, ix.dim(), ldq, "lowdim_lsh_knn", "queries"), k,
           {.probes = probes, .candidates = candidates, .rerank = rerank},
           out_view(ids, q, k, ldi, "lowdim_lsh_knn", "ids"), out_view(distances, q, k, ldd, "lowdim_lsh_knn", "distances"),
           &per);
    mean_stats(per, q, stats);
  });
}

int lowdim_lsh_knn_adaptive(const lowdim_lsh* index, const float* queries, int64_t q, int64_t ldq, int64_t k,
                            double target_recall, int64_t max_probes, int64_t* ids, int64_t ldi, float* distances,
                            int64_t ldd, lowdim_lsh_stats* stats) {
  return guarded([&] {
    const char* who = "lowdim_lsh_knn_adaptive";
    require(index, who, "index");
    LOWDIM_CHECK(target_recall > 0 && target_recall < 1, "{}: target_recall must be in (0, 1), got {}", who,
                 target_recall);
    const auto& ix = index->index;
    std::vector<lowdim::LshQueryStats> per;
    ix.knn(in_view(queries, q, ix.dim(), ldq, who, "queries"), k, {.probes = max_probes, .target_recall = target_recall},
           out_view(ids, q, k, ldi, who, "ids"), out_view(distances, q, k, ldd, who, "distances"), &per);
    mean_stats(per, q, stats);
  });
}

int lowdim_lsh_build_tuned(const float* x, int64_t n, int64_t d, int64_t ldx, const char* family, const char* metric,
                           int64_t k, double target_recall, int64_t memory_bytes, int64_t sketch_dim, uint64_t seed,
                           lowdim_lsh** out, lowdim_lsh_tune_report* report) {
  return guarded([&] {
    const char* who = "lowdim_lsh_build_tuned";
    require(out, who, "out");
    *out = nullptr;
    require(family, who, "family");
    require(metric, who, "metric");
    lowdim::LshTuneOptions o;
    o.family = lowdim::parse_lsh_family(family);
    o.metric = lowdim::parse_metric(metric);
    o.k = k;
    o.target_recall = target_recall;
    o.memory_bytes = memory_bytes;
    o.sketch_dim = sketch_dim;
    o.seed = seed;
    lowdim::LshTuneResult r;
    auto index = lowdim::build_tuned_lsh<float>(in_view(x, n, d, ldx, who, "x"), o, &r);
    if (report)
      *report = lowdim_lsh_tune_report{r.options.tables, r.options.hashes, r.probes, r.model_recall, r.recall,
                                       r.adaptive_recall, r.memory_bytes};
    *out = new lowdim_lsh{std::move(index)};
  });
}

int lowdim_lsh_insert(lowdim_lsh* index, const float* x, int64_t m, int64_t ldx, int64_t* first_id) {
  return guarded([&] {
    require(index, "lowdim_lsh_insert", "index");
    const int64_t first = index->index.insert(in_view(x, m, index->index.dim(), ldx, "lowdim_lsh_insert", "x"));
    if (first_id) *first_id = first;
  });
}

int lowdim_lsh_remove(lowdim_lsh* index, const int64_t* ids, int64_t count) {
  return guarded([&] {
    require(index, "lowdim_lsh_remove", "index");
    LOWDIM_CHECK(count >= 0, "lowdim_lsh_remove: count {} is negative", count);
    if (count > 0) require(ids, "lowdim_lsh_remove", "ids");
    index->index.remove(std::span<const std::int64_t>(ids, static_cast<std::size_t>(count)));
  });
}

int lowdim_lsh_save(const lowdim_lsh* index, const char* path) {
  return guarded([&] {
    require(index, "lowdim_lsh_save", "index");
    require(path, "lowdim_lsh_save", "path");
    index->index.save(path);
  });
}

int lowdim_lsh_load(const char* path, lowdim_lsh** out) {
  return guarded([&] {
    require(out, "lowdim_lsh_load", "out");
    *out = nullptr;
    require(path, "lowdim_lsh_load", "path");
    *out = new lowdim_lsh{lowdim::LshIndex<float>::load(path)};
  });
}

int lowdim_exact_knn_f32(const float* base, int64_t n, int64_t d, int64_t ldb, const float* queries, int64_t q,
                         int64_t ldq, int64_t k, const char* metric, int64_t* ids, int64_t ldi, float* distances,
                         int64_t ldd) {
  return guarded([&] {
    require(metric, "lowdim_exact_knn_f32", "metric");
    lowdim::exact_knn<float>(in_view(base, n, d, ldb, "lowdim_exact_knn_f32", "base"),
                             in_view(queries, q, d, ldq, "lowdim_exact_knn_f32", "queries"), k,
                             lowdim::parse_metric(metric), out_view(ids, q, k, ldi, "lowdim_exact_knn_f32", "ids"),
                             out_view(distances, q, k, ldd, "lowdim_exact_knn_f32", "distances"));
  });
}

}  // extern "C"
