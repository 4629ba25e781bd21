// liblowdim_mpi: distributed moments, merged in global block order so that the result has the
// bits of Moments::from_file in one process (include/lowdim/mpi.hpp; docs/mpi.md).

#include <lowdim/error.hpp>
#include <lowdim/mpi.hpp>

#include <algorithm>
#include <vector>

namespace lowdim::mpi {

template <class T>
Moments moments(const Communicator& comm, const LocalRows<T>& x, std::int64_t block_rows, ScatterPrecision precision) {
  const RowPartition partition = RowPartition::gather(comm, x.rows.rows());
  const std::vector<std::int64_t> cols = comm.all_gather(x.rows.cols());
  collective(comm, [&] {
    for (std::size_t r = 0; r < cols.size(); ++r)
      LOWDIM_CHECK_SHAPE(cols[r] == cols[0], "mpi: moments: rank {} has {} columns, rank 0 has {}", r, cols[r], cols[0]);
    LOWDIM_CHECK(cols[0] >= 1, "mpi: moments: the rows have no columns");
    LOWDIM_CHECK(partition.total_rows >= 1, "mpi: moments: no rank holds any rows");
    LOWDIM_CHECK(x.first_row == partition.offsets[static_cast<std::size_t>(comm.rank())],
                 "mpi: moments: rank {} says its rows start at {}, but the ranks before it hold {} rows", comm.rank(),
                 x.first_row, partition.offsets[static_cast<std::size_t>(comm.rank())]);
    check_blocked(partition, block_rows, "mpi: moments");
  });
  const std::int64_t d = cols[0];
  // The shift of every block is the global first row, as from_file's first update() takes it.
  int first_owner = 0;
  while (partition.counts[static_cast<std::size_t>(first_owner)] == 0) ++first_owner;
  std::vector<double> shift(static_cast<std::size_t>(d));
  if (comm.rank() == first_owner)
    for (std::int64_t j = 0; j < d; ++j) shift[static_cast<std::size_t>(j)] = static_cast<double>(x.rows(0, j));
  comm.broadcast(std::span<double>(shift), first_owner);

  // In parallel: the moments of each local block about the shift (the n·d² work).
  std::vector<Moments> blocks;
  collective(comm, [&] {
    const std::int64_t n = x.rows.rows();
    for (std::int64_t r0 = 0; r0 < n; r0 += block_rows) {
      const std::int64_t nr = std::min(block_rows, n - r0);
      const auto block = x.rows.row_block(r0, nr);
      Moments m(d, shift, precision);
      try {
        m.update<T>(block);
      } catch (const invalid_argument&) {
        if (auto bad = find_non_finite<T>(block))
          LOWDIM_THROW(invalid_argument, "moments: non-finite value {} at row {}, column {}", bad->value,
                       x.first_row + r0 + bad->row, bad->col);
        throw;
      }
      blocks.push_back(std::move(m));
    }
  });

  // In order along the ranks: the running moments arrive from rank r − 1, take this rank's
  // blocks (Chan's merge about the common shift: update()'s arithmetic), and go to rank r + 1.
  const int rank = comm.rank(), size = comm.size();
  const std::size_t state_size = 4 + 2 * static_cast<std::size_t>(d) + static_cast<std::size_t>(d * d);
  std::vector<double> state(state_size);
  Moments running(d, shift, precision);
  if (rank > 0) {
    comm.receive(std::span<double>(state), rank - 1, 0x4D4F);
    running = Moments::from_state(state);
  }
  for (const Moments& b : blocks) running.merge(b);
  state = running.state();
  if (rank + 1 < size) comm.send(std::span<const double>(state), rank + 1, 0x4D4F);
  comm.broadcast(std::span<double>(state), size - 1);
  return Moments::from_state(state);
}

template LOWDIM_API Moments moments<float>(const Communicator&, const LocalRows<float>&, std::int64_t, ScatterPrecision);
template LOWDIM_API Moments moments<double>(const Communicator&, const LocalRows<double>&, std::int64_t,
                                            ScatterPrecision);

}  // namespace lowdim::mpi
