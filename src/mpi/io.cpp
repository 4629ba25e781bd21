// liblowdim_mpi: each rank's slice of a file, and the row-distributed .npy writers
// (include/lowdim/mpi.hpp; docs/mpi.md).

#include <lowdim/error.hpp>
#include <lowdim/mpi.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <memory>

namespace lowdim::mpi {

template <class T>
NpySlice<T>::NpySlice(const std::string& path, const RowPartition& partition, int rank) {
  LOWDIM_CHECK(rank >= 0 && rank < static_cast<int>(partition.counts.size()),
               "mpi: rank {} is outside the partition of {} ranks", rank, partition.counts.size());
  const ArrayInfo info = lowdim::probe(path);
  LOWDIM_CHECK_SHAPE(info.rows() == partition.total_rows, "mpi: {} holds {} rows, the partition splits {}", path,
                     info.rows(), partition.total_rows);
  const auto r = static_cast<std::size_t>(rank);
  const std::int64_t first = partition.offsets[r], count = partition.counts[r];
  local_.first_row = first;
  local_.total_rows = partition.total_rows;
  if (info.format == FileFormat::npy && !info.gzip) {
    auto map = std::make_unique<MappedNpy>(path);
    if (map->template viewable<T>()) {
      local_.rows = map->template view<T>().row_block(first, count);
      map_ = std::move(map);
      return;
    }
  }
  // Not mappable as T: read the slice (rows before it are read and dropped).
  RowReader reader(path);
  copy_.emplace(Matrix<T>::uninitialized(count, reader.cols()));
  auto skip = Matrix<T>::uninitialized(std::max<std::int64_t>(1, std::min<std::int64_t>(first, 4096)), reader.cols());
  for (std::int64_t done = 0; done < first;) {
    const std::int64_t got = reader.read<T>(skip.view().row_block(0, std::min(skip.rows(), first - done)));
    LOWDIM_CHECK(got > 0, "mpi: {} ended at row {} before rank {}'s slice", path, done, rank);
    done += got;
  }
  for (std::int64_t done = 0; done < count;) {
    const std::int64_t got = reader.read<T>(copy_->view().row_block(done, count - done));
    LOWDIM_CHECK(got > 0, "mpi: {} ended at row {} inside rank {}'s slice", path, first + done, rank);
    done += got;
  }
  local_.rows = copy_->cview();
}

template <class T>
NpySlice<T>::~NpySlice() = default;
template <class T>
NpySlice<T>::NpySlice(NpySlice&& other) noexcept
    : map_(std::move(other.map_)), copy_(std::move(other.copy_)), local_(other.local_) {
  if (copy_) local_.rows = copy_->cview();
}

template class LOWDIM_API NpySlice<float>;
template class LOWDIM_API NpySlice<double>;

ArrayInfo probe(const Communicator& comm, const std::string& path) {
  // Rank 0 reads the header; the shape and dtype travel as a few integers.
  std::vector<double> fields(6, 0.0);
  collective(comm, [&] {
    if (comm.rank() != 0) return;
    const ArrayInfo info = lowdim::probe(path);
    fields = {static_cast<double>(info.format), static_cast<double>(info.dtype), static_cast<double>(info.rows()),
              static_cast<double>(info.cols()), info.gzip ? 1.0 : 0.0, info.fortran_order ? 1.0 : 0.0};
  });
  comm.broadcast(std::span<double>(fields), 0);
  ArrayInfo info;
  info.format = static_cast<FileFormat>(static_cast<int>(fields[0]));
  info.dtype = static_cast<DType>(static_cast<int>(fields[1]));
  info.shape = {static_cast<std::int64_t>(fields[2]), static_cast<std::int64_t>(fields[3])};
  info.gzip = fields[4] != 0;
  info.fortran_order = fields[5] != 0;
  return info;
}

std::string per_rank_path(const std::string& path, int rank) {
  const auto slash = path.find_last_of('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.size() > 4 && base.ends_with(".npy"))
    return path.substr(0, path.size() - 4) + fmt::format(".rank{}.npy", rank);
  return path + fmt::format(".rank{}", rank);
}

namespace {

void mpi_io_check(int code, const std::string& path, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  LOWDIM_THROW(io_error, "{}: cannot {} (MPI-IO): {}", path, what, std::string(text, static_cast<std::size_t>(length)));
}

template <class T>
std::unique_ptr<AtomicFile> write_single_file(const Communicator& comm, const std::string& path,
                                              ConstMatrixView<T> local, const RowPartition& partition,
                                              std::int64_t cols) {
  static_assert(std::endian::native == std::endian::little, "the MPI-IO writer writes host-order values as <f4/<f8");
  // Rank 0 makes the temporary beside path (AtomicFile) and writes the header; every rank then
  // writes its rows at its offset; rank 0 renames only when every rank has succeeded.
  std::unique_ptr<AtomicFile> file;
  std::string header;
  collective(comm, [&] {
    if (comm.rank() != 0) return;
    file = std::make_unique<AtomicFile>(path);
    header = npy_header<T>(partition.total_rows, cols);
    file->write(header.data(), header.size());
    file->prepare();
  });
  const std::string temp = comm.broadcast(file ? file->temp_path() : std::string(), 0);
  const auto header_bytes = static_cast<std::int64_t>(comm.broadcast(header, 0).size());
  // Each rank opens the file on its own (MPI_COMM_SELF): no collective whose failure on one
  // rank could leave the others waiting; the agreement after the writes covers every step.
  collective(comm, [&] {
    MPI_File handle = MPI_FILE_NULL;
    mpi_io_check(MPI_File_open(MPI_COMM_SELF, temp.c_str(), MPI_MODE_WRONLY, MPI_INFO_NULL, &handle), path,
                 "open the temporary file");
    struct Closer {
      MPI_File* h;
      ~Closer() {
        if (*h != MPI_FILE_NULL) MPI_File_close(h);
      }
    } closer{&handle};
    const auto r = static_cast<std::size_t>(comm.rank());
    const std::int64_t row_bytes = cols * static_cast<std::int64_t>(sizeof(T));
    const MPI_Datatype type = std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
    MPI_Offset at = header_bytes + partition.offsets[r] * row_bytes;
    // Rows in pieces below 2^31 bytes; a strided view is written row by row.
    const std::int64_t piece_rows =
        std::max<std::int64_t>(1, (std::int64_t{1} << 30) / std::max<std::int64_t>(row_bytes, 1));
    for (std::int64_t r0 = 0; r0 < local.rows(); r0 += piece_rows) {
      const std::int64_t nr = std::min(piece_rows, local.rows() - r0);
      if (local.stride() == cols || nr == 1) {
        mpi_io_check(MPI_File_write_at(handle, at, local.row(r0), static_cast<int>(nr * cols), type, MPI_STATUS_IGNORE),
                     path, "write");
        at += nr * row_bytes;
      } else {
        for (std::int64_t i = 0; i < nr; ++i, at += row_bytes)
          mpi_io_check(MPI_File_write_at(handle, at, local.row(r0 + i), static_cast<int>(cols), type,
                                         MPI_STATUS_IGNORE),
                       path, "write");
      }
    }
    mpi_io_check(MPI_File_sync(handle), path, "flush");
    const int closed = MPI_File_close(&handle);
    handle = MPI_FILE_NULL;
    mpi_io_check(closed, path, "close");
  });
  comm.barrier();
  return file;
}

template <class T>
void write_per_rank(const Communicator& comm, const std::string& path, ConstMatrixView<T> local) {
  AtomicFile file(per_rank_path(path, comm.rank()));
  collective(comm, [&] {
    write_npy<T>(file, local);
    file.prepare();
  });
  // Every temporary is complete: each rank renames its own.
  collective(comm, [&] { file.commit(); });
}

}  // namespace

namespace {

template <class T>
RowPartition checked_partition(const Communicator& comm, ConstMatrixView<T> local, std::int64_t& cols0) {
  const RowPartition partition = RowPartition::gather(comm, local.rows());
  const std::vector<std::int64_t> cols = comm.all_gather(local.cols());
  collective(comm, [&] {
    for (std::size_t r = 1; r < cols.size(); ++r)
      LOWDIM_CHECK_SHAPE(cols[r] == cols[0], "mpi: write_rows: rank {} has {} columns, rank 0 has {}", r, cols[r],
                         cols[0]);
  });
  cols0 = cols[0];
  return partition;
}

}  // namespace

template <class T>
void write_rows(const Communicator& comm, const std::string& path, ConstMatrixView<T> local, OutputLayout layout) {
  std::int64_t cols = 0;
  const RowPartition partition = checked_partition(comm, local, cols);
  if (layout == OutputLayout::per_rank) return write_per_rank<T>(comm, path, local);
  auto file = write_single_file<T>(comm, path, local, partition, cols);
  collective(comm, [&] {
    if (file) file->commit();
  });
}

template <class T>
std::unique_ptr<AtomicFile> write_rows_prepared(const Communicator& comm, const std::string& path,
                                                ConstMatrixView<T> local) {
  std::int64_t cols = 0;
  const RowPartition partition = checked_partition(comm, local, cols);
  return write_single_file<T>(comm, path, local, partition, cols);
}

template LOWDIM_API std::unique_ptr<AtomicFile> write_rows_prepared<float>(const Communicator&, const std::string&,
                                                                           ConstMatrixView<float>);
template LOWDIM_API std::unique_ptr<AtomicFile> write_rows_prepared<double>(const Communicator&, const std::string&,
                                                                            ConstMatrixView<double>);

template LOWDIM_API void write_rows<float>(const Communicator&, const std::string&, ConstMatrixView<float>,
                                           OutputLayout);
template LOWDIM_API void write_rows<double>(const Communicator&, const std::string&, ConstMatrixView<double>,
                                            OutputLayout);

}  // namespace lowdim::mpi
