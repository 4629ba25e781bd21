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
// matrix (u64 rows, u64 cols, row-major values).

#include "detail/io_stream.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

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
  std::vector<unsigned char> content(static_cast<std::size_t>(length) + 4);
  if (file.read_at(content.data(), content.size(), static_cast<std::int64_t>(prelude_bytes)) != content.size())
    io_fail(path, "truncated archive: the file shrank while it was read");
  const auto stored_crc = get_le<std::uint32_t>(content.data() + length);
  const auto actual_crc = crc32_of(content.data(), static_cast<std::size_t>(length));
  if (stored_crc != actual_crc)
    io_fail(path, "corrupt archive: CRC-32 mismatch (stored {:08x}, computed {:08x})", stored_crc, actual_crc);

  Cursor cursor(path, content.data(), static_cast<std::size_t>(length));
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
      default: io_fail(path, "corrupt archive: entry '{}' has unknown type code {}", name, static_cast<int>(type));
    }
    if (!ok) io_fail(path, "corrupt archive: entry '{}' ({}) has an inconsistent length {}", name, type_name(static_cast<char>(type)), size);
    if (has(name)) io_fail(path, "corrupt archive: entry '{}' appears twice", name);
    std::vector<unsigned char> stored{type};
    stored.insert(stored.end(), payload, payload + size);
    entries_.emplace_back(std::move(name), std::move(stored));
  }
  if (!cursor.done()) io_fail(path, "corrupt archive: bytes after the last of {} entries", count);
}

bool ArchiveReader::has(const std::string& name) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == name; });
}

const std::vector<unsigned char>& ArchiveReader::entry(const std::string& name, char type) const {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == name; });
  if (it == entries_.end()) io_fail(path_, "archive has no entry '{}'", name);
  const char stored = static_cast<char>(it->second[0]);
  const bool matrix_ok = (type == 'f' || type == 'D') && (stored == 'f' || stored == 'D');
  if (stored != type && !matrix_ok)
    io_fail(path_, "archive entry '{}' is a {}, not a {}", name, type_name(stored), type_name(type));
  return it->second;
}

double ArchiveReader::get_double(const std::string& name) const {
  return std::bit_cast<double>(get_le<std::uint64_t>(entry(name, 'd').data() + 1));
}

std::int64_t ArchiveReader::get_int(const std::string& name) const {
  return static_cast<std::int64_t>(get_le<std::uint64_t>(entry(name, 'i').data() + 1));
}

std::string ArchiveReader::get_string(const std::string& name) const {
  const auto& e = entry(name, 's');
  return std::string(reinterpret_cast<const char*>(e.data() + 1), e.size() - 1);
}

template <class T>
Matrix<T> ArchiveReader::get_matrix(const std::string& name) const {
  const auto& e = entry(name, std::is_same_v<T, float> ? 'f' : 'D');
  const unsigned char* p = e.data() + 1;
  const auto rows = static_cast<std::int64_t>(get_le<std::uint64_t>(p));
  const auto cols = static_cast<std::int64_t>(get_le<std::uint64_t>(p + 8));
  auto m = Matrix<T>::uninitialized(rows, cols);
  // Either precision is accepted; a stored float matrix read as double widens exactly.
  if (e[0] == 'f') {
    for (std::int64_t i = 0; i < rows * cols; ++i)
      m.data()[i] = static_cast<T>(std::bit_cast<float>(get_le<std::uint32_t>(p + 16 + 4 * i)));
  } else {
    for (std::int64_t i = 0; i < rows * cols; ++i)
      m.data()[i] = static_cast<T>(std::bit_cast<double>(get_le<std::uint64_t>(p + 16 + 8 * i)));
  }
  return m;
}

template LOWDIM_API Matrix<float> ArchiveReader::get_matrix<float>(const std::string&) const;
template LOWDIM_API Matrix<double> ArchiveReader::get_matrix<double>(const std::string&) const;

}  // namespace lowdim
