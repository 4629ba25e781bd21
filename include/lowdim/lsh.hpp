#ifndef LOWDIM_LSH_HPP
#define LOWDIM_LSH_HPP

/// \file
/// Locality-sensitive hashing and nearest-neighbour search.
///   exact_knn      ground truth: blocked reproducible GEMM, ‖q‖² − 2q·x + ‖x‖², top-k.
///   LshHasher      m hash functions of one family (simhash, cross_polytope, pstable) on
///                  the operator layer: one product hashes a batch.
///   LshIndex<T>    L tables of K concatenated hashes in compact sorted buckets,
///                  query-directed multi-probe, exact re-ranking returning exactly k ids
///                  and distances, insert/remove, save/load (docs/lsh.md).
/// Everything is a function of the data, the options and the seed: the same bits on any
/// thread count.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>
#include <lowdim/sketch.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lowdim {

/// The distance neighbours are ranked by (smallest first).
enum class Metric {
  euclidean,     ///< ‖q − x‖
  cosine,        ///< 1 − q·x / (‖q‖‖x‖) (1 when either vector is zero)
  inner_product  ///< −q·x (maximum inner product search)
};

/// "euclidean", "cosine", "inner_product".
LOWDIM_API const char* to_string(Metric metric) noexcept;
/// Parses a metric name ('-' and '_' interchangeable; "l2" and "ip" too); invalid_argument
/// listing the valid names otherwise.
LOWDIM_API Metric parse_metric(std::string_view name);

/// Exact k nearest neighbours of each query row among the base rows: ids (q × k, base row
/// indices) and distances (q × k, ascending; ties broken by the smaller id). Distances
/// come from blocks of linalg::gemm_reproducible (‖q‖² − 2q·x + ‖x‖² for euclidean),
/// parallel over query blocks; cost 2·q·n·d + q·n·log k. base: n × d, queries: q × d,
/// 1 ≤ k ≤ n; non-finite input is an invalid_argument naming its row and column.
template <class T>
LOWDIM_API void exact_knn(In<T> base, In<T> queries, std::int64_t k, Metric metric, MatrixView<std::int64_t> ids,
                          MatrixView<T> distances);

/// A registered LSH family. Values are the static members (or parse_lsh_family's result).
class LOWDIM_API LshFamily {
 public:
  /// Charikar's SimHash: the sign of a Gaussian projection, one bit per function
  /// (collision probability 1 − θ/π for vectors at angle θ).
  static const LshFamily simhash;
  /// Cross-polytope (Andoni et al. 2015): the signed argmax of a pseudo-random rotation
  /// H·D₁·H·D₂·H·D₃ of x (feature-hashed down to cp_dim first when d is larger), one of
  /// 2·cp_dim values per function.
  static const LshFamily cross_polytope;
  /// p-stable (Datar et al. 2004): ⌊(a·x + b)/w⌋ with a ~ N(0, I), b ~ U[0, w).
  static const LshFamily pstable;

  /// simhash.
  LshFamily() noexcept;
  /// "simhash", "cross_polytope", "pstable" (static storage).
  const char* name() const noexcept;
  /// One line for help texts.
  const char* summary() const noexcept;
  /// True for the angular families (simhash, cross_polytope), which hash the centred data.
  bool angular() const noexcept;
  /// Same family.
  friend bool operator==(LshFamily a, LshFamily b) noexcept { return a.id_ == b.id_; }
  /// Private: families are made by the registry.
  constexpr explicit LshFamily(int id) noexcept : id_(id) {}
  /// The registry index.
  int id() const noexcept { return id_; }

 private:
  int id_;
};

/// Every registered family, in the registry's order.
LOWDIM_API std::span<const LshFamily> lsh_families() noexcept;
/// "simhash, cross_polytope, pstable".
LOWDIM_API std::string lsh_family_names();
/// Parses a family name ('-' and '_' interchangeable); invalid_argument listing the names.
LOWDIM_API LshFamily parse_lsh_family(std::string_view name);

/// Options of the families.
struct LshFamilyOptions {
  /// pstable bucket width w, in the units of the data (0: chosen by LshIndex from the data,
  /// 4 × the median distance of sampled points to their 10th neighbour; an LshHasher needs w > 0).
  double width = 0;
  /// cross_polytope dimension (a power of two): d is feature-hashed (countsketch) down to
  /// it when larger, zero-padded up to it when smaller. 0: min(2^⌈log₂ d⌉, 256).
  std::int64_t cp_dim = 0;
};

/// m hash functions of one family on d-dimensional input, drawn from a seed. A batch is
/// hashed through one product on the operator layer (cached, materialized form).
class LOWDIM_API LshHasher {
 public:
  /// Throws invalid_argument for d < 1, m < 1, a pstable width ≤ 0 or a cp_dim that is not
  /// a power of two ≥ 2.
  LshHasher(LshFamily family, std::int64_t dim, std::int64_t functions, std::uint64_t seed,
            LshFamilyOptions options = {});
  LshFamily family() const noexcept { return family_; }        ///< The family.
  std::int64_t dim() const noexcept { return dim_; }           ///< Input dimension d.
  std::int64_t functions() const noexcept { return functions_; }  ///< Number of functions m.
  std::uint64_t seed() const noexcept { return seed_; }        ///< The seed.
  const LshFamilyOptions& options() const noexcept { return options_; }  ///< Resolved options.
  /// Projections per function: 1 (simhash, pstable) or cp_dim (cross_polytope).
  std::int64_t width() const noexcept;
  /// Number of distinct values of one function: 2, 2·cp_dim, or 0 (pstable: unbounded).
  std::int64_t values() const noexcept;
  /// p (n × m·width()): simhash a·x; pstable (a·x + b)/w; cross_polytope the rotated
  /// coordinates, width() per function. x: n × d.
  template <class T>
  void project(In<T> x, MatrixView<T> p) const;
  /// The hash values from projections (n × m): simhash 0/1, pstable ⌊p⌋, cross_polytope
  /// 2·argmax|y_j| + (y_j < 0), ties to the smaller j.
  template <class T>
  void hash_projections(In<T> p, MatrixView<std::int64_t> h) const;
  /// project then hash_projections.
  template <class T>
  void hash(In<T> x, MatrixView<std::int64_t> h) const;
  /// simhash only: the m bits packed into ⌈m/64⌉ words per row (function j is bit j mod 64
  /// of word j/64), codes: n × ⌈m/64⌉.
  template <class T>
  void simhash_codes(In<T> x, MatrixView<std::uint64_t> codes) const;
  /// Hamming distance of two packed codes of equal length (a popcount per word).
  static std::int64_t hamming(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b);

 private:
  LshFamily family_;
  std::int64_t dim_, functions_;
  std::uint64_t seed_;
  LshFamilyOptions options_;
  std::shared_ptr<const void> impl_;
};

/// How an index is built.
struct LshIndexOptions {
  LshFamily family = LshFamily::simhash;  ///< The hash family.
  std::int64_t tables = 20;               ///< L.
  std::int64_t hashes = 16;               ///< K functions concatenated per table.
  std::uint64_t seed = 0;                 ///< All random draws come from it.
  Metric metric = Metric::euclidean;      ///< The distance of the re-ranking.
  LshFamilyOptions family_options;        ///< width (pstable), cp_dim (cross_polytope).
  /// Hash x − μ (μ the mean of the build data) with the angular families; the re-ranking
  /// always uses the data as given.
  bool center = true;
  /// Two-stage re-ranking: a Gaussian JL sketch of every point to this many dimensions
  /// (8-bit, sketch_dim bytes per point), on which the candidates are ranked first; only
  /// the best LshQueryOptions::rerank are then ranked exactly. 0: exact re-ranking only.
  std::int64_t sketch_dim = 0;
};

/// How a query is answered. With neither probes nor candidates set, one probe per table.
struct LshQueryOptions {
  /// Buckets looked up in all, over the tables in order of the multi-probe scores
  /// (≥ tables; 0: tables).
  std::int64_t probes = 0;
  /// Candidate budget: probe until this many unique candidates are found (0: no budget).
  /// With probes also set, whichever is reached first stops.
  std::int64_t candidates = 0;
  /// With a sketch (LshIndexOptions::sketch_dim > 0): candidates ranked exactly after the
  /// sketch stage (0: max(20·k, 200)); a non-zero value on an index without a sketch is an
  /// invalid_argument.
  std::int64_t rerank = 0;
  /// Adaptive mode (0: off), in (0, 1): per query, probe in the multi-probe order until the
  /// family's collision model (docs/lsh.md) says a point as close as the current k-th best
  /// is found with at least this probability; probes is then the cap (0: 64·tables), and the
  /// candidate budget still applies.
  double target_recall = 0;
};

/// What answering one query took.
struct LshQueryStats {
  std::int64_t candidates = 0;         ///< ids read from buckets (with repetitions)
  std::int64_t unique_candidates = 0;  ///< distinct live ids re-ranked
  std::int64_t probes = 0;             ///< buckets looked up
  bool extra_probes = false;           ///< fewer than k were found: more buckets were probed
  bool scanned = false;                ///< still fewer than k: every live point was re-ranked
  double hash_seconds = 0;             ///< hashing (the batch's share) and probe generation
  double lookup_seconds = 0;           ///< bucket lookups and deduplication
  double rerank_seconds = 0;           ///< exact distances and top-k
  /// Adaptive mode: the model's probability of finding a point as close as the k-th result
  /// when probing stopped (0 outside the adaptive mode, or when it stopped before k candidates).
  double estimated_recall = 0;
};

/// An LSH index over the rows of a matrix (ids 0, 1, …; inserted rows continue the ids).
template <class T>
class LOWDIM_API LshIndex {
 public:
  /// Builds L tables over data (n × d, finite, n ≥ 1). Cost: hashing 2·n·d·L·K (simhash,
  /// pstable) or n·(d + 3·L·K·c·log₂c) (cross_polytope, c = cp_dim) and a sort per table.
  /// Throws invalid_argument for tables < 1, hashes < 1 or beyond what a key holds
  /// (simhash ≤ 64), or non-finite data.
  LshIndex(In<T> data, LshIndexOptions options = {});
  ~LshIndex();
  LshIndex(const LshIndex&);             ///< Deep copy.
  LshIndex& operator=(const LshIndex&);  ///< Deep copy.
  LshIndex(LshIndex&&) noexcept;             ///< Move.
  LshIndex& operator=(LshIndex&&) noexcept;  ///< Move.

  const LshIndexOptions& options() const noexcept;  ///< Resolved options (width, cp_dim set).
  std::int64_t dim() const noexcept;                ///< d.
  std::int64_t size() const noexcept;               ///< Live (not removed) points.
  std::int64_t next_id() const noexcept;            ///< The id the next inserted row gets.
  bool contains(std::int64_t id) const noexcept;    ///< id was inserted and not removed.

  /// The k nearest neighbours of each query (q × d) by the index's metric: ids (q × k) and
  /// distances (q × k, ascending, ties to the smaller id). Exactly k whenever size() ≥ k:
  /// when the probes find fewer, more buckets are probed, then every live point is scanned
  /// (stats say so). Queries are answered in parallel; stats (if given) receives one
  /// entry per query. invalid_argument for k < 1, k > size(), a dimension mismatch,
  /// non-finite queries, probes in [1, tables) or negative budgets.
  void knn(In<T> queries, std::int64_t k, const LshQueryOptions& query, MatrixView<std::int64_t> ids,
           MatrixView<T> distances, std::vector<LshQueryStats>* stats = nullptr) const;

  /// Appends rows (m × d, finite); returns the id of the first (the others follow). They are
  /// found by the next query. Cost: hashing them and a merge per table, O(L·(n + m log m)).
  std::int64_t insert(In<T> rows);
  /// Removes points; a removed id is never returned again. invalid_argument naming an id
  /// that is not in the index (unknown or already removed); nothing is removed then.
  void remove(std::span<const std::int64_t> ids);

  /// Bytes the index holds: data, norms, tables (with their bucket hash slots), sketch, live bitset.
  std::int64_t memory_bytes() const noexcept;
  /// Bytes of the tables alone (keys, offsets, ids, bucket hash slots) per live point.
  double table_bytes_per_point() const noexcept;

  /// Writes the index atomically (archive kind "lowdim.lsh", version 1).
  void save(const std::string& path) const;
  /// Reads an index written by save; the bucket arrays are memory-mapped in place when the
  /// file is large (ArchiveReader::map_threshold). io_error for a corrupt or truncated
  /// file, or one whose arrays do not describe a consistent index.
  static LshIndex load(const std::string& path);

  /// Private: the state.
  struct Impl;

 private:
  explicit LshIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The collision probability of one hash function for a pair at parameter s: the angle
/// θ ∈ [0, π] for the angular families (simhash 1 − θ/π; cross_polytope simulated for
/// options.cp_dim and cached), the distance c for pstable (Datar et al.'s formula with
/// w = options.width). invalid_argument for s < 0 or missing width / cp_dim.
LOWDIM_API double lsh_collision_probability(LshFamily family, double s, const LshFamilyOptions& options);

/// What the tuner aims at.
struct LshTuneOptions {
  LshFamily family = LshFamily::simhash;  ///< The family to tune.
  Metric metric = Metric::euclidean;      ///< The distance of the neighbours.
  std::int64_t k = 10;                    ///< Neighbours per query.
  double target_recall = 0.9;             ///< recall\@k to reach on held-out queries, in (0, 1).
  /// Budget for LshIndex::memory_bytes() of the index over all the data (0: none). The data
  /// itself counts; the tuner picks the most tables that fit (at most max_tables).
  std::int64_t memory_bytes = 0;
  std::int64_t max_tables = 32;            ///< Upper bound on L.
  std::int64_t holdout = 0;                ///< Held-out queries (0: n/10 within [20, 300]).
  std::int64_t sketch_dim = 0;             ///< As LshIndexOptions::sketch_dim.
  bool center = true;                      ///< As LshIndexOptions::center.
  LshFamilyOptions family_options;         ///< As LshIndexOptions::family_options.
  std::uint64_t seed = 0;                  ///< The index seed and the held-out draw.
};

/// The tuner's choice and what it measured.
struct LshTuneResult {
  LshIndexOptions options;       ///< Family, K, L and the rest: build the index with these.
  std::int64_t probes = 0;       ///< Probes reaching the target on the held-out queries.
  double model_recall = 0;       ///< The model's recall for (K, L, probes) before the check.
  double recall = 0;             ///< recall\@k measured on the held-out queries with probes.
  double candidates = 0;         ///< Mean unique candidates per held-out query with probes.
  double adaptive_recall = 0;    ///< recall\@k of the adaptive mode (target_recall) on them.
  double adaptive_probes = 0;    ///< Its mean probes per query.
  std::int64_t memory_bytes = 0; ///< Estimated memory_bytes() of the index over all the data.
  std::int64_t holdout = 0;      ///< Held-out queries used.
};

/// Tunes an index for data (n × d, a sample of it or all of it): holds out queries, takes
/// their exact neighbours, picks L (the most tables the memory budget holds, ≤ max_tables),
/// then K and the probes minimising the modelled query cost at the model's target recall
/// (collision model of the family, docs/lsh.md), builds the index on the rest and raises the
/// probes until the held-out recall reaches the target (plus one standard error). Same seed,
/// same result. invalid_argument for a target outside (0, 1), too few rows (n < 2·holdout, or
/// fewer than 2k + 20), or a budget below what the data and one table need (naming both).
template <class T>
LOWDIM_API LshTuneResult tune_lsh(In<T> data, const LshTuneOptions& options);

/// tune_lsh, then the index over all of data; when its memory exceeds the budget, fewer
/// tables until it fits. result (if given) receives the tuning, memory_bytes measured.
template <class T>
LOWDIM_API LshIndex<T> build_tuned_lsh(In<T> data, const LshTuneOptions& options, LshTuneResult* result = nullptr);

}  // namespace lowdim

#endif
