#ifndef LOWDIM_SRC_DETAIL_IO_STREAM_HPP
#define LOWDIM_SRC_DETAIL_IO_STREAM_HPP

// Private to src/io*.cpp: an opened input file, a sequential byte stream over it
// (plain or gzip, inflated incrementally into the caller's buffer), header
// probing, and element conversion. Nothing here is installed.

#include <lowdim/error.hpp>
#include <lowdim/io.hpp>

#include <fmt/format.h>

#include <bit>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lowdim::detail {

/// Throws io_error "<path>: <message>".
template <class... Args>
[[noreturn]] void io_fail(std::string_view path, fmt::format_string<Args...> format, Args&&... args) {
  throw io_error(fmt::format("{}: {}", path, fmt::format(format, std::forward<Args>(args)...)));
}

/// strerror(errno) as a string (thread-safe).
std::string errno_message(int error_number);

/// A regular file opened for reading. Missing files, directories and other
/// non-regular files are rejected with io_error naming the path.
class InputFile {
 public:
  explicit InputFile(std::string path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  int fd() const noexcept { return fd_; }
  std::int64_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }
  /// Reads up to bytes at offset; returns how many (fewer only at the end of the file).
  std::size_t read_at(void* destination, std::size_t bytes, std::int64_t offset) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::int64_t size_ = 0;
};

/// Sequential bytes of a file: plain, or gzip (detected by its magic bytes and
/// inflated incrementally, concatenated members allowed, CRC and length of every
/// member checked by zlib). Corrupt gzip data throws io_error naming the file.
class ByteStream {
 public:
  explicit ByteStream(const InputFile& file);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  bool gzip() const noexcept { return gzip_; }
  /// Reads up to bytes; returns how many (fewer only at the end of the data).
  std::size_t read(void* destination, std::size_t bytes);
  /// Skips up to bytes; returns how many were skipped.
  std::int64_t skip(std::int64_t bytes);
  /// Uncompressed bytes delivered so far.
  std::int64_t position() const noexcept { return position_; }
  /// Back to the first byte.
  void rewind();

 private:
  std::size_t read_plain(void* destination, std::size_t bytes);
  std::size_t read_gzip(void* destination, std::size_t bytes);
  bool refill();

  const InputFile& file_;
  bool gzip_ = false;
  std::int64_t position_ = 0;      // uncompressed
  std::int64_t file_offset_ = 0;   // compressed bytes consumed into buffer_
  std::vector<unsigned char> buffer_;
  std::size_t buffer_begin_ = 0, buffer_end_ = 0;
  struct Zlib;
  std::unique_ptr<Zlib> zlib_;
  bool gzip_done_ = false;
};

/// Reads exactly bytes or throws io_error "<path>: truncated <what>: ...".
void read_exact(ByteStream& stream, const InputFile& file, void* destination, std::size_t bytes,
                std::string_view what);

/// The ISIZE field of a gzip file's last member (uncompressed length mod 2^32): a hint only.
std::uint32_t gzip_size_hint(const InputFile& file);
/// The largest uncompressed size a deflate stream of compressed_bytes can have (ratio 1032:1).
std::int64_t gzip_max_expansion(std::int64_t compressed_bytes);

/// Reads the header of any supported format from the start of the stream.
/// For .fvecs/.ivecs this scans the row prefixes when the row count cannot be
/// derived from the file size (gzip, or a size that is not a multiple of a row).
ArrayInfo probe_stream(const InputFile& file, ByteStream& stream);

/// Data bytes the header describes (rows × cols × element size; vecs include the prefixes).
std::int64_t data_bytes(const ArrayInfo& info);
/// "(60000, 28, 28)".
std::string shape_string(const std::vector<std::int64_t>& shape);

/// dst[i * stride] = T(element i of src) for i < count; src holds `dtype` elements,
/// byte-swapped first when swap. T is float, double or int32.
template <class T>
void convert(DType dtype, bool swap, const unsigned char* source, T* destination, std::int64_t count,
             std::int64_t stride);

/// True when the host is little-endian (the byte order of the files we write).
constexpr bool host_little_endian() noexcept {
  return std::endian::native == std::endian::little;
}

}  // namespace lowdim::detail

#endif
