// The recall-targeted tuner (PUFFINN's idea, with the multi-probe of lowdim's index):
//   1. hold out queries, take their exact neighbours in the rest (the base);
//   2. for each K of the family: L = the most tables the memory budget holds (≤ max_tables),
//      from the bytes per point of the data and a bucket count measured on a sample;
//   3. the model (src/lsh/model.cpp) gives, for each probe count P of a grid, the expected
//      recall (mean found-probability of the held-out queries' true neighbours) and the
//      expected unique candidates (the base size times the found-probability of random base
//      points), from the queries' own projections and probe sequences;
//   4. the (K, P) of least modelled cost hash + probes + candidates that meets the target;
//   5. build on the base, measure the held-out recall, raise P until it meets the target
//      plus one standard error; measure the adaptive mode too.

#include "lsh/lsh_internal.hpp"

#include <lowdim/error.hpp>

#include <cmath>
#include <numbers>
#include <set>

namespace lowdim {
namespace {

double recall_of(const Matrix<std::int64_t>& got, const Matrix<std::int64_t>& truth) {
  std::int64_t hit = 0;
  for (std::int64_t i = 0; i < got.rows(); ++i) {
    const std::set<std::int64_t> t(truth.row(i), truth.row(i) + truth.cols());
    for (std::int64_t j = 0; j < got.cols(); ++j) hit += static_cast<std::int64_t>(t.count(got(i, j)));
  }
  return static_cast<double>(hit) / static_cast<double>(got.size());
}

/// Bytes of an index over n points beyond its tables (LshIndex::memory_bytes's other terms).
std::int64_t fixed_bytes(std::int64_t n, std::int64_t d, std::int64_t item, std::int64_t sketch_dim) {
  return n * d * item + n * item + d * item + (n + 63) / 64 * 8 + n * sketch_dim;
}

/// Bytes of one table over n points with `buckets` buckets (keys, offsets, ids, hash slots).
std::int64_t table_bytes(std::int64_t n, std::int64_t buckets) {
  std::int64_t capacity = 16;
  while (capacity < buckets + buckets / 2 + 1) capacity *= 2;
  return 4 * n + 16 * buckets + 8 + 4 * capacity;
}

std::vector<std::int64_t> hash_candidates(LshFamily family) {
  if (family == LshFamily::simhash) return {8, 10, 12, 14, 16, 18, 20, 24};
  if (family == LshFamily::cross_polytope) return {1, 2, 3, 4};
  return {4, 6, 8, 10, 12, 14, 16, 20};
}

}  // namespace

template <class T>
LshTuneResult tune_lsh(In<T> data, const LshTuneOptions& o) {
  const std::int64_t n = data.rows(), d = data.cols(), k = o.k;
  LOWDIM_CHECK(o.target_recall > 0 && o.target_recall < 1, "tune_lsh: target_recall must be in (0, 1), got {}",
               o.target_recall);
  LOWDIM_CHECK(k >= 1, "tune_lsh: k must be ≥ 1, got {}", k);
  LOWDIM_CHECK(o.max_tables >= 1, "tune_lsh: max_tables must be ≥ 1, got {}", o.max_tables);
  LOWDIM_CHECK(o.memory_bytes >= 0 && o.holdout >= 0 && o.sketch_dim >= 0,
               "tune_lsh: memory_bytes {}, holdout {} and sketch_dim {} must be ≥ 0", o.memory_bytes, o.holdout,
               o.sketch_dim);
  const std::int64_t H = o.holdout > 0 ? o.holdout : std::clamp<std::int64_t>(n / 10, 20, 300);
  LOWDIM_CHECK(d >= 1 && n >= 2 * H && n - H >= 2 * k + 20,
               "tune_lsh: {} rows are too few to hold out {} queries and keep 2k + 20 = {} (k = {})", n, H,
               2 * k + 20, k);
  check_finite<T>(data, "tune_lsh: data");
  const std::int64_t item = static_cast<std::int64_t>(sizeof(T));
  const std::int64_t fixed = fixed_bytes(n, d, item, o.sketch_dim);

  // 1. Held-out queries and the base.
  const auto picks = sample_without_replacement(n, H, RandomStream(o.seed, StreamId::lsh_tuner));
  std::vector<char> held(static_cast<std::size_t>(n), 0);
  for (const auto i : picks) held[static_cast<std::size_t>(i)] = 1;
  const std::int64_t nb = n - H;
  auto base = Matrix<T>::uninitialized(nb, d);
  auto queries = Matrix<T>::uninitialized(H, d);
  for (std::int64_t i = 0, b = 0, q = 0; i < n; ++i) {
    T* to = held[static_cast<std::size_t>(i)] ? queries.row(q++) : base.row(b++);
    std::copy(data.row(i), data.row(i) + d, to);
  }
  auto truth = Matrix<std::int64_t>::uninitialized(H, k);
  {
    auto dist = Matrix<T>::uninitialized(H, k);
    exact_knn<T>(base, queries, k, o.metric, truth.view(), dist.view());
  }

  LshIndexOptions index;
  index.family = o.family;
  index.metric = o.metric;
  index.seed = o.seed;
  index.center = o.center;
  index.sketch_dim = o.sketch_dim;
  index.family_options = o.family_options;
  if (o.family == LshFamily::pstable && index.family_options.width == 0)
    index.family_options.width = detail::pstable_width<T>(base, o.seed);
  index.family_options = LshHasher(o.family, d, 1, o.seed, index.family_options).options();
  const bool centering = o.center && o.family.angular();
  std::vector<T> mean(static_cast<std::size_t>(d), T(0));
  if (centering) {
    std::vector<double> sum(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t i = 0; i < nb; ++i)
      for (std::int64_t j = 0; j < d; ++j) sum[static_cast<std::size_t>(j)] += base(i, j);
    for (std::int64_t j = 0; j < d; ++j) mean[static_cast<std::size_t>(j)] = static_cast<T>(sum[static_cast<std::size_t>(j)] / static_cast<double>(nb));
  }
  auto centred = [&](const T* x, std::vector<double>& out) {
    out.resize(static_cast<std::size_t>(d));
    for (std::int64_t j = 0; j < d; ++j) out[static_cast<std::size_t>(j)] = static_cast<double>(x[j]) - static_cast<double>(mean[static_cast<std::size_t>(j)]);
  };
  // The model's parameter of (query, point): the angle of the centred vectors, or the distance.
  auto parameter = [&](const T* q, const T* x) {
    double qq = 0, xx = 0, qx = 0;
    for (std::int64_t j = 0; j < d; ++j) {
      const double a = static_cast<double>(q[j]) - mean[static_cast<std::size_t>(j)];
      const double b = static_cast<double>(x[j]) - mean[static_cast<std::size_t>(j)];
      qq += a * a, xx += b * b, qx += a * b;
    }
    if (!o.family.angular()) return std::sqrt(std::max(0.0, qq + xx - 2 * qx));
    if (qq <= 0 || xx <= 0) return std::numbers::pi / 2;
    return std::acos(std::clamp(qx / std::sqrt(qq * xx), -1.0, 1.0));
  };

  // 3. The model's points: held-out queries with their neighbours, and random base points.
  const std::int64_t Qm = std::min<std::int64_t>(H, 64), R = std::min<std::int64_t>(nb, 96);
  const auto random_points = sample_without_replacement(
      nb, R, RandomStream(detail::derived_seed(o.seed, StreamId::lsh_tuner), StreamId::lsh_tuner));
  std::vector<std::vector<double>> params(static_cast<std::size_t>(Qm));
  for (std::int64_t i = 0; i < Qm; ++i) {
    for (std::int64_t j = 0; j < k; ++j) params[static_cast<std::size_t>(i)].push_back(parameter(queries.row(i), base.row(truth(i, j))));
    for (const auto r : random_points) params[static_cast<std::size_t>(i)].push_back(parameter(queries.row(i), base.row(r)));
  }
  auto cq = Matrix<T>::uninitialized(Qm, d);
  for (std::int64_t i = 0; i < Qm; ++i)
    for (std::int64_t j = 0; j < d; ++j) cq(i, j) = queries(i, j) - mean[static_cast<std::size_t>(j)];

  const std::vector<double> grid_factors = {1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32};
  struct Choice {
    std::int64_t hashes = 0, tables = 0, probes = 0;
    double recall = -1, cost = std::numeric_limits<double>::infinity();
  };
  Choice best, best_recall;
  std::int64_t least_need = std::numeric_limits<std::int64_t>::max();
  std::vector<double> scratch;
  for (const std::int64_t K : hash_candidates(o.family)) {
    // 2. L from the budget, with a bucket count measured on a sample (an upper bound on the
    // full data's, where more points share buckets).
    const std::int64_t m = std::min<std::int64_t>(nb, 4096);
    std::int64_t buckets;
    {
      LshHasher one(o.family, d, K, o.seed, index.family_options);
      auto sample = Matrix<T>::uninitialized(m, d);
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < d; ++j) sample(i, j) = base(i, j) - mean[static_cast<std::size_t>(j)];
      auto h = Matrix<std::int64_t>::uninitialized(m, K);
      one.hash<T>(sample, h.view());
      const int bits = o.family == LshFamily::simhash ? 1
                       : o.family == LshFamily::cross_polytope ? std::countr_zero(static_cast<std::uint64_t>(2 * index.family_options.cp_dim))
                                                               : 0;
      std::set<std::uint64_t> keys;
      for (std::int64_t i = 0; i < m; ++i) keys.insert(detail::table_key(h.row(i), K, bits));
      const auto u = static_cast<std::int64_t>(keys.size());
      buckets = u >= m ? n : std::min<std::int64_t>(n, (u * n + m - 1) / m);
    }
    const std::int64_t per_table = table_bytes(n, buckets);
    std::int64_t L = o.max_tables;
    if (o.memory_bytes > 0) {
      least_need = std::min(least_need, fixed + per_table);
      if (o.memory_bytes < fixed + per_table) continue;
      L = std::min(L, (o.memory_bytes - fixed) / per_table);
    }
    const LshHasher hasher(o.family, d, L * K, o.seed, index.family_options);
    const std::int64_t width = hasher.width();
    auto p = Matrix<T>::uninitialized(Qm, L * K * width);
    hasher.project<T>(cq, p.view());
    auto h = Matrix<std::int64_t>::uninitialized(Qm, L * K);
    hasher.hash_projections<T>(p, h.view());
    std::vector<std::int64_t> grid;
    for (const double f : grid_factors) grid.push_back(static_cast<std::int64_t>(std::llround(f * static_cast<double>(L))));
    const std::int64_t pmax = grid.back();
    std::vector<double> recall(grid.size(), 0.0), cands(grid.size(), 0.0);
    std::vector<std::vector<detail::Perturbation>> perturbations(static_cast<std::size_t>(L));
    detail::ProbeSequence sequence;
    detail::ProbeModel model;
    std::vector<detail::ProbeSequence::Probe> probes;
    std::vector<double> mass(static_cast<std::size_t>(L));
    for (std::int64_t i = 0; i < Qm; ++i) {
      for (std::int64_t t = 0; t < L; ++t)
        detail::table_perturbations(o.family, p.row(i) + t * K * width, h.row(i) + t * K, K, width,
                                    perturbations[static_cast<std::size_t>(t)]);
      sequence.reset(&perturbations);
      probes.clear();
      detail::ProbeSequence::Probe probe;
      while (static_cast<std::int64_t>(probes.size()) < pmax && sequence.next(probe)) probes.push_back(probe);
      centred(queries.row(i), scratch);
      double qn = 0;
      for (const double v : scratch) qn += v * v;
      model.reset<T>(o.family, p.row(i), h.row(i), L, K, width, std::sqrt(qn), index.family_options.width,
                     index.family_options.cp_dim);
      const auto& ps = params[static_cast<std::size_t>(i)];
      for (std::size_t pt = 0; pt < ps.size(); ++pt) {
        model.set_parameter(ps[pt]);
        std::fill(mass.begin(), mass.end(), 0.0);
        std::size_t g = 0;
        for (std::size_t r = 0; r <= probes.size() && g < grid.size(); ++r) {
          while (g < grid.size() && (static_cast<std::int64_t>(r) == grid[g] || r == probes.size())) {
            double missed = 1;
            for (const double v : mass) missed *= 1 - std::min(1.0, v);
            if (pt < static_cast<std::size_t>(k)) recall[g] += (1 - missed) / static_cast<double>(Qm * k);
            else cands[g] += (1 - missed) * static_cast<double>(nb) / static_cast<double>(Qm * R);
            ++g;
          }
          if (r < probes.size()) mass[static_cast<std::size_t>(probes[r].table)] += model.probability(probes[r], perturbations);
        }
      }
    }
    // 4. The modelled cost, in units of one multiply-add: hashing (a batched product),
    // ~400 per probe (heap, hash slot, key, offsets, ids: cache misses; measured on
    // Fashion-MNIST as about the exact distance of 400–500 floats), and the re-ranking.
    for (std::size_t g = 0; g < grid.size(); ++g) {
      const double rerank = o.sketch_dim > 0 ? 2.0 * static_cast<double>(o.sketch_dim) * cands[g] +
                                                   std::min(cands[g], std::max(20.0 * static_cast<double>(k), 200.0)) * static_cast<double>(d)
                                             : cands[g] * static_cast<double>(d);
      const double cost = static_cast<double>(L * K * width * d) / 4 + 400.0 * static_cast<double>(grid[g]) + rerank;
      if (recall[g] > best_recall.recall) best_recall = {K, L, grid[g], recall[g], cost};
      if (recall[g] >= o.target_recall && cost < best.cost) best = {K, L, grid[g], recall[g], cost};
    }
  }
  if (best_recall.hashes == 0)
    LOWDIM_THROW(invalid_argument,
                 "tune_lsh: the memory budget of {} bytes is below the {} bytes that the data ({} × {}) and one table need",
                 o.memory_bytes, least_need, n, d);
  if (best.hashes == 0) best = best_recall;  // the target is beyond the model: the highest recall

  // 5. Build on the base and check on the held-out queries.
  index.tables = best.tables;
  index.hashes = best.hashes;
  const LshIndex<T> built(base, index);
  LshTuneResult result;
  result.options = built.options();
  result.model_recall = best.recall;
  result.holdout = H;
  const double margin = std::sqrt(o.target_recall * (1 - o.target_recall) / static_cast<double>(H * k));
  auto ids = Matrix<std::int64_t>::uninitialized(H, k);
  auto dist = Matrix<T>::uninitialized(H, k);
  std::vector<LshQueryStats> stats;
  std::int64_t probes = best.probes;
  const std::int64_t most = 64 * best.tables;
  for (;;) {
    built.knn(queries, k, {.probes = probes}, ids.view(), dist.view(), &stats);
    result.recall = recall_of(ids, truth);
    if (result.recall >= o.target_recall + margin || probes >= most) break;
    probes = std::min(most, std::max(probes + 1, static_cast<std::int64_t>(std::ceil(1.25 * static_cast<double>(probes)))));
  }
  result.probes = probes;
  for (const auto& s : stats) result.candidates += static_cast<double>(s.unique_candidates) / static_cast<double>(H);
  built.knn(queries, k, {.target_recall = o.target_recall}, ids.view(), dist.view(), &stats);
  result.adaptive_recall = recall_of(ids, truth);
  for (const auto& s : stats) result.adaptive_probes += static_cast<double>(s.probes) / static_cast<double>(H);
  const std::int64_t tables = built.memory_bytes() - fixed_bytes(nb, d, item, o.sketch_dim);
  result.memory_bytes = fixed + static_cast<std::int64_t>(std::ceil(static_cast<double>(tables) * static_cast<double>(n) / static_cast<double>(nb)));
  return result;
}

template <class T>
LshIndex<T> build_tuned_lsh(In<T> data, const LshTuneOptions& options, LshTuneResult* result) {
  LshTuneResult r = tune_lsh<T>(data, options);
  LshIndex<T> index(data, r.options);
  const std::int64_t fixed = fixed_bytes(data.rows(), data.cols(), static_cast<std::int64_t>(sizeof(T)), options.sketch_dim);
  while (options.memory_bytes > 0 && index.memory_bytes() > options.memory_bytes) {
    const std::int64_t L = r.options.tables;
    const std::int64_t per_table = (index.memory_bytes() - fixed + L - 1) / L;
    const std::int64_t fit = std::min(L - 1, (options.memory_bytes - fixed) / per_table);
    LOWDIM_CHECK(fit >= 1, "build_tuned_lsh: the memory budget of {} bytes is below the {} bytes of the data and one table",
                 options.memory_bytes, fixed + per_table);
    r.options.tables = fit;
    index = LshIndex<T>(data, r.options);
  }
  r.probes = std::max(r.probes, r.options.tables);
  r.memory_bytes = index.memory_bytes();
  if (result) *result = r;
  return index;
}

template LOWDIM_API LshTuneResult tune_lsh<float>(In<float>, const LshTuneOptions&);
template LOWDIM_API LshTuneResult tune_lsh<double>(In<double>, const LshTuneOptions&);
template LOWDIM_API LshIndex<float> build_tuned_lsh<float>(In<float>, const LshTuneOptions&, LshTuneResult*);
template LOWDIM_API LshIndex<double> build_tuned_lsh<double>(In<double>, const LshTuneOptions&, LshTuneResult*);

}  // namespace lowdim
