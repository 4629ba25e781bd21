// Writers: AtomicFile (temporary file + fsync + rename), .npy (whole and
// streaming), .fvecs and .ivecs. Every file we write is little-endian.

#include "detail/io_stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

namespace lowdim {

using detail::io_fail;

namespace {

constexpr std::size_t write_buffer_bytes = std::size_t{1} << 20;

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// The process umask, read without changing it (Linux /proc); 022 if unknown.
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
  return 022;
}

void write_all(int fd, const unsigned char* data, std::size_t bytes, const std::string& path, const std::string& temp) {
  while (bytes > 0) {
    const ssize_t n = ::write(fd, data, std::min<std::size_t>(bytes, std::size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      io_fail(path, "write failed (temporary file {}): {}", temp, detail::errno_message(error_number));
    }
    data += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

}  // namespace

// ---------------------------------------------------------------- AtomicFile

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  const std::string directory = directory_of(path);
  const auto slash = path.find_last_of('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) io_fail(path, "cannot write: the path names a directory");
  std::string pattern = (directory == "/" ? std::string("/") : directory + "/") + "." + base + ".tmp-XXXXXX";
  fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd_ < 0) {
    const int error_number = errno;
    io_fail(path, "cannot create a temporary file in {}: {}", directory, detail::errno_message(error_number));
  }
  temp_ = pattern;
  // mkstemp makes the file 0600; give it the mode a plain open(O_CREAT) would.
  if (::fchmod(fd_, 0666 & ~current_umask()) != 0) {
    const int error_number = errno;
    ::close(fd_);
    ::unlink(temp_.c_str());
    fd_ = -1;
    io_fail(path, "cannot set the mode of {}: {}", temp_, detail::errno_message(error_number));
  }
  buffer_.reserve(write_buffer_bytes);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::flush() {
  if (buffer_.empty()) return;
  // The buffer is emptied first, so a failure is not retried from the destructor.
  std::vector<unsigned char> pending;
  pending.swap(buffer_);
  buffer_.reserve(write_buffer_bytes);
  write_all(fd_, pending.data(), pending.size(), path_, temp_);
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  if (committed_ || fd_ < 0) io_fail(path_, "AtomicFile::write after commit");
  const auto* p = static_cast<const unsigned char*>(data);
  if (buffer_.size() + bytes > write_buffer_bytes) flush();
  if (bytes >= write_buffer_bytes) {
    write_all(fd_, p, bytes, path_, temp_);
  } else {
    buffer_.insert(buffer_.end(), p, p + bytes);
  }
  written_ += bytes;
}

void AtomicFile::overwrite(std::uint64_t offset, const void* data, std::size_t bytes) {
  if (committed_ || fd_ < 0) io_fail(path_, "AtomicFile::overwrite after commit");
  LOWDIM_CHECK(offset + bytes <= written_, "AtomicFile::overwrite: bytes [{}, {}) lie beyond the {} written to {}",
               offset, offset + bytes, written_, path_);
  flush();
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pwrite(fd_, p + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      io_fail(path_, "write failed (temporary file {}): {}", temp_, detail::errno_message(error_number));
    }
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::prepare() {
  if (committed_) io_fail(path_, "AtomicFile::prepare after commit");
  if (prepared_) return;
  flush();
  if (::fsync(fd_) != 0) {
    const int error_number = errno;
    io_fail(path_, "fsync failed (temporary file {}): {}", temp_, detail::errno_message(error_number));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int error_number = errno;
    io_fail(path_, "close failed (temporary file {}): {}", temp_, detail::errno_message(error_number));
  }
  prepared_ = true;
}

void AtomicFile::commit() {
  if (committed_ || (fd_ < 0 && !prepared_)) io_fail(path_, "AtomicFile::commit called twice");
  prepare();
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int error_number = errno;
    io_fail(path_, "cannot rename {} onto it: {}", temp_, detail::errno_message(error_number));
  }
  committed_ = true;
  // Make the rename itself durable. The new file is already in place, so a
  // failure here cannot be undone and is not reported.
  const int directory = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory >= 0) {
    ::fsync(directory);
    ::close(directory);
  }
}

void commit_together(std::span<AtomicFile* const> files) {
  // Phase 1: every file complete and on disk under its temporary name. A failure here
  // throws before anything is renamed; the AtomicFiles' destructors remove the temporaries.
  for (AtomicFile* f : files) f->prepare();
  // Phase 2: keep each file about to be replaced as a hard link beside it (a unique name, as
  // the temporaries), then rename in order. If rename i fails, renames 0 … i−1 are undone from
  // the links (or their new file removed where nothing was replaced), so the previous set is
  // left as it was; only temporaries and links are removed.
  struct Backup {
    std::string path;  // empty: the target did not exist (or could not be linked)
  };
  std::vector<Backup> backups(files.size());
  const auto remove_backups = [&] {
    for (auto& b : backups)
      if (!b.path.empty()) ::unlink(b.path.c_str());
  };
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string& target = files[i]->path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string candidate = files[i]->temp_path() + ".old" + std::to_string(attempt);
      if (::link(target.c_str(), candidate.c_str()) == 0) {
        backups[i].path = std::move(candidate);
        break;
      }
      if (errno != EEXIST) break;  // no previous file (ENOENT), or links unsupported
    }
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    try {
      files[i]->commit();
    } catch (...) {
      for (std::size_t j = 0; j < i; ++j) {
        const std::string& target = files[j]->path();
        if (!backups[j].path.empty()) {
          if (::rename(backups[j].path.c_str(), target.c_str()) == 0) backups[j].path.clear();
        } else {
          ::unlink(target.c_str());  // nothing was there before this set
        }
      }
      remove_backups();
      throw;
    }
  }
  remove_backups();
}

// ---------------------------------------------------------------- .npy

namespace {

template <class T>
constexpr const char* npy_descr() {
  return std::is_same_v<T, float> ? "<f4" : std::is_same_v<T, double> ? "<f8" : std::is_same_v<T, std::int64_t> ? "<i8" : "<i4";
}

/// The preamble and header of a version 1.0 .npy file, padded with spaces to
/// total_length (a multiple of 64, so the data are aligned for mapping); 0 picks
/// the smallest such length.
template <class T>
std::string npy_header(const std::vector<std::int64_t>& shape, std::size_t total_length = 0) {
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", npy_descr<T>(),
                                 detail::shape_string(shape));
  if (total_length == 0) total_length = (10 + dict.size() + 1 + 63) / 64 * 64;
  LOWDIM_ASSERT(total_length >= 10 + dict.size() + 1 && total_length - 10 <= 65535);
  dict.append(total_length - 10 - dict.size() - 1, ' ');
  dict += '\n';
  std::string header("\x93NUMPY\x01\x00", 8);
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

/// Writes count values as little-endian.
template <class T>
void write_values(AtomicFile& file, const T* values, std::int64_t count) {
  if constexpr (std::endian::native == std::endian::little) {
    file.write(values, static_cast<std::size_t>(count) * sizeof(T));
  } else {
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    for (std::int64_t i = 0; i < count; ++i) {
      U bits = std::bit_cast<U>(values[i]);
      bits = sizeof(T) == 4 ? __builtin_bswap32(static_cast<std::uint32_t>(bits)) : __builtin_bswap64(bits);
      file.write(&bits, sizeof bits);
    }
  }
}

template <class T>
void write_rows(AtomicFile& file, ConstMatrixView<T> m) {
  if (m.contiguous()) {
    write_values(file, m.data(), m.size());
  } else {
    for (std::int64_t i = 0; i < m.rows(); ++i) write_values(file, m.row(i), m.cols());
  }
}

}  // namespace

template <class T>
void write_npy(const std::string& path, ConstMatrixView<T> m) {
  AtomicFile file(path);
  const std::string header = npy_header<T>({m.rows(), m.cols()});
  file.write(header.data(), header.size());
  write_rows(file, m);
  file.commit();
}

template <class T>
void write_npy(const std::string& path, std::span<const T> values) {
  AtomicFile file(path);
  const std::string header = npy_header<T>({static_cast<std::int64_t>(values.size())});
  file.write(header.data(), header.size());
  write_values(file, values.data(), static_cast<std::int64_t>(values.size()));
  file.commit();
}

template <class T>
void write_npy(AtomicFile& file, ConstMatrixView<T> m) {
  const std::string header = npy_header<T>({m.rows(), m.cols()});
  file.write(header.data(), header.size());
  write_rows(file, m);
}

template <class T>
void write_npy(AtomicFile& file, std::span<const T> values) {
  const std::string header = npy_header<T>({static_cast<std::int64_t>(values.size())});
  file.write(header.data(), header.size());
  write_values(file, values.data(), static_cast<std::int64_t>(values.size()));
}

template <class T>
std::string npy_header(std::int64_t rows, std::int64_t cols) {
  LOWDIM_CHECK(rows >= 0 && cols >= 0, "npy_header: the shape {} x {} is negative", rows, cols);
  return npy_header<T>(std::vector<std::int64_t>{rows, cols});
}
template LOWDIM_API std::string npy_header<float>(std::int64_t, std::int64_t);
template LOWDIM_API std::string npy_header<double>(std::int64_t, std::int64_t);

template LOWDIM_API void write_npy<float>(AtomicFile&, ConstMatrixView<float>);
template LOWDIM_API void write_npy<double>(AtomicFile&, ConstMatrixView<double>);
template LOWDIM_API void write_npy<float>(AtomicFile&, std::span<const float>);
template LOWDIM_API void write_npy<double>(AtomicFile&, std::span<const double>);
template LOWDIM_API void write_npy<float>(const std::string&, ConstMatrixView<float>);
template LOWDIM_API void write_npy<double>(const std::string&, ConstMatrixView<double>);
template LOWDIM_API void write_npy<float>(const std::string&, std::span<const float>);
template LOWDIM_API void write_npy<double>(const std::string&, std::span<const double>);
template LOWDIM_API void write_npy<std::int64_t>(const std::string&, ConstMatrixView<std::int64_t>);
template LOWDIM_API void write_npy<std::int64_t>(const std::string&, std::span<const std::int64_t>);

// The streaming writer reserves a 128-byte header (room for any two 64-bit
// dimensions) and rewrites it with the final row count on commit.
constexpr std::size_t npy_writer_header_length = 128;

template <class T>
NpyWriter<T>::NpyWriter(const std::string& path, std::int64_t cols) : path_(path), cols_(cols) {
  LOWDIM_CHECK(cols >= 0, "NpyWriter: {}: negative column count {}", path, cols);
  file_ = std::make_unique<AtomicFile>(path);
  const std::string header = npy_header<T>({0, cols_}, npy_writer_header_length);
  file_->write(header.data(), header.size());
}

template <class T>
NpyWriter<T>::~NpyWriter() = default;  // an uncommitted AtomicFile removes its temporary file

template <class T>
void NpyWriter<T>::append(ConstMatrixView<T> rows) {
  LOWDIM_CHECK(file_ != nullptr, "NpyWriter::append: {}: already committed", path_);
  LOWDIM_CHECK_SHAPE(rows.cols() == cols_, "NpyWriter::append: {}: the block has {} columns, the file has {}", path_,
                     rows.cols(), cols_);
  write_rows(*file_, rows);
  rows_ += rows.rows();
}

template <class T>
void NpyWriter<T>::commit() {
  LOWDIM_CHECK(file_ != nullptr, "NpyWriter::commit: {}: already committed", path_);
  const std::string header = npy_header<T>({rows_, cols_}, npy_writer_header_length);
  file_->overwrite(0, header.data(), header.size());
  file_->commit();
  file_.reset();
}

template class LOWDIM_API NpyWriter<float>;
template class LOWDIM_API NpyWriter<double>;

// ---------------------------------------------------------------- .fvecs / .ivecs

namespace {
template <class T>
void write_vecs(const std::string& path, ConstMatrixView<T> m, const char* function) {
  LOWDIM_CHECK(m.cols() > 0 && m.cols() <= std::numeric_limits<std::int32_t>::max(),
               "{}: {}: {} columns cannot be stored (1 to 2^31 − 1)", function, path, m.cols());
  LOWDIM_CHECK(m.rows() > 0, "{}: {}: 0 rows cannot be stored (the file would be empty)", function, path);
  AtomicFile file(path);
  const auto d = static_cast<std::int32_t>(m.cols());
  for (std::int64_t i = 0; i < m.rows(); ++i) {
    write_values(file, &d, 1);
    write_values(file, m.row(i), m.cols());
  }
  file.commit();
}
}  // namespace

void write_fvecs(const std::string& path, ConstMatrixView<float> m) { write_vecs(path, m, "write_fvecs"); }
void write_ivecs(const std::string& path, ConstMatrixView<std::int32_t> m) { write_vecs(path, m, "write_ivecs"); }

}  // namespace lowdim
