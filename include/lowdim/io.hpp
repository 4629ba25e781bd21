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

/// Element types the readers recognise (.npy descr, IDX type code, .fvecs/.ivecs).
enum class DType { float32, float64, int8, uint8, int16, uint16, int32, uint32, int64, uint64 };
/// File formats the readers recognise, each optionally gzip-compressed.
enum class FileFormat { npy, idx, fvecs, ivecs };

/// The dtype's name: "float32", "float64", "int8", … (as numpy spells it).
LOWDIM_API const char* to_string(DType dtype) noexcept;
/// The format's name: "npy", "idx", "fvecs" or "ivecs".
LOWDIM_API const char* to_string(FileFormat format) noexcept;
/// Bytes per element of dtype.
LOWDIM_API std::size_t size_of(DType dtype) noexcept;
/// True for the integer dtypes (every one but float32 and float64).
LOWDIM_API bool is_integer(DType dtype) noexcept;

/// What a file holds, read from its header (and size) alone.
struct LOWDIM_API ArrayInfo {
  FileFormat format = FileFormat::npy;  ///< The format, detected by magic bytes, then extension.
  DType dtype = DType::float32;         ///< The stored element type.
  std::vector<std::int64_t> shape;  ///< as stored (IDX images: n, 28, 28)
  bool fortran_order = false;  ///< .npy stored column-major.
  bool big_endian = false;     ///< Elements stored big-endian (IDX always; .npy by descr).
  bool gzip = false;           ///< The file is gzip-compressed.
  std::int64_t data_offset = 0;  ///< byte offset of the first element (in the uncompressed stream)
  std::int64_t file_size = 0;    ///< bytes on disk
  std::int64_t rows() const noexcept;  ///< shape[0] (1 for a scalar)
  std::int64_t cols() const noexcept;  ///< product of shape[1:] (1 for rank ≤ 1)
};

/// How the readers convert what a file holds.
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
  /// Opens path and reads its header (probe); throws io_error.
  explicit RowReader(const std::string& path, const ReadOptions& options = {});
  ~RowReader();
  RowReader(RowReader&&) noexcept;             ///< Move.
  RowReader& operator=(RowReader&&) noexcept;  ///< Move.

  const ArrayInfo& info() const noexcept;  ///< The file's header.
  std::int64_t rows() const noexcept;      ///< Rows in the file.
  std::int64_t cols() const noexcept;      ///< Columns (product of shape[1:]).
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
  /// Maps path read-only; io_error when it is not an uncompressed .npy.
  explicit MappedNpy(const std::string& path);
  ~MappedNpy();
  MappedNpy(MappedNpy&&) noexcept;             ///< Move.
  MappedNpy& operator=(MappedNpy&&) noexcept;  ///< Move.

  const ArrayInfo& info() const noexcept;  ///< The file's header.
  /// True when view of T is possible: the file holds T, C order, little-endian, aligned.
  template <class T>
  bool viewable() const noexcept;
  /// The data in place; throws io_error naming the dtype/order when viewable is false.
  template <class T>
  ConstMatrixView<T> view() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A whole matrix file as a read-only view: a zero-copy memory map when the file is an
/// uncompressed .npy of T in C order, little-endian and T-aligned (every file numpy or lowdim
/// writes); otherwise a copy made by read_matrix (other formats, gzip, other dtypes, Fortran
/// order). Commands that read a matrix use it, so a large .npy costs no memory of its own.
/// The view lives as long as this object. Throws io_error as read_matrix does.
template <class T>
class LOWDIM_API MatrixFile {
 public:
  /// Maps or reads path (throws io_error as read_matrix does).
  explicit MatrixFile(const std::string& path, const ReadOptions& options = {});
  ~MatrixFile();
  MatrixFile(MatrixFile&&) noexcept;             ///< Move (the view stays valid).
  MatrixFile& operator=(MatrixFile&&) noexcept;  ///< Move (the view stays valid).

  /// The rows × cols data (a view of the map, or of the copy).
  ConstMatrixView<T> view() const noexcept { return view_; }
  /// True when view() reads the file in place through a memory map.
  bool mapped() const noexcept { return mapped_; }
  /// The file's header, as probe() reads it.
  const ArrayInfo& info() const noexcept { return info_; }

 private:
  std::unique_ptr<MappedNpy> map_;
  Matrix<T> copy_;
  ConstMatrixView<T> view_;
  ArrayInfo info_;
  bool mapped_ = false;
};

/// Writes a rows × cols .npy (C order, little-endian), atomically. T: float, double or
/// std::int64_t (neighbour ids).
template <class T>
LOWDIM_API void write_npy(const std::string& path, ConstMatrixView<T> m);
/// Writes a 1-D .npy of values.size() entries, atomically.
template <class T>
LOWDIM_API void write_npy(const std::string& path, std::span<const T> values);
/// The preamble and header write_npy puts before the data of a rows × cols array of T (float or
/// double; version 1.0, C order, little-endian, padded so the data start 64-byte aligned), for
/// writers that place the data themselves (liblowdim_mpi's MPI-IO writer).
template <class T>
LOWDIM_API std::string npy_header(std::int64_t rows, std::int64_t cols);
/// .fvecs (float32 rows) and .ivecs (int32 rows), atomically; rows ≥ 1 and
/// 1 ≤ cols < 2^31 (invalid_argument otherwise: an empty .fvecs cannot be read back).
LOWDIM_API void write_fvecs(const std::string& path, ConstMatrixView<float> m);
LOWDIM_API void write_ivecs(const std::string& path, ConstMatrixView<std::int32_t> m);  ///< As write_fvecs, int32 rows.
/// Reads an .ivecs file (k-NN ground truth) as rows × dim int32, exactly.
LOWDIM_API Matrix<std::int32_t> read_ivecs(const std::string& path);

/// A file written to a temporary name beside path (same directory, mode 0666 & ~umask)
/// and renamed onto path by commit(), so readers see either the old file or the
/// complete new one. Writes are buffered; any failure throws io_error naming the
/// file and strerror, and the destructor removes the temporary file unless committed.
class LOWDIM_API AtomicFile {
 public:
  /// Creates a unique temporary file beside path (io_error if the directory is not writable).
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();  ///< removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  /// Appends bytes (buffered).
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
  /// Starts path (an AtomicFile) for rows of cols elements.
  NpyWriter(const std::string& path, std::int64_t cols);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  /// Appends rows (cols() wide; dimension_mismatch otherwise).
  void append(ConstMatrixView<T> rows);
  std::int64_t rows() const noexcept { return rows_; }  ///< Rows appended so far.
  /// Writes the final header and renames the file into place.
  void commit();

 private:
  std::string path_;
  std::unique_ptr<AtomicFile> file_;  // null once committed
  std::int64_t cols_ = 0, rows_ = 0;
};

/// A read-only array of T that keeps its storage alive: a memory map of the archive it came
/// from (zero-copy) or its own copy. Copies share the storage.
template <class T>
class SharedArray {
 public:
  SharedArray() = default;
  /// data[0, size) stays valid while owner (or a copy of this array) lives.
  SharedArray(std::shared_ptr<const void> owner, const T* data, std::size_t size, bool mapped) noexcept
      : owner_(std::move(owner)), data_(data), size_(size), mapped_(mapped) {}
  const T* data() const noexcept { return data_; }               ///< The first element.
  std::size_t size() const noexcept { return size_; }            ///< Number of elements.
  bool empty() const noexcept { return size_ == 0; }             ///< size() == 0.
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }  ///< Element i (unchecked).
  const T* begin() const noexcept { return data_; }              ///< data().
  const T* end() const noexcept { return data_ + size_; }        ///< data() + size().
  std::span<const T> span() const noexcept { return {data_, size_}; }  ///< The elements.
  /// True when the elements are read in place from a memory-mapped file.
  bool mapped() const noexcept { return mapped_; }

 private:
  std::shared_ptr<const void> owner_;
  const T* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
};

/// A bitset read from an archive: bit i is bit (i mod 64) of words[i / 64]; the unused
/// high bits of the last word are zero.
struct SharedBitset {
  SharedArray<std::uint64_t> words;  ///< ⌈bits / 64⌉ words
  std::uint64_t bits = 0;            ///< number of bits
  /// Bit i (i < bits, unchecked).
  bool test(std::uint64_t i) const noexcept { return (words[i / 64] >> (i % 64)) & 1u; }
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
  void put(const std::string& name, std::int64_t value);      ///< As above, an integer.
  void put(const std::string& name, const std::string& value);  ///< As above, a string.
  /// As above, a float or double matrix.
  template <class T>
  void put(const std::string& name, ConstMatrixView<T> matrix);
  /// Adds an integer array (copied). Its data is stored 64-byte aligned in the file, so a
  /// reader can map it in place.
  void put_array(const std::string& name, std::span<const std::int32_t> values);
  void put_array(const std::string& name, std::span<const std::int64_t> values);   ///< As above, int64.
  void put_array(const std::string& name, std::span<const std::uint64_t> values);  ///< As above, uint64.
  /// Adds a bitset of `bits` bits held in ⌈bits/64⌉ words (bit i is bit i mod 64 of word
  /// i/64); invalid_argument when words.size() differs or a bit at or past `bits` is set.
  void put_bitset(const std::string& name, std::span<const std::uint64_t> words, std::uint64_t bits);
  /// Writes every entry atomically (AtomicFile), with a CRC-32 over the content.
  void save(const std::string& path) const;

 private:
  std::string kind_;
  std::uint32_t version_;
  std::vector<std::pair<std::string, std::vector<unsigned char>>> entries_;
};

/// Reads an archive ArchiveWriter wrote, validated before any entry is used.
class LOWDIM_API ArchiveReader {
 public:
  /// Throws io_error if the file is not an archive of this kind, or is corrupt. Files of
  /// at least map_threshold bytes are memory-mapped (the CRC is still checked over every
  /// byte, in place), smaller ones read into memory.
  ArchiveReader(const std::string& path, const std::string& expected_kind);
  /// Files at least this large are memory-mapped on load: 1 MiB.
  static constexpr std::int64_t map_threshold = std::int64_t{1} << 20;
  std::uint32_t version() const noexcept { return version_; }  ///< The model's format version.
  bool has(const std::string& name) const;                      ///< True when the entry exists.
  /// Getters throw io_error naming the entry when it is missing or of another type.
  double get_double(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;         ///< An integer entry.
  std::string get_string(const std::string& name) const;       ///< A string entry.
  /// A float or double matrix entry, converted to T.
  template <class T>
  Matrix<T> get_matrix(const std::string& name) const;
  /// An integer array entry of exactly this type (T = int32, int64 or uint64): zero-copy
  /// from the mapped file when it is mapped, the host little-endian and the data aligned.
  template <class T>
  SharedArray<T> get_array(const std::string& name) const;
  /// A bitset entry.
  SharedBitset get_bitset(const std::string& name) const;
  /// True when the file is memory-mapped (size ≥ map_threshold).
  bool mapped() const noexcept { return mapped_; }

 private:
  struct Entry {
    std::string name;
    char type;
    const unsigned char* payload;
    std::uint64_t size;
  };
  const Entry& entry(const std::string& name, char type) const;
  template <class T>
  SharedArray<T> array_at(const Entry& e, std::uint64_t count, std::uint64_t data_offset) const;
  std::string path_;
  std::uint32_t version_ = 0;
  std::shared_ptr<const void> storage_;  // the whole file: a memory map or an aligned copy
  bool mapped_ = false;
  std::vector<Entry> entries_;
};

}  // namespace lowdim

#endif
