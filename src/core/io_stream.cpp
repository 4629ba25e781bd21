// Opening input files, sequential plain/gzip byte streams and element conversion
// for the readers in io_read.cpp (private helpers declared in detail/io_stream.hpp).

#include "detail/io_stream.hpp"

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <type_traits>

namespace lowdim::detail {

std::string errno_message(int error_number) {
  char buffer[256];
  // GNU strerror_r returns the message (possibly not in buffer); XSI returns an int.
  auto result = strerror_r(error_number, buffer, sizeof buffer);
  if constexpr (std::is_same_v<decltype(result), char*>) {
    return result;
  } else {
    return result == 0 ? std::string(buffer) : fmt::format("error {}", error_number);
  }
}

// ---------------------------------------------------------------- InputFile

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then rejected as
  // not a regular file); it changes nothing for regular files.
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) {
    const int error_number = errno;
    if (error_number == EISDIR) io_fail(path_, "is a directory, not a file");
    io_fail(path_, "cannot open: {}", errno_message(error_number));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int error_number = errno;
    ::close(fd_);
    io_fail(path_, "cannot stat: {}", errno_message(error_number));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    io_fail(path_, "is a directory, not a file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    io_fail(path_, "is not a regular file");
  }
  size_ = static_cast<std::int64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t InputFile::read_at(void* destination, std::size_t bytes, std::int64_t offset) const {
  auto* out = static_cast<unsigned char*>(destination);
  std::size_t done = 0;
  while (done < bytes) {
    const std::size_t piece = std::min<std::size_t>(bytes - done, std::size_t{1} << 30);
    const ssize_t got = ::pread(fd_, out + done, piece, static_cast<off_t>(offset) + static_cast<off_t>(done));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      if (error_number == EISDIR) io_fail(path_, "is a directory, not a file");
      io_fail(path_, "read failed at byte {}: {}", offset + static_cast<std::int64_t>(done),
              errno_message(error_number));
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

// ---------------------------------------------------------------- ByteStream

namespace {
constexpr std::size_t stream_buffer_bytes = std::size_t{1} << 18;  // 256 KiB of file per refill
}

struct ByteStream::Zlib {
  z_stream z{};
  bool initialised = false;
  ~Zlib() {
    if (initialised) inflateEnd(&z);
  }
};

ByteStream::ByteStream(const InputFile& file)
    : file_(file),
      buffer_(static_cast<std::size_t>(std::clamp<std::int64_t>(file.size(), 1, stream_buffer_bytes))) {
  unsigned char magic[2] = {0, 0};
  gzip_ = file_.read_at(magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  rewind();
}

ByteStream::~ByteStream() = default;

void ByteStream::rewind() {
  position_ = 0;
  file_offset_ = 0;
  buffer_begin_ = buffer_end_ = 0;
  gzip_done_ = false;
  if (gzip_) {
    zlib_ = std::make_unique<Zlib>();
    // 16 + MAX_WBITS: gzip wrapper only (its CRC-32 and ISIZE are checked at each member's end).
    if (inflateInit2(&zlib_->z, 16 + MAX_WBITS) != Z_OK) io_fail(file_.path(), "cannot initialise zlib");
    zlib_->initialised = true;
  }
}

bool ByteStream::refill() {
  if (buffer_begin_ < buffer_end_) return true;
  buffer_end_ = file_.read_at(buffer_.data(), buffer_.size(), file_offset_);
  buffer_begin_ = 0;
  file_offset_ += static_cast<std::int64_t>(buffer_end_);
  return buffer_end_ > 0;
}

std::size_t ByteStream::read(void* destination, std::size_t bytes) {
  const std::size_t got = gzip_ ? read_gzip(destination, bytes) : read_plain(destination, bytes);
  position_ += static_cast<std::int64_t>(got);
  return got;
}

std::size_t ByteStream::read_plain(void* destination, std::size_t bytes) {
  auto* out = static_cast<unsigned char*>(destination);
  std::size_t done = 0;
  while (done < bytes) {
    if (buffer_begin_ == buffer_end_ && bytes - done >= buffer_.size()) {
      // Large request: straight from the file into the caller's memory.
      const std::size_t got = file_.read_at(out + done, bytes - done, file_offset_);
      file_offset_ += static_cast<std::int64_t>(got);
      done += got;
      break;
    }
    if (!refill()) break;
    const std::size_t n = std::min(bytes - done, buffer_end_ - buffer_begin_);
    std::memcpy(out + done, buffer_.data() + buffer_begin_, n);
    buffer_begin_ += n;
    done += n;
  }
  return done;
}

std::size_t ByteStream::read_gzip(void* destination, std::size_t bytes) {
  auto* out = static_cast<unsigned char*>(destination);
  std::size_t done = 0;
  z_stream& z = zlib_->z;
  while (done < bytes && !gzip_done_) {
    if (buffer_begin_ == buffer_end_ && !refill()) {
      io_fail(file_.path(), "corrupt gzip: the compressed stream is truncated after {} bytes", file_.size());
    }
    z.next_in = buffer_.data() + buffer_begin_;
    z.avail_in = static_cast<uInt>(buffer_end_ - buffer_begin_);
    const std::size_t want = std::min<std::size_t>(bytes - done, std::numeric_limits<uInt>::max());
    z.next_out = out + done;
    z.avail_out = static_cast<uInt>(want);
    const int status = inflate(&z, Z_NO_FLUSH);
    buffer_begin_ = buffer_end_ - z.avail_in;
    done += want - z.avail_out;
    if (status == Z_STREAM_END) {
      // Another member may follow (gzip allows concatenation); anything else is garbage.
      if (buffer_begin_ == buffer_end_) refill();
      if (buffer_begin_ == buffer_end_) {
        gzip_done_ = true;
      } else if (buffer_end_ - buffer_begin_ >= 2 && buffer_[buffer_begin_] == 0x1f &&
                 buffer_[buffer_begin_ + 1] == 0x8b) {
        inflateReset(&z);
      } else if (std::all_of(buffer_.begin() + static_cast<std::ptrdiff_t>(buffer_begin_),
                             buffer_.begin() + static_cast<std::ptrdiff_t>(buffer_end_),
                             [](unsigned char c) { return c == 0; }) &&
                 file_offset_ == file_.size()) {
        gzip_done_ = true;  // zero padding after the last member (tape-style), as gzip(1) accepts
      } else {
        io_fail(file_.path(), "corrupt gzip: unexpected bytes after the end of the compressed stream");
      }
    } else if (status == Z_DATA_ERROR || status == Z_NEED_DICT) {
      io_fail(file_.path(), "corrupt gzip: {}", z.msg != nullptr ? z.msg : "invalid compressed data");
    } else if (status == Z_MEM_ERROR) {
      io_fail(file_.path(), "corrupt gzip: zlib ran out of memory");
    } else if (status != Z_OK && status != Z_BUF_ERROR) {
      io_fail(file_.path(), "corrupt gzip: zlib error {}", status);
    }
  }
  return done;
}

std::int64_t ByteStream::skip(std::int64_t bytes) {
  if (!gzip_) {
    const std::int64_t buffered = static_cast<std::int64_t>(buffer_end_ - buffer_begin_);
    const std::int64_t remaining_file = file_.size() - file_offset_ + buffered;
    const std::int64_t n = std::clamp<std::int64_t>(bytes, 0, remaining_file);
    if (n <= buffered) {
      buffer_begin_ += static_cast<std::size_t>(n);
    } else {
      file_offset_ += n - buffered;
      buffer_begin_ = buffer_end_ = 0;
    }
    position_ += n;
    return n;
  }
  unsigned char scratch[1 << 14];
  std::int64_t done = 0;
  while (done < bytes) {
    const std::size_t got = read(scratch, static_cast<std::size_t>(std::min<std::int64_t>(bytes - done, sizeof scratch)));
    if (got == 0) break;
    done += static_cast<std::int64_t>(got);
  }
  return done;
}

void read_exact(ByteStream& stream, const InputFile& file, void* destination, std::size_t bytes,
                std::string_view what) {
  const std::int64_t start = stream.position();
  const std::size_t got = stream.read(destination, bytes);
  if (got != bytes) {
    io_fail(file.path(), "truncated {}: needs {} bytes at offset {}, the {} ends after {} bytes", what, bytes, start,
            stream.gzip() ? "decompressed stream" : "file", start + static_cast<std::int64_t>(got));
  }
}

std::uint32_t gzip_size_hint(const InputFile& file) {
  unsigned char b[4] = {0, 0, 0, 0};
  if (file.size() < 4 || file.read_at(b, 4, file.size() - 4) != 4) return 0;
  return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
         static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
}

std::int64_t gzip_max_expansion(std::int64_t compressed_bytes) {
  // Deflate cannot expand by more than 1032:1 (a 258-byte match per 2 bits);
  // the slack covers headers of tiny files.
  if (compressed_bytes > (std::numeric_limits<std::int64_t>::max() - 4096) / 1032)
    return std::numeric_limits<std::int64_t>::max();
  return compressed_bytes * 1032 + 4096;
}

// ---------------------------------------------------------------- conversion

namespace {

template <class U>
U byteswap_unsigned(U v) noexcept {
  if constexpr (sizeof(U) == 1) {
    return v;
  } else if constexpr (sizeof(U) == 2) {
    return static_cast<U>(__builtin_bswap16(v));
  } else if constexpr (sizeof(U) == 4) {
    return __builtin_bswap32(v);
  } else {
    return __builtin_bswap64(v);
  }
}

template <std::size_t N>
struct unsigned_of;
template <>
struct unsigned_of<1> { using type = std::uint8_t; };
template <>
struct unsigned_of<2> { using type = std::uint16_t; };
template <>
struct unsigned_of<4> { using type = std::uint32_t; };
template <>
struct unsigned_of<8> { using type = std::uint64_t; };

template <class S, class T>
void convert_from(bool swap, const unsigned char* source, T* destination, std::int64_t count, std::int64_t stride) {
  using U = typename unsigned_of<sizeof(S)>::type;
  if (!swap && stride == 1) {
    if constexpr (std::is_same_v<S, T>) {
      std::memcpy(destination, source, static_cast<std::size_t>(count) * sizeof(S));
    } else {
      for (std::int64_t i = 0; i < count; ++i) {
        S v;
        std::memcpy(&v, source + i * static_cast<std::int64_t>(sizeof(S)), sizeof(S));
        destination[i] = static_cast<T>(v);
      }
    }
    return;
  }
  for (std::int64_t i = 0; i < count; ++i) {
    U bits;
    std::memcpy(&bits, source + i * static_cast<std::int64_t>(sizeof(S)), sizeof(S));
    if (swap) bits = byteswap_unsigned(bits);
    destination[i * stride] = static_cast<T>(std::bit_cast<S>(bits));
  }
}

}  // namespace

template <class T>
void convert(DType dtype, bool swap, const unsigned char* source, T* destination, std::int64_t count,
             std::int64_t stride) {
  switch (dtype) {
    case DType::float32: return convert_from<float>(swap, source, destination, count, stride);
    case DType::float64: return convert_from<double>(swap, source, destination, count, stride);
    case DType::int8: return convert_from<std::int8_t>(swap, source, destination, count, stride);
    case DType::uint8: return convert_from<std::uint8_t>(swap, source, destination, count, stride);
    case DType::int16: return convert_from<std::int16_t>(swap, source, destination, count, stride);
    case DType::uint16: return convert_from<std::uint16_t>(swap, source, destination, count, stride);
    case DType::int32: return convert_from<std::int32_t>(swap, source, destination, count, stride);
    case DType::uint32: return convert_from<std::uint32_t>(swap, source, destination, count, stride);
    case DType::int64: return convert_from<std::int64_t>(swap, source, destination, count, stride);
    case DType::uint64: return convert_from<std::uint64_t>(swap, source, destination, count, stride);
  }
}

template void convert<float>(DType, bool, const unsigned char*, float*, std::int64_t, std::int64_t);
template void convert<double>(DType, bool, const unsigned char*, double*, std::int64_t, std::int64_t);
template void convert<std::int32_t>(DType, bool, const unsigned char*, std::int32_t*, std::int64_t, std::int64_t);

}  // namespace lowdim::detail
