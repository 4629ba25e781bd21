// liblowdim_mpi: the environment, the counting communicator, error agreement and row partitions
// (include/lowdim/mpi.hpp; docs/mpi.md).

#include <lowdim/error.hpp>
#include <lowdim/mpi.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <limits>
#include <new>

namespace lowdim::mpi {

Environment::Environment(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  owner_ = true;
}

Environment::~Environment() {
  if (!owner_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

Communicator::Communicator(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

std::vector<std::int64_t> Communicator::all_gather(std::int64_t value) const {
  std::vector<std::int64_t> out(static_cast<std::size_t>(size_));
  MPI_Allgather(&value, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, comm_);
  traffic_.bytes_sent += static_cast<std::int64_t>(sizeof value) * (size_ - 1);
  ++traffic_.messages;
  return out;
}

std::int64_t Communicator::all_max(std::int64_t value) const {
  std::int64_t out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, comm_);
  traffic_.bytes_sent += static_cast<std::int64_t>(sizeof value);
  ++traffic_.messages;
  return out;
}

namespace {

// MPI counts are int: large buffers go in pieces of at most 2^30 elements.
constexpr std::size_t kPiece = std::size_t{1} << 30;

template <class E>
void broadcast_pieces(const Communicator& c, E* data, std::size_t n, MPI_Datatype type, int root) {
  for (std::size_t i = 0; i < n; i += kPiece)
    MPI_Bcast(data + i, static_cast<int>(std::min(kPiece, n - i)), type, root, c.comm());
}

}  // namespace

void Communicator::broadcast(std::span<unsigned char> bytes, int root) const {
  broadcast_pieces(*this, bytes.data(), bytes.size(), MPI_UNSIGNED_CHAR, root);
  if (rank_ == root) traffic_.bytes_sent += static_cast<std::int64_t>(bytes.size()) * (size_ - 1);
  ++traffic_.messages;
}

void Communicator::broadcast(std::span<double> values, int root) const {
  broadcast_pieces(*this, values.data(), values.size(), MPI_DOUBLE, root);
  if (rank_ == root) traffic_.bytes_sent += static_cast<std::int64_t>(values.size_bytes()) * (size_ - 1);
  ++traffic_.messages;
}

void Communicator::broadcast(std::span<float> values, int root) const {
  broadcast_pieces(*this, values.data(), values.size(), MPI_FLOAT, root);
  if (rank_ == root) traffic_.bytes_sent += static_cast<std::int64_t>(values.size_bytes()) * (size_ - 1);
  ++traffic_.messages;
}

std::string Communicator::broadcast(const std::string& text, int root) const {
  std::int64_t length = static_cast<std::int64_t>(text.size());
  MPI_Bcast(&length, 1, MPI_INT64_T, root, comm_);
  std::string out = rank_ == root ? text : std::string(static_cast<std::size_t>(length), '\0');
  broadcast(std::span<unsigned char>(reinterpret_cast<unsigned char*>(out.data()), out.size()), root);
  return out;
}

void Communicator::barrier() const {
  MPI_Barrier(comm_);
  ++traffic_.messages;
}

namespace {

template <class E>
void send_pieces(const E* data, std::size_t n, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  for (std::size_t i = 0; i < n; i += kPiece)
    MPI_Send(data + i, static_cast<int>(std::min(kPiece, n - i)), type, dest, tag, comm);
}

template <class E>
void receive_pieces(E* data, std::size_t n, MPI_Datatype type, int source, int tag, MPI_Comm comm) {
  for (std::size_t i = 0; i < n; i += kPiece)
    MPI_Recv(data + i, static_cast<int>(std::min(kPiece, n - i)), type, source, tag, comm, MPI_STATUS_IGNORE);
}

}  // namespace

void Communicator::send(std::span<const double> values, int dest, int tag) const {
  send_pieces(values.data(), values.size(), MPI_DOUBLE, dest, tag, comm_);
  traffic_.bytes_sent += static_cast<std::int64_t>(values.size_bytes());
  ++traffic_.messages;
}

void Communicator::receive(std::span<double> values, int source, int tag) const {
  receive_pieces(values.data(), values.size(), MPI_DOUBLE, source, tag, comm_);
}

void Communicator::send(std::span<const float> values, int dest, int tag) const {
  send_pieces(values.data(), values.size(), MPI_FLOAT, dest, tag, comm_);
  traffic_.bytes_sent += static_cast<std::int64_t>(values.size_bytes());
  ++traffic_.messages;
}

void Communicator::receive(std::span<float> values, int source, int tag) const {
  receive_pieces(values.data(), values.size(), MPI_FLOAT, source, tag, comm_);
}

// ---------------------------------------------------------------------------------------------

remote_error::remote_error(const std::string& message, int failed_rank, int kind)
    : error(message), failed_rank_(failed_rank), kind_(kind) {}
remote_error::~remote_error() = default;

void collective(const Communicator& comm, const std::function<void()>& work) {
  int kind = -1;
  std::string message;
  try {
    work();
  } catch (const remote_error& e) {
    // Already agreed on inside work: every rank holds the same failure.
    kind = 100 + e.kind();
    message = e.what();
  } catch (const io_error& e) {
    kind = 2, message = e.what();
  } catch (const numerical_error& e) {
    kind = 3, message = e.what();
  } catch (const error& e) {  // invalid_argument, dimension_mismatch
    kind = 1, message = e.what();
  } catch (const std::bad_alloc&) {
    kind = 4, message = "out of memory";
  } catch (const std::exception& e) {
    kind = 0, message = fmt::format("internal error: {}", e.what());
  }
  const int mine = kind >= 0 ? comm.rank() : comm.size();
  int lowest = comm.size();
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm.comm());
  comm.record(sizeof mine);
  if (lowest == comm.size()) return;
  int agreed = kind;
  MPI_Bcast(&agreed, 1, MPI_INT, lowest, comm.comm());
  const std::string text = comm.broadcast(message, lowest);
  if (agreed >= 100) {
    // The failure was already agreed on (and named its rank): keep its message.
    const auto at = text.find(':');
    int failed = lowest;
    if (text.rfind("rank ", 0) == 0 && at != std::string::npos) failed = std::stoi(text.substr(5, at - 5));
    throw remote_error(text, failed, agreed - 100);
  }
  throw remote_error(fmt::format("rank {}: {}", lowest, text), lowest, agreed);
}

// ---------------------------------------------------------------------------------------------

RowPartition RowPartition::even(std::int64_t total_rows, int ranks) {
  LOWDIM_CHECK(total_rows >= 0 && ranks >= 1, "mpi: cannot split {} rows over {} ranks", total_rows, ranks);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(ranks), total_rows / ranks);
  for (std::int64_t r = 0; r < total_rows % ranks; ++r) ++counts[static_cast<std::size_t>(r)];
  return of_counts(std::move(counts));
}

RowPartition RowPartition::blocked(std::int64_t total_rows, int ranks, std::int64_t block_rows) {
  LOWDIM_CHECK(block_rows >= 1, "mpi: block_rows must be positive, not {}", block_rows);
  LOWDIM_CHECK(total_rows >= 0 && ranks >= 1, "mpi: cannot split {} rows over {} ranks", total_rows, ranks);
  const std::int64_t blocks = (total_rows + block_rows - 1) / block_rows;
  const RowPartition by_block = even(blocks, ranks);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    const auto i = static_cast<std::size_t>(r);
    const std::int64_t first = by_block.offsets[i] * block_rows;
    const std::int64_t end = std::min(total_rows, (by_block.offsets[i] + by_block.counts[i]) * block_rows);
    counts[i] = std::max<std::int64_t>(0, end - first);
  }
  return of_counts(std::move(counts));
}

RowPartition RowPartition::of_counts(std::vector<std::int64_t> counts) {
  RowPartition p;
  p.counts = std::move(counts);
  p.offsets.resize(p.counts.size());
  for (std::size_t r = 0; r < p.counts.size(); ++r) {
    LOWDIM_CHECK(p.counts[r] >= 0, "mpi: rank {} holds a negative number of rows ({})", r, p.counts[r]);
    p.offsets[r] = p.total_rows;
    p.total_rows += p.counts[r];
  }
  return p;
}

RowPartition RowPartition::gather(const Communicator& comm, std::int64_t local_rows) {
  return of_counts(comm.all_gather(local_rows));
}

void check_blocked(const RowPartition& partition, std::int64_t block_rows, const char* context) {
  LOWDIM_CHECK(block_rows >= 1, "{}: block_rows must be positive, not {}", context, block_rows);
  for (std::size_t r = 0; r < partition.counts.size(); ++r) {
    if (partition.counts[r] == 0) continue;
    const std::int64_t first = partition.offsets[r], end = first + partition.counts[r];
    LOWDIM_CHECK(first % block_rows == 0 && (end % block_rows == 0 || end == partition.total_rows),
                 "{}: rank {} holds rows [{}, {}), which do not start and end on a block of {} rows; split the rows "
                 "with RowPartition::blocked(rows, ranks, {})",
                 context, r, first, end, block_rows, block_rows);
  }
}

}  // namespace lowdim::mpi
