#ifndef LOWDIM_TOOLS_DISTRIBUTED_HPP
#define LOWDIM_TOOLS_DISTRIBUTED_HPP

// What the distributed commands share: the world communicator, the report of how the rows were
// split (printed by rank 0, and in --json), and the element type a file is read as.

#include "command.hpp"
#include "output.hpp"

#include <lowdim/io.hpp>
#include <lowdim/mpi.hpp>

#include <fmt/core.h>

#include <string>

namespace lowdim::cli {

/// MPI_COMM_WORLD (after main has initialised MPI).
inline mpi::Communicator& world() {
  static mpi::Communicator comm;
  return comm;
}

/// "4 ranks, rows per rank: 250 250 250 250".
inline std::string split_text(const mpi::RowPartition& p) {
  std::string rows;
  for (std::size_t r = 0; r < p.counts.size(); ++r) rows += fmt::format("{}{}", r ? " " : "", p.counts[r]);
  return fmt::format("{} rank{}, rows per rank: {}", p.counts.size(), p.counts.size() == 1 ? "" : "s", rows);
}

/// "\"ranks\": 4, \"rows_per_rank\": [250, 250, 250, 250]" (for a JSON object).
inline std::string split_json(const mpi::RowPartition& p) {
  std::string rows;
  for (std::size_t r = 0; r < p.counts.size(); ++r) rows += fmt::format("{}{}", r ? ", " : "", p.counts[r]);
  return fmt::format("\"ranks\": {}, \"rows_per_rank\": [{}]", p.counts.size(), rows);
}

/// Runs fn on rank 0 only, agreed on by every rank (a failure is every rank's remote_error).
template <class F>
void on_root(F&& fn) {
  mpi::collective(world(), [&] {
    if (world().rank() == 0) fn();
  });
}

/// Throws invalid_argument naming the global row and column of a NaN or Inf in this rank's rows.
template <class T>
void check_local_finite(const mpi::LocalRows<T>& x, const std::string& path, const char* context) {
  if (auto bad = find_non_finite<T>(x.rows))
    LOWDIM_THROW(invalid_argument, "{}: {}: non-finite value {} at row {}, column {}", context, path, bad->value,
                 x.first_row + bad->row, bad->col);
}

}  // namespace lowdim::cli

#endif
