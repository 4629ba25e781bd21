#ifndef LOWDIM_IO_HPP
#define LOWDIM_IO_HPP

/// \file
/// The one place that parses and writes files.
///   .npy    float32/float64 (integer dtypes converted on request), C or Fortran
///           order, little- or big-endian; memory-mapped when the layout allows.
///   IDX     (MNIST / Fashion-MNIST), plain or .gz.
///   .fvecs / .ivecs (float32 / int32 vectors, each prefixed by its length).
///   archive a small versioned container of named scalars and arrays, for
///           fitted models (save/load), with a CRC-32 over the content.
/// Every reader validates a header against the file's size before allocating
/// anything it claims; every malformed file throws io_error naming the file and
/// the problem. Writers write a temporary file in the target directory and
/// rename it into place, so a failure never leaves a half-written file.
/// A file of rank > 2 is read as rows × (product of the other dimensions),
/// rank 1 as n × 1: row r of the matrix is sample r.

#include <lowdim/matrix.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace lowdim {

enum class DType { float32, float64, int8, uint8, int16, uint16, int32, uint32, int64, uint64 };
enum class FileFormat { npy, idx, fvecs, ivecs };

LOWDIM_API const char* to_string(DType dtype) noexcept;       // "float32", ...
LOWDIM_API const char* to_string(FileFormat format) noexcept;  // "npy", "idx", ...
LOWDIM_API std::size_t size_of(DType dtype) noexcept;          // bytes per element
LOWDIM_API bool is_integer(DType dtype) noexcept;

/// What a file holds, read from its header (and size) alone.
struct LOWDIM_API ArrayInfo {
  FileFormat format = FileFormat::npy;
  DType dtype = DType::float32;
  std::vector<std::int64_t> shape;  ///< as stored (IDX images: n, 28, 28)
  bool fortran_order = false;
  bool big_endian = false;
  bool gzip = false;
  std::int64_t data_offset = 0;  ///< byte offset of the first element (in the uncompressed stream)
  std::int64_t file_size = 0;    ///< bytes on disk
  std::int64_t rows() const noexcept;  ///< shape[0] (1 for a scalar)
  std::int64_t cols() const noexcept;  ///< product of shape[1:] (1 for rank ≤ 1)
};

struct ReadOptions {
  /// Convert integer dtypes (IDX is uint8) to the requested float type; when false
  /// they are an io_error naming the dtype.
  bool convert_integers = true;
};

/// Detects the format (by magic bytes, then extension) and reads the header, checking
/// every claimed size against the file. Throws io_error. Cost: the header, except a
/// gzip-compressed .fvecs/.ivecs, whose rows are counted by inflating it once.
LOWDIM_API ArrayInfo probe(const std::string& path);

/// Reads a whole file as a rows × cols matrix of T (float or double). One pass over
/// the file; for gzip, a second (counting) pass only when the ISIZE trailer disagrees
/// with the header. Throws io_error (docs/io.md lists the checks).
template <class T>
LOWDIM_API Matrix<T> read_matrix(const std::string& path, const ReadOptions& options = {});

/// Sequential reader of any supported file, a block of rows at a time, with
/// memory bounded by the block plus ~1.3 MiB (gzip inflated on the fly; a Fortran-order
/// file is read by columns through a 16 MiB row cache, whole if it is gzip-compressed).
/// After the last row it checks that a gzip stream ends there (and its CRC). After it
/// throws, the reader is unusable.
class LOWDIM_API RowReader {
 public:
  explicit RowReader(const std::string& path, const ReadOptions& options = {});
  ~RowReader();
  RowReader(RowReader&&) noexcept;
  RowReader& operator=(RowReader&&) noexcept;

  const ArrayInfo& info() const noexcept;
  std::int64_t rows() const noexcept;
  std::int64_t cols() const noexcept;
  std::int64_t position() const noexcept;  ///< rows read so far
  /// Reads the next min(out.rows(), rows() − position()) rows into the top of
  /// out (out.cols() must equal cols()); returns how many; 0 at the end.
  template <class T>
  std::int64_t read(MatrixView<T> out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A read-only memory map of an .npy file (not gzip). view<T>() is zero-copy when the
/// file is T, C order, little-endian and T-aligned (all files numpy or lowdim write);
/// otherwise use RowReader. The view lives as long as this object.
class LOWDIM_API MappedNpy {
 public:
  explicit MappedNpy(const std::string& path);
  ~MappedNpy();
  MappedNpy(MappedNpy&&) noexcept;
  MappedNpy& operator=(MappedNpy&&) noexcept;

  const ArrayInfo& info() const noexcept;
  template <class T>
  bool viewable() const noexcept;
  /// Throws io_error naming the dtype/order when !viewable<T>().
  template <class T>
  ConstMatrixView<T> view() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Writes a rows × cols .npy (C order, little-endian), atomically.
template <class T>
LOWDIM_API void write_npy(const std::string& path, ConstMatrixView<T> m);
/// Writes a 1-D .npy of values.size() entries, atomically.
template <class T>
LOWDIM_API void write_npy(const std::string& path, std::span<const T> values);
/// .fvecs (float32 rows) and .ivecs (int32 rows), atomically; rows ≥ 1 and
/// 1 ≤ cols < 2^31 (invalid_argument otherwise: an empty .fvecs cannot be read back).
LOWDIM_API void write_fvecs(const std::string& path, ConstMatrixView<float> m);
LOWDIM_API void write_ivecs(const std::string& path, ConstMatrixView<std::int32_t> m);
/// Reads an .ivecs file (k-NN ground truth) as rows × dim int32, exactly.
LOWDIM_API Matrix<std::int32_t> read_ivecs(const std::string& path);

/// A file written to a temporary name beside path (same directory, mode 0666 & ~umask)
/// and renamed onto path by commit(), so readers see either the old file or the
/// complete new one. Writes are buffered; any failure throws io_error naming the
/// file and strerror, and the destructor removes the temporary file unless committed.
class LOWDIM_API AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();  ///< removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, std::size_t bytes);
  /// Replaces bytes already written at offset (a header finalised at the end).
  void overwrite(std::uint64_t offset, const void* data, std::size_t bytes);
  std::uint64_t size() const noexcept { return written_; }  ///< bytes written so far
  /// Flush, fsync and close the temporary file, without renaming it (commit() does that);
  /// writes are refused afterwards. Throws io_error.
  void prepare();
  void commit();  ///< prepare() if not done, rename, fsync the directory; throws io_error
  const std::string& path() const noexcept { return path_; }  ///< the final path
  const std::string& temp_path() const noexcept { return temp_; }  ///< the unique temporary name

 private:
  void flush();
  std::string path_, temp_;
  int fd_ = -1;
  std::vector<unsigned char> buffer_;
  std::uint64_t written_ = 0;
  bool committed_ = false;
  bool prepared_ = false;
};

/// Commits several AtomicFiles as one set (a model's or an SVD's files): all are prepared
/// first (a failure renames nothing), then renamed in order, each file they replace kept as a
/// hard link until the end; if a rename fails, those already made are undone (the previous
/// files restored, new ones without a predecessor removed), so the targets hold the previous
/// set. Only temporaries are removed. Throws the failure's io_error.
LOWDIM_API void commit_together(std::span<AtomicFile* const> files);

/// Writes m as a rows × cols .npy into file (uncommitted, for commit_together).
template <class T>
LOWDIM_API void write_npy(AtomicFile& file, ConstMatrixView<T> m);
/// Writes a 1-D .npy of values into file (uncommitted, for commit_together).
template <class T>
LOWDIM_API void write_npy(AtomicFile& file, std::span<const T> values);

/// Streaming .npy writer: rows are appended in blocks (memory O(1)); the header
/// (rows × cols, dtype T) is finalised by commit(), which renames the temporary
/// file into place. Destroyed without commit(), it removes the temporary file.
template <class T>
class LOWDIM_API NpyWriter {
 public:
  NpyWriter(const std::string& path, std::int64_t cols);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  void append(ConstMatrixView<T> rows);
  std::int64_t rows() const noexcept { return rows_; }
  void commit();

 private:
  std::string path_;
  std::unique_ptr<AtomicFile> file_;  // null once committed
  std::int64_t cols_ = 0, rows_ = 0;
};

/// Model files: a tagged container. The writer collects named entries and
/// commit() writes them atomically; the reader validates magic, kind, format
/// version, every length against the file size, and the CRC-32, before use.
class LOWDIM_API ArchiveWriter {
 public:
  /// kind names the model ("lowdim.whitening"); version is the model's own format version.
  ArchiveWriter(std::string kind, std::uint32_t version);
  /// Adds an entry; a name may be put once (invalid_argument otherwise). Matrices are copied.
  void put(const std::string& name, double value);
  void put(const std::string& name, std::int64_t value);
  void put(const std::string& name, const std::string& value);
  template <class T>
  void put(const std::string& name, ConstMatrixView<T> matrix);
  /// Writes every entry atomically (AtomicFile), with a CRC-32 over the content.
  void save(const std::string& path) const;

 private:
  std::string kind_;
  std::uint32_t version_;
  std::vector<std::pair<std::string, std::vector<unsigned char>>> entries_;
};

class LOWDIM_API ArchiveReader {
 public:
  /// Throws io_error if the file is not an archive of this kind, or is corrupt.
  ArchiveReader(const std::string& path, const std::string& expected_kind);
  std::uint32_t version() const noexcept { return version_; }
  bool has(const std::string& name) const;
  /// Getters throw io_error naming the entry when it is missing or of another type.
  double get_double(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  std::string get_string(const std::string& name) const;
  /// A float or double matrix entry, converted to T.
  template <class T>
  Matrix<T> get_matrix(const std::string& name) const;

 private:
  const std::vector<unsigned char>& entry(const std::string& name, char type) const;
  std::string path_;
  std::uint32_t version_ = 0;
  std::vector<std::pair<std::string, std::vector<unsigned char>>> entries_;
};

}  // namespace lowdim

#endif
