// Format detection and header parsing for .npy, IDX and .fvecs/.ivecs, with
// every claimed size checked against what the file can hold.

#include "detail/io_stream.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

namespace lowdim {

const char* to_string(DType dtype) noexcept {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int8: return "int8";
    case DType::uint8: return "uint8";
    case DType::int16: return "int16";
    case DType::uint16: return "uint16";
    case DType::int32: return "int32";
    case DType::uint32: return "uint32";
    case DType::int64: return "int64";
    case DType::uint64: return "uint64";
  }
  return "unknown";
}

const char* to_string(FileFormat format) noexcept {
  switch (format) {
    case FileFormat::npy: return "npy";
    case FileFormat::idx: return "idx";
    case FileFormat::fvecs: return "fvecs";
    case FileFormat::ivecs: return "ivecs";
  }
  return "unknown";
}

std::size_t size_of(DType dtype) noexcept {
  switch (dtype) {
    case DType::int8:
    case DType::uint8: return 1;
    case DType::int16:
    case DType::uint16: return 2;
    case DType::float32:
    case DType::int32:
    case DType::uint32: return 4;
    case DType::float64:
    case DType::int64:
    case DType::uint64: return 8;
  }
  return 1;
}

bool is_integer(DType dtype) noexcept { return dtype != DType::float32 && dtype != DType::float64; }

std::int64_t ArrayInfo::rows() const noexcept { return shape.empty() ? 1 : shape[0]; }

std::int64_t ArrayInfo::cols() const noexcept {
  std::int64_t c = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) c *= shape[i];  // validated not to overflow by probe
  return c;
}

namespace detail {

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::int64_t data_bytes(const ArrayInfo& info) {
  const auto element = static_cast<std::int64_t>(size_of(info.dtype));
  if (info.format == FileFormat::fvecs || info.format == FileFormat::ivecs)
    return info.rows() * (4 + info.cols() * element);
  return info.rows() * info.cols() * element;
}

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string lower_name(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  return name;
}

/// Multiplies the dimensions and the element size, failing on overflow.
std::int64_t checked_bytes(const std::string& path, const std::vector<std::int64_t>& shape, std::size_t element) {
  // The product of the non-zero dimensions must fit too (as numpy requires), so
  // a zero cannot hide an absurd shape such as (0, 2^40, 2^40).
  std::int64_t n = static_cast<std::int64_t>(element), nonzero = n;
  for (std::int64_t d : shape) {
    if (d < 0) io_fail(path, "negative dimension {} in shape {}", d, shape_string(shape));
    if (__builtin_mul_overflow(nonzero, std::max<std::int64_t>(d, 1), &nonzero))
      io_fail(path, "shape {} overflows: more than 2^63 bytes of data", shape_string(shape));
    n *= d;
  }
  return n;
}

/// A plain file must hold exactly the data its header describes; a gzip file can
/// hold at most ~1032× its size (the check is exact once it is read).
void check_against_file(const InputFile& file, const ArrayInfo& info, std::string_view kind) {
  const std::int64_t need = data_bytes(info);
  if (info.gzip) {
    if (need > gzip_max_expansion(file.size()) - info.data_offset)
      io_fail(file.path(),
              "{} header claims shape {} of {} ({} bytes), more than a {}-byte gzip file can hold", kind,
              shape_string(info.shape), to_string(info.dtype), need, file.size());
    return;
  }
  const std::int64_t have = file.size() - info.data_offset;
  if (have < need)
    io_fail(file.path(), "truncated {} data: the header claims shape {} of {} ({} bytes) but the file holds {} bytes after the header",
            kind, shape_string(info.shape), to_string(info.dtype), need, std::max<std::int64_t>(have, 0));
  if (have > need)
    io_fail(file.path(), "{} file has {} bytes after the {} bytes of data its header describes (shape {} of {})", kind,
            have - need, need, shape_string(info.shape), to_string(info.dtype));
}

// ---- .npy

class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), s_(text) {}

  void parse(ArrayInfo& info) {
    bool have_descr = false, have_order = false, have_shape = false;
    std::string descr;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal("a dictionary key");
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          io_fail(path_, "unsupported .npy dtype: structured or non-string descr (only plain numbers are read)");
        descr = string_literal("the descr value");
        have_descr = true;
      } else if (key == "fortran_order") {
        info.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        info.shape = tuple();
        have_shape = true;
      } else {
        io_fail(path_, "malformed .npy header: unexpected key '{}'", key);
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail_here("',' or '}'");
    }
    ++i_;
    skip_space();
    if (i_ != s_.size()) fail_here("the end of the header");
    if (!have_descr || !have_order || !have_shape)
      io_fail(path_, "malformed .npy header: missing key '{}'",
              !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    parse_descr(descr, info);
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  [[noreturn]] void fail_here(std::string_view expected) const {
    io_fail(path_, "malformed .npy header: expected {} at character {} of '{}'", expected, i_, printable());
  }
  std::string printable() const {
    std::string out;
    for (char c : s_.substr(0, 200))
      out += (c >= 32 && c < 127) ? std::string(1, c) : fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    return out;
  }
  void expect(char c) {
    if (peek() != c) fail_here(fmt::format("'{}'", c));
    ++i_;
  }
  std::string string_literal(std::string_view what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail_here(what);
    const std::size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != quote) ++i_;
    if (i_ >= s_.size()) fail_here("a closing quote");
    return std::string(s_.substr(start, i_++ - start));
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail_here("True or False for fortran_order");
  }
  std::vector<std::int64_t> tuple() {
    std::vector<std::int64_t> shape;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      shape.push_back(integer());
      if (shape.size() > 64) io_fail(path_, "malformed .npy header: shape has more than 64 dimensions");
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != ')') fail_here("',' or ')' in the shape");
    }
    ++i_;
    return shape;
  }
  std::int64_t integer() {
    bool negative = false;
    if (peek() == '-') negative = true, ++i_;
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail_here("a dimension");
    std::int64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v))
        io_fail(path_, "dimension in shape overflows a 64-bit integer");
      ++i_;
    }
    if (peek() == 'L') ++i_;  // Python 2 long literal
    if (negative) io_fail(path_, "negative dimension -{} in .npy shape", v);
    return v;
  }
  void parse_descr(const std::string& descr, ArrayInfo& info) const {
    auto unsupported = [&] { io_fail(path_, "unsupported .npy dtype '{}'", descr); };
    if (descr.size() < 3) unsupported();
    const char order = descr[0], kind = descr[1];
    const std::string_view size = std::string_view(descr).substr(2);
    static constexpr struct {
      char kind;
      std::string_view size;
      DType dtype;
    } table[] = {{'f', "4", DType::float32}, {'f', "8", DType::float64}, {'i', "1", DType::int8},
                 {'u', "1", DType::uint8},   {'i', "2", DType::int16},   {'u', "2", DType::uint16},
                 {'i', "4", DType::int32},   {'u', "4", DType::uint32},  {'i', "8", DType::int64},
                 {'u', "8", DType::uint64}};
    const auto* match = std::find_if(std::begin(table), std::end(table),
                                     [&](const auto& row) { return row.kind == kind && row.size == size; });
    if (match == std::end(table)) unsupported();
    info.dtype = match->dtype;
    if (order == '<' || order == '|' || order == '=') {
      info.big_endian = order == '=' && !host_little_endian() && size_of(info.dtype) > 1;
    } else if (order == '>') {
      info.big_endian = size_of(info.dtype) > 1;
    } else {
      unsupported();
    }
    if (order == '|' && size_of(info.dtype) > 1)
      io_fail(path_, "malformed .npy dtype '{}': byte order '|' is only valid for 1-byte types", descr);
  }

  const std::string& path_;
  std::string_view s_;
  std::size_t i_ = 0;
};

ArrayInfo probe_npy(const InputFile& file, ByteStream& stream, ArrayInfo info) {
  unsigned char prelude[12];
  read_exact(stream, file, prelude, 8, ".npy header");
  const int major = prelude[6], minor = prelude[7];
  std::int64_t header_length = 0;
  if (major == 1 && minor == 0) {
    read_exact(stream, file, prelude + 8, 2, ".npy header");
    header_length = prelude[8] | prelude[9] << 8;
  } else if ((major == 2 || major == 3) && minor == 0) {
    read_exact(stream, file, prelude + 8, 4, ".npy header");
    header_length = static_cast<std::int64_t>(prelude[8]) | static_cast<std::int64_t>(prelude[9]) << 8 |
                    static_cast<std::int64_t>(prelude[10]) << 16 | static_cast<std::int64_t>(prelude[11]) << 24;
  } else {
    io_fail(file.path(), "unsupported .npy format version {}.{} (1.0, 2.0 and 3.0 are read)", major, minor);
  }
  const std::int64_t prelude_length = stream.position();
  constexpr std::int64_t max_header = std::int64_t{1} << 20;
  if (header_length > max_header)
    io_fail(file.path(), "malformed .npy header: header length {} exceeds the {}-byte limit", header_length, max_header);
  if (!stream.gzip() && header_length > file.size() - prelude_length)
    io_fail(file.path(), "truncated .npy header: it claims {} bytes, the file holds {} after the preamble",
            header_length, file.size() - prelude_length);
  std::string header(static_cast<std::size_t>(header_length), '\0');
  read_exact(stream, file, header.data(), header.size(), ".npy header");
  info.data_offset = prelude_length + header_length;
  HeaderParser(file.path(), header).parse(info);
  if (info.fortran_order && info.shape.size() <= 1) info.fortran_order = false;  // same bytes either way
  checked_bytes(file.path(), info.shape, size_of(info.dtype));
  check_against_file(file, info, ".npy");
  return info;
}

// ---- IDX

bool idx_type(unsigned char code, DType& dtype) {
  switch (code) {
    case 0x08: dtype = DType::uint8; return true;
    case 0x09: dtype = DType::int8; return true;
    case 0x0B: dtype = DType::int16; return true;
    case 0x0C: dtype = DType::int32; return true;
    case 0x0D: dtype = DType::float32; return true;
    case 0x0E: dtype = DType::float64; return true;
    default: return false;
  }
}

ArrayInfo probe_idx(const InputFile& file, ByteStream& stream, ArrayInfo info, const unsigned char* magic) {
  if (!idx_type(magic[2], info.dtype))
    io_fail(file.path(), "unsupported IDX dtype code 0x{:02x} (0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e are defined)",
            magic[2]);
  const int rank = magic[3];
  if (rank == 0) io_fail(file.path(), "malformed IDX header: rank 0 (no dimensions)");
  info.big_endian = size_of(info.dtype) > 1;
  std::vector<unsigned char> dims(static_cast<std::size_t>(rank) * 4);
  read_exact(stream, file, dims.data(), dims.size(), "IDX header");
  for (int i = 0; i < rank; ++i) {
    const unsigned char* p = dims.data() + 4 * i;
    const std::uint32_t d = static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
                            static_cast<std::uint32_t>(p[2]) << 8 | p[3];
    // Dimensions are unsigned 32-bit in the IDX definition; a value ≥ 2^31 is
    // what a negative number written as int32 looks like.
    if (d > static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max()))
      io_fail(file.path(), "malformed IDX header: dimension {} is {} (negative as int32: {})", i, d,
              static_cast<std::int32_t>(d));
    info.shape.push_back(d);
  }
  info.data_offset = 4 + 4 * static_cast<std::int64_t>(rank);
  checked_bytes(file.path(), info.shape, size_of(info.dtype));
  check_against_file(file, info, "IDX");
  return info;
}

// ---- .fvecs / .ivecs

std::int32_t little_int32(const unsigned char* p) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                                   static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24);
}

/// Walks the rows of a vecs stream from its start, checking each prefix; returns the row count.
std::int64_t scan_vecs(const InputFile& file, ByteStream& stream, std::int32_t dim, std::string_view kind) {
  const std::int64_t payload = 4 * static_cast<std::int64_t>(dim);
  std::int64_t rows = 0;
  for (;;) {
    unsigned char prefix[4];
    const std::size_t got = stream.read(prefix, 4);
    if (got == 0) return rows;
    if (got < 4) io_fail(file.path(), "truncated {}: row {} ends inside its length prefix", kind, rows);
    const std::int32_t d = little_int32(prefix);
    if (d != dim)
      io_fail(file.path(), "ragged {}: row {} has dimension {}, row 0 has {}", kind, rows, d, dim);
    const std::int64_t skipped = stream.skip(payload);
    if (skipped != payload)
      io_fail(file.path(), "truncated {}: row {} has {} of its {} values", kind, rows, skipped / 4, dim);
    ++rows;
  }
}

ArrayInfo probe_vecs(const InputFile& file, ByteStream& stream, ArrayInfo info) {
  const char* kind = info.format == FileFormat::fvecs ? ".fvecs" : ".ivecs";
  info.dtype = info.format == FileFormat::fvecs ? DType::float32 : DType::int32;
  unsigned char prefix[4];
  read_exact(stream, file, prefix, 4, fmt::format("{} row 0 length prefix", kind));
  const std::int32_t dim = little_int32(prefix);
  if (dim <= 0) io_fail(file.path(), "malformed {}: row 0 has dimension {} (must be positive)", kind, dim);
  const std::int64_t record = 4 + 4 * static_cast<std::int64_t>(dim);
  std::int64_t rows = 0;
  if (!stream.gzip() && file.size() % record == 0) {
    rows = file.size() / record;
  } else {
    if (!stream.gzip() && file.size() < record)
      io_fail(file.path(), "truncated {}: row 0 has dimension {} ({} bytes) but the file holds {} bytes", kind, dim,
              record, file.size());
    stream.rewind();
    rows = scan_vecs(file, stream, dim, kind);  // names the ragged or truncated row
  }
  info.shape = {rows, dim};
  info.data_offset = 0;
  return info;
}

}  // namespace

ArrayInfo probe_stream(const InputFile& file, ByteStream& stream) {
  if (file.size() == 0) io_fail(file.path(), "empty file");
  ArrayInfo info;
  info.gzip = stream.gzip();
  info.file_size = file.size();
  const std::string name = lower_name(file.path());
  unsigned char magic[6] = {0, 0, 0, 0, 0, 0};
  const std::size_t got = stream.read(magic, 6);
  if (got == 0) io_fail(file.path(), "empty file (the gzip stream decompresses to nothing)");
  stream.rewind();
  static constexpr unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  const bool is_npy = got == 6 && std::memcmp(magic, npy_magic, 6) == 0;
  DType ignored;
  const bool named_idx = name.find("idx") != std::string::npos || ends_with(name, "ubyte");
  const bool is_idx = got >= 4 && magic[0] == 0 && magic[1] == 0 && (named_idx || idx_type(magic[2], ignored));
  if (is_npy) {
    info.format = FileFormat::npy;
    return probe_npy(file, stream, info);
  }
  if (ends_with(name, ".fvecs") || ends_with(name, ".ivecs")) {
    info.format = ends_with(name, ".fvecs") ? FileFormat::fvecs : FileFormat::ivecs;
    return probe_vecs(file, stream, info);
  }
  if (is_idx) {
    info.format = FileFormat::idx;
    unsigned char head[4];
    read_exact(stream, file, head, 4, "IDX magic");
    return probe_idx(file, stream, info, head);
  }
  std::string first;
  for (std::size_t i = 0; i < got; ++i) first += fmt::format("{}{:02x}", i == 0 ? "" : " ", magic[i]);
  if (ends_with(name, ".npy"))
    io_fail(file.path(), "not an .npy file: bad magic [{}] (expected 93 4e 55 4d 50 59, \"\\x93NUMPY\")", first);
  if (named_idx)
    io_fail(file.path(), "not an IDX file: bad magic [{}] (expected 00 00 <type> <rank>)", first);
  io_fail(file.path(),
          "unrecognised file format: first bytes [{}] match neither .npy nor IDX, and the name does not end in "
          ".fvecs or .ivecs",
          first);
}

}  // namespace detail

ArrayInfo probe(const std::string& path) {
  detail::InputFile file(path);
  detail::ByteStream stream(file);
  return detail::probe_stream(file, stream);
}

}  // namespace lowdim
