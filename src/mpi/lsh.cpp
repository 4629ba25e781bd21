// liblowdim_mpi: exact and LSH k-NN over a row-sharded base, merged to global ids
// (include/lowdim/mpi.hpp; docs/mpi.md).

#include <lowdim/error.hpp>
#include <lowdim/mpi.hpp>

#include <algorithm>
#include <limits>
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
void ShardedLsh<T>::knn(ConstMatrixView<T> queries, std::int64_t k, const LshQueryOptions& query,
                        MatrixView<std::int64_t> ids, MatrixView<T> distances) const {
  const std::int64_t q = queries.rows();
  const std::int64_t kr = index_ ? std::min(k, index_->size()) : 0;
  std::vector<std::int64_t> local_ids(static_cast<std::size_t>(q * std::max<std::int64_t>(kr, 0)));
  std::vector<T> local_dist(local_ids.size());
  collective(*comm_, [&] {
    check_query_shapes<T>(q, k, total_rows_, ids, distances, "mpi::ShardedLsh::knn");
    if (kr <= 0 || q == 0) return;
    index_->knn(queries, kr, query, MatrixView<std::int64_t>(local_ids.data(), q, kr, kr),
                MatrixView<T>(local_dist.data(), q, kr, kr));
    for (auto& id : local_ids) id += first_row_;
  });
  merge_top_k<T>(*comm_, q, k, std::max<std::int64_t>(kr, 0), local_ids, local_dist, ids, distances);
}

template class LOWDIM_API ShardedLsh<float>;
template class LOWDIM_API ShardedLsh<double>;

}  // namespace lowdim::mpi
