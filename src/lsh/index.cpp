// LshIndex: L tables of K concatenated hashes, each a compact bucket array (sorted unique
// keys, offsets, ids: CSR, 4 bytes per point and table plus 16 per bucket), query-directed
// multi-probe over all tables through one heap, exact re-ranking to exactly k results.
// Points are never moved: an id is a row of the data; a removed point keeps its row and
// bucket entries and is skipped by its cleared live bit.

#include "lsh/lsh_internal.hpp"

#include <lowdim/error.hpp>
#include <lowdim/io.hpp>

#include <omp.h>

#include <chrono>
#include <exception>
#include <limits>
#include <mutex>
#include <numbers>
#include <variant>

namespace lowdim {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// An array owned by the index, or read in place from a mapped archive.
template <class U>
class Array {
 public:
  Array() = default;
  explicit Array(std::vector<U> v) : owned_(std::move(v)) {}
  explicit Array(SharedArray<U> m) : mapped_(std::move(m)), is_mapped_(true) {}
  std::span<const U> span() const noexcept { return is_mapped_ ? mapped_.span() : std::span<const U>(owned_); }
  std::size_t size() const noexcept { return span().size(); }
  const U& operator[](std::size_t i) const noexcept { return span()[i]; }

 private:
  std::vector<U> owned_;
  SharedArray<U> mapped_;
  bool is_mapped_ = false;
};

struct Table {
  Array<std::uint64_t> keys;    // sorted, unique
  Array<std::int64_t> offsets;  // keys.size() + 1
  Array<std::int32_t> ids;      // ascending within a bucket
  // Open addressing over the buckets (bucket + 1; 0 empty), load ≤ 2/3: a lookup reads one
  // or two slots and one key instead of a binary search's ~log₂(buckets) cache lines.
  // Derived from keys (not saved).
  std::vector<std::uint32_t> slots;
  std::uint64_t mask = 0;

  static std::uint64_t mix(std::uint64_t key) noexcept {
    key = (key ^ (key >> 31)) * 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 29);
  }
  void index_buckets() {
    const std::size_t n = keys.size();
    std::size_t capacity = 16;
    while (capacity < n + n / 2 + 1) capacity *= 2;
    slots.assign(capacity, 0);
    mask = capacity - 1;
    const auto k = keys.span();
    for (std::size_t b = 0; b < n; ++b) {
      std::uint64_t at = mix(k[b]) & mask;
      while (slots[at] != 0) at = (at + 1) & mask;
      slots[at] = static_cast<std::uint32_t>(b + 1);
    }
  }
  /// The bucket of key, or −1, searching from slot `at` (mix(key) & mask).
  std::int64_t find_from(std::uint64_t at, std::uint64_t key) const noexcept {
    const std::uint64_t* k = keys.span().data();
    for (;; at = (at + 1) & mask) {
      const std::uint32_t b = slots[at];
      if (b == 0) return -1;
      if (k[b - 1] == key) return static_cast<std::int64_t>(b) - 1;
    }
  }
  std::int64_t bytes() const noexcept {
    return static_cast<std::int64_t>(keys.size() * 8 + offsets.size() * 8 + ids.size() * 4 + slots.size() * 4);
  }
};

constexpr std::int64_t max_points = std::numeric_limits<std::int32_t>::max();

}  // namespace

template <class T>
struct LshIndex<T>::Impl {
  LshIndexOptions options;
  std::int64_t dim = 0;
  std::optional<LshHasher> hasher;
  bool centering = false;
  std::vector<T> mean;
  Matrix<T> data;  // capacity rows; rows [0, count) are points
  std::int64_t count = 0;
  std::vector<T> norms;  // cosine: ‖x‖
  std::vector<std::uint64_t> live;
  std::int64_t live_count = 0;
  std::vector<Table> tables;
  int bits_per_value = 0;
  std::optional<SketchOperator> sketch;  // two-stage re-ranking
  // The sketch of every point, 8-bit: round(S·x / sketch_scale) in [−127, 127], capacity ×
  // sketch_dim (one cache line per point at sketch_dim 64). sketch_scale = max |S·x| / 127 over
  // the build data (saved; inserted rows are clamped to it).
  std::vector<std::int8_t> codes;
  float sketch_scale = 0;

  Impl() = default;
  Impl(const Impl& o)
      : options(o.options), dim(o.dim), hasher(o.hasher), centering(o.centering), mean(o.mean), data(o.data.clone()),
        count(o.count), norms(o.norms), live(o.live), live_count(o.live_count), tables(o.tables),
        bits_per_value(o.bits_per_value), sketch(o.sketch), codes(o.codes), sketch_scale(o.sketch_scale) {}
  Impl& operator=(const Impl&) = delete;

  std::int64_t functions() const { return options.tables * options.hashes; }
  bool is_live(std::int64_t id) const { return (live[static_cast<std::size_t>(id / 64)] >> (id % 64)) & 1u; }

  void init_hasher() {
    hasher.emplace(options.family, dim, functions(), options.seed, options.family_options);
    if (options.sketch_dim > 0)
      sketch = SketchOperator(SketchKind::gaussian, dim, options.sketch_dim,
                              detail::derived_seed(options.seed, StreamId::lsh_sketch))
                   .materialized();
    options.family_options = hasher->options();
    centering = options.center && options.family.angular();
    if (options.family == LshFamily::simhash)
      bits_per_value = 1;
    else if (options.family == LshFamily::cross_polytope)
      bits_per_value = std::countr_zero(static_cast<std::uint64_t>(2 * options.family_options.cp_dim));
    else
      bits_per_value = 0;
  }

  /// rows (m × d) − mean, when centring.
  Matrix<T> centred(ConstMatrixView<T> rows) const {
    Matrix<T> c = Matrix<T>::copy_of(rows);
    if (centering)
      for (std::int64_t i = 0; i < c.rows(); ++i)
        for (std::int64_t j = 0; j < dim; ++j) c(i, j) -= mean[static_cast<std::size_t>(j)];
    return c;
  }

  /// keys (L × m): the bucket key of each row in each table. Hashes in blocks of 4096 rows.
  std::vector<std::uint64_t> keys_of(ConstMatrixView<T> rows) const {
    const std::int64_t m = rows.rows(), L = options.tables, K = options.hashes;
    std::vector<std::uint64_t> keys(static_cast<std::size_t>(L * m));
    for (std::int64_t r0 = 0; r0 < m; r0 += 4096) {
      const std::int64_t rn = std::min<std::int64_t>(4096, m - r0);
      const Matrix<T> c = centred(rows.block(r0, 0, rn, dim));
      auto h = Matrix<std::int64_t>::uninitialized(rn, functions());
      hasher->template hash<T>(c, h.view());
      for (std::int64_t i = 0; i < rn; ++i)
        for (std::int64_t t = 0; t < L; ++t)
          keys[static_cast<std::size_t>(t * m + r0 + i)] = detail::table_key(h.row(i) + t * K, K, bits_per_value);
    }
    return keys;
  }

  void append_rows(ConstMatrixView<T> rows) {
    const std::int64_t m = rows.rows();
    if (count + m > data.rows()) {
      const std::int64_t capacity = std::max<std::int64_t>(count + m, data.rows() + data.rows() / 2);
      auto grown = Matrix<T>::uninitialized(capacity, dim);
      for (std::int64_t i = 0; i < count; ++i) std::copy(data.row(i), data.row(i) + dim, grown.row(i));
      data = std::move(grown);
    }
    for (std::int64_t i = 0; i < m; ++i) std::copy(rows.row(i), rows.row(i) + dim, data.row(count + i));
    if (sketch) {
      const std::int64_t s_dim = options.sketch_dim;
      codes.resize(static_cast<std::size_t>(data.rows() * s_dim));
      for (std::int64_t r0 = 0; r0 < m; r0 += 4096) {
        const std::int64_t rn = std::min<std::int64_t>(4096, m - r0);
        auto y = Matrix<float>::uninitialized(rn, s_dim);
        sketch_rows(rows.block(r0, 0, rn, dim), y.view());
        if (sketch_scale == 0) {
          float top = 0;
          for (const float v : y.flat()) top = std::max(top, std::abs(v));
          sketch_scale = top > 0 ? top / 127 : 1.0f;
        }
        std::int8_t* out = codes.data() + (count + r0) * s_dim;
        for (std::int64_t i = 0; i < rn * s_dim; ++i)
          out[i] = static_cast<std::int8_t>(std::clamp(std::nearbyint(y.data()[i] / sketch_scale), -127.0f, 127.0f));
      }
    }
    norms.resize(static_cast<std::size_t>(count + m));
    live.resize(static_cast<std::size_t>((count + m + 63) / 64), 0);
    for (std::int64_t i = count; i < count + m; ++i) {
      norms[static_cast<std::size_t>(i)] = std::sqrt(detail::dot(data.row(i), data.row(i), dim));
      live[static_cast<std::size_t>(i / 64)] |= 1ull << (i % 64);
    }
    count += m;
    live_count += m;
  }

  /// Merges the (key, id) pairs of rows [first, first + m) into every table (ids of new rows
  /// exceed all old ones, so each bucket stays ascending).
  void add_to_tables(const std::vector<std::uint64_t>& keys, std::int64_t first, std::int64_t m) {
    const std::int64_t L = options.tables;
    if (tables.empty()) tables.resize(static_cast<std::size_t>(L));
    std::exception_ptr failure;
    std::mutex failure_mutex;
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t t = 0; t < L; ++t) {
      try {
        std::vector<std::pair<std::uint64_t, std::int32_t>> fresh(static_cast<std::size_t>(m));
        for (std::int64_t i = 0; i < m; ++i)
          fresh[static_cast<std::size_t>(i)] = {keys[static_cast<std::size_t>(t * m + i)], static_cast<std::int32_t>(first + i)};
        std::sort(fresh.begin(), fresh.end());
        const Table& old = tables[static_cast<std::size_t>(t)];
        const auto ok = old.keys.span();
        const auto oo = old.offsets.span();
        const auto oi = old.ids.span();
        std::vector<std::uint64_t> nk;
        std::vector<std::int64_t> no{0};
        std::vector<std::int32_t> ni;
        nk.reserve(ok.size() + fresh.size());
        no.reserve(ok.size() + fresh.size() + 1);
        ni.reserve(oi.size() + fresh.size());
        std::size_t a = 0, b = 0;
        while (a < ok.size() || b < fresh.size()) {
          const std::uint64_t key = b == fresh.size() || (a < ok.size() && ok[a] <= fresh[b].first) ? ok[a] : fresh[b].first;
          if (a < ok.size() && ok[a] == key) {
            ni.insert(ni.end(), oi.begin() + oo[a], oi.begin() + oo[a + 1]);
            ++a;
          }
          while (b < fresh.size() && fresh[b].first == key) ni.push_back(fresh[b++].second);
          nk.push_back(key);
          no.push_back(static_cast<std::int64_t>(ni.size()));
        }
        Table& fresh_table = tables[static_cast<std::size_t>(t)];
        fresh_table = Table{Array<std::uint64_t>(std::move(nk)), Array<std::int64_t>(std::move(no)),
                            Array<std::int32_t>(std::move(ni)), {}, 0};
        fresh_table.index_buckets();
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
  }

  /// out (m × s, float) = S·x for each row, in blocks.
  void sketch_rows(ConstMatrixView<T> rows, MatrixView<float> out) const {
    for (std::int64_t r0 = 0; r0 < rows.rows(); r0 += 4096) {
      const std::int64_t rn = std::min<std::int64_t>(4096, rows.rows() - r0);
      if constexpr (std::is_same_v<T, float>) {
        sketch->apply<float>(rows.block(r0, 0, rn, dim), out.block(r0, 0, rn, out.cols()));
      } else {
        auto y = Matrix<double>::uninitialized(rn, out.cols());
        sketch->apply<double>(rows.block(r0, 0, rn, dim), y.view());
        for (std::int64_t i = 0; i < rn; ++i)
          for (std::int64_t j = 0; j < out.cols(); ++j) out(r0 + i, j) = static_cast<float>(y(i, j));
      }
    }
  }

  /// The sketch-space estimate of distance(q, id), in the same order as the exact one; u is
  /// the query's sketch divided by sketch_scale.
  float sketch_distance(const float* u, float qnorm, std::int64_t id) const {
    const std::int64_t s_dim = options.sketch_dim;
    const std::int8_t* c = codes.data() + id * s_dim;
    switch (options.metric) {
      case Metric::euclidean: return detail::squared_distance_i8(u, c, s_dim);
      case Metric::cosine: {
        const auto xn = static_cast<float>(norms[static_cast<std::size_t>(id)]);
        return (qnorm > 0 && xn > 0) ? 1.0f - sketch_scale * sketch_scale * detail::dot_i8(u, c, s_dim) / (qnorm * xn) : 1.0f;
      }
      case Metric::inner_product: return -detail::dot_i8(u, c, s_dim);
    }
    return 0;
  }

  T distance(const T* q, T qnorm, std::int64_t id) const {
    const T* x = data.row(id);
    switch (options.metric) {
      case Metric::euclidean: return std::sqrt(detail::squared_distance(q, x, dim));
      case Metric::cosine: {
        const T xn = norms[static_cast<std::size_t>(id)];
        return (qnorm > 0 && xn > 0) ? T(1) - detail::dot(q, x, dim) / (qnorm * xn) : T(1);
      }
      case Metric::inner_product: return -detail::dot(q, x, dim);
    }
    return 0;
  }
};

namespace detail {
template <class T>
double pstable_width(ConstMatrixView<T> data, std::uint64_t seed) {
  // w = 4 × the median distance from sampled points to their 10th neighbour (Datar et al.'s w ≈ 4r).
  const std::int64_t n = data.rows(), d = data.cols();
  const std::int64_t sample = std::min<std::int64_t>(n, 64), k = std::min<std::int64_t>(n, 11);
  const auto picks = sample_without_replacement(n, sample, RandomStream(seed, StreamId::lsh_width_sample));
  auto queries = Matrix<T>::uninitialized(sample, d);
  for (std::int64_t i = 0; i < sample; ++i)
    std::copy(data.row(picks[static_cast<std::size_t>(i)]), data.row(picks[static_cast<std::size_t>(i)]) + d, queries.row(i));
  auto ids = Matrix<std::int64_t>::uninitialized(sample, k);
  auto dist = Matrix<T>::uninitialized(sample, k);
  exact_knn<T>(data, queries, k, Metric::euclidean, ids.view(), dist.view());
  std::vector<double> radii(static_cast<std::size_t>(sample));
  for (std::int64_t i = 0; i < sample; ++i) radii[static_cast<std::size_t>(i)] = dist(i, k - 1);
  std::nth_element(radii.begin(), radii.begin() + sample / 2, radii.end());
  const double w = 4 * radii[static_cast<std::size_t>(sample / 2)];
  return w > 0 ? w : 1.0;
}
template double pstable_width<float>(ConstMatrixView<float>, std::uint64_t);
template double pstable_width<double>(ConstMatrixView<double>, std::uint64_t);
}  // namespace detail

template <class T>
LshIndex<T>::LshIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

template <class T>
LshIndex<T>::LshIndex(In<T> data, LshIndexOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  const std::int64_t n = data.rows(), d = data.cols();
  LOWDIM_CHECK(n >= 1 && d >= 1, "LshIndex: the data is {} × {}; it needs at least one row and one column", n, d);
  LOWDIM_CHECK(n <= max_points, "LshIndex: {} points exceed the limit of {}", n, max_points);
  LOWDIM_CHECK(options.tables >= 1, "LshIndex: tables must be ≥ 1, got {}", options.tables);
  LOWDIM_CHECK(options.hashes >= 1 && options.hashes <= 64, "LshIndex: hashes (K) must be in [1, 64], got {}",
               options.hashes);
  LOWDIM_CHECK(options.sketch_dim >= 0, "LshIndex: sketch_dim must be ≥ 0, got {}", options.sketch_dim);
  check_finite<T>(data, "LshIndex: data");
  s.options = options;
  s.dim = d;
  if (options.family == LshFamily::pstable && options.family_options.width == 0)
    s.options.family_options.width = detail::pstable_width<T>(data, options.seed);
  s.init_hasher();
  s.mean.assign(static_cast<std::size_t>(d), T(0));
  if (s.centering) {
    std::vector<double> sum(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) sum[static_cast<std::size_t>(j)] += data(i, j);
    for (std::int64_t j = 0; j < d; ++j) s.mean[static_cast<std::size_t>(j)] = static_cast<T>(sum[static_cast<std::size_t>(j)] / static_cast<double>(n));
  }
  s.data = Matrix<T>::uninitialized(n, d);
  s.append_rows(data);
  s.add_to_tables(s.keys_of(data), 0, n);
}

template <class T>
LshIndex<T>::~LshIndex() = default;
template <class T>
LshIndex<T>::LshIndex(const LshIndex& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
template <class T>
LshIndex<T>& LshIndex<T>::operator=(const LshIndex& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
template <class T>
LshIndex<T>::LshIndex(LshIndex&&) noexcept = default;
template <class T>
LshIndex<T>& LshIndex<T>::operator=(LshIndex&&) noexcept = default;

template <class T>
const LshIndexOptions& LshIndex<T>::options() const noexcept { return impl_->options; }
template <class T>
std::int64_t LshIndex<T>::dim() const noexcept { return impl_->dim; }
template <class T>
std::int64_t LshIndex<T>::size() const noexcept { return impl_->live_count; }
template <class T>
std::int64_t LshIndex<T>::next_id() const noexcept { return impl_->count; }
template <class T>
bool LshIndex<T>::contains(std::int64_t id) const noexcept {
  return id >= 0 && id < impl_->count && impl_->is_live(id);
}

template <class T>
void LshIndex<T>::knn(In<T> queries, std::int64_t k, const LshQueryOptions& query, MatrixView<std::int64_t> ids,
                      MatrixView<T> distances, std::vector<LshQueryStats>* stats) const {
  const Impl& s = *impl_;
  const std::int64_t q = queries.rows(), d = s.dim, L = s.options.tables, K = s.options.hashes;
  LOWDIM_CHECK_SHAPE(queries.cols() == d, "LshIndex::knn: queries have {} columns, the index holds d = {}",
                     queries.cols(), d);
  LOWDIM_CHECK(k >= 1, "LshIndex::knn: k must be ≥ 1, got {}", k);
  LOWDIM_CHECK(k <= s.live_count, "LshIndex::knn: k = {} exceeds the {} points in the index", k, s.live_count);
  LOWDIM_CHECK(query.probes == 0 || query.probes >= L,
               "LshIndex::knn: probes = {} is fewer than the {} tables (each table is probed at least once)",
               query.probes, L);
  LOWDIM_CHECK(query.probes >= 0 && query.candidates >= 0 && query.rerank >= 0,
               "LshIndex::knn: probes {}, candidates {} and rerank {} must be ≥ 0", query.probes, query.candidates,
               query.rerank);
  LOWDIM_CHECK(query.rerank == 0 || s.sketch, "LshIndex::knn: rerank = {} needs an index built with a sketch (sketch_dim > 0)",
               query.rerank);
  LOWDIM_CHECK(query.target_recall == 0 || (query.target_recall > 0 && query.target_recall < 1),
               "LshIndex::knn: target_recall must be in (0, 1) (0: off), got {}", query.target_recall);
  const std::int64_t rerank = query.rerank > 0 ? std::max(query.rerank, k) : std::max<std::int64_t>(20 * k, 200);
  LOWDIM_CHECK_SHAPE(ids.rows() == q && ids.cols() == k && distances.rows() == q && distances.cols() == k,
                     "LshIndex::knn: ids {} × {} and distances {} × {}, expected {} × {}", ids.rows(), ids.cols(),
                     distances.rows(), distances.cols(), q, k);
  check_finite<T>(queries, "LshIndex::knn: queries");
  if (stats) stats->assign(static_cast<std::size_t>(q), LshQueryStats{});
  if (q == 0) return;
  const bool adaptive = query.target_recall > 0;
  constexpr std::int64_t unlimited = std::numeric_limits<std::int64_t>::max();
  // Probe target: the budget alone probes until it is met; probes alone stop at probes; the
  // adaptive mode stops when the model says so, by probes (or 64·L) at the latest.
  const std::int64_t probe_target = adaptive ? (query.probes > 0 ? query.probes : 64 * L)
                                    : query.probes > 0 ? query.probes
                                    : (query.candidates > 0 ? unlimited : L);
  const std::int64_t extra_limit = std::max<std::int64_t>(16 * std::max<std::int64_t>(probe_target == unlimited ? L : probe_target, L), 64 * L);
  const std::int64_t width = s.hasher->width();
  const std::int64_t block = 32;
  const std::int64_t blocks = (q + block - 1) / block;
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel
  {
    std::vector<std::uint32_t> stamp(static_cast<std::size_t>(s.count), 0);
    std::uint32_t epoch = 0;
    std::vector<std::vector<detail::Perturbation>> perturbations(static_cast<std::size_t>(L));
    std::vector<std::int64_t> values(static_cast<std::size_t>(K));
    std::vector<std::int32_t> candidates;
    std::vector<detail::Neighbour<T>> ranked, top;
    std::vector<detail::Neighbour<float>> sketched, sketched_top;
    std::vector<detail::ProbeSequence::Probe> probed;
    detail::ProbeSequence sequence;
    detail::ProbeModel model;
    struct Ahead {
      detail::ProbeSequence::Probe probe;
      std::uint64_t key;
      std::int64_t first, last;  // the hash slot, then the bucket's range of ids
    };
    std::vector<Ahead> ahead;
    std::size_t ahead_pos = 0;
    std::vector<std::uint64_t> base_keys(static_cast<std::size_t>(L));
    std::vector<double> top_params, parameter_cache(adaptive ? static_cast<std::size_t>(s.count) : 0);
    std::vector<std::uint32_t> parameter_stamp(adaptive ? static_cast<std::size_t>(s.count) : 0, 0);
    const bool packed = s.bits_per_value > 0 && K * s.bits_per_value <= 64;
    const T mean_norm2 = s.centering ? detail::dot(s.mean.data(), s.mean.data(), d) : T(0);
    const std::int64_t row_bytes = d * static_cast<std::int64_t>(sizeof(T));
#pragma omp for schedule(dynamic)
    for (std::int64_t b = 0; b < blocks; ++b) {
      try {
        const std::int64_t q0 = b * block, qn = std::min(block, q - q0);
        auto t_hash = Clock::now();
        const Matrix<T> c = s.centred(queries.block(q0, 0, qn, d));
        auto p = Matrix<T>::uninitialized(qn, s.functions() * width);
        s.hasher->template project<T>(c, p.view());
        auto h = Matrix<std::int64_t>::uninitialized(qn, s.functions());
        s.hasher->template hash_projections<T>(p, h.view());
        Matrix<float> qs;
        if (s.sketch) {
          qs = Matrix<float>::uninitialized(qn, s.options.sketch_dim);
          s.sketch_rows(queries.block(q0, 0, qn, d), qs.view());
          for (float& v : qs.flat()) v /= s.sketch_scale;
        }
        const double batch_hash = seconds_since(t_hash) / static_cast<double>(qn);
        for (std::int64_t i = 0; i < qn; ++i) {
          LshQueryStats st;
          st.hash_seconds = batch_hash;
          auto t0 = Clock::now();
          for (std::int64_t t = 0; t < L; ++t)
            detail::table_perturbations(s.options.family, p.row(i) + t * K * width, h.row(i) + t * K, K, width,
                                        perturbations[static_cast<std::size_t>(t)]);
          sequence.reset(&perturbations);
          const T* qrow = queries.row(q0 + i);
          const T* crow = c.row(i);
          const T qnorm = s.options.metric == Metric::cosine ? std::sqrt(detail::dot(qrow, qrow, d)) : T(0);
          const double cnorm = std::sqrt(static_cast<double>(detail::dot(crow, crow, d)));
          if (adaptive)
            model.reset<T>(s.options.family, p.row(i), h.row(i), L, K, width, cnorm, s.options.family_options.width,
                           s.options.family_options.cp_dim);
          st.hash_seconds += seconds_since(t0);
          t0 = Clock::now();
          if (++epoch == 0) {
            std::fill(stamp.begin(), stamp.end(), 0);
            std::fill(parameter_stamp.begin(), parameter_stamp.end(), 0);
            epoch = 1;
          }
          candidates.clear();
          ranked.clear();
          sketched.clear();
          probed.clear();
          // Probes go through a short pipeline: a batch of the sequence's next probes has its
          // keys computed and hash slots prefetched, then its keys, offsets and ids, so the
          // cache misses of a batch overlap; each probe is then consumed in order.
          ahead.clear();
          ahead_pos = 0;
          if (packed)
            for (std::int64_t t = 0; t < L; ++t)
              base_keys[static_cast<std::size_t>(t)] = detail::table_key(h.row(i) + t * K, K, s.bits_per_value);
          auto key_of = [&](const detail::ProbeSequence::Probe& pr) {
            const auto& list = perturbations[static_cast<std::size_t>(pr.table)];
            const std::int64_t* own = h.row(i) + pr.table * K;
            if (packed) {
              std::uint64_t key = base_keys[static_cast<std::size_t>(pr.table)];
              for (std::uint64_t set = pr.set; set != 0; set &= set - 1) {
                const auto& pert = list[static_cast<std::size_t>(std::countr_zero(set))];
                key ^= (static_cast<std::uint64_t>(own[pert.function]) ^ static_cast<std::uint64_t>(pert.value))
                       << (pert.function * s.bits_per_value);
              }
              return key;
            }
            std::copy(own, own + K, values.begin());
            for (std::uint64_t set = pr.set; set != 0; set &= set - 1) {
              const auto& pert = list[static_cast<std::size_t>(std::countr_zero(set))];
              values[static_cast<std::size_t>(pert.function)] = pert.value;
            }
            return detail::table_key(values.data(), K, s.bits_per_value);
          };
          auto refill = [&](std::int64_t want) {
            ahead.clear();
            ahead_pos = 0;
            detail::ProbeSequence::Probe pr;
            while (static_cast<std::int64_t>(ahead.size()) < want && sequence.next(pr)) {
              const std::uint64_t key = key_of(pr);
              const Table& tb = s.tables[static_cast<std::size_t>(pr.table)];
              const std::uint64_t slot = Table::mix(key) & tb.mask;
              __builtin_prefetch(&tb.slots[slot]);
              ahead.push_back({pr, key, static_cast<std::int64_t>(slot), 0});
            }
            for (auto& e : ahead) {
              const Table& tb = s.tables[static_cast<std::size_t>(e.probe.table)];
              const std::uint32_t b0 = tb.slots[static_cast<std::size_t>(e.first)];
              if (b0 != 0) __builtin_prefetch(tb.keys.span().data() + (b0 - 1));
            }
            for (auto& e : ahead) {
              const Table& tb = s.tables[static_cast<std::size_t>(e.probe.table)];
              e.first = tb.find_from(static_cast<std::uint64_t>(e.first), e.key);
              if (e.first >= 0) __builtin_prefetch(tb.offsets.span().data() + e.first);
            }
            for (auto& e : ahead) {
              const Table& tb = s.tables[static_cast<std::size_t>(e.probe.table)];
              if (e.first < 0) {
                e.first = e.last = 0;
                continue;
              }
              const auto at = static_cast<std::size_t>(e.first);
              e.first = tb.offsets[at];
              e.last = tb.offsets[at + 1];
              __builtin_prefetch(tb.ids.span().data() + e.first);
            }
          };
          // One probe; want: how many the caller will take at most (the batch size).
          auto probe_once = [&](std::int64_t want) {
            if (ahead_pos == ahead.size()) {
              refill(std::clamp<std::int64_t>(want, 1, 16));
              if (ahead.empty()) return false;
            }
            const Ahead& e = ahead[ahead_pos++];
            ++st.probes;
            if (adaptive) probed.push_back(e.probe);
            const std::int32_t* bucket_ids = s.tables[static_cast<std::size_t>(e.probe.table)].ids.span().data();
            st.candidates += e.last - e.first;
            for (std::int64_t r = e.first; r < e.last; ++r) {
              const std::int32_t id = bucket_ids[r];
              if (stamp[static_cast<std::size_t>(id)] == epoch) continue;
              stamp[static_cast<std::size_t>(id)] = epoch;
              if (s.is_live(id)) candidates.push_back(id);
            }
            return true;
          };
          // The adaptive mode keeps the k best so far in a max-heap as distances come in.
          top.clear();
          sketched_top.clear();
          auto keep_best = [&](auto& heap, const auto& e) {
            if (static_cast<std::int64_t>(heap.size()) < k) {
              heap.push_back(e);
              std::push_heap(heap.begin(), heap.end());
            } else if (e < heap.front()) {
              std::pop_heap(heap.begin(), heap.end());
              heap.back() = e;
              std::push_heap(heap.begin(), heap.end());
            }
          };
          // Distances of the candidates not yet ranked: on the sketch when there is one, else exact.
          auto rank_exact = [&]() {
            for (std::size_t r = ranked.size(); r < candidates.size(); ++r) {
              if (r + 2 < candidates.size()) {  // the row after next, a cache line at a time
                const char* next = reinterpret_cast<const char*>(s.data.row(candidates[r + 2]));
                for (std::int64_t byte = 0; byte < row_bytes; byte += 64) __builtin_prefetch(next + byte);
              }
              ranked.push_back({s.distance(qrow, qnorm, candidates[r]), candidates[r]});
              if (adaptive) keep_best(top, ranked.back());
            }
          };
          auto rank_sketch = [&]() {
            for (std::size_t r = sketched.size(); r < candidates.size(); ++r) {
              if (r + 24 < candidates.size()) {
                const char* next = reinterpret_cast<const char*>(s.codes.data() + candidates[r + 24] * s.options.sketch_dim);
                for (std::int64_t byte = 0; byte < s.options.sketch_dim; byte += 64) __builtin_prefetch(next + byte);
              }
              sketched.push_back({s.sketch_distance(qs.row(i), static_cast<float>(qnorm), candidates[r]), candidates[r]});
              if (adaptive) keep_best(sketched_top, sketched.back());
            }
          };
          // The model's parameter of a point: its angle to the centred query (angular families)
          // or its Euclidean distance (pstable).
          auto parameter = [&](std::int64_t id) -> double {
            const T* x = s.data.row(id);
            if (!s.options.family.angular()) return std::sqrt(static_cast<double>(detail::squared_distance(qrow, x, d)));
            const double xn = static_cast<double>(s.norms[static_cast<std::size_t>(id)]);
            double num = static_cast<double>(detail::dot(crow, x, d)), den2 = xn * xn;
            if (s.centering) {
              const double xm = static_cast<double>(detail::dot(x, s.mean.data(), d));
              num -= static_cast<double>(detail::dot(crow, s.mean.data(), d));
              den2 += static_cast<double>(mean_norm2) - 2 * xm;
            }
            if (cnorm <= 0 || den2 <= 0) return std::numbers::pi / 2;
            return std::acos(std::clamp(num / (cnorm * std::sqrt(den2)), -1.0, 1.0));
          };
          auto cached_parameter = [&](std::int64_t id) -> double {
            const auto u = static_cast<std::size_t>(id);
            if (parameter_stamp[u] != epoch) {
              parameter_stamp[u] = epoch;
              parameter_cache[u] = parameter(id);
            }
            return parameter_cache[u];
          };
          auto budget_left = [&] { return query.candidates == 0 || static_cast<std::int64_t>(candidates.size()) < query.candidates; };
          if (adaptive) {
            std::int64_t next_check = L;
            while (st.probes < probe_target && budget_left()) {
              if (!probe_once(std::min(next_check, probe_target) - st.probes)) break;
              if (st.probes < next_check || static_cast<std::int64_t>(candidates.size()) < k) continue;
              // The model's recall estimate: the mean found-probability of the current k best
              // (taken for the true k nearest), from their parameters; evaluated at the
              // largest (a lower bound: stop at once if it suffices), the median and the
              // smallest, and interpolated in between.
              top_params.clear();
              if (s.sketch) {
                rank_sketch();
                for (const auto& e : sketched_top) top_params.push_back(cached_parameter(e.id));
              } else {
                rank_exact();
                for (const auto& e : top) top_params.push_back(cached_parameter(e.id));
              }
              std::sort(top_params.begin(), top_params.end());
              const double p_hi = model.found_probability(top_params.back(), probed, perturbations);
              st.estimated_recall = p_hi;
              if (p_hi < query.target_recall && k > 1) {
                const std::int64_t mid = (k - 1) / 2;
                const double p_lo = model.found_probability(top_params.front(), probed, perturbations);
                const double p_mid = mid > 0 ? model.found_probability(top_params[static_cast<std::size_t>(mid)], probed, perturbations) : p_lo;
                double sum = 0;
                for (std::int64_t r = 0; r < k; ++r)
                  sum += r <= mid ? (mid > 0 ? p_lo + (p_mid - p_lo) * static_cast<double>(r) / static_cast<double>(mid) : p_lo)
                                  : p_mid + (p_hi - p_mid) * static_cast<double>(r - mid) / static_cast<double>(k - 1 - mid);
                st.estimated_recall = sum / static_cast<double>(k);
              }
              if (st.estimated_recall >= query.target_recall) break;
              next_check = std::max(st.probes + std::max<std::int64_t>(1, L / 2), st.probes + st.probes / 5);
            }
          } else {
            while (st.probes < probe_target && budget_left())
              if (!probe_once(probe_target - st.probes)) break;
          }
          if (static_cast<std::int64_t>(candidates.size()) < k) {
            st.extra_probes = true;
            while (static_cast<std::int64_t>(candidates.size()) < k && st.probes < extra_limit)
              if (!probe_once(extra_limit - st.probes)) break;
          }
          if (static_cast<std::int64_t>(candidates.size()) < k) {
            st.scanned = true;
            candidates.clear();
            ranked.clear();
            sketched.clear();
            for (std::int64_t id = 0; id < s.count; ++id)
              if (s.is_live(id)) candidates.push_back(static_cast<std::int32_t>(id));
          }
          st.unique_candidates = static_cast<std::int64_t>(candidates.size());
          st.lookup_seconds = seconds_since(t0);
          t0 = Clock::now();
          if (s.sketch && static_cast<std::int64_t>(candidates.size()) > rerank) {
            // Stage one: rank every candidate on the sketch, keep the best `rerank`.
            rank_sketch();
            std::nth_element(sketched.begin(), sketched.begin() + rerank, sketched.end());
            candidates.resize(static_cast<std::size_t>(rerank));
            for (std::int64_t r = 0; r < rerank; ++r)
              candidates[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(sketched[static_cast<std::size_t>(r)].id);
            ranked.clear();
          }
          rank_exact();
          std::partial_sort(ranked.begin(), ranked.begin() + k, ranked.end());
          for (std::int64_t r = 0; r < k; ++r) {
            ids(q0 + i, r) = ranked[static_cast<std::size_t>(r)].id;
            distances(q0 + i, r) = ranked[static_cast<std::size_t>(r)].distance;
          }
          st.rerank_seconds = seconds_since(t0);
          if (stats) (*stats)[static_cast<std::size_t>(q0 + i)] = st;
        }
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
}

template <class T>
std::int64_t LshIndex<T>::insert(In<T> rows) {
  Impl& s = *impl_;
  LOWDIM_CHECK_SHAPE(rows.cols() == s.dim, "LshIndex::insert: rows have {} columns, the index holds d = {}", rows.cols(),
                     s.dim);
  LOWDIM_CHECK(s.count + rows.rows() <= max_points, "LshIndex::insert: {} + {} points exceed the limit of {}", s.count,
               rows.rows(), max_points);
  check_finite<T>(rows, "LshIndex::insert: rows");
  const std::int64_t first = s.count;
  if (rows.rows() == 0) return first;
  const auto keys = s.keys_of(rows);
  s.append_rows(rows);
  s.add_to_tables(keys, first, rows.rows());
  return first;
}

template <class T>
void LshIndex<T>::remove(std::span<const std::int64_t> ids) {
  Impl& s = *impl_;
  std::vector<std::int64_t> sorted(ids.begin(), ids.end());
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const std::int64_t id = sorted[i];
    LOWDIM_CHECK(id >= 0 && id < s.count, "LshIndex::remove: id {} is not in the index (ids are 0 to {})", id,
                 s.count - 1);
    LOWDIM_CHECK(s.is_live(id), "LshIndex::remove: id {} was already removed", id);
    LOWDIM_CHECK(i == 0 || sorted[i - 1] != id, "LshIndex::remove: id {} is listed twice", id);
  }
  for (const std::int64_t id : sorted) s.live[static_cast<std::size_t>(id / 64)] &= ~(1ull << (id % 64));
  s.live_count -= static_cast<std::int64_t>(sorted.size());
}

template <class T>
std::int64_t LshIndex<T>::memory_bytes() const noexcept {
  const Impl& s = *impl_;
  std::int64_t bytes = s.data.rows() * s.dim * static_cast<std::int64_t>(sizeof(T)) +
                       static_cast<std::int64_t>((s.norms.size() + s.mean.size()) * sizeof(T) + s.live.size() * 8);
  for (const Table& t : s.tables) bytes += t.bytes();
  return bytes + static_cast<std::int64_t>(s.codes.size());
}

template <class T>
double LshIndex<T>::table_bytes_per_point() const noexcept {
  const Impl& s = *impl_;
  double bytes = 0;
  for (const Table& t : s.tables) bytes += static_cast<double>(t.bytes());
  return s.live_count > 0 ? bytes / static_cast<double>(s.live_count) : 0.0;
}

namespace {
constexpr const char* archive_kind = "lowdim.lsh";
constexpr std::uint32_t archive_version = 1;
}  // namespace

template <class T>
void LshIndex<T>::save(const std::string& path) const {
  const Impl& s = *impl_;
  ArchiveWriter a(archive_kind, archive_version);
  a.put("precision", std::string(std::is_same_v<T, float> ? "float" : "double"));
  a.put("family", std::string(s.options.family.name()));
  a.put("metric", std::string(to_string(s.options.metric)));
  a.put("tables", s.options.tables);
  a.put("hashes", s.options.hashes);
  a.put("seed", static_cast<std::int64_t>(s.options.seed));
  a.put("width", s.options.family_options.width);
  a.put("cp_dim", s.options.family_options.cp_dim);
  a.put("center", std::int64_t{s.options.center});
  a.put("sketch_dim", s.options.sketch_dim);
  a.put("sketch_scale", static_cast<double>(s.sketch_scale));
  a.put("dim", s.dim);
  a.put("count", s.count);
  a.put<T>("mean", ConstMatrixView<T>(s.mean.data(), 1, s.dim));
  a.put<T>("data", s.data.block(0, 0, s.count, s.dim));
  a.put_bitset("live", std::span<const std::uint64_t>(s.live), static_cast<std::uint64_t>(s.count));
  for (std::size_t t = 0; t < s.tables.size(); ++t) {
    a.put_array(fmt::format("table{}.keys", t), s.tables[t].keys.span());
    a.put_array(fmt::format("table{}.offsets", t), s.tables[t].offsets.span());
    a.put_array(fmt::format("table{}.ids", t), s.tables[t].ids.span());
  }
  a.save(path);
}

template <class T>
LshIndex<T> LshIndex<T>::load(const std::string& path) {
  const ArchiveReader a(path, archive_kind);
  auto fail = [&](const std::string& what) { detail::throw_error<io_error>("{}: corrupt LSH index: {}", path, what); };
  if (a.version() != archive_version)
    detail::throw_error<io_error>("{}: LSH index format version {} (this build reads {})", path, a.version(), archive_version);
  const std::string precision = a.get_string("precision");
  const char* want = std::is_same_v<T, float> ? "float" : "double";
  if (precision != want)
    detail::throw_error<io_error>("{}: the index holds {} data; load it as LshIndex<{}>", path, precision, precision);
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  try {
    s.options.family = parse_lsh_family(a.get_string("family"));
    s.options.metric = parse_metric(a.get_string("metric"));
  } catch (const invalid_argument& e) {
    fail(fmt::format("{}", e.what()));
  }
  s.options.tables = a.get_int("tables");
  s.options.hashes = a.get_int("hashes");
  s.options.seed = static_cast<std::uint64_t>(a.get_int("seed"));
  s.options.family_options.width = a.get_double("width");
  s.options.family_options.cp_dim = a.get_int("cp_dim");
  s.options.center = a.get_int("center") != 0;
  s.options.sketch_dim = a.get_int("sketch_dim");
  if (s.options.sketch_dim < 0 || s.options.sketch_dim > 4096) fail(fmt::format("sketch_dim {} out of range", s.options.sketch_dim));
  s.dim = a.get_int("dim");
  const std::int64_t count = a.get_int("count");
  if (s.options.tables < 1 || s.options.tables > 4096 || s.options.hashes < 1 || s.options.hashes > 64)
    fail(fmt::format("tables {} and hashes {} out of range", s.options.tables, s.options.hashes));
  if (count < 1 || count > max_points || s.dim < 1) fail(fmt::format("{} points of dimension {}", count, s.dim));
  try {
    s.init_hasher();
  } catch (const invalid_argument& e) {
    fail(fmt::format("{}", e.what()));
  }
  Matrix<T> mean = a.get_matrix<T>("mean");
  Matrix<T> data = a.get_matrix<T>("data");
  if (mean.rows() != 1 || mean.cols() != s.dim || data.rows() != count || data.cols() != s.dim)
    fail(fmt::format("mean {} × {} and data {} × {} do not match {} points of dimension {}", mean.rows(), mean.cols(), data.rows(),
         data.cols(), count, s.dim));
  if (find_non_finite<T>(data) || find_non_finite<T>(mean)) fail(fmt::format("non-finite data"));
  s.mean.assign(mean.data(), mean.data() + s.dim);
  if (!s.centering && std::any_of(s.mean.begin(), s.mean.end(), [](T v) { return v != 0; })) fail(fmt::format("a mean without centring"));
  const SharedBitset live = a.get_bitset("live");
  if (live.bits != static_cast<std::uint64_t>(count)) fail(fmt::format("the live set has {} bits for {} points", live.bits, count));
  s.data = Matrix<T>::uninitialized(count, s.dim);
  if (s.options.sketch_dim > 0 && a.has("sketch_scale")) {
    const double scale = a.get_double("sketch_scale");
    if (!(scale > 0 && std::isfinite(scale))) fail(fmt::format("sketch_scale {} is not > 0", scale));
    s.sketch_scale = static_cast<float>(scale);
  }
  s.append_rows(data);
  s.live.assign(live.words.begin(), live.words.end());
  s.live_count = 0;
  for (const auto w : s.live) s.live_count += std::popcount(w);
  std::vector<std::uint32_t> seen(static_cast<std::size_t>(count), 0);
  for (std::int64_t t = 0; t < s.options.tables; ++t) {
    Table table{Array<std::uint64_t>(a.get_array<std::uint64_t>(fmt::format("table{}.keys", t))),
                Array<std::int64_t>(a.get_array<std::int64_t>(fmt::format("table{}.offsets", t))),
                Array<std::int32_t>(a.get_array<std::int32_t>(fmt::format("table{}.ids", t))), {}, 0};
    const auto keys = table.keys.span();
    const auto offsets = table.offsets.span();
    const auto ids = table.ids.span();
    if (offsets.size() != keys.size() + 1 || offsets[0] != 0 || offsets.back() != static_cast<std::int64_t>(ids.size()) ||
        static_cast<std::int64_t>(ids.size()) != count)
      fail(fmt::format("table {} has {} keys, {} offsets and {} ids for {} points", t, keys.size(), offsets.size(), ids.size(), count));
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i > 0 && keys[i - 1] >= keys[i]) fail(fmt::format("table {}: keys are not strictly increasing at bucket {}", t, i));
      if (offsets[i] >= offsets[i + 1]) fail(fmt::format("table {}: bucket {} is empty or its offsets decrease", t, i));
      for (std::int64_t r = offsets[i]; r < offsets[i + 1]; ++r) {
        const std::int32_t id = ids[static_cast<std::size_t>(r)];
        if (id < 0 || id >= count) fail(fmt::format("table {}: id {} outside [0, {})", t, id, count));
        if (seen[static_cast<std::size_t>(id)] == static_cast<std::uint32_t>(t + 1)) fail(fmt::format("table {}: id {} appears twice", t, id));
        seen[static_cast<std::size_t>(id)] = static_cast<std::uint32_t>(t + 1);
      }
    }
    table.index_buckets();
    s.tables.push_back(std::move(table));
  }
  return LshIndex(std::move(impl));
}

template class LOWDIM_API LshIndex<float>;
template class LOWDIM_API LshIndex<double>;

}  // namespace lowdim
