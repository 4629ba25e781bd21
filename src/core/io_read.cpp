// Readers: RowReader (streaming, bounded memory), read_matrix, read_ivecs and the
// memory-mapped MappedNpy. Headers are parsed and validated in io_probe.cpp.

#include "detail/io_stream.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace lowdim {

using detail::io_fail;

namespace {
constexpr std::int64_t staging_bytes = std::int64_t{1} << 20;  // conversion buffer
constexpr std::int64_t fortran_chunk_bytes = std::int64_t{1} << 24;  // rows cached from a Fortran-order file
}  // namespace

struct RowReader::Impl {
  std::unique_ptr<detail::InputFile> file;
  std::unique_ptr<detail::ByteStream> stream;
  ArrayInfo info;
  std::int64_t rows = 0, cols = 0, position = 0;
  bool finished = false;
  std::vector<unsigned char> staging;
  // Fortran order: column f of the file is column column_map[f] of the matrix
  // (the rest of the shape is flattened in C order, as numpy's reshape does).
  std::vector<std::int64_t> column_map;
  std::vector<unsigned char> chunk;  // raw bytes of rows [chunk_first, chunk_first + chunk_rows), column-major
  std::int64_t chunk_first = 0, chunk_rows = 0;

  const std::string& path() const { return file->path(); }
  std::size_t element() const { return size_of(info.dtype); }
  bool swap() const { return info.big_endian == detail::host_little_endian() && element() > 1; }

  template <class T>
  bool direct() const {
    constexpr DType native = std::is_same_v<T, float> ? DType::float32 : DType::float64;
    return info.dtype == native && !swap();
  }

  [[noreturn]] void truncated(std::int64_t got_row) const {
    io_fail(path(), "truncated data: the header describes {} rows of {} values ({}) but the {} ends in row {}", rows,
            cols, to_string(info.dtype), info.gzip ? "decompressed stream" : "file", got_row);
  }

  /// Reads count elements of the stream, converted into destination.
  template <class T>
  void read_elements(T* destination, std::int64_t count, std::int64_t row) {
    if (direct<T>()) {
      const auto bytes = static_cast<std::size_t>(count) * sizeof(T);
      const std::size_t got = stream->read(destination, bytes);
      if (got != bytes) truncated(row + static_cast<std::int64_t>(got / sizeof(T)) / std::max<std::int64_t>(cols, 1));
      return;
    }
    const auto per_piece = std::max<std::int64_t>(1, staging_bytes / static_cast<std::int64_t>(element()));
    staging.resize(static_cast<std::size_t>(std::min(count, per_piece)) * element());
    for (std::int64_t done = 0; done < count;) {
      const std::int64_t n = std::min(count - done, per_piece);
      const auto bytes = static_cast<std::size_t>(n) * element();
      const std::size_t got = stream->read(staging.data(), bytes);
      if (got != bytes)
        truncated(row + (done + static_cast<std::int64_t>(got / element())) / std::max<std::int64_t>(cols, 1));
      detail::convert<T>(info.dtype, swap(), staging.data(), destination + done, n, 1);
      done += n;
    }
  }

  template <class T>
  void read_c_order(MatrixView<T> out, std::int64_t count) {
    if (out.stride() == cols || count == 1) {
      read_elements(out.data(), count * cols, position);
      return;
    }
    for (std::int64_t i = 0; i < count; ++i) read_elements(out.row(i), cols, position + i);
  }

  template <class T>
  void read_vecs(MatrixView<T> out, std::int64_t count) {
    const char* kind = info.format == FileFormat::fvecs ? ".fvecs" : ".ivecs";
    for (std::int64_t i = 0; i < count; ++i) {
      unsigned char prefix[4];
      if (stream->read(prefix, 4) != 4) truncated(position + i);
      std::int32_t d;
      std::memcpy(&d, prefix, 4);
      if (!detail::host_little_endian()) d = static_cast<std::int32_t>(__builtin_bswap32(static_cast<std::uint32_t>(d)));
      if (d != cols) io_fail(path(), "ragged {}: row {} has dimension {}, row 0 has {}", kind, position + i, d, cols);
      read_elements(out.row(i), cols, position + i);
    }
  }

  /// Loads the raw bytes of rows [first, first + count) of a Fortran-order file.
  void load_fortran_chunk(std::int64_t first) {
    const auto element_bytes = static_cast<std::int64_t>(element());
    if (info.gzip) {
      // A gzip stream cannot be read by columns: it is inflated once, whole,
      // growing with the data that actually arrives (never to a claimed size).
      const std::int64_t total = rows * cols * element_bytes;
      chunk.clear();
      std::vector<unsigned char> piece(static_cast<std::size_t>(std::min(staging_bytes, std::max<std::int64_t>(total, 1))));
      while (static_cast<std::int64_t>(chunk.size()) < total) {
        const auto want = static_cast<std::size_t>(std::min<std::int64_t>(staging_bytes, total - static_cast<std::int64_t>(chunk.size())));
        const std::size_t got = stream->read(piece.data(), want);
        if (got == 0) truncated(static_cast<std::int64_t>(chunk.size()) / element_bytes % std::max<std::int64_t>(rows, 1));
        chunk.insert(chunk.end(), piece.begin(), piece.begin() + static_cast<std::ptrdiff_t>(got));
      }
      chunk_first = 0;
      chunk_rows = rows;
      return;
    }
    const std::int64_t per_chunk = std::max<std::int64_t>(1, fortran_chunk_bytes / std::max<std::int64_t>(1, cols * element_bytes));
    chunk_first = first;
    chunk_rows = std::min(per_chunk, rows - first);
    chunk.resize(static_cast<std::size_t>(chunk_rows * cols * element_bytes));
    for (std::int64_t f = 0; f < cols; ++f) {
      const std::int64_t offset = info.data_offset + (f * rows + first) * element_bytes;
      const auto bytes = static_cast<std::size_t>(chunk_rows * element_bytes);
      if (file->read_at(chunk.data() + static_cast<std::size_t>(f * chunk_rows * element_bytes), bytes, offset) != bytes)
        truncated(first);
    }
  }

  template <class T>
  void read_fortran(MatrixView<T> out, std::int64_t count) {
    const auto element_bytes = static_cast<std::int64_t>(element());
    for (std::int64_t done = 0; done < count;) {
      const std::int64_t row = position + done;
      if (row < chunk_first || row >= chunk_first + chunk_rows) load_fortran_chunk(row);
      const std::int64_t n = std::min(count - done, chunk_first + chunk_rows - row);
      for (std::int64_t f = 0; f < cols; ++f) {
        const unsigned char* source = chunk.data() + static_cast<std::size_t>((f * chunk_rows + row - chunk_first) * element_bytes);
        detail::convert<T>(info.dtype, swap(), source, out.row(done) + column_map[static_cast<std::size_t>(f)], n,
                           out.stride());
      }
      done += n;
    }
  }

  /// After the last row: a gzip stream must end here (which also makes zlib check its CRC).
  void finish() {
    finished = true;
    chunk.clear();
    chunk.shrink_to_fit();
    if (!info.gzip) return;  // plain files were checked to hold exactly the data by probe
    unsigned char extra;
    if (stream->read(&extra, 1) != 0)
      io_fail(path(), "the gzip stream decompresses to more data than the header describes ({} rows of {} values)", rows,
              cols);
  }
};

RowReader::RowReader(const std::string& path, const ReadOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->file = std::make_unique<detail::InputFile>(path);
  impl_->stream = std::make_unique<detail::ByteStream>(*impl_->file);
  impl_->info = detail::probe_stream(*impl_->file, *impl_->stream);
  const ArrayInfo& info = impl_->info;
  if (is_integer(info.dtype) && !options.convert_integers)
    io_fail(path, "holds {} data; integer dtypes are converted only when ReadOptions::convert_integers is set",
            to_string(info.dtype));
  impl_->rows = info.rows();
  impl_->cols = info.cols();
  impl_->stream->rewind();
  if (impl_->stream->skip(info.data_offset) != info.data_offset) impl_->truncated(0);
  if (info.fortran_order) {
    // Fortran column index f = j1 + d1·(j2 + d2·(…)); matrix column c = C-order flattening of (j1, j2, …).
    const std::size_t rest = info.shape.size() - 1;
    impl_->column_map.resize(static_cast<std::size_t>(impl_->cols));
    std::vector<std::int64_t> index(rest, 0), c_stride(rest, 1);
    for (std::size_t k = rest; k-- > 1;) c_stride[k - 1] = c_stride[k] * info.shape[k + 1];
    for (std::int64_t f = 0; f < impl_->cols; ++f) {
      std::int64_t c = 0;
      for (std::size_t k = 0; k < rest; ++k) c += index[k] * c_stride[k];
      impl_->column_map[static_cast<std::size_t>(f)] = c;
      for (std::size_t k = 0; k < rest && ++index[k] == info.shape[k + 1]; ++k) index[k] = 0;
    }
  }
}

RowReader::~RowReader() = default;
RowReader::RowReader(RowReader&&) noexcept = default;
RowReader& RowReader::operator=(RowReader&&) noexcept = default;

const ArrayInfo& RowReader::info() const noexcept { return impl_->info; }
std::int64_t RowReader::rows() const noexcept { return impl_->rows; }
std::int64_t RowReader::cols() const noexcept { return impl_->cols; }
std::int64_t RowReader::position() const noexcept { return impl_->position; }

template <class T>
std::int64_t RowReader::read(MatrixView<T> out) {
  Impl& r = *impl_;
  LOWDIM_CHECK_SHAPE(out.cols() == r.cols, "RowReader::read: {}: the block has {} columns, the file has {}", r.path(),
                     out.cols(), r.cols);
  const std::int64_t count = std::min(out.rows(), r.rows - r.position);
  if (count > 0 && r.cols > 0) {
    if (r.info.format == FileFormat::fvecs || r.info.format == FileFormat::ivecs) {
      r.read_vecs(out, count);
    } else if (r.info.fortran_order) {
      r.read_fortran(out, count);
    } else {
      r.read_c_order(out, count);
    }
  }
  r.position += count;
  if (r.position == r.rows && !r.finished) r.finish();
  return count;
}

template LOWDIM_API std::int64_t RowReader::read<float>(MatrixView<float>);
template LOWDIM_API std::int64_t RowReader::read<double>(MatrixView<double>);

namespace {

/// For gzip input the header's size is only believed after a check: the ISIZE
/// trailer agreeing is taken as a hint that allocating is safe (the claim was
/// already bounded by the 1032:1 deflate ratio); otherwise the stream is
/// inflated once to count its bytes before anything of the claimed size exists.
void check_gzip_size(const std::string& path, const ArrayInfo& info) {
  if (!info.gzip || info.format == FileFormat::fvecs || info.format == FileFormat::ivecs) return;
  const std::int64_t total = info.data_offset + detail::data_bytes(info);
  detail::InputFile file(path);
  if (static_cast<std::uint32_t>(total) == detail::gzip_size_hint(file)) return;
  detail::ByteStream stream(file);
  const std::int64_t actual = stream.skip(total + 1);
  if (actual != total)
    io_fail(path, "the gzip stream decompresses to {}{} bytes but the header describes {} bytes (shape {} of {})",
            actual > total ? "more than " : "", std::min(actual, total), total, detail::shape_string(info.shape),
            to_string(info.dtype));
}


}  // namespace

template <class T>
Matrix<T> read_matrix(const std::string& path, const ReadOptions& options) {
  RowReader reader(path, options);
  check_gzip_size(path, reader.info());
  auto m = Matrix<T>::uninitialized(reader.rows(), reader.cols());
  reader.read(m.view());
  return m;
}

template LOWDIM_API Matrix<float> read_matrix<float>(const std::string&, const ReadOptions&);
template LOWDIM_API Matrix<double> read_matrix<double>(const std::string&, const ReadOptions&);

Matrix<std::int32_t> read_ivecs(const std::string& path) {
  detail::InputFile file(path);
  detail::ByteStream stream(file);
  const ArrayInfo info = detail::probe_stream(file, stream);
  if (info.format != FileFormat::ivecs)
    io_fail(path, "read_ivecs: the file is {}, not .ivecs (the name must end in .ivecs)", to_string(info.format));
  stream.rewind();
  auto m = Matrix<std::int32_t>::uninitialized(info.rows(), info.cols());
  std::vector<unsigned char> row(static_cast<std::size_t>(4 + 4 * info.cols()));
  for (std::int64_t i = 0; i < info.rows(); ++i) {
    if (stream.read(row.data(), row.size()) != row.size())
      io_fail(path, "truncated .ivecs: the file ends in row {} of {}", i, info.rows());
    std::int32_t d;
    detail::convert<std::int32_t>(DType::int32, !detail::host_little_endian(), row.data(), &d, 1, 1);
    if (d != info.cols()) io_fail(path, "ragged .ivecs: row {} has dimension {}, row 0 has {}", i, d, info.cols());
    detail::convert<std::int32_t>(DType::int32, !detail::host_little_endian(), row.data() + 4, m.row(i), info.cols(), 1);
  }
  unsigned char extra;
  if (stream.read(&extra, 1) != 0) io_fail(path, "the .ivecs data continues after row {}", info.rows());
  return m;
}

// ---------------------------------------------------------------- MappedNpy

struct MappedNpy::Impl {
  std::string path;
  ArrayInfo info;
  void* base = nullptr;
  std::size_t length = 0;
  ~Impl() {
    if (base != nullptr) ::munmap(base, length);
  }
};

MappedNpy::MappedNpy(const std::string& path) : impl_(std::make_unique<Impl>()) {
  detail::InputFile file(path);
  detail::ByteStream stream(file);
  impl_->path = path;
  impl_->info = detail::probe_stream(file, stream);
  if (impl_->info.format != FileFormat::npy)
    io_fail(path, "MappedNpy: the file is {}, not .npy", to_string(impl_->info.format));
  if (impl_->info.gzip) io_fail(path, "MappedNpy: a gzip-compressed file cannot be memory-mapped; use RowReader");
  impl_->length = static_cast<std::size_t>(file.size());
  void* base = ::mmap(nullptr, impl_->length, PROT_READ, MAP_SHARED, file.fd(), 0);
  if (base == MAP_FAILED) io_fail(path, "mmap failed: {}", detail::errno_message(errno));
  impl_->base = base;
}

MappedNpy::~MappedNpy() = default;
MappedNpy::MappedNpy(MappedNpy&&) noexcept = default;
MappedNpy& MappedNpy::operator=(MappedNpy&&) noexcept = default;

const ArrayInfo& MappedNpy::info() const noexcept { return impl_->info; }

template <class T>
bool MappedNpy::viewable() const noexcept {
  const ArrayInfo& info = impl_->info;
  constexpr DType native = std::is_same_v<T, float> ? DType::float32 : DType::float64;
  return info.dtype == native && !info.fortran_order && info.big_endian != detail::host_little_endian() &&
         info.data_offset % static_cast<std::int64_t>(alignof(T)) == 0;
}

template <class T>
ConstMatrixView<T> MappedNpy::view() const {
  const ArrayInfo& info = impl_->info;
  if (!viewable<T>())
    io_fail(impl_->path,
            "MappedNpy::view<{}>: the file holds {}{}{}{}; a zero-copy view needs {}, C order, little-endian and "
            "aligned data (read it with RowReader or read_matrix instead)",
            std::is_same_v<T, float> ? "float" : "double", to_string(info.dtype),
            info.fortran_order ? ", Fortran order" : "", info.big_endian ? ", big-endian" : "",
            info.data_offset % static_cast<std::int64_t>(alignof(T)) != 0 ? ", data at a misaligned offset" : "",
            std::is_same_v<T, float> ? "float32" : "float64");
  const auto* data = reinterpret_cast<const T*>(static_cast<const unsigned char*>(impl_->base) + info.data_offset);
  return ConstMatrixView<T>(data, info.rows(), info.cols());
}

template LOWDIM_API bool MappedNpy::viewable<float>() const noexcept;
template LOWDIM_API bool MappedNpy::viewable<double>() const noexcept;
template LOWDIM_API ConstMatrixView<float> MappedNpy::view<float>() const;
template LOWDIM_API ConstMatrixView<double> MappedNpy::view<double>() const;

// ---------------------------------------------------------------- MatrixFile

template <class T>
MatrixFile<T>::MatrixFile(const std::string& path, const ReadOptions& options) : info_(probe(path)) {
  if (info_.format == FileFormat::npy && !info_.gzip) {
    auto map = std::make_unique<MappedNpy>(path);
    if (map->viewable<T>()) {
      view_ = map->view<T>();
      map_ = std::move(map);
      mapped_ = true;
      return;
    }
  }
  copy_ = read_matrix<T>(path, options);
  view_ = copy_.cview();
}

template <class T>
MatrixFile<T>::~MatrixFile() = default;
template <class T>
MatrixFile<T>::MatrixFile(MatrixFile&&) noexcept = default;
template <class T>
MatrixFile<T>& MatrixFile<T>::operator=(MatrixFile&&) noexcept = default;

template class LOWDIM_API MatrixFile<float>;
template class LOWDIM_API MatrixFile<double>;

}  // namespace lowdim
