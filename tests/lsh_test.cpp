#include "test_support.hpp"

#include <lowdim/io.hpp>
#include <lowdim/lsh.hpp>
#include <lowdim/random.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <numbers>
#include <set>

using namespace lowdim;
using namespace lowdim::test;
using Catch::Contains;

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Clustered data: 40 fixed centres, points at distance ~0.3·√d of theirs; each seed draws
// fresh points around the same centres (queries use another seed than the data).
template <class T>
Matrix<T> clustered(std::int64_t n, std::int64_t d, std::uint64_t seed) {
  auto centres = gaussian<T>(40, d, 1000 + static_cast<std::uint64_t>(d));
  auto noise = gaussian<T>(n, d, seed + 1);
  Matrix<T> x(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = centres(i % 40, j) + T(0.3) * noise(i, j);
  return x;
}

template <class T>
double recall(const Matrix<std::int64_t>& got, const Matrix<std::int64_t>& truth) {
  std::int64_t hit = 0;
  for (std::int64_t i = 0; i < got.rows(); ++i) {
    std::set<std::int64_t> t(truth.row(i), truth.row(i) + truth.cols());
    for (std::int64_t j = 0; j < got.cols(); ++j) hit += t.count(got(i, j));
  }
  return static_cast<double>(hit) / static_cast<double>(got.rows() * got.cols());
}

// Within z standard deviations of a binomial proportion.
void require_binomial(double observed, double p, double trials, double z = 5) {
  CAPTURE(observed, p, trials);
  REQUIRE(std::abs(observed - p) <= z * std::sqrt(p * (1 - p) / trials) + 1e-12);
}

}  // namespace

TEST_CASE("exact_knn matches a brute-force scan for each metric, at any thread count", "[lsh][exact]") {
  const auto base = gaussian<double>(500, 13, 1);
  const auto queries = gaussian<double>(37, 13, 2);
  for (const Metric metric : {Metric::euclidean, Metric::cosine, Metric::inner_product}) {
    CAPTURE(to_string(metric));
    Matrix<std::int64_t> ids(37, 5);
    Matrix<double> dist(37, 5);
    exact_knn<double>(base, queries, 5, metric, ids.view(), dist.view());
    for (std::int64_t i = 0; i < 37; ++i) {
      std::vector<std::pair<double, std::int64_t>> all;
      for (std::int64_t j = 0; j < 500; ++j) {
        double dd = 0, xy = 0, xx = 0, yy = 0;
        for (std::int64_t c = 0; c < 13; ++c) {
          dd += (queries(i, c) - base(j, c)) * (queries(i, c) - base(j, c));
          xy += queries(i, c) * base(j, c);
          xx += queries(i, c) * queries(i, c);
          yy += base(j, c) * base(j, c);
        }
        all.push_back({metric == Metric::euclidean ? std::sqrt(dd)
                       : metric == Metric::cosine  ? 1 - xy / std::sqrt(xx * yy)
                                                   : -xy,
                       j});
      }
      std::sort(all.begin(), all.end());
      for (std::int64_t r = 0; r < 5; ++r) {
        REQUIRE(ids(i, r) == all[static_cast<std::size_t>(r)].second);
        REQUIRE(std::abs(dist(i, r) - all[static_cast<std::size_t>(r)].first) < 1e-9);
      }
    }
    Matrix<std::int64_t> ids1(37, 5), ids2(37, 5);
    Matrix<double> d1(37, 5), d2(37, 5);
    with_threads(1, [&] { exact_knn<double>(base, queries, 5, metric, ids1.view(), d1.view()); });
    with_threads(2, [&] { exact_knn<double>(base, queries, 5, metric, ids2.view(), d2.view()); });
    REQUIRE(max_abs_diff<double>(d1, d2) == 0);
    REQUIRE(max_abs_diff<double>(d1, dist) == 0);
  }
  Matrix<std::int64_t> ids(1, 501);
  Matrix<double> dist(1, 501);
  REQUIRE_THROWS_WITH(exact_knn<double>(base, queries.block(0, 0, 1, 13), 501, Metric::euclidean, ids.view(), dist.view()),
                      Contains("k = 501 must be in [1, 500]"));
}

TEST_CASE("simhash collides with probability 1 - theta/pi", "[lsh][family]") {
  const std::int64_t m = 20000, d = 24;
  for (const double theta : {0.3, 1.0, 2.0}) {
    CAPTURE(theta);
    Matrix<double> xy(2, d);
    xy(0, 0) = 1;
    xy(1, 0) = std::cos(theta);
    xy(1, 1) = std::sin(theta);
    for (const bool as_float : {false, true}) {
      const LshHasher hasher(LshFamily::simhash, d, m, 7);
      Matrix<std::uint64_t> codes(2, (m + 63) / 64);
      if (as_float) {
        Matrix<float> f(2, d);
        for (std::int64_t j = 0; j < d; ++j) f(0, j) = static_cast<float>(xy(0, j)), f(1, j) = static_cast<float>(xy(1, j));
        hasher.simhash_codes<float>(f, codes.view());
      } else {
        hasher.simhash_codes<double>(xy, codes.view());
      }
      const auto differ = LshHasher::hamming(codes.view().row_span(0), codes.view().row_span(1));
      require_binomial(1 - static_cast<double>(differ) / m, 1 - theta / std::numbers::pi, m);
    }
  }
  // One row hashes like the same row inside a batch.
  const LshHasher hasher(LshFamily::simhash, 10, 70, 3);
  const auto x = gaussian<float>(5, 10, 4);
  Matrix<std::int64_t> all(5, 70), one(1, 70);
  hasher.hash<float>(x, all.view());
  hasher.hash<float>(x.block(3, 0, 1, 10), one.view());
  for (std::int64_t j = 0; j < 70; ++j) REQUIRE(all(3, j) == one(0, j));
}

TEST_CASE("p-stable collides with Datar et al.'s probability", "[lsh][family]") {
  const std::int64_t m = 20000, d = 16;
  const double w = 2.0;
  for (const double r : {0.5, 1.0, 3.0}) {
    CAPTURE(r);
    Matrix<double> xy(2, d);
    xy(0, 3) = 0.7;
    xy(1, 3) = 0.7 + r;
    const LshHasher hasher(LshFamily::pstable, d, m, 11, {.width = w});
    Matrix<std::int64_t> h(2, m);
    hasher.hash<double>(xy, h.view());
    std::int64_t same = 0;
    for (std::int64_t j = 0; j < m; ++j) same += h(0, j) == h(1, j);
    const double c = w / r;
    const double phi = 0.5 * std::erfc(c / std::sqrt(2.0));  // Φ(−c)
    const double p = 1 - 2 * phi - 2 / (std::sqrt(2 * std::numbers::pi) * c) * (1 - std::exp(-c * c / 2));
    require_binomial(static_cast<double>(same) / m, p, m);
  }
  REQUIRE_THROWS_WITH(LshHasher(LshFamily::pstable, 4, 4, 1), Contains("pstable width w must be finite and > 0, got 0"));
}

TEST_CASE("cross-polytope collides less often as the angle grows", "[lsh][family]") {
  const std::int64_t m = 4000, d = 16;  // d = cp_dim: no feature hashing, which could merge e0 and e1
  double previous = 1.0;
  for (const double theta : {0.2, 0.6, 1.2, 2.0}) {
    Matrix<double> xy(2, d);
    xy(0, 0) = 1;
    xy(1, 0) = std::cos(theta);
    xy(1, 1) = std::sin(theta);
    const LshHasher hasher(LshFamily::cross_polytope, d, m, 5, {.cp_dim = 16});
    Matrix<std::int64_t> h(2, m);
    hasher.hash<double>(xy, h.view());
    std::int64_t same = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      REQUIRE(h(0, j) >= 0);
      REQUIRE(h(0, j) < 32);
      same += h(0, j) == h(1, j);
    }
    const double p = static_cast<double>(same) / m;
    CAPTURE(theta, p);
    REQUIRE(p < previous);
    previous = p;
  }
  REQUIRE(previous < 0.1);
}

TEST_CASE("LshIndex: recall grows with the probes, for every family", "[lsh][index]") {
  const auto data = clustered<float>(3000, 32, 21);
  const auto queries = clustered<float>(100, 32, 99);
  Matrix<std::int64_t> truth(100, 10);
  Matrix<float> truth_d(100, 10);
  exact_knn<float>(data, queries, 10, Metric::euclidean, truth.view(), truth_d.view());
  for (const LshFamily family : lsh_families()) {
    CAPTURE(family.name());
    LshIndexOptions o{.family = family, .tables = 4,
                      .hashes = family == LshFamily::cross_polytope ? 3 : family == LshFamily::pstable ? 8 : 16, .seed = 3};
    if (family == LshFamily::cross_polytope) o.family_options.cp_dim = 32;
    const LshIndex<float> index(data, o);
    double last = -1, first = -1;
    for (const std::int64_t probes : {4, 16, 64, 256, 1024}) {
      Matrix<std::int64_t> ids(100, 10);
      Matrix<float> dist(100, 10);
      std::vector<LshQueryStats> stats;
      index.knn(queries, 10, {.probes = probes}, ids.view(), dist.view(), &stats);
      const double r = recall<float>(ids, truth);
      CAPTURE(probes, r);
      REQUIRE(r >= last - 0.005);
      last = r;
      if (first < 0) first = r;
      for (const auto& s : stats) {
        REQUIRE(s.probes >= std::min<std::int64_t>(probes, s.probes));
        REQUIRE(s.unique_candidates >= 10);
        REQUIRE(s.unique_candidates <= s.candidates + (s.scanned ? 3000 : 0));
      }
      // Distances are exact for the ids returned.
      for (std::int64_t i = 0; i < 100; ++i)
        for (std::int64_t j = 0; j < 10; ++j) {
          double dd = 0;
          for (std::int64_t c = 0; c < 32; ++c) dd += std::pow(queries(i, c) - data(ids(i, j), c), 2);
          REQUIRE(std::abs(dist(i, j) - std::sqrt(dd)) < 1e-4 * (1 + std::sqrt(dd)));
          if (j > 0) REQUIRE(dist(i, j - 1) <= dist(i, j));
        }
    }
    REQUIRE(last > 0.99);
    REQUIRE(last - first > 0.3);  // one bucket per table finds about half; the probes find the rest
  }
}

TEST_CASE("LshIndex returns exactly k, falling back to more probes and then a scan", "[lsh][index]") {
  const auto data = gaussian<double>(200, 20, 5);
  const auto queries = gaussian<double>(10, 20, 6);
  // 64-bit simhash keys on 200 points: almost every bucket holds one point.
  const LshIndex<double> index(data, {.family = LshFamily::simhash, .tables = 2, .hashes = 64, .seed = 1});
  for (const std::int64_t k : {1, 10, 200}) {
    Matrix<std::int64_t> ids(10, k);
    Matrix<double> dist(10, k);
    std::vector<LshQueryStats> stats;
    index.knn(queries, k, {}, ids.view(), dist.view(), &stats);
    for (std::int64_t i = 0; i < 10; ++i) {
      std::set<std::int64_t> unique(ids.row(i), ids.row(i) + k);
      REQUIRE(static_cast<std::int64_t>(unique.size()) == k);
      REQUIRE(stats[static_cast<std::size_t>(i)].extra_probes);
    }
    if (k == 200) REQUIRE(stats[0].scanned);
  }
  Matrix<std::int64_t> ids(10, 201);
  Matrix<double> dist(10, 201);
  REQUIRE_THROWS_WITH(index.knn(queries, 201, {}, ids.view(), dist.view()), Contains("k = 201 exceeds the 200 points"));
  Matrix<std::int64_t> ids5(10, 5);
  Matrix<double> dist5(10, 5);
  REQUIRE_THROWS_WITH(index.knn(gaussian<double>(10, 21, 1), 5, {}, ids5.view(), dist5.view()),
                      Contains("queries have 21 columns, the index holds d = 20"));
  auto nan = queries.clone();
  nan(3, 7) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(index.knn(nan, 5, {}, ids5.view(), dist5.view()), Contains("non-finite value nan at row 3, column 7"));
  REQUIRE_THROWS_WITH(index.knn(queries, 5, {.probes = 1}, ids5.view(), dist5.view()),
                      Contains("probes = 1 is fewer than the 2 tables"));
  REQUIRE_THROWS_WITH(LshIndex<double>(data, {.hashes = 65}), Contains("hashes (K) must be in [1, 64], got 65"));
}

TEST_CASE("LshIndex: the two-stage re-ranking keeps the recall of the exact one", "[lsh][index]") {
  const auto data = clustered<float>(4000, 48, 61);
  const auto queries = clustered<float>(100, 48, 62);
  Matrix<std::int64_t> truth(100, 10);
  Matrix<float> truth_d(100, 10);
  exact_knn<float>(data, queries, 10, Metric::euclidean, truth.view(), truth_d.view());
  const LshIndexOptions o{.family = LshFamily::simhash, .tables = 6, .hashes = 14, .seed = 5};
  LshIndexOptions sketched = o;
  sketched.sketch_dim = 32;
  const LshIndex<float> exact_only(data, o), two_stage(data, sketched);
  Matrix<std::int64_t> a(100, 10), b(100, 10);
  Matrix<float> da(100, 10), db(100, 10);
  std::vector<LshQueryStats> sa, sb;
  exact_only.knn(queries, 10, {.probes = 200}, a.view(), da.view(), &sa);
  two_stage.knn(queries, 10, {.probes = 200, .rerank = 100}, b.view(), db.view(), &sb);
  const double ra = recall<float>(a, truth), rb = recall<float>(b, truth);
  CAPTURE(ra, rb, sb[0].unique_candidates);
  REQUIRE(sb[0].unique_candidates > 100);  // the sketch stage had something to cut
  REQUIRE(rb >= ra - 0.03);
  REQUIRE(two_stage.memory_bytes() - exact_only.memory_bytes() == 4000 * 32);  // one byte per sketch dimension
  REQUIRE_THROWS_WITH(exact_only.knn(queries, 10, {.rerank = 50}, a.view(), da.view()),
                      Contains("rerank = 50 needs an index built with a sketch"));
}

TEST_CASE("LshIndex: inserted points are found at once, removed ones never returned", "[lsh][index]") {
  const auto data = clustered<float>(1000, 16, 8);
  LshIndex<float> index(data, {.family = LshFamily::simhash, .tables = 6, .hashes = 10, .seed = 2});
  const auto fresh = gaussian<float>(5, 16, 77);  // far from the clusters' points
  const std::int64_t first = index.insert(fresh);
  REQUIRE(first == 1000);
  REQUIRE(index.size() == 1005);
  Matrix<std::int64_t> ids(5, 3);
  Matrix<float> dist(5, 3);
  index.knn(fresh, 3, {}, ids.view(), dist.view());
  for (std::int64_t i = 0; i < 5; ++i) {
    REQUIRE(ids(i, 0) == 1000 + i);
    REQUIRE(dist(i, 0) == 0);
  }
  // Remove the inserted ones and every first neighbour of some queries: none comes back.
  const auto queries = clustered<float>(50, 16, 31);
  Matrix<std::int64_t> before(50, 10);
  Matrix<float> before_d(50, 10);
  index.knn(queries, 10, {.probes = 64}, before.view(), before_d.view());
  std::set<std::int64_t> removed{1000, 1001, 1002, 1003, 1004};
  for (std::int64_t i = 0; i < 50; ++i) removed.insert(before(i, 0));
  const std::vector<std::int64_t> list(removed.begin(), removed.end());
  index.remove(list);
  REQUIRE(index.size() == 1005 - static_cast<std::int64_t>(list.size()));
  REQUIRE(!index.contains(1000));
  REQUIRE_THROWS_WITH(index.remove(std::vector<std::int64_t>{1000}), Contains("id 1000 was already removed"));
  REQUIRE_THROWS_WITH(index.remove(std::vector<std::int64_t>{5000}), Contains("id 5000 is not in the index"));
  Matrix<std::int64_t> after(50, 10);
  Matrix<float> after_d(50, 10);
  index.knn(queries, 10, {.probes = 64}, after.view(), after_d.view());
  for (std::int64_t i = 0; i < 50; ++i)
    for (std::int64_t j = 0; j < 10; ++j) REQUIRE(removed.count(after(i, j)) == 0);
  index.knn(fresh, 3, {}, ids.view(), dist.view());
  for (std::int64_t i = 0; i < 5; ++i) REQUIRE(removed.count(ids(i, 0)) == 0);
}

TEST_CASE("LshIndex: save/load gives identical answers; corrupt files are io_errors", "[lsh][index][io]") {
  TempDir dir("lsh_io");
  const auto data = clustered<double>(20000, 12, 4);  // large enough to be memory-mapped
  const auto queries = clustered<double>(40, 12, 5);
  for (const LshFamily family : lsh_families()) {
    CAPTURE(family.name());
    LshIndex<double> index(data, {.family = family, .tables = 4, .hashes = family == LshFamily::cross_polytope ? 2 : 8,
                                  .seed = 9, .metric = Metric::cosine,
                                  .sketch_dim = family == LshFamily::simhash ? 16 : 0});
    index.insert(queries.block(0, 0, 3, 12));
    index.remove(std::vector<std::int64_t>{5, 17});
    index.save(dir.file("i.lsh"));
    const auto loaded = LshIndex<double>::load(dir.file("i.lsh"));
    REQUIRE(loaded.size() == index.size());
    REQUIRE(loaded.next_id() == index.next_id());
    REQUIRE(!loaded.contains(5));
    Matrix<std::int64_t> a(40, 7), b(40, 7);
    Matrix<double> da(40, 7), db(40, 7);
    index.knn(queries, 7, {.probes = 40}, a.view(), da.view());
    loaded.knn(queries, 7, {.probes = 40}, b.view(), db.view());
    REQUIRE(max_abs_diff<double>(da, db) == 0);
    for (std::int64_t i = 0; i < 40; ++i)
      for (std::int64_t j = 0; j < 7; ++j) REQUIRE(a(i, j) == b(i, j));
    loaded.save(dir.file("again.lsh"));
    REQUIRE(file_bytes(dir.file("again.lsh")) == file_bytes(dir.file("i.lsh")));
  }
  REQUIRE_THROWS_WITH(LshIndex<float>::load(dir.file("i.lsh")), Contains("holds double data; load it as LshIndex<double>"));
  std::string bytes = file_bytes(dir.file("i.lsh"));
  {
    std::ofstream(dir.file("cut.lsh"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    REQUIRE_THROWS_AS(LshIndex<double>::load(dir.file("cut.lsh")), io_error);
    REQUIRE_THROWS_WITH(LshIndex<double>::load(dir.file("cut.lsh")), Contains("truncated or padded"));
    bytes[bytes.size() / 3] ^= 0x40;
    std::ofstream(dir.file("flip.lsh"), std::ios::binary) << bytes;
  }
  REQUIRE_THROWS_WITH(LshIndex<double>::load(dir.file("flip.lsh")), Contains("CRC-32 mismatch"));
  // A consistent archive describing an inconsistent index.
  {
    ArchiveReader r(dir.file("i.lsh"), "lowdim.lsh");
    ArchiveWriter w("lowdim.lsh", 1);
    for (const char* name : {"precision", "family", "metric"}) w.put(name, r.get_string(name));
    for (const char* name : {"tables", "hashes", "seed", "cp_dim", "center", "sketch_dim", "dim", "count"}) w.put(name, r.get_int(name));
    w.put("width", r.get_double("width"));
    w.put<double>("mean", r.get_matrix<double>("mean"));
    w.put<double>("data", r.get_matrix<double>("data"));
    const auto live = r.get_bitset("live");
    w.put_bitset("live", live.words.span(), live.bits);
    for (int t = 0; t < 4; ++t) {
      const auto keys = r.get_array<std::uint64_t>(fmt::format("table{}.keys", t));
      const auto offsets = r.get_array<std::int64_t>(fmt::format("table{}.offsets", t));
      auto ids = r.get_array<std::int32_t>(fmt::format("table{}.ids", t));
      std::vector<std::int32_t> bad(ids.begin(), ids.end());
      if (t == 2) bad[10] = bad[11];
      w.put_array(fmt::format("table{}.keys", t), keys.span());
      w.put_array(fmt::format("table{}.offsets", t), offsets.span());
      w.put_array(fmt::format("table{}.ids", t), std::span<const std::int32_t>(bad));
    }
    w.save(dir.file("dup.lsh"));
  }
  REQUIRE_THROWS_WITH(LshIndex<double>::load(dir.file("dup.lsh")), Contains("corrupt LSH index: table 2: id") && Contains("appears twice"));
}

TEST_CASE("LshIndex: the same seed gives the same index bits and answers on 1 and 2 threads", "[lsh][index][threads]") {
  TempDir dir("lsh_threads");
  const auto data = clustered<float>(5000, 24, 12);
  const auto queries = clustered<float>(64, 24, 13);
  for (const LshFamily family : lsh_families()) {
    CAPTURE(family.name());
    LshIndexOptions o{.family = family, .tables = 5, .hashes = family == LshFamily::cross_polytope ? 2 : 10, .seed = 42};
    if (family == LshFamily::cross_polytope) o.family_options.cp_dim = 16;  // 24 → 16: the feature-hashing path
    Matrix<std::int64_t> a(64, 10), b(64, 10);
    Matrix<float> da(64, 10), db(64, 10);
    with_threads(1, [&] {
      const LshIndex<float> index(data, o);
      index.save(dir.file("one.lsh"));
      index.knn(queries, 10, {.probes = 50}, a.view(), da.view());
    });
    with_threads(2, [&] {
      const LshIndex<float> index(data, o);
      index.save(dir.file("two.lsh"));
      index.knn(queries, 10, {.probes = 50}, b.view(), db.view());
    });
    REQUIRE(file_bytes(dir.file("one.lsh")) == file_bytes(dir.file("two.lsh")));
    REQUIRE(max_abs_diff<float>(da, db) == 0);
    for (std::int64_t i = 0; i < 64; ++i)
      for (std::int64_t j = 0; j < 10; ++j) REQUIRE(a(i, j) == b(i, j));
  }
}

// ---- The collision model, the adaptive queries and the tuner ----------------------------

#include "lsh/lsh_internal.hpp"

namespace {

// x at angle theta from q: cos θ·q̂ + sin θ·û, û a random direction orthogonal to q.
Matrix<double> at_angle(const std::vector<double>& q, double theta, std::int64_t n, std::uint64_t seed) {
  const auto d = static_cast<std::int64_t>(q.size());
  auto g = gaussian<double>(n, d, seed);
  double qq = 0;
  for (const double v : q) qq += v * v;
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i) {
    double gq = 0, uu = 0;
    for (std::int64_t j = 0; j < d; ++j) gq += g(i, j) * q[static_cast<std::size_t>(j)];
    for (std::int64_t j = 0; j < d; ++j) {
      g(i, j) -= gq / qq * q[static_cast<std::size_t>(j)];
      uu += g(i, j) * g(i, j);
    }
    for (std::int64_t j = 0; j < d; ++j)
      x(i, j) = std::cos(theta) * q[static_cast<std::size_t>(j)] / std::sqrt(qq) + std::sin(theta) * g(i, j) / std::sqrt(uu);
  }
  return x;
}

}  // namespace

TEST_CASE("The simhash and pstable models give the probability of the probed buckets for a given query",
          "[lsh][model]") {
  // One query, one hasher; many points at a fixed angle (distance): the fraction that lands
  // in the union of the first probes must be the model's found-probability.
  const std::int64_t d = 256, L = 3, K = 6, n = 4000;
  auto qm = gaussian<double>(1, d, 5);
  std::vector<double> q(qm.data(), qm.data() + d);
  for (const LshFamily family : {LshFamily::simhash, LshFamily::pstable}) {
    for (const double theta : {1.0, 1.4}) {
      CAPTURE(family.name(), theta);
      LshFamilyOptions fo;
      if (family == LshFamily::pstable) fo.width = 40.0;
      const LshHasher hasher(family, d, L * K, 17, fo);
      // pstable: x at distance c from q in a random direction (|q| = 16 · the angle).
      Matrix<double> x = at_angle(q, theta, n, 77);
      double qn = 0;
      for (const double v : q) qn += v * v;
      qn = std::sqrt(qn);
      const double c = 16 * theta;
      if (family == LshFamily::pstable)
        for (std::int64_t i = 0; i < n; ++i) {
          // x = q + c·u, u the unit direction of (x − q̂) for a random orthogonal part
          double uu = 0;
          std::vector<double> u(static_cast<std::size_t>(d));
          for (std::int64_t j = 0; j < d; ++j) uu += std::pow(u[static_cast<std::size_t>(j)] = x(i, j) - q[static_cast<std::size_t>(j)] / qn, 2);
          for (std::int64_t j = 0; j < d; ++j) x(i, j) = q[static_cast<std::size_t>(j)] + c * u[static_cast<std::size_t>(j)] / std::sqrt(uu);
        }
      Matrix<double> qrow(1, d);
      std::copy(q.begin(), q.end(), qrow.data());
      Matrix<double> p(1, L * K);
      hasher.project<double>(qrow, p.view());
      Matrix<std::int64_t> h(1, L * K);
      hasher.hash_projections<double>(p, h.view());
      Matrix<std::int64_t> hx(n, L * K);
      hasher.hash<double>(x, hx.view());
      std::vector<std::vector<detail::Perturbation>> perts(L);
      for (std::int64_t t = 0; t < L; ++t) detail::table_perturbations(family, p.row(0) + t * K, h.row(0) + t * K, K, 1, perts[t]);
      detail::ProbeSequence seq;
      seq.reset(&perts);
      std::vector<detail::ProbeSequence::Probe> probes;
      detail::ProbeSequence::Probe probe;
      for (int i = 0; i < 12 && seq.next(probe); ++i) probes.push_back(probe);
      detail::ProbeModel model;
      model.reset<double>(family, p.row(0), h.row(0), L, K, 1, qn, fo.width, 0);
      const double predicted = model.found_probability(family == LshFamily::pstable ? c : theta, probes, perts);
      std::int64_t found = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        bool hit = false;
        for (const auto& pr : probes) {
          std::vector<std::int64_t> v(h.row(0) + pr.table * K, h.row(0) + (pr.table + 1) * K);
          for (std::uint64_t s = pr.set; s != 0; s &= s - 1) {
            const auto& pe = perts[pr.table][std::countr_zero(s)];
            v[pe.function] = pe.value;
          }
          hit = hit || std::equal(v.begin(), v.end(), hx.row(i) + pr.table * K);
        }
        found += hit;
      }
      const double observed = static_cast<double>(found) / n;
      CAPTURE(predicted, observed);
      REQUIRE(predicted > 0.02);
      REQUIRE(predicted < 0.98);
      // simhash's model is exact; pstable's neglects the correlation of a·q and a·(x − q) and
      // the spread of |a|² around d (a few per cent at d = 256).
      REQUIRE(std::abs(observed - predicted) < (family == LshFamily::simhash ? 5 * std::sqrt(predicted * (1 - predicted) / n) : 0.06));
    }
  }
}

TEST_CASE("lsh_collision_probability: the formulas, and cross-polytope's simulation against the hasher",
          "[lsh][model]") {
  REQUIRE(lsh_collision_probability(LshFamily::simhash, std::numbers::pi / 4, {}) == Approx(0.75));
  LshFamilyOptions w4;
  w4.width = 4;
  // Datar et al.: p(c = w) = 1 − 2Φ(−1) − 2/√(2π)·(1 − e^{−1/2}) ≈ 0.368748.
  REQUIRE(lsh_collision_probability(LshFamily::pstable, 4.0, w4) == Approx(0.368748).epsilon(1e-5));
  REQUIRE(lsh_collision_probability(LshFamily::pstable, 0.0, w4) == 1.0);
  REQUIRE_THROWS_WITH(lsh_collision_probability(LshFamily::pstable, 1.0, {}), Contains("needs a width w > 0, got 0"));
  REQUIRE_THROWS_WITH(lsh_collision_probability(LshFamily::cross_polytope, 1.0, {}), Contains("cp_dim a power of two"));
  REQUIRE_THROWS_WITH(lsh_collision_probability(LshFamily::simhash, -1.0, {}), Contains("≥ 0, got -1"));
  LshFamilyOptions cp;
  cp.cp_dim = 64;
  const LshHasher hasher(LshFamily::cross_polytope, 64, 200, 3, cp);
  for (const double theta : {0.4, 0.8, 1.2}) {
    CAPTURE(theta);
    auto qm = gaussian<double>(40, 64, 8);
    std::int64_t same = 0, total = 0;
    for (std::int64_t i = 0; i < 40; ++i) {
      std::vector<double> q(qm.row(i), qm.row(i) + 64);
      Matrix<double> both(2, 64);
      std::copy(q.begin(), q.end(), both.row(0));
      const auto x = at_angle(q, theta, 1, 100 + i);
      std::copy(x.row(0), x.row(0) + 64, both.row(1));
      Matrix<std::int64_t> h(2, 200);
      hasher.hash<double>(both, h.view());
      for (std::int64_t f = 0; f < 200; ++f) same += h(0, f) == h(1, f);
      total += 200;
    }
    const double p = lsh_collision_probability(LshFamily::cross_polytope, theta, cp);
    REQUIRE(p < lsh_collision_probability(LshFamily::cross_polytope, theta - 0.2, cp));
    require_binomial(static_cast<double>(same) / total, p, 2000, 6);  // the model's own sampling error counts too
  }
}

TEST_CASE("LshIndex: the adaptive mode reaches its target recall with fewer probes on easy queries", "[lsh][adaptive]") {
  const auto data = clustered<float>(4000, 32, 31);
  const auto queries = clustered<float>(200, 32, 32);
  Matrix<std::int64_t> truth(200, 10);
  Matrix<float> truth_d(200, 10);
  exact_knn<float>(data, queries, 10, Metric::euclidean, truth.view(), truth_d.view());
  for (const LshFamily family : lsh_families()) {
    for (const std::int64_t sketch : {0, 16}) {
      CAPTURE(family.name(), sketch);
      LshIndexOptions o{.family = family, .tables = 8,
                        .hashes = family == LshFamily::cross_polytope ? 2 : family == LshFamily::pstable ? 10 : 18,
                        .seed = 5, .sketch_dim = sketch};
      const LshIndex<float> index(data, o);
      for (const double target : {0.8, 0.95}) {
        Matrix<std::int64_t> ids(200, 10);
        Matrix<float> dist(200, 10);
        std::vector<LshQueryStats> stats;
        index.knn(queries, 10, {.target_recall = target}, ids.view(), dist.view(), &stats);
        const double r = recall<float>(ids, truth);
        std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = 0;
        double mean = 0;
        for (const auto& s : stats) {
          lo = std::min(lo, s.probes), hi = std::max(hi, s.probes);
          mean += static_cast<double>(s.probes) / 200;
          if (s.probes < 64 * 8 && !s.extra_probes) REQUIRE(s.estimated_recall >= target);
        }
        CAPTURE(target, r, lo, hi, mean);
        REQUIRE(r >= target - 0.01);
        REQUIRE(lo < hi);  // per query: some stop early
        REQUIRE(mean < 64 * 8);
      }
    }
  }
  // The cap and the checks.
  const LshIndex<float> index(data, {.tables = 4, .hashes = 16});
  Matrix<std::int64_t> ids(200, 10);
  Matrix<float> dist(200, 10);
  std::vector<LshQueryStats> stats;
  index.knn(queries, 10, {.probes = 6, .target_recall = 0.999}, ids.view(), dist.view(), &stats);
  for (const auto& s : stats) REQUIRE((s.probes <= 6 || s.extra_probes));
  REQUIRE_THROWS_WITH(index.knn(queries, 10, {.target_recall = 1.0}, ids.view(), dist.view()),
                      Contains("target_recall must be in (0, 1) (0: off), got 1"));
}

TEST_CASE("tune_lsh meets the target recall on held-out queries within the memory budget", "[lsh][tune]") {
  const auto data = clustered<float>(6000, 32, 41);
  const auto fresh = clustered<float>(300, 32, 42);  // not in the data
  Matrix<std::int64_t> truth(300, 10);
  Matrix<float> truth_d(300, 10);
  exact_knn<float>(data, fresh, 10, Metric::euclidean, truth.view(), truth_d.view());
  const std::int64_t data_bytes = 6000 * 32 * 4;
  for (const LshFamily family : lsh_families()) {
    CAPTURE(family.name());
    LshTuneOptions o{.family = family, .k = 10, .target_recall = 0.9, .memory_bytes = data_bytes + 6000 * 80, .seed = 1};
    LshTuneResult r;
    const LshIndex<float> index = build_tuned_lsh<float>(data, o, &r);
    CAPTURE(r.options.tables, r.options.hashes, r.probes, r.model_recall, r.recall, r.adaptive_recall, r.memory_bytes);
    REQUIRE(index.memory_bytes() <= o.memory_bytes);
    REQUIRE(r.memory_bytes == index.memory_bytes());
    REQUIRE(r.recall >= 0.9);
    REQUIRE(r.probes >= r.options.tables);
    Matrix<std::int64_t> ids(300, 10);
    Matrix<float> dist(300, 10);
    index.knn(fresh, 10, {.probes = r.probes}, ids.view(), dist.view());
    const double achieved = recall<float>(ids, truth);
    CAPTURE(achieved);
    REQUIRE(achieved >= 0.9);
    index.knn(fresh, 10, {.target_recall = 0.9}, ids.view(), dist.view());
    REQUIRE(recall<float>(ids, truth) >= 0.89);
    // A tighter budget: fewer tables, still within it.
    o.memory_bytes = data_bytes + 6000 * 30;
    LshTuneResult tight;
    const LshIndex<float> small = build_tuned_lsh<float>(data, o, &tight);
    CAPTURE(tight.options.tables);
    REQUIRE(small.memory_bytes() <= o.memory_bytes);
    REQUIRE(tight.options.tables < r.options.tables);
    // Same seed, same choice.
    const LshTuneResult again = tune_lsh<float>(data, o);
    REQUIRE(again.options.tables == tight.options.tables);
    REQUIRE(again.options.hashes == tight.options.hashes);
    REQUIRE(again.probes == tight.probes);
  }
  REQUIRE_THROWS_WITH(tune_lsh<float>(data, {.memory_bytes = data_bytes}),
                      Contains("the memory budget of 768000 bytes is below the"));
  REQUIRE_THROWS_WITH(tune_lsh<float>(data, {.target_recall = 1.5}), Contains("target_recall must be in (0, 1), got 1.5"));
  REQUIRE_THROWS_WITH(tune_lsh<float>(data.block(0, 0, 50, 32), {}), Contains("50 rows are too few"));
}

// docs/lsh.md's worked example, verbatim, with its claims checked.
TEST_CASE("docs/lsh.md worked example", "[lsh][docs]") {
  // 5 000 points around 40 centres in 32 dimensions; 200 queries from the same centres.
  Matrix<float> centres(40, 32), x(5000, 32), q(200, 32);
  fill_normal<float>(centres.view(), RandomStream(1));
  fill_normal<float>(x.view(), RandomStream(2));
  fill_normal<float>(q.view(), RandomStream(3));
  for (std::int64_t i = 0; i < 5000; ++i)
    for (std::int64_t j = 0; j < 32; ++j) x(i, j) = centres(i % 40, j) + 0.3f * x(i, j);
  for (std::int64_t i = 0; i < 200; ++i)
    for (std::int64_t j = 0; j < 32; ++j) q(i, j) = centres(i % 40, j) + 0.3f * q(i, j);

  // Ground truth: the exact 10 nearest neighbours (blocked GEMM).
  Matrix<std::int64_t> truth(200, 10);
  Matrix<float> truth_d(200, 10);
  exact_knn<float>(x, q, 10, Metric::euclidean, truth.view(), truth_d.view());

  // An index of 10 tables of 14 SimHash bits, queried with 80 probes.
  LshIndex<float> index(x, {.family = LshFamily::simhash, .tables = 10, .hashes = 14, .seed = 7});
  Matrix<std::int64_t> ids(200, 10);
  Matrix<float> dist(200, 10);
  std::vector<LshQueryStats> stats;
  index.knn(q, 10, {.probes = 80}, ids.view(), dist.view(), &stats);
  // recall@10 ≈ 0.9+, a few hundred candidates re-ranked per query instead of 5 000.

  // The adaptive mode: each query probes until the model's recall estimate reaches 0.95.
  index.knn(q, 10, {.target_recall = 0.95}, ids.view(), dist.view(), &stats);
  // stats[i].probes differs per query; stats[i].estimated_recall ≥ 0.95 where it stopped.

  // Or let the tuner choose K, L and the probes for recall 0.9 within 1 MB (data included).
  LshTuneResult tuned;
  LshIndex<float> best = build_tuned_lsh<float>(x, {.k = 10, .target_recall = 0.9, .memory_bytes = 1 << 20}, &tuned);
  best.knn(q, 10, {.probes = tuned.probes}, ids.view(), dist.view());
  const std::int64_t bytes = best.memory_bytes();  // ≤ 1 048 576
  // tuned.recall ≥ 0.9 on the tuner's held-out rows.

  // Insert, remove, save and load.
  const std::int64_t first = best.insert(q.block(0, 0, 5, 32));  // ids 5000 … 5004
  best.remove(std::vector<std::int64_t>{0, 1, 2});
  TempDir dir("lsh_docs");
  best.save(dir.file("worked.lsh"));
  LshIndex<float> loaded = LshIndex<float>::load(dir.file("worked.lsh"));

  // The claims above.
  index.knn(q, 10, {.probes = 80}, ids.view(), dist.view(), &stats);
  CHECK(recall<float>(ids, truth) >= 0.9);
  double mean_candidates = 0;
  for (const auto& s : stats) mean_candidates += static_cast<double>(s.unique_candidates) / 200;
  CHECK(mean_candidates < 1000);
  index.knn(q, 10, {.target_recall = 0.95}, ids.view(), dist.view(), &stats);
  CHECK(recall<float>(ids, truth) >= 0.93);
  std::int64_t lo = 1 << 30, hi = 0;
  for (const auto& s : stats) lo = std::min(lo, s.probes), hi = std::max(hi, s.probes);
  CHECK(lo < hi);
  CHECK(bytes <= 1 << 20);
  CHECK(tuned.recall >= 0.9);
  CHECK(first == 5000);
  CHECK(loaded.size() == 5002);
  CHECK(!loaded.contains(1));
}
