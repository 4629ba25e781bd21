// liblowdim_mpi under `mpirun -np P` (tests/mpi.cmake runs P = 1..4). Every rank builds the same
// data from a seed; each test splits it over the ranks in several ways (even, uneven, a rank with
// no rows) and checks the distributed result bit for bit against the single-process library, or
// (where the single-process algorithm differs, rsvd) against the same computation on one rank
// (MPI_COMM_SELF), which is the 1-rank run. Checks use CHECK, never REQUIRE: a rank that stopped
// early would leave the others waiting in a collective.

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <lowdim/io.hpp>
#include <lowdim/lsh.hpp>
#include <lowdim/mpi.hpp>
#include <lowdim/rsvd.hpp>
#include <lowdim/whitening.hpp>

#include "../test_support.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace lowdim;

namespace {

mpi::Communicator& world() {
  static mpi::Communicator comm;
  return comm;
}

template <class T>
bool same_bits(ConstMatrixView<T> a, ConstMatrixView<T> b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (std::int64_t i = 0; i < a.rows(); ++i)
    if (std::memcmp(a.row(i), b.row(i), static_cast<std::size_t>(a.cols()) * sizeof(T)) != 0) return false;
  return true;
}

template <class T>
bool same_bits(std::span<const T> a, std::span<const T> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

// Several splits of n rows over the world, all on block boundaries: blocked, all rows on the last
// rank, and (P ≥ 2) an uneven one with rank 1 empty.
std::vector<mpi::RowPartition> splits(std::int64_t n, std::int64_t block) {
  const int p = world().size();
  std::vector<mpi::RowPartition> out{mpi::RowPartition::blocked(n, p, block)};
  std::vector<std::int64_t> last(static_cast<std::size_t>(p), 0);
  last.back() = n;
  out.push_back(mpi::RowPartition::of_counts(last));
  if (p >= 2) {
    const std::int64_t blocks = (n + block - 1) / block;
    std::vector<std::int64_t> counts(static_cast<std::size_t>(p), 0);
    // rank 0: one block, rank 1: none, the rest: the remaining blocks, the last rank the most.
    std::int64_t given = std::min<std::int64_t>(1, blocks);
    counts[0] = std::min(n, given * block);
    for (int r = 2; r < p; ++r) {
      const std::int64_t take = std::min<std::int64_t>(1, blocks - given);
      counts[static_cast<std::size_t>(r)] = std::min(n, (given + take) * block) - std::min(n, given * block);
      given += take;
    }
    counts.back() += n - std::min(n, given * block);
    out.push_back(mpi::RowPartition::of_counts(counts));
  }
  return out;
}

template <class T>
mpi::LocalRows<T> local_of(ConstMatrixView<T> x, const mpi::RowPartition& p, int rank) {
  const auto r = static_cast<std::size_t>(rank);
  return {x.row_block(p.offsets[r], p.counts[r]), p.offsets[r], p.total_rows};
}

std::string scratch_dir() {
  // One directory for all ranks: rank 0 names it.
  std::string dir;
  if (world().rank() == 0) {
    dir = (std::filesystem::temp_directory_path() / ("lowdim_mpi_test_" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
  }
  return world().broadcast(dir, 0);
}

}  // namespace

TEST_CASE("row partitions: even, blocked, gathered", "[mpi]") {
  const auto e = mpi::RowPartition::even(10, 4);
  CHECK(e.counts == std::vector<std::int64_t>{3, 3, 2, 2});
  CHECK(e.offsets == std::vector<std::int64_t>{0, 3, 6, 8});
  const auto b = mpi::RowPartition::blocked(10, 3, 4);  // blocks 4, 4, 2
  CHECK(b.counts == std::vector<std::int64_t>{4, 4, 2});
  const auto z = mpi::RowPartition::blocked(3, 4, 4);  // one block: ranks 1..3 hold nothing
  CHECK(z.counts == std::vector<std::int64_t>{3, 0, 0, 0});
  CHECK_THROWS_WITH(mpi::check_blocked(mpi::RowPartition::of_counts({3, 7}), 4, "ctx"),
                    Catch::Contains("rank 0 holds rows [0, 3)") && Catch::Contains("block of 4 rows"));
  const auto g = mpi::RowPartition::gather(world(), world().rank() + 1);
  CHECK(g.total_rows == world().size() * (world().size() + 1) / 2);
}

TEMPLATE_TEST_CASE("moments: bit-identical to Moments::from_file for any split", "[mpi]", float, double) {
  using T = TestType;
  const std::int64_t n = 1000, d = 13, block = 64;
  auto x = test::gaussian<T>(n, d, 5);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = static_cast<T>(x(i, j) + 1000.0 * (j + 1));  // far from 0
  const std::string dir = scratch_dir();
  const std::string path = dir + "/x.npy";
  if (world().rank() == 0) write_npy<T>(path, x.cview());
  world().barrier();
  for (auto precision : {ScatterPrecision::double_precision, ScatterPrecision::block_float}) {
    const Moments reference = Moments::from_file(path, block, precision);
    for (const auto& p : splits(n, block)) {
      const Moments m = mpi::moments<T>(world(), local_of<T>(x.cview(), p, world().rank()), block, precision);
      CHECK(m.count() == n);
      CHECK(same_bits<double>(m.mean(), reference.mean()));
      CHECK(same_bits<double>(m.scatter(), reference.scatter()));
      // The models fitted from them are then the single-process models.
      const auto w = Whitening::fit(m, {.kind = WhiteningKind::zca});
      const auto wr = Whitening::fit(reference, {.kind = WhiteningKind::zca});
      CHECK(same_bits<double>(w.matrix(), wr.matrix()));
      const auto pc = Pca::fit(m, {.components = 4});
      CHECK(same_bits<double>(pc.components(), Pca::fit(reference, {.components = 4}).components()));
    }
    // The file read by slices (memory-mapped) gives the same moments.
    const auto part = mpi::RowPartition::blocked(n, world().size(), block);
    const mpi::NpySlice<T> slice(path, part, world().rank());
    CHECK(slice.mapped());
    const Moments m = mpi::moments<T>(world(), slice.local(), block, precision);
    CHECK(same_bits<double>(m.scatter(), reference.scatter()));
  }
  world().barrier();
  if (world().rank() == 0) std::filesystem::remove_all(dir);
}

TEST_CASE("moments: a NaN on one rank is an error on every rank, naming the global row", "[mpi]") {
  const std::int64_t n = 256, d = 4, block = 32;
  auto x = test::gaussian<double>(n, d, 7);
  x(n - 3, 2) = std::numeric_limits<double>::quiet_NaN();  // on the last rank
  const auto p = mpi::RowPartition::blocked(n, world().size(), block);
  const int owner = world().size() - 1;
  CHECK_THROWS_WITH(mpi::moments<double>(world(), local_of<double>(x.cview(), p, world().rank()), block),
                    Catch::Contains("rank " + std::to_string(owner) + ":") && Catch::Contains("row 253, column 2"));
  // A split off the block boundaries is refused on every rank.
  if (world().size() >= 2) {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(world().size()), 0);
    counts[0] = 5;
    counts.back() = n - 5;
    const auto bad = mpi::RowPartition::of_counts(counts);
    auto y = test::gaussian<double>(n, d, 8);
    CHECK_THROWS_WITH(mpi::moments<double>(world(), local_of<double>(y.cview(), bad, world().rank()), block),
                      Catch::Contains("do not start and end on a block"));
  }
}

TEMPLATE_TEST_CASE("projection: each rank's rows are the single-process rows, bit for bit", "[mpi]", float, double) {
  using T = TestType;
  const std::int64_t n = 301, d = 40, k = 12;
  const auto x = test::gaussian<T>(n, d, 9);
  for (const char* kind : {"gaussian", "sparse", "srht", "countsketch"}) {
    const SketchOperator op(parse_sketch_kind(kind), d, k, 42);
    Matrix<T> all(n, k);
    op.apply<T>(x.cview(), all.view());
    const auto p = mpi::RowPartition::even(n, world().size());
    const auto local = local_of<T>(x.cview(), p, world().rank());
    Matrix<T> mine(local.rows.rows(), k);
    if (mine.rows() > 0) op.apply<T>(local.rows, mine.view());
    CHECK(same_bits<T>(mine.cview(), all.row_block(local.first_row, local.rows.rows())));
  }
}

TEMPLATE_TEST_CASE("write_rows: one .npy (MPI-IO) or one per rank, atomic", "[mpi]", float, double) {
  using T = TestType;
  const std::int64_t n = 77, d = 5;
  const auto x = test::gaussian<T>(n, d, 11);
  const std::string dir = scratch_dir();
  const auto p = splits(n, 8).back();  // uneven, maybe with an empty rank
  const auto local = local_of<T>(x.cview(), p, world().rank());
  mpi::write_rows<T>(world(), dir + "/y.npy", local.rows);
  const auto back = read_matrix<T>(dir + "/y.npy");
  CHECK(same_bits<T>(back.cview(), x.cview()));
  mpi::write_rows<T>(world(), dir + "/z.npy", local.rows, mpi::OutputLayout::per_rank);
  const auto mine = read_matrix<T>(mpi::per_rank_path(dir + "/z.npy", world().rank()));
  CHECK(same_bits<T>(mine.cview(), local.rows));
  // A directory that does not exist: every rank throws rank 0's message, nothing is left.
  CHECK_THROWS_WITH(mpi::write_rows<T>(world(), dir + "/missing/y.npy", local.rows),
                    Catch::Contains("rank 0:") && Catch::Contains("missing"));
  world().barrier();
  if (world().rank() == 0) {
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
    CHECK(files == 1 + static_cast<std::size_t>(world().size()));  // y.npy and z.rankR.npy
    std::filesystem::remove_all(dir);
  }
}

TEMPLATE_TEST_CASE("rsvd: bit-identical for any rank count and split, close to lowdim::rsvd", "[mpi]", float, double) {
  using T = TestType;
  const std::int64_t m = 700, n = 120, k = 10, block = 64;
  std::vector<double> s(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) s[static_cast<std::size_t>(i)] = std::exp(-static_cast<double>(i) / 8.0);
  const auto a = test::with_spectrum<T>(m, n, s, 3);
  const mpi::RsvdOptions o{.rank = k, .power_iterations = 3, .seed = 17, .block_rows = block};
  // The 1-rank run (MPI_COMM_SELF, every rank alone): the reference for every split.
  const mpi::Communicator self(MPI_COMM_SELF);
  const auto one = mpi::rsvd<T>(self, mpi::LocalRows<T>{a.cview(), 0, m}, o);
  for (const auto& p : splits(m, block)) {
    const auto local = local_of<T>(a.cview(), p, world().rank());
    const auto r = mpi::rsvd<T>(world(), local, o);
    CHECK(same_bits<T>(std::span<const T>(r.s), std::span<const T>(one.s)));
    CHECK(same_bits<T>(r.vt.cview(), one.vt.cview()));
    CHECK(same_bits<T>(r.u.cview(), one.u.row_block(local.first_row, local.rows.rows())));
    CHECK(r.passes == 2 * 3 + 2);
  }
  // Against the single-process library (Householder/LU there): equal to rounding.
  const auto ref = rsvd<T>(a.cview(), {.rank = k, .power_iterations = 3, .normalizer = Normalizer::qr, .seed = 17});
  double worst = 0;
  for (std::int64_t j = 0; j < k; ++j)
    worst = std::max(worst, std::abs(static_cast<double>(one.s[static_cast<std::size_t>(j)]) -
                                     ref.s[static_cast<std::size_t>(j)]) /
                                ref.s[static_cast<std::size_t>(j)]);
  CHECK(worst <= 1e3 * test::eps<T>);
  // And to the exact singular values as accurately as the library.
  for (std::int64_t j = 0; j < k; ++j)
    CHECK(std::abs(static_cast<double>(one.s[static_cast<std::size_t>(j)]) - s[static_cast<std::size_t>(j)]) <=
          1e-3 * s[static_cast<std::size_t>(j)]);
  CHECK(test::max_abs_diff<T>(one.vt.cview(), ref.vt.cview()) <= (std::is_same_v<T, float> ? 2e-2 : 1e-6));
  // Errors are raised on every rank.
  CHECK_THROWS_WITH(mpi::rsvd<T>(world(), local_of<T>(a.cview(), splits(m, block)[0], world().rank()),
                                 {.rank = n + 1, .block_rows = block}),
                    Catch::Contains("rank 0: mpi::rsvd: rank 121 exceeds min(rows, cols) = 120"));
}

TEST_CASE("tree_sum: the same bits for any ownership of the blocks", "[mpi]") {
  const std::int64_t blocks = 37;
  const auto leaf = [](std::int64_t b, std::span<double> out) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = 1.0 / static_cast<double>(3 * b + static_cast<std::int64_t>(i) + 1);
  };
  const mpi::Communicator self(MPI_COMM_SELF);
  const auto one = mpi::tree_sum<double>(self, blocks, 0, blocks, 5, leaf);
  const auto p = mpi::RowPartition::even(blocks, world().size());
  const auto r = static_cast<std::size_t>(world().rank());
  const auto all = mpi::tree_sum<double>(world(), blocks, p.offsets[r], p.offsets[r] + p.counts[r], 5, leaf);
  CHECK(same_bits<double>(std::span<const double>(all), std::span<const double>(one)));
  // The plain left-to-right sum differs in the last bits (so the test can tell the tree apart).
  double plain = 0;
  for (std::int64_t b = 0; b < blocks; ++b) plain += 1.0 / static_cast<double>(3 * b + 1);
  CHECK(std::abs(plain - one[0]) <= 1e-14);
}

TEMPLATE_TEST_CASE("JL distortion: projections over the ranks, the single-process report bit for bit", "[mpi]", float,
                   double) {
  using T = TestType;
  const auto x = test::gaussian<T>(300, 64, 21);
  DistortionOptions o;
  o.kinds = {SketchKind::gaussian, SketchKind::sparse, SketchKind::srht};
  o.dims = {8, 16, 128};  // srht rejects 128 > d: skipped, as in one process
  o.pairs = 500;
  o.seed = 4;
  o.keep_ratios = true;
  const auto one = measure_distortion<T>(x.cview(), o);
  const auto all = mpi::measure_distortion<T>(world(), x.cview(), o);
  CHECK(all.pairs == one.pairs);
  CHECK(all.min_dim_bound == one.min_dim_bound);
  REQUIRE(all.results.size() == one.results.size());  // the same on every rank: no collective skipped
  for (std::size_t i = 0; i < one.results.size(); ++i) {
    const auto &a = all.results[i], &b = one.results[i];
    CHECK(a.kind == b.kind);
    CHECK(a.k == b.k);
    const double fa[] = {a.mean, a.std, a.min, a.max, a.q01, a.q05, a.q50, a.q95, a.q99, a.within_eps,
                         a.inner_mean_abs_error, a.inner_max_abs_error, a.cosine_mean_abs_error, a.cosine_max_abs_error};
    const double fb[] = {b.mean, b.std, b.min, b.max, b.q01, b.q05, b.q50, b.q95, b.q99, b.within_eps,
                         b.inner_mean_abs_error, b.inner_max_abs_error, b.cosine_mean_abs_error, b.cosine_max_abs_error};
    CHECK(std::memcmp(fa, fb, sizeof fa) == 0);
    CHECK(same_bits<float>(std::span<const float>(a.ratios), std::span<const float>(b.ratios)));
  }
  const SketchKind kinds[] = {SketchKind::gaussian, SketchKind::countsketch};
  const auto found = mpi::smallest_dims<T>(world(), x.cview(), kinds, 0.3, 0.5, o);
  // Not reached even at k = d: nullopt on every rank (one process throws).
  CHECK_FALSE(mpi::smallest_dims<T>(world(), x.cview(), std::span<const SketchKind>(kinds + 1, 1), 0.3, 0.99, o)[0]);
  CHECK_THROWS_WITH(smallest_dim<T>(x.cview(), kinds[1], 0.3, 0.99, o), Catch::Contains("even k = 64"));
  for (std::size_t i = 0; i < 2; ++i) {
    const auto ref = smallest_dim<T>(x.cview(), kinds[i], 0.3, 0.5, o);
    CHECK(found[i].has_value());
    if (found[i]) CHECK(found[i]->k == ref.k);
    if (found[i]) CHECK(found[i]->within_eps == ref.within_eps);
  }
  // An argument error is every rank's.
  DistortionOptions bad = o;
  bad.eps = 2;
  CHECK_THROWS_WITH(mpi::measure_distortion<T>(world(), x.cview(), bad), Catch::Contains("rank 0:"));
}

TEMPLATE_TEST_CASE("exact k-NN over shards: the single-process neighbours bit for bit", "[mpi]", float, double) {
  using T = TestType;
  const std::int64_t n = 500, d = 16, q = 20, k = 7;
  const auto base = test::gaussian<T>(n, d, 41);
  const auto queries = test::gaussian<T>(q, d, 42);
  for (auto metric : {Metric::euclidean, Metric::cosine, Metric::inner_product}) {
    Matrix<std::int64_t> ids(q, k), ref_ids(q, k);
    Matrix<T> dist(q, k), ref_dist(q, k);
    exact_knn<T>(base.cview(), queries.cview(), k, metric, ref_ids.view(), ref_dist.view());
    for (const auto& p : splits(n, 32)) {
      mpi::exact_knn<T>(world(), local_of<T>(base.cview(), p, world().rank()), queries.cview(), k, metric, ids.view(),
                        dist.view());
      CHECK(same_bits<std::int64_t>(ids.cview(), ref_ids.cview()));
      CHECK(same_bits<T>(dist.cview(), ref_dist.cview()));
    }
  }
  CHECK_THROWS_WITH(mpi::exact_knn<T>(world(), local_of<T>(base.cview(), splits(n, 32)[0], world().rank()),
                                      queries.cview(), n + 1, Metric::euclidean, Matrix<std::int64_t>(q, n + 1).view(),
                                      Matrix<T>(q, n + 1).view()),
                    Catch::Contains("rank 0: mpi::exact_knn: k = 501 must be in [1, 500]"));
}

TEST_CASE("sharded LSH: global ids, near duplicates found on whichever rank holds them", "[mpi]") {
  const std::int64_t n = 2000, d = 32, q = 60, k = 5;
  const auto base = test::gaussian<float>(n, d, 51);
  // Each query is a base row (spread over every rank's shard) plus a little noise.
  auto queries = Matrix<float>::uninitialized(q, d);
  const auto noise = test::gaussian<float>(q, d, 52);
  for (std::int64_t i = 0; i < q; ++i)
    for (std::int64_t j = 0; j < d; ++j) queries(i, j) = base(i * 33, j) + 0.01f * noise(i, j);
  const auto p = mpi::RowPartition::even(n, world().size());
  const mpi::ShardedLsh<float> index(world(), local_of<float>(base.cview(), p, world().rank()),
                                     {.tables = 12, .hashes = 12, .seed = 3});
  CHECK(index.size() == n);
  Matrix<std::int64_t> ids(q, k);
  Matrix<float> dist(q, k);
  index.knn(queries.cview(), k, {}, ids.view(), dist.view());
  std::int64_t found = 0;
  for (std::int64_t i = 0; i < q; ++i) found += ids(i, 0) == i * 33;
  CHECK(found >= q - 2);
  // The distances are those of the global ids (re-ranked exactly), ascending.
  std::int64_t wrong = 0, unordered = 0;
  for (std::int64_t i = 0; i < q; ++i)
    for (std::int64_t j = 0; j < k; ++j) {
      double s2 = 0;
      for (std::int64_t c = 0; c < d; ++c) {
        const double diff = static_cast<double>(queries(i, c)) - base(ids(i, j), c);
        s2 += diff * diff;
      }
      wrong += std::abs(std::sqrt(s2) - dist(i, j)) > 1e-4 * std::sqrt(s2) + 1e-6;
      unordered += j > 0 && dist(i, j - 1) > dist(i, j);
    }
  CHECK(wrong == 0);
  CHECK(unordered == 0);
  Matrix<std::int64_t> exact_ids(q, k);
  Matrix<float> exact_dist(q, k);
  exact_knn<float>(base.cview(), queries.cview(), k, Metric::euclidean, exact_ids.view(), exact_dist.view());
  // The merged answer is at least as good as the single index's (recall of the true 5-NN).
  const LshIndex<float> single(base.cview(), {.tables = 12, .hashes = 12, .seed = 3});
  Matrix<std::int64_t> single_ids(q, k);
  Matrix<float> single_dist(q, k);
  single.knn(queries.cview(), k, {}, single_ids.view(), single_dist.view());
  const auto recall = [&](ConstMatrixView<std::int64_t> got) {
    std::int64_t hits = 0;
    for (std::int64_t i = 0; i < q; ++i)
      for (std::int64_t a = 0; a < k; ++a)
        for (std::int64_t b = 0; b < k; ++b) hits += got(i, a) == exact_ids(i, b);
    return static_cast<double>(hits) / static_cast<double>(q * k);
  };
  CHECK(recall(ids.cview()) >= recall(single_ids.cview()) - 0.02);

  // save/load: a directory with one shard per rank; the loaded index answers bit for bit the
  // same, with the stats combined over the ranks; a layout of another rank count is refused.
  const std::string dir = (std::filesystem::temp_directory_path() / "lowdim_mpi_sharded_lsh").string();
  index.save(dir);
  const auto loaded = mpi::ShardedLsh<float>::load(world(), dir);
  CHECK(loaded.size() == n);
  Matrix<std::int64_t> ids2(q, k);
  Matrix<float> dist2(q, k);
  std::vector<LshQueryStats> stats;
  loaded.knn(queries.cview(), k, {}, ids2.view(), dist2.view(), &stats);
  CHECK(std::memcmp(ids.data(), ids2.data(), sizeof(std::int64_t) * static_cast<std::size_t>(q * k)) == 0);
  CHECK(std::memcmp(dist.data(), dist2.data(), sizeof(float) * static_cast<std::size_t>(q * k)) == 0);
  REQUIRE(stats.size() == static_cast<std::size_t>(q));
  CHECK(stats[0].probes >= 12 * std::min<std::int64_t>(world().size(), n));
  world().barrier();
  if (world().rank() == 0) {
    std::string counts = std::to_string(n);
    for (int r = 0; r < world().size(); ++r) counts += " 0";
    std::ofstream(dir + "/layout.txt") << "lowdim.sharded_lsh 1\nranks " << world().size() + 1 << "\nrows " << n
                                       << "\nrows_per_rank " << counts << "\n";
  }
  world().barrier();
  CHECK_THROWS_WITH(mpi::ShardedLsh<float>::load(world(), dir),
                    Catch::Contains("built on " + std::to_string(world().size() + 1) + " ranks; this run has " +
                                    std::to_string(world().size())));
  world().barrier();
  if (world().rank() == 0) std::filesystem::remove_all(dir);
}

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  linalg::set_num_threads(1);
  const int failed = Catch::Session().run(argc, argv);
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any == 0 ? 0 : 1;
}
