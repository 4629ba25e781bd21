#ifndef LOWDIM_MPI_HPP
#define LOWDIM_MPI_HPP

/// \file
/// liblowdim_mpi: the optional MPI layer (namespace lowdim::mpi). liblowdim itself never
/// depends on MPI; this header and its library are built with -DLOWDIM_WITH_MPI=ON.
///
/// Data are row-distributed: rank r holds a contiguous block of rows, ranks in row order
/// (rank 0 the first rows), any split allowed (uneven, zero rows on some ranks).
/// Reductions run over fixed-size blocks of global rows in a fixed order or tree that does
/// not depend on how the rows are split among ranks, so every result here is bit-identical
/// for any number of ranks (docs/mpi.md gives the trees and the bounds).

#include <lowdim/export.hpp>
#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>
#include <lowdim/lsh.hpp>
#include <lowdim/matrix.hpp>
#include <lowdim/rsvd.hpp>
#include <lowdim/whitening.hpp>

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lowdim::mpi {

/// Initialises MPI (MPI_Init_thread, funneled) for its lifetime and finalises it after; when
/// MPI is already initialised it does neither.
class LOWDIM_API Environment {
 public:
  /// Calls MPI_Init_thread(argc, argv) unless MPI is already initialised.
  Environment(int* argc, char*** argv);
  ~Environment();  ///< MPI_Finalize, if this object initialised MPI
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  bool owner_ = false;
};

/// Bytes and messages a rank sent through the Communicator, per operation name (a counting
/// wrapper: every collective here goes through it).
struct Traffic {
  std::int64_t bytes_sent = 0;  ///< Payload bytes this rank sent (point-to-point and its share of collectives).
  std::int64_t messages = 0;    ///< Messages (or collective calls) this rank took part in.
};

/// A communicator (not owned: MPI_COMM_WORLD by default) with the few collectives lowdim
/// needs, each counted in traffic().
class LOWDIM_API Communicator {
 public:
  /// Wraps comm (MPI_COMM_WORLD by default); the caller keeps it alive.
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD);
  int rank() const noexcept { return rank_; }  ///< This process's rank.
  int size() const noexcept { return size_; }  ///< The number of ranks.
  MPI_Comm comm() const noexcept { return comm_; }  ///< The wrapped communicator.
  /// The traffic counted so far on this rank.
  const Traffic& traffic() const noexcept { return traffic_; }
  /// Counts bytes this rank sent in one call made on comm() directly (not through this class).
  void record(std::int64_t bytes) const noexcept {
    traffic_.bytes_sent += bytes;
    ++traffic_.messages;
  }
  /// Every rank's value, in rank order.
  std::vector<std::int64_t> all_gather(std::int64_t value) const;
  /// The maximum over the ranks.
  std::int64_t all_max(std::int64_t value) const;
  /// Broadcasts bytes from root (every rank passes a buffer of the same size).
  void broadcast(std::span<unsigned char> bytes, int root) const;
  /// Broadcasts doubles from root.
  void broadcast(std::span<double> values, int root) const;
  /// Broadcasts floats from root.
  void broadcast(std::span<float> values, int root) const;
  /// A string from root (its length first).
  std::string broadcast(const std::string& text, int root) const;
  /// Blocks until every rank has arrived.
  void barrier() const;
  /// Sends values to rank dest (tag), blocking.
  void send(std::span<const double> values, int dest, int tag) const;
  /// Receives exactly values.size() doubles from rank source (tag), blocking.
  void receive(std::span<double> values, int source, int tag) const;
  /// As send(), for floats.
  void send(std::span<const float> values, int dest, int tag) const;
  /// As receive(), for floats.
  void receive(std::span<float> values, int source, int tag) const;

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  mutable Traffic traffic_;
};

/// Thrown on every rank when some rank failed inside collective(): what() is
/// "rank R: <that rank's message>" for the lowest failing rank R.
class LOWDIM_API remote_error : public error {
 public:
  /// kind: the failing rank's exception class (0 internal, 1 invalid argument, 2 I/O,
  /// 3 numerical, 4 out of memory), so front ends map it to their exit status.
  remote_error(const std::string& message, int failed_rank, int kind);
  ~remote_error() override;
  int failed_rank() const noexcept { return failed_rank_; }  ///< The lowest rank that failed.
  int kind() const noexcept { return kind_; }  ///< The failing rank's exception class (see the constructor).

 private:
  int failed_rank_, kind_;
};

/// Runs work on every rank, then agrees on the outcome (one allreduce): if any rank threw, every
/// rank throws remote_error with the lowest failing rank's message, so no rank is left waiting in
/// a later collective. Wrap each step whose failure can differ between ranks (reading a slice,
/// local work on the rows).
LOWDIM_API void collective(const Communicator& comm, const std::function<void()>& work);

/// How the rows of a distributed matrix are split: counts[r] rows on rank r, starting at
/// global row offsets[r].
struct LOWDIM_API RowPartition {
  std::int64_t total_rows = 0;        ///< Rows over all ranks.
  std::vector<std::int64_t> counts;   ///< Rows held by each rank.
  std::vector<std::int64_t> offsets;  ///< First global row of each rank.
  /// ⌊n/P⌋ or ⌈n/P⌉ rows per rank, the larger counts first.
  static RowPartition even(std::int64_t total_rows, int ranks);
  /// Whole blocks of block_rows rows per rank (⌊b/P⌋ or ⌈b/P⌉ of the b blocks, the larger counts
  /// first; the last block may be short): the split the reductions below accept.
  static RowPartition blocked(std::int64_t total_rows, int ranks, std::int64_t block_rows);
  /// The partition whose rank r holds counts[r] rows.
  static RowPartition of_counts(std::vector<std::int64_t> counts);
  /// Every rank's local row count, gathered (one allgather).
  static RowPartition gather(const Communicator& comm, std::int64_t local_rows);
};

/// invalid_argument naming the rank (and context) unless every rank with rows starts on a
/// multiple of block_rows and ends on one or at the last row.
LOWDIM_API void check_blocked(const RowPartition& partition, std::int64_t block_rows, const char* context);

/// A rank's slice of a row-distributed matrix: its local rows and where they sit.
template <class T>
struct LocalRows {
  ConstMatrixView<T> rows;      ///< The local rows (n_r × d), possibly 0 × d.
  std::int64_t first_row = 0;   ///< Global index of rows(0, ·).
  std::int64_t total_rows = 0;  ///< Rows over all ranks.
};

/// This rank's contiguous slice of a .npy file, memory-mapped: zero-copy when the file is T,
/// C order and little-endian (what numpy and lowdim write); any other .npy or format is read
/// through RowReader into memory (rows before the slice are read and skipped).
template <class T>
class LOWDIM_API NpySlice {
 public:
  /// Maps rows [partition.offsets[rank], + counts[rank]) of path; io_error naming the file
  /// when it cannot be read, invalid_argument when the partition's total differs from the
  /// file's rows.
  NpySlice(const std::string& path, const RowPartition& partition, int rank);
  ~NpySlice();
  NpySlice(NpySlice&&) noexcept;  ///< Takes other's map.
  /// The slice (rows, first row, total rows); it lives as long as this object.
  LocalRows<T> local() const noexcept { return local_; }
  /// True when the slice is read in place from the memory map (no copy).
  bool mapped() const noexcept { return !copy_.has_value(); }

 private:
  std::unique_ptr<MappedNpy> map_;
  std::optional<Matrix<T>> copy_;
  LocalRows<T> local_;
};

/// The shape of a data file (rows, cols) read on rank 0 and broadcast, or the io_error of rank
/// 0 thrown on every rank (remote_error).
LOWDIM_API ArrayInfo probe(const Communicator& comm, const std::string& path);

/// How write_rows assembles a distributed matrix.
enum class OutputLayout {
  single_file,  ///< one .npy of all rows, written with MPI-IO at each rank's offset
  per_rank,     ///< one .npy per rank: path with ".rankR" before ".npy" (out.npy → out.rank2.npy)
};

/// The file rank r writes under OutputLayout::per_rank.
LOWDIM_API std::string per_rank_path(const std::string& path, int rank);

/// Writes the row-distributed matrix (each rank its local rows, in rank order; every rank the
/// same column count) as .npy of T. Atomic: everything is written to temporaries, and only when
/// every rank succeeded are they renamed into place (single_file: rank 0 renames after a
/// barrier; per_rank: every rank renames its own, after an agreement that all have their
/// temporary); on any failure every rank throws remote_error and no output file appears.
template <class T>
LOWDIM_API void write_rows(const Communicator& comm, const std::string& path, ConstMatrixView<T> local,
                           OutputLayout layout = OutputLayout::single_file);

/// As write_rows (single_file), without the rename: rank 0 gets the complete, prepared temporary
/// (AtomicFile, for commit_together with files of its own: an SVD's U, S and Vt), the other ranks
/// nullptr. Destroyed uncommitted, it removes the temporary.
template <class T>
LOWDIM_API std::unique_ptr<AtomicFile> write_rows_prepared(const Communicator& comm, const std::string& path,
                                                           ConstMatrixView<T> local);

/// Rows per block of the reductions below unless told otherwise (moments: Moments::from_file's default).
inline constexpr std::int64_t default_block_rows = 16384;

/// Moments of the row-distributed matrix, bit-identical on every rank to
/// Moments::from_file(path, block_rows, precision) over the same rows in one process, for any
/// split on block boundaries (check_blocked; RowPartition::blocked makes one): every rank forms
/// the moments of its blocks about the global first row (in parallel), then the blocks are
/// merged in global order along the ranks, which is exactly what from_file's update() does
/// (Chan's update). Communication: d² + d + 4 doubles per rank, P − 1 messages in a chain, then
/// a broadcast. Memory: d² doubles per block held. NaN/Inf: remote_error naming the global
/// row and column.
template <class T>
LOWDIM_API Moments moments(const Communicator& comm, const LocalRows<T>& x, std::int64_t block_rows = default_block_rows,
                           ScatterPrecision precision = ScatterPrecision::double_precision);

/// Sum over the global row blocks b of leaf(b) (each a vector of `size` values), in a fixed
/// binary tree over the block indices (node [i·2^l, (i+1)·2^l) = left + right), so the result
/// has the same bits for any split of the blocks among ranks. owned_blocks: the half-open range
/// of blocks this rank evaluates (ranks' ranges tile [0, blocks) in rank order). Every rank gets
/// the sum. Communication: each rank sends O(log blocks) nodes to rank 0, then a broadcast.
template <class T>
LOWDIM_API std::vector<T> tree_sum(const Communicator& comm, std::int64_t blocks, std::int64_t first_block,
                                   std::int64_t end_block, std::int64_t size,
                                   const std::function<void(std::int64_t block, std::span<T> out)>& leaf);

/// Options of the distributed randomized SVD (HMT Alg. 4.4/5.1 with QR normalisation).
struct RsvdOptions {
  std::int64_t rank = 0;           ///< k, target rank: 1 ≤ k ≤ min(m, n) (required)
  std::int64_t oversampling = 10;  ///< p: the sketch has l = min(k + p, min(m, n)) columns
  /// q ≥ 0 power iterations; automatic: 7 if k < 0.1·min(m, n), else 4 (as lowdim::rsvd).
  int power_iterations = automatic;
  /// Orthonormalise between power iterations (CholeskyQR2 across ranks for AΩ, local for AᵀQ);
  /// false: plain powers, with only the last basis orthonormalised.
  bool orthonormalize_iterations = true;
  /// Test matrix Ω (n × l, raw entries): gaussian and rademacher are drawn as lowdim::rsvd draws
  /// them (the same Ω for the same seed); other kinds: SketchOperator(kind, n, l, seed).
  SketchKind sketch = SketchKind::gaussian;
  std::uint64_t seed = 0;                    ///< Seed of the test matrix.
  std::int64_t block_rows = 4096;            ///< Rows per block of the fixed reduction tree.
};

/// Randomized SVD of the row-distributed A (m × n): Y = AΩ locally (every rank regenerates Ω
/// from the seed), Q by CholeskyQR2 across ranks (Gram YᵀY by tree_sum, R⁻¹ applied locally),
/// power iterations Z = AᵀQ (tree_sum) orthonormalised locally, B = QᵀA by tree_sum, the SVD of
/// B on every rank. Returns this rank's rows of U (n_r × k), S and Vt (k × n, on every rank),
/// with lowdim's sign convention (the largest-magnitude entry of each column of U, over all
/// ranks, is positive). Bit-identical for any number of ranks and split. Against the
/// single-process lowdim::rsvd with Normalizer::qr and the same seed (the same Ω), it agrees to
/// rounding, not bit for bit: the Grams are summed in another order (docs/mpi.md).
/// passes counts products with A or Aᵀ.
template <class T>
LOWDIM_API SvdResult<T> rsvd(const Communicator& comm, const LocalRows<T>& a, const RsvdOptions& options);

/// ‖A − U·diag(S)·Vt‖_F for the row-distributed A and this rank's rows of U (as rsvd returns
/// them), by tree_sum over blocks of block_rows rows (the same bits on any split). Cost: one pass.
template <class T>
LOWDIM_API double projection_error(const Communicator& comm, const LocalRows<T>& a, const SvdResult<T>& r,
                                   std::int64_t block_rows = 4096);

/// Frobenius norm of the row-distributed A, reduced by tree_sum (the same bits on any split).
template <class T>
LOWDIM_API double norm_fro(const Communicator& comm, const LocalRows<T>& a, std::int64_t block_rows = 4096);

/// The JL distortion experiment (lowdim::measure_distortion) with its projections spread over
/// the ranks: every rank holds the whole data set x (the sampled pairs reach any row), the (kind,
/// k) projections are dealt round-robin in option order, and every rank gets the whole report,
/// bit-identical to the single-process measure_distortion (each projection's figures depend on
/// its pairs alone). options.progress is called on each rank for its own projections.
/// Communication: the results (a few dozen doubles per projection; ratios when kept).
template <class T>
LOWDIM_API DistortionReport measure_distortion(const Communicator& comm, ConstMatrixView<T> x,
                                               const DistortionOptions& options);

/// lowdim::smallest_dim for each kind, the kinds dealt round-robin over the ranks; every rank gets
/// every answer (nullopt where even max_k does not reach the fraction), bit-identical to the
/// single-process calls.
template <class T>
LOWDIM_API std::vector<std::optional<SmallestDim>> smallest_dims(const Communicator& comm, ConstMatrixView<T> x,
                                                                 std::span<const SketchKind> kinds, double eps,
                                                                 double fraction, const DistortionOptions& options,
                                                                 std::int64_t max_k = 0);

/// Exact k-NN over a row-sharded base: every rank ranks its shard (lowdim::exact_knn), the
/// ranks' top-k lists are gathered and merged by (distance, global id). queries (q × d) must be
/// the same on every rank; every rank gets ids (global row indices, q × k) and distances (q × k),
/// bit-identical to exact_knn over the whole base in one process (each distance is the same
/// reproducible product, and ties go to the smaller id either way). 1 ≤ k ≤ total rows.
/// Communication: q·k·(8 + sizeof(T)) bytes per rank (an allgather).
template <class T>
LOWDIM_API void exact_knn(const Communicator& comm, const LocalRows<T>& base, ConstMatrixView<T> queries,
                          std::int64_t k, Metric metric, MatrixView<std::int64_t> ids, MatrixView<T> distances);

/// Sharded LSH: every rank indexes its shard (an LshIndex with the same options, so the same
/// hash functions; with center = true each shard centres on its own mean); a query is answered
/// by every shard (its top-k among its candidates, exactly re-ranked) and the answers are merged
/// to the global top-k with global ids. Not bit-identical to one LshIndex over all rows (each
/// shard applies the candidate budget, the fallbacks and the sketch stage to its own points):
/// the merged candidates are those of every shard, so recall is at least what each shard's
/// probing finds (tests/mpi compare it with the single index). A rank with no rows holds no index.
template <class T>
class LOWDIM_API ShardedLsh {
 public:
  /// Builds this rank's index (collective: a failure on any rank is every rank's remote_error).
  ShardedLsh(const Communicator& comm, const LocalRows<T>& shard, const LshIndexOptions& options = {});
  ~ShardedLsh();
  ShardedLsh(ShardedLsh&&) noexcept;  ///< Takes other's index.
  /// Rows over all shards.
  std::int64_t size() const noexcept { return total_rows_; }
  /// The local index (nullptr on a rank without rows).
  const LshIndex<T>* local() const noexcept { return index_.get(); }
  /// The k nearest neighbours (global ids, q × k; distances q × k ascending, ties to the smaller
  /// id) of queries, which must be the same on every rank; collective, every rank gets them.
  /// 1 ≤ k ≤ size(). Communication: q·k·(8 + sizeof(T)) bytes per rank.
  /// stats (when given) gets one entry per query, combined over the ranks: candidates, unique
  /// candidates and probes summed, extra_probes and scanned if any shard needed them, the
  /// seconds the slowest shard's, estimated_recall the smallest over shards with rows.
  void knn(ConstMatrixView<T> queries, std::int64_t k, const LshQueryOptions& query, MatrixView<std::int64_t> ids,
           MatrixView<T> distances, std::vector<LshQueryStats>* stats = nullptr) const;
  /// Writes the sharded index to directory (created if needed; collective): rank r's index as
  /// "rank<r>.lsh" (LshIndex::save, atomic; none for a rank without rows) and, last, by rank 0,
  /// "layout.txt" with the rank count and the rows of every rank, so a directory without a
  /// complete save has no layout and cannot be loaded. A failure on any rank is every rank's
  /// remote_error.
  void save(const std::string& directory) const;
  /// Reads a sharded index written by save (collective): every rank reads the layout and its
  /// own shard. invalid_argument (as every rank's remote_error) when the layout was written by
  /// another number of ranks than comm.size(), naming both; io_error for a missing or corrupt
  /// layout or shard file, or a shard whose size differs from the layout.
  static ShardedLsh load(const Communicator& comm, const std::string& directory);

 private:
  ShardedLsh(const Communicator& comm, std::int64_t first_row, std::int64_t total_rows);
  const Communicator* comm_;
  std::unique_ptr<LshIndex<T>> index_;
  std::int64_t first_row_ = 0, total_rows_ = 0;
};

}  // namespace lowdim::mpi

#endif
