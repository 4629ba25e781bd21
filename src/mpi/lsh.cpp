// liblowdim_mpi: exact and LSH k-NN over a row-sharded base, merged to global ids
// (include/lowdim/mpi.hpp; docs/mpi.md).

#include <lowdim/error.hpp>
#include <lowdim/mpi.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <numeric>
#include <type_traits>
#include <vector>

namespace lowdim::mpi {
namespace {

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

// Every rank's local top lists (q × kr, global ids) gathered and merged per query by (distance, id).
template <class T>
void merge_top_k(const Communicator& comm, std::int64_t q, std::int64_t k, std::int64_t kr,
                 const std::vector<std::int64_t>& local_ids, const std::vector<T>& local_dist,
                 MatrixView<std::int64_t> ids, MatrixView<T> distances) {
  const std::vector<std::int64_t> widths = comm.all_gather(kr);
  const int p = comm.size();
  std::vector<int> counts(static_cast<std::size_t>(p)), displs(static_cast<std::size_t>(p));
  std::int64_t total = 0;
  for (int r = 0; r < p; ++r) {
    const std::int64_t c = q * widths[static_cast<std::size_t>(r)];
    LOWDIM_CHECK(total + c < std::numeric_limits<int>::max(), "mpi: knn: {} x {} results are too many for one gather",
                 q, k);
    counts[static_cast<std::size_t>(r)] = static_cast<int>(c);
    displs[static_cast<std::size_t>(r)] = static_cast<int>(total);
    total += c;
  }
  std::vector<std::int64_t> all_ids(static_cast<std::size_t>(total));
  std::vector<T> all_dist(static_cast<std::size_t>(total));
  MPI_Allgatherv(local_ids.data(), static_cast<int>(local_ids.size()), MPI_INT64_T, all_ids.data(), counts.data(),
                 displs.data(), MPI_INT64_T, comm.comm());
  MPI_Allgatherv(local_dist.data(), static_cast<int>(local_dist.size()), mpi_type<T>(), all_dist.data(), counts.data(),
                 displs.data(), mpi_type<T>(), comm.comm());
  comm.record(static_cast<std::int64_t>(local_ids.size() * (sizeof(std::int64_t) + sizeof(T))) * (p - 1));
  std::vector<std::pair<T, std::int64_t>> row;
  for (std::int64_t i = 0; i < q; ++i) {
    row.clear();
    for (int r = 0; r < p; ++r) {
      const std::int64_t w = widths[static_cast<std::size_t>(r)];
      const std::size_t at = static_cast<std::size_t>(displs[static_cast<std::size_t>(r)] + i * w);
      for (std::int64_t j = 0; j < w; ++j) row.emplace_back(all_dist[at + static_cast<std::size_t>(j)], all_ids[at + static_cast<std::size_t>(j)]);
    }
    std::partial_sort(row.begin(), row.begin() + k, row.end());
    for (std::int64_t j = 0; j < k; ++j) {
      distances(i, j) = row[static_cast<std::size_t>(j)].first;
      ids(i, j) = row[static_cast<std::size_t>(j)].second;
    }
  }
}

template <class T>
void check_query_shapes(std::int64_t q, std::int64_t k, std::int64_t total, MatrixView<std::int64_t> ids,
                        MatrixView<T> distances, const char* who) {
  LOWDIM_CHECK(k >= 1 && k <= total, "{}: k = {} must be in [1, {}] (the rows over all ranks)", who, k, total);
  LOWDIM_CHECK_SHAPE(ids.rows() == q && ids.cols() == k && distances.rows() == q && distances.cols() == k,
                     "{}: ids {} x {} and distances {} x {} must be {} x {}", who, ids.rows(), ids.cols(),
                     distances.rows(), distances.cols(), q, k);
}

}  // namespace

template <class T>
void exact_knn(const Communicator& comm, const LocalRows<T>& base, ConstMatrixView<T> queries, std::int64_t k,
               Metric metric, MatrixView<std::int64_t> ids, MatrixView<T> distances) {
  const std::int64_t q = queries.rows(), kr = std::min(k, base.rows.rows());
  std::vector<std::int64_t> local_ids(static_cast<std::size_t>(q * std::max<std::int64_t>(kr, 0)));
  std::vector<T> local_dist(local_ids.size());
  collective(comm, [&] {
    check_query_shapes<T>(q, k, base.total_rows, ids, distances, "mpi::exact_knn");
    if (kr <= 0 || q == 0) return;
    lowdim::exact_knn<T>(base.rows, queries, kr, metric, MatrixView<std::int64_t>(local_ids.data(), q, kr, kr),
                         MatrixView<T>(local_dist.data(), q, kr, kr));
    for (auto& id : local_ids) id += base.first_row;
  });
  merge_top_k<T>(comm, q, k, std::max<std::int64_t>(kr, 0), local_ids, local_dist, ids, distances);
}

template LOWDIM_API void exact_knn<float>(const Communicator&, const LocalRows<float>&, ConstMatrixView<float>,
                                          std::int64_t, Metric, MatrixView<std::int64_t>, MatrixView<float>);
template LOWDIM_API void exact_knn<double>(const Communicator&, const LocalRows<double>&, ConstMatrixView<double>,
                                           std::int64_t, Metric, MatrixView<std::int64_t>, MatrixView<double>);

template <class T>
ShardedLsh<T>::ShardedLsh(const Communicator& comm, const LocalRows<T>& shard, const LshIndexOptions& options)
    : comm_(&comm), first_row_(shard.first_row), total_rows_(shard.total_rows) {
  collective(comm, [&] {
    if (shard.rows.rows() > 0) index_ = std::make_unique<LshIndex<T>>(shard.rows, options);
  });
}

template <class T>
ShardedLsh<T>::~ShardedLsh() = default;
template <class T>
ShardedLsh<T>::ShardedLsh(ShardedLsh&&) noexcept = default;

template <class T>
ShardedLsh<T>::ShardedLsh(const Communicator& comm, std::int64_t first_row, std::int64_t total_rows)
    : comm_(&comm), first_row_(first_row), total_rows_(total_rows) {}

template <class T>
void ShardedLsh<T>::knn(ConstMatrixView<T> queries, std::int64_t k, const LshQueryOptions& query,
                        MatrixView<std::int64_t> ids, MatrixView<T> distances,
                        std::vector<LshQueryStats>* stats) const {
  const std::int64_t q = queries.rows();
  const std::int64_t kr = index_ ? std::min(k, index_->size()) : 0;
  std::vector<std::int64_t> local_ids(static_cast<std::size_t>(q * std::max<std::int64_t>(kr, 0)));
  std::vector<T> local_dist(local_ids.size());
  std::vector<LshQueryStats> local_stats;
  collective(*comm_, [&] {
    check_query_shapes<T>(q, k, total_rows_, ids, distances, "mpi::ShardedLsh::knn");
    if (kr <= 0 || q == 0) return;
    index_->knn(queries, kr, query, MatrixView<std::int64_t>(local_ids.data(), q, kr, kr),
                MatrixView<T>(local_dist.data(), q, kr, kr), stats ? &local_stats : nullptr);
    for (auto& id : local_ids) id += first_row_;
  });
  merge_top_k<T>(*comm_, q, k, std::max<std::int64_t>(kr, 0), local_ids, local_dist, ids, distances);
  if (!stats) return;
  // Per query: sums (candidates, unique, probes), ors (extra_probes, scanned), maxima (seconds)
  // and the minimum estimated recall over the shards that answered.
  local_stats.resize(static_cast<std::size_t>(q));
  const bool answered = kr > 0;
  std::vector<std::int64_t> sums(static_cast<std::size_t>(5 * q));
  std::vector<double> maxima(static_cast<std::size_t>(4 * q));
  for (std::int64_t i = 0; i < q; ++i) {
    const auto& s = local_stats[static_cast<std::size_t>(i)];
    const auto at = static_cast<std::size_t>(i);
    sums[5 * at] = s.candidates;
    sums[5 * at + 1] = s.unique_candidates;
    sums[5 * at + 2] = s.probes;
    sums[5 * at + 3] = s.extra_probes ? 1 : 0;
    sums[5 * at + 4] = s.scanned ? 1 : 0;
    maxima[4 * at] = s.hash_seconds;
    maxima[4 * at + 1] = s.lookup_seconds;
    maxima[4 * at + 2] = s.rerank_seconds;
    maxima[4 * at + 3] = answered ? -s.estimated_recall : -std::numeric_limits<double>::infinity();
  }
  MPI_Allreduce(MPI_IN_PLACE, sums.data(), static_cast<int>(sums.size()), MPI_INT64_T, MPI_SUM, comm_->comm());
  MPI_Allreduce(MPI_IN_PLACE, maxima.data(), static_cast<int>(maxima.size()), MPI_DOUBLE, MPI_MAX, comm_->comm());
  comm_->record(static_cast<std::int64_t>(sums.size() * 8 + maxima.size() * 8));
  stats->assign(static_cast<std::size_t>(q), LshQueryStats{});
  for (std::int64_t i = 0; i < q; ++i) {
    auto& s = (*stats)[static_cast<std::size_t>(i)];
    const auto at = static_cast<std::size_t>(i);
    s.candidates = sums[5 * at];
    s.unique_candidates = sums[5 * at + 1];
    s.probes = sums[5 * at + 2];
    s.extra_probes = sums[5 * at + 3] > 0;
    s.scanned = sums[5 * at + 4] > 0;
    s.hash_seconds = maxima[4 * at];
    s.lookup_seconds = maxima[4 * at + 1];
    s.rerank_seconds = maxima[4 * at + 2];
    s.estimated_recall = std::isfinite(maxima[4 * at + 3]) ? -maxima[4 * at + 3] : 0;
  }
}

namespace {

constexpr const char* kLayoutMagic = "lowdim.sharded_lsh 1";

std::string shard_path(const std::string& directory, int rank) {
  return (std::filesystem::path(directory) / fmt::format("rank{}.lsh", rank)).string();
}

std::string layout_path(const std::string& directory) {
  return (std::filesystem::path(directory) / "layout.txt").string();
}

// The rows of every rank, as recorded in directory/layout.txt.
std::vector<std::int64_t> read_layout(const std::string& directory) {
  const std::string path = layout_path(directory);
  std::ifstream in(path);
  if (!in)
    LOWDIM_THROW(io_error, "{}: cannot read the sharded LSH layout (is {} a directory written by `mpirun lowdim lsh "
                 "build`?)", path, directory);
  std::string magic, key;
  std::getline(in, magic);
  if (magic != kLayoutMagic) LOWDIM_THROW(io_error, "{}: not a sharded LSH layout (first line '{}')", path, magic);
  std::int64_t ranks = -1, total = -1;
  in >> key >> ranks;
  if (!in || key != "ranks" || ranks < 1) LOWDIM_THROW(io_error, "{}: corrupt layout (no rank count)", path);
  in >> key >> total;
  if (!in || key != "rows" || total < 1) LOWDIM_THROW(io_error, "{}: corrupt layout (no row count)", path);
  in >> key;
  if (!in || key != "rows_per_rank") LOWDIM_THROW(io_error, "{}: corrupt layout (no rows per rank)", path);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(ranks));
  std::int64_t sum = 0;
  for (auto& c : counts) {
    in >> c;
    if (!in || c < 0) LOWDIM_THROW(io_error, "{}: corrupt layout (rows per rank)", path);
    sum += c;
  }
  if (sum != total) LOWDIM_THROW(io_error, "{}: corrupt layout: rows per rank sum to {}, not {}", path, sum, total);
  return counts;
}

}  // namespace

template <class T>
void ShardedLsh<T>::save(const std::string& directory) const {
  const auto& comm = *comm_;
  const std::vector<std::int64_t> firsts = comm.all_gather(first_row_);
  collective(comm, [&] {
    if (comm.rank() != 0) return;
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    if (ec || !std::filesystem::is_directory(directory))
      LOWDIM_THROW(io_error, "{}: cannot create the index directory: {}", directory,
                   ec ? ec.message() : std::string("not a directory"));
    std::filesystem::remove(layout_path(directory), ec);  // an old layout never describes new shards
    if (ec) LOWDIM_THROW(io_error, "{}: cannot remove the old layout: {}", layout_path(directory), ec.message());
  });
  collective(comm, [&] {
    const std::string path = shard_path(directory, comm.rank());
    if (index_) {
      index_->save(path);
    } else {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  });
  collective(comm, [&] {
    if (comm.rank() != 0) return;
    std::string text = fmt::format("{}\nranks {}\nrows {}\nrows_per_rank", kLayoutMagic, comm.size(), total_rows_);
    for (int r = 0; r < comm.size(); ++r) {
      const std::int64_t end = r + 1 < comm.size() ? firsts[static_cast<std::size_t>(r) + 1] : total_rows_;
      text += fmt::format(" {}", end - firsts[static_cast<std::size_t>(r)]);
    }
    text += "\n";
    AtomicFile file(layout_path(directory));
    file.write(text.data(), text.size());
    file.commit();
  });
}

template <class T>
ShardedLsh<T> ShardedLsh<T>::load(const Communicator& comm, const std::string& directory) {
  std::vector<std::int64_t> counts;
  collective(comm, [&] {
    counts = read_layout(directory);
    LOWDIM_CHECK(static_cast<int>(counts.size()) == comm.size(),
                 "{}: the sharded LSH index was built on {} rank{}; this run has {}: run it with mpirun -np {}",
                 directory, counts.size(), counts.size() == 1 ? "" : "s", comm.size(), counts.size());
  });
  const std::int64_t first = std::accumulate(counts.begin(), counts.begin() + comm.rank(), std::int64_t{0});
  const std::int64_t total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  ShardedLsh<T> sharded(comm, first, total);
  collective(comm, [&] {
    const std::int64_t mine = counts[static_cast<std::size_t>(comm.rank())];
    if (mine == 0) return;
    const std::string path = shard_path(directory, comm.rank());
    sharded.index_ = std::make_unique<LshIndex<T>>(LshIndex<T>::load(path));
    if (sharded.index_->size() != mine)
      LOWDIM_THROW(io_error, "{}: holds {} points, the layout says {} for rank {}", path, sharded.index_->size(), mine,
                   comm.rank());
  });
  return sharded;
}

template class LOWDIM_API ShardedLsh<float>;
template class LOWDIM_API ShardedLsh<double>;

}  // namespace lowdim::mpi
