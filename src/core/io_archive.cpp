// The model archive: a versioned container of named, typed entries with a CRC-32.
//
// Layout (all integers little-endian):
//   "LOWDIMAR"            8-byte magic
//   u32 container version (1)
//   u64 content length L
//   content (L bytes):
//     u32 kind length, kind bytes, u32 user version, u64 entry count,
//     per entry: u32 name length, name bytes, u8 type, u64 payload length, payload
//   u32 CRC-32 (zlib) of the content
// Entry types: 'd' double, 'i' int64, 's' string, 'f' float matrix, 'D' double
// matrix (u64 rows, u64 cols, row-major values); integer arrays 'I' int32, 'L' int64,
// 'U' uint64 and 'B' bitset: u64 count (elements; bits for a bitset), u8 pad (< 64),
// pad zero bytes, then the elements (a bitset: ⌈bits/64⌉ u64 words, unused bits zero).
// The writer chooses pad so the elements start at a file offset that is a multiple of
// 64: a reader that maps the file reads them in place.

#include "detail/io_stream.hpp"

#include <zlib.h>

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

namespace lowdim {

using detail::io_fail;

namespace {

constexpr char archive_magic[8] = {'L', 'O', 'W', 'D', 'I', 'M', 'A', 'R'};
constexpr std::uint32_t container_version = 1;
constexpr std::size_t prelude_bytes = 8 + 4 + 8;

template <class U>
void put_le(std::vector<unsigned char>& out, U value) {
  const std::size_t at = out.size();
  out.resize(at + sizeof(U));
  for (std::size_t i = 0; i < sizeof(U); ++i) out[at + i] = static_cast<unsigned char>(value >> (8 * i));
}

template <class U>
U get_le(const unsigned char* p) {
  U v = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(p[i]) << (8 * i);
  return v;
}

std::uint32_t crc32_of(const unsigned char* data, std::size_t bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (bytes > 0) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(bytes, 1u << 30));
    crc = crc32(crc, data, n);
    data += n;
    bytes -= n;
  }
  return static_cast<std::uint32_t>(crc);
}

const char* type_name(char type) {
  switch (type) {
    case 'd': return "double";
    case 'i': return "int64";
    case 's': return "string";
    case 'f': return "float matrix";
    case 'D': return "double matrix";
    case 'I': return "int32 array";
    case 'L': return "int64 array";
    case 'U': return "uint64 array";
    case 'B': return "bitset";
    default: return "unknown";
  }
}

/// Bounds-checked reader over the content; every failure names the file.
class Cursor {
 public:
  Cursor(const std::string& path, const unsigned char* data, std::size_t size) : path_(path), p_(data), end_(data + size) {}
  const unsigned char* take(std::uint64_t bytes, std::string_view what) {
    if (bytes > static_cast<std::uint64_t>(end_ - p_))
      io_fail(path_, "corrupt archive: {} needs {} bytes, {} remain", what, bytes, end_ - p_);
    const unsigned char* at = p_;
    p_ += bytes;
    return at;
  }
  template <class U>
  U number(std::string_view what) {
    return get_le<U>(take(sizeof(U), what));
  }
  std::string text(std::string_view what) {
    const auto length = number<std::uint32_t>(what);
    const unsigned char* at = take(length, what);
    return std::string(reinterpret_cast<const char*>(at), length);
  }
  bool done() const { return p_ == end_; }

 private:
  const std::string& path_;
  const unsigned char* p_;
  const unsigned char* end_;
};

}  // namespace

ArchiveWriter::ArchiveWriter(std::string kind, std::uint32_t version) : kind_(std::move(kind)), version_(version) {
  LOWDIM_CHECK(!kind_.empty() && kind_.size() < 256, "ArchiveWriter: kind must be 1 to 255 bytes, got {}", kind_.size());
}

namespace {
void add_entry(std::vector<std::pair<std::string, std::vector<unsigned char>>>& entries, const std::string& name,
               std::vector<unsigned char> payload) {
  LOWDIM_CHECK(!name.empty() && name.size() < 65536, "ArchiveWriter::put: entry name must be 1 to 65535 bytes");
  LOWDIM_CHECK(std::none_of(entries.begin(), entries.end(), [&](const auto& e) { return e.first == name; }),
               "ArchiveWriter::put: entry '{}' was already put", name);
  entries.emplace_back(name, std::move(payload));
}
}  // namespace

void ArchiveWriter::put(const std::string& name, double value) {
  std::vector<unsigned char> payload{'d'};
  put_le(payload, std::bit_cast<std::uint64_t>(value));
  add_entry(entries_, name, std::move(payload));
}

void ArchiveWriter::put(const std::string& name, std::int64_t value) {
  std::vector<unsigned char> payload{'i'};
  put_le(payload, static_cast<std::uint64_t>(value));
  add_entry(entries_, name, std::move(payload));
}

void ArchiveWriter::put(const std::string& name, const std::string& value) {
  std::vector<unsigned char> payload{'s'};
  payload.insert(payload.end(), value.begin(), value.end());
  add_entry(entries_, name, std::move(payload));
}

template <class T>
void ArchiveWriter::put(const std::string& name, ConstMatrixView<T> matrix) {
  std::vector<unsigned char> payload{std::is_same_v<T, float> ? static_cast<unsigned char>('f')
                                                              : static_cast<unsigned char>('D')};
  payload.reserve(17 + static_cast<std::size_t>(matrix.size()) * sizeof(T));
  put_le(payload, static_cast<std::uint64_t>(matrix.rows()));
  put_le(payload, static_cast<std::uint64_t>(matrix.cols()));
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  for (std::int64_t i = 0; i < matrix.rows(); ++i)
    for (std::int64_t j = 0; j < matrix.cols(); ++j) put_le(payload, std::bit_cast<U>(matrix(i, j)));
  add_entry(entries_, name, std::move(payload));
}

namespace {
constexpr bool is_array_type(unsigned char type) { return type == 'I' || type == 'L' || type == 'U' || type == 'B'; }
constexpr std::size_t array_alignment = 64;

template <class U>
std::vector<unsigned char> array_payload(unsigned char type, std::uint64_t count, std::span<const U> values) {
  std::vector<unsigned char> payload{type};
  payload.reserve(9 + values.size() * sizeof(U));
  put_le(payload, count);
  using W = std::make_unsigned_t<U>;
  for (const U v : values) put_le(payload, static_cast<W>(v));
  return payload;
}
}  // namespace

void ArchiveWriter::put_array(const std::string& name, std::span<const std::int32_t> values) {
  add_entry(entries_, name, array_payload<std::int32_t>('I', values.size(), values));
}
void ArchiveWriter::put_array(const std::string& name, std::span<const std::int64_t> values) {
  add_entry(entries_, name, array_payload<std::int64_t>('L', values.size(), values));
}
void ArchiveWriter::put_array(const std::string& name, std::span<const std::uint64_t> values) {
  add_entry(entries_, name, array_payload<std::uint64_t>('U', values.size(), values));
}
void ArchiveWriter::put_bitset(const std::string& name, std::span<const std::uint64_t> words, std::uint64_t bits) {
  const std::uint64_t needed = bits / 64 + (bits % 64 != 0);
  LOWDIM_CHECK(words.size() == needed, "ArchiveWriter::put_bitset: '{}' has {} bits, which need {} words, got {}", name,
               bits, needed, words.size());
  LOWDIM_CHECK(bits % 64 == 0 || (words.back() >> (bits % 64)) == 0,
               "ArchiveWriter::put_bitset: '{}' sets bits at or past its size {}", name, bits);
  add_entry(entries_, name, array_payload<std::uint64_t>('B', bits, words));
}

template LOWDIM_API void ArchiveWriter::put<float>(const std::string&, ConstMatrixView<float>);
template LOWDIM_API void ArchiveWriter::put<double>(const std::string&, ConstMatrixView<double>);

void ArchiveWriter::save(const std::string& path) const {
  std::vector<unsigned char> content;
  put_le(content, static_cast<std::uint32_t>(kind_.size()));
  content.insert(content.end(), kind_.begin(), kind_.end());
  put_le(content, version_);
  put_le(content, static_cast<std::uint64_t>(entries_.size()));
  for (const auto& [name, payload] : entries_) {
    put_le(content, static_cast<std::uint32_t>(name.size()));
    content.insert(content.end(), name.begin(), name.end());
    content.push_back(payload[0]);
    if (is_array_type(payload[0])) {
      // payload = type, u64 count, elements; the file gets count, pad, zeros, elements,
      // with the elements at a file offset ≡ 0 (mod 64).
      const std::size_t data_at = prelude_bytes + content.size() + 8 + 8 + 1;
      const std::size_t pad = (array_alignment - data_at % array_alignment) % array_alignment;
      put_le(content, static_cast<std::uint64_t>(payload.size() - 1 + 1 + pad));
      content.insert(content.end(), payload.begin() + 1, payload.begin() + 9);
      content.push_back(static_cast<unsigned char>(pad));
      content.insert(content.end(), pad, 0);
      content.insert(content.end(), payload.begin() + 9, payload.end());
      continue;
    }
    put_le(content, static_cast<std::uint64_t>(payload.size() - 1));
    content.insert(content.end(), payload.begin() + 1, payload.end());
  }
  std::vector<unsigned char> prelude(archive_magic, archive_magic + 8);
  put_le(prelude, container_version);
  put_le(prelude, static_cast<std::uint64_t>(content.size()));
  std::vector<unsigned char> trailer;
  put_le(trailer, crc32_of(content.data(), content.size()));
  AtomicFile file(path);
  file.write(prelude.data(), prelude.size());
  file.write(content.data(), content.size());
  file.write(trailer.data(), trailer.size());
  file.commit();
}

namespace {
/// The bytes of a whole file: a read-only memory map or a 64-byte aligned copy.
struct FileBytes {
  unsigned char* data = nullptr;
  std::size_t size = 0;
  bool mapped = false;
  ~FileBytes() {
    if (data == nullptr) return;
    if (mapped)
      ::munmap(data, size);
    else
      ::operator delete(data, std::align_val_t{array_alignment});
  }
};

std::size_t element_bytes(unsigned char type) { return type == 'I' ? 4 : 8; }
}  // namespace

ArchiveReader::ArchiveReader(const std::string& path, const std::string& expected_kind) : path_(path) {
  detail::InputFile file(path);
  if (file.size() == 0) io_fail(path, "empty file, not a lowdim archive");
  if (file.size() < static_cast<std::int64_t>(prelude_bytes + 4))
    io_fail(path, "not a lowdim archive: {} bytes is shorter than the {}-byte minimum", file.size(), prelude_bytes + 4);
  unsigned char prelude[prelude_bytes];
  if (file.read_at(prelude, prelude_bytes, 0) != prelude_bytes) io_fail(path, "truncated archive header");
  if (std::memcmp(prelude, archive_magic, 8) != 0) io_fail(path, "not a lowdim archive: bad magic");
  const auto format = get_le<std::uint32_t>(prelude + 8);
  if (format != container_version)
    io_fail(path, "unsupported archive container version {} (this build reads version {})", format, container_version);
  const auto length = get_le<std::uint64_t>(prelude + 12);
  const auto available = static_cast<std::uint64_t>(file.size()) - prelude_bytes - 4;
  if (length != available)
    io_fail(path, "corrupt archive: the header claims {} bytes of content, the file holds {} (truncated or padded)",
            length, available);
  // The claimed length equals the file's size, so what is allocated or mapped now is the file.
  auto bytes = std::make_shared<FileBytes>();
  bytes->size = static_cast<std::size_t>(file.size());
  if (file.size() >= map_threshold) {
    void* base = ::mmap(nullptr, bytes->size, PROT_READ, MAP_SHARED, file.fd(), 0);
    if (base == MAP_FAILED) io_fail(path, "mmap failed: {}", detail::errno_message(errno));
    bytes->data = static_cast<unsigned char*>(base);
    bytes->mapped = true;
  } else {
    bytes->data = static_cast<unsigned char*>(::operator new(bytes->size, std::align_val_t{array_alignment}));
    if (file.read_at(bytes->data, bytes->size, 0) != bytes->size)
      io_fail(path, "truncated archive: the file shrank while it was read");
    if (std::memcmp(bytes->data, prelude, prelude_bytes) != 0)
      io_fail(path, "corrupt archive: the file changed while it was read");
  }
  mapped_ = bytes->mapped;
  const unsigned char* content = bytes->data + prelude_bytes;
  storage_ = bytes;
  const auto stored_crc = get_le<std::uint32_t>(content + length);
  const auto actual_crc = crc32_of(content, static_cast<std::size_t>(length));
  if (stored_crc != actual_crc)
    io_fail(path, "corrupt archive: CRC-32 mismatch (stored {:08x}, computed {:08x})", stored_crc, actual_crc);

  Cursor cursor(path, content, static_cast<std::size_t>(length));
  const std::string kind = cursor.text("the kind");
  if (kind != expected_kind) io_fail(path, "wrong archive kind: the file holds a '{}', expected a '{}'", kind, expected_kind);
  version_ = cursor.number<std::uint32_t>("the version");
  const auto count = cursor.number<std::uint64_t>("the entry count");
  for (std::uint64_t e = 0; e < count; ++e) {
    std::string name = cursor.text("an entry name");
    const unsigned char type = *cursor.take(1, "an entry type");
    const auto size = cursor.number<std::uint64_t>("an entry length");
    const unsigned char* payload = cursor.take(size, fmt::format("entry '{}'", name));
    bool ok = true;
    switch (type) {
      case 'd':
      case 'i': ok = size == 8; break;
      case 's': break;
      case 'f':
      case 'D': {
        const std::size_t element = type == 'f' ? 4 : 8;
        if (size < 16) {
          ok = false;
          break;
        }
        const auto rows = get_le<std::uint64_t>(payload), cols = get_le<std::uint64_t>(payload + 8);
        std::uint64_t n = 0;
        ok = rows <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) &&
             cols <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) &&
             !__builtin_mul_overflow(rows, cols, &n) && !__builtin_mul_overflow(n, element, &n) && n == size - 16;
        break;
      }
      case 'I':
      case 'L':
      case 'U':
      case 'B': {
        if (size < 9) {
          ok = false;
          break;
        }
        const auto n = get_le<std::uint64_t>(payload);
        const unsigned pad = payload[8];
        const std::uint64_t elements = type == 'B' ? n / 64 + (n % 64 != 0) : n;
        std::uint64_t data_bytes = 0;
        ok = pad < array_alignment && !__builtin_mul_overflow(elements, element_bytes(type), &data_bytes) &&
             size - 9 >= pad && size - 9 - pad == data_bytes &&
             std::all_of(payload + 9, payload + 9 + pad, [](unsigned char b) { return b == 0; });
        if (ok && type == 'B' && n % 64 != 0 &&
            (get_le<std::uint64_t>(payload + size - 8) >> (n % 64)) != 0)
          io_fail(path, "corrupt archive: bitset '{}' sets bits past its size {}", name, n);
        break;
      }
      default: io_fail(path, "corrupt archive: entry '{}' has unknown type code {}", name, static_cast<int>(type));
    }
    if (!ok) io_fail(path, "corrupt archive: entry '{}' ({}) has an inconsistent length {}", name, type_name(static_cast<char>(type)), size);
    if (has(name)) io_fail(path, "corrupt archive: entry '{}' appears twice", name);
    entries_.push_back(Entry{std::move(name), static_cast<char>(type), payload, size});
  }
  if (!cursor.done()) io_fail(path, "corrupt archive: bytes after the last of {} entries", count);
}

bool ArchiveReader::has(const std::string& name) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
}

const ArchiveReader::Entry& ArchiveReader::entry(const std::string& name, char type) const {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
  if (it == entries_.end()) io_fail(path_, "archive has no entry '{}'", name);
  const char stored = it->type;
  const bool matrix_ok = (type == 'f' || type == 'D') && (stored == 'f' || stored == 'D');
  if (stored != type && !matrix_ok)
    io_fail(path_, "archive entry '{}' is a {}, not a {}", name, type_name(stored), type_name(type));
  return *it;
}

double ArchiveReader::get_double(const std::string& name) const {
  return std::bit_cast<double>(get_le<std::uint64_t>(entry(name, 'd').payload));
}

std::int64_t ArchiveReader::get_int(const std::string& name) const {
  return static_cast<std::int64_t>(get_le<std::uint64_t>(entry(name, 'i').payload));
}

std::string ArchiveReader::get_string(const std::string& name) const {
  const auto& e = entry(name, 's');
  return std::string(reinterpret_cast<const char*>(e.payload), e.size);
}

template <class T>
Matrix<T> ArchiveReader::get_matrix(const std::string& name) const {
  const auto& e = entry(name, std::is_same_v<T, float> ? 'f' : 'D');
  const unsigned char* p = e.payload;
  const auto rows = static_cast<std::int64_t>(get_le<std::uint64_t>(p));
  const auto cols = static_cast<std::int64_t>(get_le<std::uint64_t>(p + 8));
  auto m = Matrix<T>::uninitialized(rows, cols);
  // Either precision is accepted; a stored float matrix read as double widens exactly.
  if (e.type == 'f') {
    for (std::int64_t i = 0; i < rows * cols; ++i)
      m.data()[i] = static_cast<T>(std::bit_cast<float>(get_le<std::uint32_t>(p + 16 + 4 * i)));
  } else {
    for (std::int64_t i = 0; i < rows * cols; ++i)
      m.data()[i] = static_cast<T>(std::bit_cast<double>(get_le<std::uint64_t>(p + 16 + 8 * i)));
  }
  return m;
}

template <class T>
SharedArray<T> ArchiveReader::array_at(const Entry& e, std::uint64_t count, std::uint64_t data_offset) const {
  const unsigned char* data = e.payload + data_offset;
  if (detail::host_little_endian() && reinterpret_cast<std::uintptr_t>(data) % alignof(T) == 0)
    return SharedArray<T>(storage_, reinterpret_cast<const T*>(data), static_cast<std::size_t>(count), mapped_);
  // A big-endian host or a misaligned (hand-made) file: a converted copy.
  auto copy = std::make_shared<std::vector<T>>(static_cast<std::size_t>(count));
  using W = std::make_unsigned_t<T>;
  for (std::uint64_t i = 0; i < count; ++i) (*copy)[i] = static_cast<T>(get_le<W>(data + sizeof(T) * i));
  const T* first = copy->data();
  return SharedArray<T>(std::move(copy), first, static_cast<std::size_t>(count), false);
}

template <class T>
SharedArray<T> ArchiveReader::get_array(const std::string& name) const {
  constexpr char type = std::is_same_v<T, std::int32_t> ? 'I' : std::is_same_v<T, std::int64_t> ? 'L' : 'U';
  const Entry& e = entry(name, type);
  return array_at<T>(e, get_le<std::uint64_t>(e.payload), 9 + e.payload[8]);
}

SharedBitset ArchiveReader::get_bitset(const std::string& name) const {
  const Entry& e = entry(name, 'B');
  const auto bits = get_le<std::uint64_t>(e.payload);
  return SharedBitset{array_at<std::uint64_t>(e, bits / 64 + (bits % 64 != 0), 9 + e.payload[8]), bits};
}

template LOWDIM_API SharedArray<std::int32_t> ArchiveReader::get_array<std::int32_t>(const std::string&) const;
template LOWDIM_API SharedArray<std::int64_t> ArchiveReader::get_array<std::int64_t>(const std::string&) const;
template LOWDIM_API SharedArray<std::uint64_t> ArchiveReader::get_array<std::uint64_t>(const std::string&) const;

template LOWDIM_API Matrix<float> ArchiveReader::get_matrix<float>(const std::string&) const;
template LOWDIM_API Matrix<double> ArchiveReader::get_matrix<double>(const std::string&) const;

}  // namespace lowdim
