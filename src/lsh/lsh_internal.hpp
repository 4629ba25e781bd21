#ifndef LOWDIM_SRC_LSH_LSH_INTERNAL_HPP
#define LOWDIM_SRC_LSH_LSH_INTERNAL_HPP

// Private to src/lsh: hash values, table keys, the multi-probe sequence, distance kernels.

#include <lowdim/lsh.hpp>
#include <lowdim/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <queue>
#include <vector>

namespace lowdim::detail {

/// A seed for one of the LSH operators, drawn from the index seed's registered stream.
std::uint64_t derived_seed(std::uint64_t seed, StreamId stream);

/// One function's hash value from its width projections.
template <class T>
inline std::int64_t hash_value(LshFamily family, const T* p, std::int64_t width) {
  if (family == LshFamily::simhash) return p[0] >= 0 ? 1 : 0;
  if (family == LshFamily::pstable) return static_cast<std::int64_t>(std::floor(p[0]));
  std::int64_t best = 0;
  T best_abs = std::abs(p[0]);
  for (std::int64_t j = 1; j < width; ++j)
    if (std::abs(p[j]) > best_abs) {
      best_abs = std::abs(p[j]);
      best = j;
    }
  return 2 * best + (p[best] < 0 ? 1 : 0);
}

/// The bucket key of a table from its K hash values: the bits packed when they fit
/// (simhash K ≤ 64; cross_polytope K·log₂(2c) ≤ 64), a 64-bit mix otherwise.
inline std::uint64_t table_key(const std::int64_t* values, std::int64_t count, int bits_per_value) {
  if (bits_per_value > 0 && count * bits_per_value <= 64) {
    std::uint64_t key = 0;
    for (std::int64_t j = 0; j < count; ++j) key |= static_cast<std::uint64_t>(values[j]) << (j * bits_per_value);
    return key;
  }
  std::uint64_t key = 0x9E3779B97F4A7C15ull;
  for (std::int64_t j = 0; j < count; ++j) {
    std::uint64_t z = key ^ (static_cast<std::uint64_t>(values[j]) + 0x9E3779B97F4A7C15ull + (key << 6) + (key >> 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    key = z ^ (z >> 31);
  }
  return key;
}

/// One atomic perturbation of a table's hash values: function j takes value `value`, at a
/// cost (the squared distance of the projection to that bucket's boundary, Lv et al. 2007).
struct Perturbation {
  double cost;
  std::int32_t function;
  std::int32_t rank;  // the value's place among the function's alternatives, cheapest first (1, 2, …)
  std::int64_t value;
};

/// At most 64 atomic perturbations of one table, cheapest first, from its projections.
template <class T>
void table_perturbations(LshFamily family, const T* p, const std::int64_t* h, std::int64_t hashes, std::int64_t width,
                         std::vector<Perturbation>& out) {
  out.clear();
  if (family == LshFamily::simhash) {
    for (std::int64_t j = 0; j < hashes; ++j)
      out.push_back({static_cast<double>(p[j]) * p[j], static_cast<std::int32_t>(j), 1, 1 - h[j]});
  } else if (family == LshFamily::pstable) {
    for (std::int64_t j = 0; j < hashes; ++j) {
      const double frac = static_cast<double>(p[j]) - static_cast<double>(h[j]);
      out.push_back({frac * frac, static_cast<std::int32_t>(j), 1, h[j] - 1});
      out.push_back({(1 - frac) * (1 - frac), static_cast<std::int32_t>(j), 1, h[j] + 1});
    }
  } else {
    // cross_polytope: the other signed coordinates ±e_i, cost (|y|_max − (±y_i))².
    const std::int64_t per = std::max<std::int64_t>(1, std::min<std::int64_t>(2 * width - 1, 64 / hashes + 2));
    std::vector<Perturbation> local;
    for (std::int64_t j = 0; j < hashes; ++j) {
      const T* y = p + j * width;
      const double top = std::abs(static_cast<double>(y[h[j] / 2]));
      local.clear();
      for (std::int64_t i = 0; i < width; ++i) {
        const double v = y[i];
        for (int sign = 0; sign < 2; ++sign) {
          const std::int64_t value = 2 * i + sign;
          if (value == h[j]) continue;
          const double signed_v = sign ? -v : v;
          local.push_back({(top - signed_v) * (top - signed_v), static_cast<std::int32_t>(j), 0, value});
        }
      }
      const auto take = std::min<std::int64_t>(per, static_cast<std::int64_t>(local.size()));
      std::partial_sort(local.begin(), local.begin() + take, local.end(),
                        [](const Perturbation& a, const Perturbation& b) { return a.cost < b.cost || (a.cost == b.cost && a.value < b.value); });
      for (std::int64_t r = 0; r < take; ++r) local[static_cast<std::size_t>(r)].rank = static_cast<std::int32_t>(r + 1);
      out.insert(out.end(), local.begin(), local.begin() + take);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Perturbation& a, const Perturbation& b) { return a.cost < b.cost; });
  if (out.size() > 64) out.resize(64);
}

/// The query-directed probe sequence over all tables (Lv et al.'s shift/expand heap over
/// sets of atomic perturbations, one global heap): first every table's own bucket, then
/// perturbation sets in increasing total cost. A set is a bitmask over a table's ≤ 64
/// sorted perturbations; sets that change one function twice are skipped.
class ProbeSequence {
 public:
  struct Probe {
    std::int64_t table;
    std::uint64_t set;  // 0: the table's own bucket
  };
  void reset(const std::vector<std::vector<Perturbation>>* perturbations) {
    perturbations_ = perturbations;
    heap_ = decltype(heap_)();
    next_base_ = 0;
    for (std::size_t t = 0; t < perturbations->size(); ++t)
      if (!(*perturbations)[t].empty()) heap_.push({(*perturbations)[t][0].cost, static_cast<std::int64_t>(t), 1});
  }
  /// The next probe; false when no probe is left.
  bool next(Probe& probe) {
    const auto tables = static_cast<std::int64_t>(perturbations_->size());
    if (next_base_ < tables) {
      probe = {next_base_++, 0};
      return true;
    }
    while (!heap_.empty()) {
      const Entry e = heap_.top();
      heap_.pop();
      const auto& list = (*perturbations_)[static_cast<std::size_t>(e.table)];
      const int last = 63 - std::countl_zero(e.set);
      const bool ok = valid(list, e.set);
      if (last + 1 < static_cast<int>(list.size())) {
        const double step = list[static_cast<std::size_t>(last) + 1].cost;
        // shift: replace the last member by the next; expand: add the next. A set that
        // changes a function twice is never pushed with an invalid prefix: its conflict
        // involves the last member (the prefix is valid), so only its shift can lead to
        // valid sets, and its expansion (which keeps the conflict in every descendant) is
        // pruned; every valid set keeps its path of shifts and expansions.
        heap_.push({e.cost - list[static_cast<std::size_t>(last)].cost + step, e.table,
                    (e.set & ~(1ull << last)) | (1ull << (last + 1))});
        if (ok) heap_.push({e.cost + step, e.table, e.set | (1ull << (last + 1))});
      }
      if (ok) {
        probe = {e.table, e.set};
        return true;
      }
    }
    return false;
  }

 private:
  struct Entry {
    double cost;
    std::int64_t table;
    std::uint64_t set;
    bool operator<(const Entry& o) const {  // a min-heap on (cost, table, set)
      if (cost != o.cost) return cost > o.cost;
      if (table != o.table) return table > o.table;
      return set > o.set;
    }
  };
  static bool valid(const std::vector<Perturbation>& list, std::uint64_t set) {
    std::uint64_t functions = 0;
    for (std::uint64_t s = set; s != 0; s &= s - 1) {
      const auto f = static_cast<unsigned>(list[static_cast<std::size_t>(std::countr_zero(s))].function);
      if (functions >> f & 1u) return false;
      functions |= 1ull << f;
    }
    return true;
  }
  const std::vector<std::vector<Perturbation>>* perturbations_ = nullptr;
  std::priority_queue<Entry> heap_;
  std::int64_t next_base_ = 0;
};

/// Cross-polytope's collision model, simulated once per cp_dim c and cached: probability
/// (rank r, angle θ) that a point at angle θ from the query takes the query's r-th value in
/// the order of the multi-probe costs (r = 0: the same value), on a grid of θ ∈ [0, π].
struct CrossPolytopeModel {
  static constexpr int grid = 65, ranks = 66;
  std::vector<double> probability;  // ranks × grid, row-major
  /// Linear interpolation in θ; ranks ≥ ranks − 1 share the last bin.
  double at(std::int64_t rank, double theta) const;
};
/// The cached model of cp_dim c (simulated on first use: ~10⁸ flops; thread-safe).
const CrossPolytopeModel& cross_polytope_model(std::int64_t c);

/// One query's collision model: the probability that a point with parameter s (its angle to
/// the centred query for the angular families; its distance for pstable) lies in a probed
/// bucket, from the query's own projections. simhash is exact (function j disagrees with
/// probability Φ(−|a_j·q|/‖q‖ · cot θ), independently across functions); pstable conditions
/// on the query's position in its buckets (a·(x − q) ~ N(0, s²) taken independent of a·q);
/// cross_polytope uses the simulated rank probabilities.
class LOWDIM_API ProbeModel {
 public:
  /// p, h: the query's projections and hash values (tables × hashes functions); qnorm the
  /// centred query's norm (angular); width the pstable w; cp_dim the cross_polytope c.
  template <class T>
  void reset(LshFamily family, const T* p, const std::int64_t* h, std::int64_t tables, std::int64_t hashes,
             std::int64_t width, double qnorm, double bucket_width, std::int64_t cp_dim);
  /// P(a point with parameter s is in at least one of the probed buckets).
  double found_probability(double s, const std::vector<ProbeSequence::Probe>& probes,
                           const std::vector<std::vector<Perturbation>>& perturbations);
  /// Sets the parameter s of the point that probability is about.
  void set_parameter(double s);
  /// P(the point of set_parameter lies in the bucket of probe).
  double probability(const ProbeSequence::Probe& probe, const std::vector<std::vector<Perturbation>>& perturbations) const;

 private:
  LshFamily family_;
  std::int64_t tables_ = 0, hashes_ = 0;
  double qnorm_ = 0, bucket_width_ = 1;
  const CrossPolytopeModel* cp_ = nullptr;
  std::vector<std::int64_t> values_;  // pstable: the query's hash values
  std::vector<double> position_;  // simhash |a_j·q|/‖q‖; pstable the fraction p_j − h_j
  double alternative(const Perturbation& pert, std::size_t j) const;
  std::vector<double> own_, left_, right_, table_own_, rank_, mass_;
};

/// pstable's default bucket width for data: 4 × the median distance of 64 sampled points to
/// their 10th neighbour.
template <class T>
double pstable_width(ConstMatrixView<T> data, std::uint64_t seed);

/// Σ (a_i − b_i)² and Σ a_i·b_i in a fixed order (16 interleaved partial sums added in
/// order), vectorized for AVX-512/AVX2 with the same bits as the generic build.
float squared_distance(const float* a, const float* b, std::int64_t n);
double squared_distance(const double* a, const double* b, std::int64_t n);
float dot(const float* a, const float* b, std::int64_t n);
/// Σ (u_i − c_i)² and Σ u_i·c_i of a float vector and an 8-bit code (the sketch stage).
float squared_distance_i8(const float* u, const std::int8_t* c, std::int64_t n);
float dot_i8(const float* u, const std::int8_t* c, std::int64_t n);
double dot(const double* a, const double* b, std::int64_t n);

/// (distance, id), ordered by distance then id.
template <class T>
struct Neighbour {
  T distance;
  std::int64_t id;
  bool operator<(const Neighbour& o) const { return distance < o.distance || (distance == o.distance && id < o.id); }
};

}  // namespace lowdim::detail

#endif
