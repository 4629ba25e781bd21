#include "test_support.hpp"

#include <lowdim/io.hpp>

#include <catch2/catch.hpp>
#include <zlib.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

using namespace lowdim;
using namespace lowdim::test;
using Catch::Contains;

namespace {

namespace fs = std::filesystem;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string gzip(const std::string& bytes) {
  uLongf capacity = compressBound(static_cast<uLong>(bytes.size())) + 64;
  std::string out(capacity, '\0');
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// Bytes of one element, in the requested byte order.
template <class S>
std::string encode(double value, bool big_endian) {
  const S v = static_cast<S>(value);
  std::string b(sizeof(S), '\0');
  std::memcpy(b.data(), &v, sizeof(S));
  if (big_endian) std::reverse(b.begin(), b.end());
  return b;
}

/// The value of element flat index f (C order) of a test array: small integers,
/// negative for signed types, so every dtype represents them exactly.
double test_value(std::int64_t f, bool is_signed) { return static_cast<double>(f) - (is_signed ? 7.0 : 0.0); }

/// A hand-made .npy file (any version, order, byte order, padding).
std::string npy_file(int major, const std::string& descr, bool fortran, const std::string& shape,
                     const std::string& data) {
  std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
  const std::size_t prelude = major == 1 ? 10 : 12;
  while ((prelude + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t n = dict.size();
  for (std::size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + dict + data;
}

/// Data of a rank-3 (2, 3, 4) or rank-2 (3, 5) array in C or Fortran order;
/// expected is the rows × cols matrix the reader must produce.
template <class S>
std::string array_data(const std::vector<std::int64_t>& shape, bool fortran, bool big_endian, Matrix<double>& expected) {
  std::int64_t total = 1;
  for (auto d : shape) total *= d;
  const std::int64_t rows = shape[0], cols = total / rows;
  expected = Matrix<double>(rows, cols);
  for (std::int64_t f = 0; f < total; ++f) expected.data()[f] = test_value(f, std::is_signed_v<S>);
  std::string data;
  // Walk the multi-index in file order: C = last index fastest, Fortran = first fastest.
  std::vector<std::int64_t> index(shape.size(), 0);
  for (std::int64_t n = 0; n < total; ++n) {
    std::int64_t c_flat = 0;
    for (std::size_t k = 0; k < shape.size(); ++k) c_flat = c_flat * shape[k] + index[k];
    data += encode<S>(test_value(c_flat, std::is_signed_v<S>), big_endian);
    if (fortran) {
      for (std::size_t k = 0; k < shape.size() && ++index[k] == shape[k]; ++k) index[k] = 0;
    } else {
      for (std::size_t k = shape.size(); k-- > 0 && ++index[k] == shape[k];) index[k] = 0;
    }
  }
  return data;
}

struct DTypeCase {
  const char* npy;  // kind+size, e.g. "f4"
  DType dtype;
  unsigned char idx_code;  // 0 when IDX has no such type
};

template <class Fn>
void for_each_dtype(Fn fn) {
  fn.template operator()<float>(DTypeCase{"f4", DType::float32, 0x0D});
  fn.template operator()<double>(DTypeCase{"f8", DType::float64, 0x0E});
  fn.template operator()<std::int8_t>(DTypeCase{"i1", DType::int8, 0x09});
  fn.template operator()<std::uint8_t>(DTypeCase{"u1", DType::uint8, 0x08});
  fn.template operator()<std::int16_t>(DTypeCase{"i2", DType::int16, 0x0B});
  fn.template operator()<std::uint16_t>(DTypeCase{"u2", DType::uint16, 0});
  fn.template operator()<std::int32_t>(DTypeCase{"i4", DType::int32, 0x0C});
  fn.template operator()<std::uint32_t>(DTypeCase{"u4", DType::uint32, 0});
  fn.template operator()<std::int64_t>(DTypeCase{"i8", DType::int64, 0});
  fn.template operator()<std::uint64_t>(DTypeCase{"u8", DType::uint64, 0});
}

template <class T>
void require_equal(ConstMatrixView<T> got, ConstMatrixView<double> expected) {
  REQUIRE(got.rows() == expected.rows());
  REQUIRE(got.cols() == expected.cols());
  for (std::int64_t i = 0; i < got.rows(); ++i)
    for (std::int64_t j = 0; j < got.cols(); ++j) REQUIRE(static_cast<double>(got(i, j)) == expected(i, j));
}

/// Reads the file with RowReader in blocks of `block` rows into a wider buffer
/// (stride != cols) and returns the assembled matrix.
template <class T>
Matrix<T> read_in_blocks(const std::string& path, std::int64_t block) {
  RowReader reader(path);
  auto out = Matrix<T>::uninitialized(reader.rows(), reader.cols());
  Matrix<T> buffer(std::max<std::int64_t>(block, 1), reader.cols() + 3);
  std::int64_t at = 0;
  for (;;) {
    const std::int64_t got = reader.read(buffer.block(0, 1, block, reader.cols()));
    if (got == 0) break;
    REQUIRE(got <= block);
    out.row_block(at, got).copy_from(buffer.block(0, 1, got, reader.cols()));
    at += got;
    REQUIRE(reader.position() == at);
  }
  REQUIRE(at == reader.rows());
  return out;
}

std::string idx_file(unsigned char code, const std::vector<std::uint32_t>& dims, const std::string& data) {
  std::string out{'\0', '\0', static_cast<char>(code), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int k = 3; k >= 0; --k) out += static_cast<char>((d >> (8 * k)) & 0xff);
  return out + data;
}

std::size_t files_in(const fs::path& directory) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(directory), fs::directory_iterator()));
}

}  // namespace

// ---------------------------------------------------------------- .npy

TEMPLATE_TEST_CASE("write_npy and read_matrix round-trip matrices and vectors exactly", "[io][npy]", float, double) {
  TempDir dir("io_npy_roundtrip");
  auto big = gaussian<TestType>(9, 12, 5);
  const auto strided = big.block(1, 2, 7, 9);  // stride 12 != cols 9
  write_npy<TestType>(dir.file("m.npy"), strided);
  const ArrayInfo info = probe(dir.file("m.npy"));
  REQUIRE(info.format == FileFormat::npy);
  REQUIRE(info.dtype == (std::is_same_v<TestType, float> ? DType::float32 : DType::float64));
  REQUIRE(info.shape == std::vector<std::int64_t>{7, 9});
  REQUIRE(info.data_offset % 64 == 0);  // aligned for memory mapping, as numpy does
  REQUIRE(!info.fortran_order);
  auto back = read_matrix<TestType>(dir.file("m.npy"));
  REQUIRE(max_abs_diff<TestType>(back, strided) == 0);

  const std::vector<TestType> values{1.5, -2.25, 3e10};
  write_npy<TestType>(dir.file("v.npy"), std::span<const TestType>(values));
  REQUIRE(probe(dir.file("v.npy")).shape == std::vector<std::int64_t>{3});
  auto column = read_matrix<double>(dir.file("v.npy"));
  REQUIRE(column.rows() == 3);
  REQUIRE(column.cols() == 1);
  for (std::size_t i = 0; i < values.size(); ++i)
    REQUIRE(column(static_cast<std::int64_t>(i), 0) == static_cast<double>(values[i]));

  // An empty matrix is a valid file too.
  write_npy<TestType>(dir.file("empty.npy"), ConstMatrixView<TestType>(nullptr, 0, 4));
  auto empty = read_matrix<TestType>(dir.file("empty.npy"));
  REQUIRE(empty.rows() == 0);
  REQUIRE(empty.cols() == 4);
}

TEST_CASE("read_matrix reads every dtype, byte order, memory order and header version", "[io][npy]") {
  TempDir dir("io_npy_dtypes");
  int files = 0;
  for_each_dtype([&]<class S>(DTypeCase c) {
    for (bool big : {false, true}) {
      for (bool fortran : {false, true}) {
        for (int version : {1, 2, 3}) {
          for (const auto& shape : {std::vector<std::int64_t>{3, 5}, std::vector<std::int64_t>{2, 3, 4}}) {
            CAPTURE(c.npy, big, fortran, version, shape.size());
            Matrix<double> expected;
            const std::string data = array_data<S>(shape, fortran, big, expected);
            const char order = sizeof(S) == 1 ? '|' : big ? '>' : '<';
            const std::string shape_text =
                shape.size() == 2 ? "(3, 5)" : "(2, 3, 4)";
            const std::string path = dir.file(fmt::format("a{}.npy", files++));
            write_bytes(path, npy_file(version, std::string(1, order) + c.npy, fortran, shape_text, data));
            const ArrayInfo info = probe(path);
            REQUIRE(info.dtype == c.dtype);
            REQUIRE(info.shape == shape);
            REQUIRE(info.fortran_order == fortran);
            REQUIRE(info.big_endian == (big && sizeof(S) > 1));
            require_equal<double>(read_matrix<double>(path), expected);
            require_equal<float>(read_matrix<float>(path), expected);
            for (std::int64_t block : {1, 2, 7})
              require_equal<double>(read_in_blocks<double>(path, block), expected);
          }
        }
      }
    }
  });
}

TEST_CASE("integer dtypes are an error unless conversion is asked for", "[io][npy][errors]") {
  TempDir dir("io_npy_integers");
  Matrix<double> expected;
  write_bytes(dir.file("i.npy"), npy_file(1, "<i4", false, "(3, 5)", array_data<std::int32_t>({3, 5}, false, false, expected)));
  REQUIRE_THROWS_WITH(read_matrix<float>(dir.file("i.npy"), ReadOptions{.convert_integers = false}),
                      Contains("i.npy: holds int32 data") && Contains("convert_integers"));
  REQUIRE_THROWS_AS(RowReader(dir.file("i.npy"), ReadOptions{.convert_integers = false}), io_error);
  require_equal<float>(read_matrix<float>(dir.file("i.npy")), expected);
}

TEST_CASE("rank 0 and rank 1 .npy files read as 1 x 1 and n x 1", "[io][npy]") {
  TempDir dir("io_npy_rank");
  write_bytes(dir.file("s.npy"), npy_file(1, "<f8", false, "()", encode<double>(4.5, false)));
  auto s = read_matrix<double>(dir.file("s.npy"));
  REQUIRE((s.rows() == 1 && s.cols() == 1 && s(0, 0) == 4.5));
  write_bytes(dir.file("v.npy"), npy_file(1, ">i2", true, "(2,)", encode<std::int16_t>(-3, true) + encode<std::int16_t>(9, true)));
  auto v = read_matrix<double>(dir.file("v.npy"));
  REQUIRE((v.rows() == 2 && v.cols() == 1 && v(0, 0) == -3 && v(1, 0) == 9));
}

TEST_CASE("malformed .npy files raise io_error naming the file and the problem", "[io][npy][errors]") {
  TempDir dir("io_npy_bad");
  const auto f = [&](const std::string& name, const std::string& bytes) {
    write_bytes(dir.file(name), bytes);
    return dir.file(name);
  };
  const std::string twelve_floats(48, '\0');
  // Each case: the file, the words the message must hold. probe, read_matrix and RowReader all refuse.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {f("magic.npy", "\x93NUMPZ\x01\x00\x10\x00{}"), "bad magic"},
      {f("empty.npy", ""), "empty file"},
      {f("short.npy", std::string("\x93NUMPY\x01", 7)), "truncated .npy header"},
      {f("version.npy", std::string("\x93NUMPY\x04\x00\x10\x00", 10) + std::string(16, ' ')), "unsupported .npy format version 4.0"},
      {f("truncated.npy", npy_file(1, "<f4", false, "(3, 4)", std::string(20, '\0'))),
       "truncated .npy data: the header claims shape (3, 4) of float32 (48 bytes) but the file holds 20 bytes"},
      {f("claims.npy", npy_file(1, "<f8", false, "(1000000000, 1000000)", twelve_floats)), "truncated .npy data"},
      {f("trailing.npy", npy_file(1, "<f4", false, "(3, 4)", twelve_floats + "xx")), "has 2 bytes after the 48 bytes"},
      {f("overflow.npy", npy_file(1, "<f8", false, "(4294967296, 4294967296)", twelve_floats)), "overflows"},
      {f("huge.npy", npy_file(1, "<f8", false, "(99999999999999999999, 2)", twelve_floats)), "overflows a 64-bit integer"},
      {f("negative.npy", npy_file(1, "<f4", false, "(-3, 4)", twelve_floats)), "negative dimension -3"},
      {f("half.npy", npy_file(1, "<f2", false, "(3, 4)", twelve_floats)), "unsupported .npy dtype '<f2'"},
      {f("complex.npy", npy_file(1, "<c8", false, "(3, 4)", twelve_floats)), "unsupported .npy dtype '<c8'"},
      {f("bool.npy", npy_file(1, "|b1", false, "(3, 4)", twelve_floats)), "unsupported .npy dtype '|b1'"},
      {f("pipe.npy", npy_file(1, "|f4", false, "(3, 4)", twelve_floats)), "only valid for 1-byte types"},
      {f("structured.npy", npy_file(1, "x", false, "(3, 4)", twelve_floats).replace(20, 3, "[('a',")),
       "unsupported .npy dtype: structured"},
      {f("nokey.npy", std::string("\x93NUMPY\x01\x00\x20\x00", 10) + "{'descr': '<f4', 'shape': (1,)}\n"),
       "missing key 'fortran_order'"},
      {f("header_len.npy", std::string("\x93NUMPY\x02\x00\xff\xff\x10\x00", 12) + "{}"), "header length 1114111 exceeds"},
      {f("header_beyond.npy", std::string("\x93NUMPY\x01\x00\xff\x00", 10) + "{}"), "truncated .npy header: it claims 255 bytes"},
      {f("garbage.npy", std::string("\x93NUMPY\x01\x00\x08\x00", 10) + "{'a': 1}"), "unexpected key 'a'"},
  };
  for (const auto& [path, message] : cases) {
    CAPTURE(path);
    REQUIRE_THROWS_AS(probe(path), io_error);
    REQUIRE_THROWS_WITH(probe(path), Contains(path) && Contains(message));
    REQUIRE_THROWS_WITH(read_matrix<float>(path), Contains(path) && Contains(message));
    REQUIRE_THROWS_WITH(RowReader(path), Contains(message));
  }
  REQUIRE_THROWS_WITH(read_matrix<float>(dir.file("missing.npy")),
                      Contains("missing.npy: cannot open: No such file or directory"));
  REQUIRE_THROWS_WITH(read_matrix<float>(dir.path().string()), Contains("is a directory, not a file"));
  write_bytes(dir.file("unknown.bin"), "hello world");
  REQUIRE_THROWS_WITH(probe(dir.file("unknown.bin")), Contains("unrecognised file format: first bytes [68 65 6c 6c 6f 20]"));
}

// ---------------------------------------------------------------- IDX

TEST_CASE("IDX files of every dtype read plain and gzip-compressed", "[io][idx]") {
  TempDir dir("io_idx");
  int files = 0;
  for_each_dtype([&]<class S>(DTypeCase c) {
    if (c.idx_code == 0) return;
    Matrix<double> expected;
    const std::string data = array_data<S>({2, 3, 4}, false, true, expected);
    const std::string bytes = idx_file(c.idx_code, {2, 3, 4}, data);
    for (bool compressed : {false, true}) {
      CAPTURE(c.npy, compressed);
      const std::string path = dir.file(fmt::format("x{}-idx3-ubyte{}", files++, compressed ? ".gz" : ""));
      write_bytes(path, compressed ? gzip(bytes) : bytes);
      const ArrayInfo info = probe(path);
      REQUIRE(info.format == FileFormat::idx);
      REQUIRE(info.dtype == c.dtype);
      REQUIRE(info.gzip == compressed);
      REQUIRE(info.shape == std::vector<std::int64_t>{2, 3, 4});
      REQUIRE((info.rows() == 2 && info.cols() == 12));
      require_equal<double>(read_matrix<double>(path), expected);
      for (std::int64_t block : {1, 7}) require_equal<float>(read_in_blocks<float>(path, block), expected);
    }
  });
}

TEST_CASE("malformed IDX files, plain and gzip, raise io_error naming the problem", "[io][idx][errors]") {
  TempDir dir("io_idx_bad");
  const auto f = [&](const std::string& name, const std::string& bytes) {
    write_bytes(dir.file(name), bytes);
    return dir.file(name);
  };
  const std::string good = idx_file(0x08, {10, 4}, std::string(40, '\x07'));
  std::string corrupt = gzip(good + std::string(4000, 'x'));
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x55);
  std::string bad_crc = gzip(good);
  bad_crc[bad_crc.size() - 6] = static_cast<char>(bad_crc[bad_crc.size() - 6] ^ 1);  // inside the CRC-32 trailer
  const std::vector<std::pair<std::string, std::string>> cases = {
      {f("magic-idx1-ubyte", "\x01\x02\x08\x01\x00\x00\x00\x01x"), "not an IDX file: bad magic [01 02 08 01]"},
      {f("dtype-idx1-ubyte", std::string("\x00\x00\x0a\x01\x00\x00\x00\x01x", 9)), "unsupported IDX dtype code 0x0a"},
      {f("rank0-idx1-ubyte", std::string("\x00\x00\x08\x00", 4)), "rank 0"},
      {f("short-idx3-ubyte", std::string("\x00\x00\x08\x03\x00\x00", 6)), "truncated IDX header"},
      {f("truncated-idx2-ubyte", good.substr(0, good.size() - 3)),
       "truncated IDX data: the header claims shape (10, 4) of uint8 (40 bytes) but the file holds 37 bytes"},
      {f("trailing-idx2-ubyte", good + "zz"), "has 2 bytes after the 40 bytes"},
      {f("negative-idx2-ubyte", idx_file(0x08, {0xFFFFFFFFu, 4}, "")), "negative as int32: -1"},
      {f("overflow-idx4-ubyte", idx_file(0x0E, {0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 4}, "")), "overflows"},
      // Found by fuzz_idx: a zero dimension must not hide an absurd shape.
      {f("zero-overflow-idx4-ubyte", idx_file(0x08, {0, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF}, "")), "overflows"},
      {f("claims-idx2-ubyte.gz", gzip(idx_file(0x0E, {100000000, 1000}, std::string(64, '\0')))),
       "more than a"},
      {f("corrupt-idx2-ubyte.gz", corrupt), "corrupt gzip"},
      {f("crc-idx2-ubyte.gz", bad_crc), "corrupt gzip: incorrect data check"},
      {f("cut-idx2-ubyte.gz", gzip(good).substr(0, gzip(good).size() - 6)), "corrupt gzip: the compressed stream is truncated"},
      {f("short-idx2-ubyte.gz", gzip(good.substr(0, 30))), "decompresses to 30 bytes but the header describes 52 bytes"},
      {f("long-idx2-ubyte.gz", gzip(good + "tail")), "decompresses to more than 52 bytes"},
      {f("garbage-idx2-ubyte.gz", gzip(good) + "junk"), "unexpected bytes after the end of the compressed stream"},
  };
  for (const auto& [path, message] : cases) {
    CAPTURE(path);
    REQUIRE_THROWS_AS(read_matrix<float>(path), io_error);
    REQUIRE_THROWS_WITH(read_matrix<float>(path), Contains(path) && Contains(message));
  }
  // RowReader finds the size disagreement when the stream ends, whatever the block size.
  for (const char* name : {"short-idx2-ubyte.gz", "long-idx2-ubyte.gz"}) {
    CAPTURE(name);
    REQUIRE_THROWS_AS(read_in_blocks<float>(dir.file(name), 3), io_error);
  }
  // Concatenated gzip members are one stream (gzip(1) semantics).
  f("two-members-idx2-ubyte.gz", gzip(good.substr(0, 21)) + gzip(good.substr(21)));
  auto m = read_matrix<double>(dir.file("two-members-idx2-ubyte.gz"));
  REQUIRE((m.rows() == 10 && m.cols() == 4 && m(9, 3) == 7));
}

TEST_CASE("Fashion-MNIST reads as 60000 x 784 uint8 images", "[io][idx][data]") {
  const std::string images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  const std::string labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
  if (!fs::exists(images)) {
    WARN("skipped: " << images << " is missing (Debian package dataset-fashion-mnist)");
    return;
  }
  const ArrayInfo info = probe(images);
  REQUIRE(info.format == FileFormat::idx);
  REQUIRE(info.gzip);
  REQUIRE(info.dtype == DType::uint8);
  REQUIRE(info.shape == std::vector<std::int64_t>{60000, 28, 28});
  auto x = read_matrix<float>(images);
  REQUIRE((x.rows() == 60000 && x.cols() == 784));
  float lo = 255, hi = 0;
  for (float v : x.flat()) lo = std::min(lo, v), hi = std::max(hi, v);
  REQUIRE((lo == 0 && hi == 255));
  auto y = read_matrix<double>(labels);
  REQUIRE((y.rows() == 60000 && y.cols() == 1));
  std::vector<int> counts(10, 0);
  for (double v : y.flat()) ++counts.at(static_cast<std::size_t>(v));
  for (int c : counts) REQUIRE(c == 6000);  // Fashion-MNIST is balanced
  // Streaming in odd blocks gives the same images.
  RowReader reader(images);
  Matrix<float> block(1000, 784);
  for (std::int64_t at = 0; reader.read(block.view()) > 0; at += 1000)
    REQUIRE(max_abs_diff<float>(block.view(), x.row_block(at, 1000)) == 0);
}

// ---------------------------------------------------------------- .fvecs / .ivecs

TEST_CASE(".fvecs and .ivecs round-trip; ragged and truncated files name the row", "[io][vecs]") {
  TempDir dir("io_vecs");
  auto m = gaussian<float>(6, 5, 3);
  write_fvecs(dir.file("a.fvecs"), m.view());
  REQUIRE(read_bytes(dir.file("a.fvecs")).size() == 6 * (4 + 5 * 4));
  const ArrayInfo info = probe(dir.file("a.fvecs"));
  REQUIRE(info.format == FileFormat::fvecs);
  REQUIRE(info.shape == std::vector<std::int64_t>{6, 5});
  REQUIRE(max_abs_diff<float>(read_matrix<float>(dir.file("a.fvecs")), m) == 0);
  for (std::int64_t block : {1, 4, 6}) REQUIRE(max_abs_diff<float>(read_in_blocks<float>(dir.file("a.fvecs"), block), m) == 0);
  write_bytes(dir.file("a.fvecs.gz"), gzip(read_bytes(dir.file("a.fvecs"))));
  REQUIRE(probe(dir.file("a.fvecs.gz")).shape == std::vector<std::int64_t>{6, 5});
  REQUIRE(max_abs_diff<float>(read_in_blocks<float>(dir.file("a.fvecs.gz"), 4), m) == 0);

  Matrix<std::int32_t> ids(3, 4);
  for (std::int64_t i = 0; i < 12; ++i) ids.data()[i] = static_cast<std::int32_t>(i * 1000003 - 5);
  write_ivecs(dir.file("g.ivecs"), ids.view());
  auto back = read_ivecs(dir.file("g.ivecs"));
  REQUIRE(std::equal(ids.flat().begin(), ids.flat().end(), back.flat().begin(), back.flat().end()));
  auto as_double = read_matrix<double>(dir.file("g.ivecs"));
  REQUIRE(as_double(2, 3) == 11 * 1000003 - 5);
  REQUIRE_THROWS_WITH(read_matrix<double>(dir.file("g.ivecs"), ReadOptions{.convert_integers = false}), Contains("holds int32"));
  REQUIRE_THROWS_WITH(read_ivecs(dir.file("a.fvecs")), Contains("not .ivecs"));

  // Ragged: row 3 claims 4 values instead of 5 (same total size as a file of 6 rows would not be).
  std::string bytes = read_bytes(dir.file("a.fvecs"));
  std::string ragged = bytes;
  ragged[3 * 24] = 4;
  write_bytes(dir.file("ragged.fvecs"), ragged);
  REQUIRE_THROWS_WITH(read_matrix<float>(dir.file("ragged.fvecs")), Contains("ragged .fvecs: row 3 has dimension 4, row 0 has 5"));
  write_bytes(dir.file("ragged2.fvecs"), ragged.substr(0, ragged.size() - 4));  // size no longer a multiple: found by probe
  REQUIRE_THROWS_WITH(probe(dir.file("ragged2.fvecs")), Contains("ragged .fvecs: row 3 has dimension 4, row 0 has 5"));
  write_bytes(dir.file("cut.fvecs"), bytes.substr(0, bytes.size() - 8));
  REQUIRE_THROWS_WITH(probe(dir.file("cut.fvecs")), Contains("truncated .fvecs: row 5 has 3 of its 5 values"));
  write_bytes(dir.file("tiny.fvecs"), bytes.substr(0, 10));
  REQUIRE_THROWS_WITH(probe(dir.file("tiny.fvecs")), Contains("truncated .fvecs: row 0 has dimension 5 (24 bytes) but the file holds 10"));
  std::string zero = bytes;
  zero[0] = 0;
  write_bytes(dir.file("zero.fvecs"), zero);
  REQUIRE_THROWS_WITH(probe(dir.file("zero.fvecs")), Contains("row 0 has dimension 0 (must be positive)"));
  write_bytes(dir.file("neg.ivecs"), std::string("\xff\xff\xff\xff", 4));
  REQUIRE_THROWS_WITH(probe(dir.file("neg.ivecs")), Contains("row 0 has dimension -1"));
  write_bytes(dir.file("empty.fvecs"), "");
  REQUIRE_THROWS_WITH(probe(dir.file("empty.fvecs")), Contains("empty.fvecs: empty file"));
  write_bytes(dir.file("ragged.fvecs.gz"), gzip(ragged));
  REQUIRE_THROWS_WITH(probe(dir.file("ragged.fvecs.gz")), Contains("ragged .fvecs: row 3 has dimension 4"));

  REQUIRE_THROWS_WITH(write_fvecs(dir.file("none.fvecs"), Matrix<float>(0, 3).view()), Contains("0 rows cannot be stored"));
  REQUIRE_THROWS_WITH(write_fvecs(dir.file("none.fvecs"), Matrix<float>(2, 0).view()), Contains("0 columns cannot be stored"));
  REQUIRE(!fs::exists(dir.file("none.fvecs")));
}

// ---------------------------------------------------------------- RowReader

TEST_CASE("RowReader blocks of 1, 7 and all rows equal read_matrix for every layout", "[io][rowreader]") {
  TempDir dir("io_rowreader");
  auto m = gaussian<double>(23, 6, 11);
  write_npy<double>(dir.file("c.npy"), m.view());
  write_bytes(dir.file("c.npy.gz"), gzip(read_bytes(dir.file("c.npy"))));
  Matrix<double> expected;
  write_bytes(dir.file("f.npy"), npy_file(1, ">f8", true, "(23, 2, 3)", array_data<double>({23, 2, 3}, true, true, expected)));
  write_bytes(dir.file("f.npy.gz"), gzip(read_bytes(dir.file("f.npy"))));
  write_fvecs(dir.file("v.fvecs"), Matrix<float>::copy_of(read_matrix<float>(dir.file("c.npy"))).view());
  for (const char* name : {"c.npy", "c.npy.gz", "f.npy", "f.npy.gz", "v.fvecs"}) {
    CAPTURE(name);
    auto whole = read_matrix<double>(dir.file(name));
    for (std::int64_t block : {std::int64_t{1}, std::int64_t{7}, whole.rows(), whole.rows() + 5})
      REQUIRE(max_abs_diff<double>(read_in_blocks<double>(dir.file(name), block), whole) == 0);
  }
  require_equal<double>(read_matrix<double>(dir.file("f.npy.gz")), expected);
  REQUIRE(max_abs_diff<double>(read_matrix<double>(dir.file("c.npy.gz")), m) == 0);

  RowReader reader(dir.file("c.npy"));
  REQUIRE((reader.rows() == 23 && reader.cols() == 6));
  Matrix<double> wrong(4, 5);
  REQUIRE_THROWS_AS(reader.read(wrong.view()), dimension_mismatch);
  REQUIRE_THROWS_WITH(reader.read(wrong.view()), Contains("the block has 5 columns, the file has 6"));
  RowReader moved = std::move(reader);
  Matrix<double> all(30, 6);
  REQUIRE(moved.read(all.view()) == 23);
  REQUIRE(moved.read(all.view()) == 0);
}

// ---------------------------------------------------------------- MappedNpy

TEST_CASE("MappedNpy gives a zero-copy view when the layout allows it", "[io][mmap]") {
  TempDir dir("io_mmap");
  auto m = gaussian<float>(50, 8, 2);
  write_npy<float>(dir.file("f.npy"), m.view());
  MappedNpy mapped(dir.file("f.npy"));
  REQUIRE(mapped.viewable<float>());
  REQUIRE(!mapped.viewable<double>());
  const auto view = mapped.view<float>();
  REQUIRE((view.rows() == 50 && view.cols() == 8));
  REQUIRE(reinterpret_cast<std::uintptr_t>(view.data()) % 64 == 0);  // page start + 64-aligned offset
  REQUIRE(max_abs_diff<float>(view, m) == 0);
  REQUIRE_THROWS_WITH(mapped.view<double>(), Contains("the file holds float32") && Contains("needs float64"));
  MappedNpy moved = std::move(mapped);
  REQUIRE(moved.view<float>().data() == view.data());

  Matrix<double> expected;
  write_bytes(dir.file("big.npy"), npy_file(1, ">f8", false, "(3, 5)", array_data<double>({3, 5}, false, true, expected)));
  MappedNpy big(dir.file("big.npy"));
  REQUIRE(!big.viewable<double>());
  REQUIRE_THROWS_WITH(big.view<double>(), Contains("big-endian"));
  write_bytes(dir.file("fortran.npy"), npy_file(1, "<f8", true, "(3, 5)", array_data<double>({3, 5}, true, false, expected)));
  REQUIRE_THROWS_WITH(MappedNpy(dir.file("fortran.npy")).view<double>(), Contains("Fortran order"));
  write_bytes(dir.file("c.npy.gz"), gzip(read_bytes(dir.file("f.npy"))));
  REQUIRE_THROWS_WITH(MappedNpy(dir.file("c.npy.gz")), Contains("cannot be memory-mapped"));
  write_fvecs(dir.file("v.fvecs"), m.view());
  REQUIRE_THROWS_WITH(MappedNpy(dir.file("v.fvecs")), Contains("not .npy"));
}

TEST_CASE("MatrixFile maps a matching .npy in place and copies everything else", "[io][mmap]") {
  TempDir dir("io_matrixfile");
  auto m = gaussian<float>(40, 6, 3);
  write_npy<float>(dir.file("f.npy"), m.view());
  {
    const MatrixFile<float> f(dir.file("f.npy"));
    REQUIRE(f.mapped());
    REQUIRE(max_abs_diff<float>(f.view(), m) == 0);
    // In place: the view points into the file's map, at the header's data offset.
    MappedNpy map(dir.file("f.npy"));
    REQUIRE(f.info().data_offset == map.info().data_offset);
    const MatrixFile<float> moved = MatrixFile<float>(dir.file("f.npy"));
    REQUIRE(moved.mapped());
  }
  {
    const MatrixFile<double> f(dir.file("f.npy"));  // float32 file read as double: converted copy
    REQUIRE(!f.mapped());
    REQUIRE(max_abs_diff<double>(f.view(), read_matrix<double>(dir.file("f.npy"))) == 0);
  }
  write_bytes(dir.file("f.npy.gz"), gzip(read_bytes(dir.file("f.npy"))));
  write_fvecs(dir.file("f.fvecs"), m.view());
  for (const char* name : {"f.npy.gz", "f.fvecs"}) {
    const MatrixFile<float> f(dir.file(name));
    REQUIRE(!f.mapped());
    REQUIRE(max_abs_diff<float>(f.view(), m) == 0);
  }
  Matrix<double> expected;
  write_bytes(dir.file("fortran.npy"), npy_file(1, "<f8", true, "(3, 5)", array_data<double>({3, 5}, true, false, expected)));
  const MatrixFile<double> fortran(dir.file("fortran.npy"));
  REQUIRE(!fortran.mapped());
  REQUIRE(max_abs_diff<double>(fortran.view(), expected) == 0);
  REQUIRE_THROWS_AS(MatrixFile<float>(dir.file("missing.npy")), io_error);
}

// ---------------------------------------------------------------- writers are atomic

TEST_CASE("NpyWriter streams blocks and commits atomically", "[io][writer]") {
  TempDir dir("io_npywriter");
  auto m = gaussian<double>(20, 3, 4);
  {
    NpyWriter<double> writer(dir.file("s.npy"), 3);
    writer.append(m.row_block(0, 7));
    writer.append(m.row_block(7, 13));
    REQUIRE(writer.rows() == 20);
    REQUIRE(!fs::exists(dir.file("s.npy")));  // nothing visible before commit
    REQUIRE_THROWS_AS(writer.append(Matrix<double>(2, 4).view()), dimension_mismatch);
    writer.commit();
  }
  REQUIRE(probe(dir.file("s.npy")).shape == std::vector<std::int64_t>{20, 3});
  REQUIRE(max_abs_diff<double>(read_matrix<double>(dir.file("s.npy")), m) == 0);
  REQUIRE(files_in(dir.path()) == 1);
  {
    NpyWriter<float> abandoned(dir.file("gone.npy"), 3);
    abandoned.append(Matrix<float>(5, 3).view());
  }
  REQUIRE(files_in(dir.path()) == 1);  // no target, no temporary file
}

TEST_CASE("a failing write leaves the existing target untouched and no temporary file", "[io][writer][errors]") {
  TempDir dir("io_atomic");
  const auto old_matrix = gaussian<double>(2, 2, 1);
  write_npy<double>(dir.file("t.npy"), old_matrix.view());
  const std::string before = read_bytes(dir.file("t.npy"));

  // A file-size limit makes write(2) fail with EFBIG half-way through a 4 MB file.
  auto big = gaussian<double>(1000, 500, 2);
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit limited = saved;
  limited.rlim_cur = 1 << 20;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string message;
  try {
    write_npy<double>(dir.file("t.npy"), big.view());
  } catch (const io_error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, SIG_DFL);
  REQUIRE_THAT(message, Contains("t.npy: write failed") && Contains("File too large"));
  REQUIRE(read_bytes(dir.file("t.npy")) == before);
  REQUIRE(files_in(dir.path()) == 1);

  // The target is a directory: the rename fails, the temporary file goes away.
  fs::create_directory(dir.file("sub.npy"));
  REQUIRE_THROWS_WITH(write_npy<double>(dir.file("sub.npy"), old_matrix.view()), Contains("cannot rename"));
  REQUIRE(files_in(dir.path()) == 2);
  REQUIRE(fs::is_empty(dir.file("sub.npy")));
  REQUIRE_THROWS_WITH(write_npy<double>(dir.file("no/such/dir/x.npy"), old_matrix.view()),
                      Contains("cannot create a temporary file in") && Contains("No such file or directory"));

  // A written file gets the mode a plain open would give it, not mkstemp's 0600.
  const auto perms = fs::status(dir.file("t.npy")).permissions();
  REQUIRE((perms & fs::perms::owner_read) != fs::perms::none);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  REQUIRE(((perms & fs::perms::others_read) != fs::perms::none) == ((mask & 04) == 0));
}

// ---------------------------------------------------------------- archive

TEST_CASE("archives round-trip typed entries and reject corruption", "[io][archive]") {
  TempDir dir("io_archive");
  auto w = gaussian<double>(4, 3, 9);
  auto f = gaussian<float>(2, 5, 10);
  ArchiveWriter writer("whitening", 3);
  writer.put("eps", 1e-6);
  writer.put("k", std::int64_t{-42});
  writer.put("kind", std::string("zca"));
  writer.put<double>("W", w.view());
  writer.put<float>("F", f.block(0, 1, 2, 3));
  REQUIRE_THROWS_WITH(writer.put("k", std::int64_t{1}), Contains("entry 'k' was already put"));
  writer.save(dir.file("m.ldm"));

  ArchiveReader reader(dir.file("m.ldm"), "whitening");
  REQUIRE(reader.version() == 3);
  REQUIRE(reader.has("W"));
  REQUIRE(!reader.has("nothing"));
  REQUIRE(reader.get_double("eps") == 1e-6);
  REQUIRE(reader.get_int("k") == -42);
  REQUIRE(reader.get_string("kind") == "zca");
  REQUIRE(max_abs_diff<double>(reader.get_matrix<double>("W"), w) == 0);
  REQUIRE(max_abs_diff<float>(reader.get_matrix<float>("F"), f.block(0, 1, 2, 3)) == 0);
  REQUIRE(reader.get_matrix<double>("F")(1, 2) == static_cast<double>(f(1, 3)));  // float widens exactly
  REQUIRE_THROWS_WITH(reader.get_double("kind"), Contains("entry 'kind' is a string, not a double"));
  REQUIRE_THROWS_WITH(reader.get_int("missing"), Contains("has no entry 'missing'"));
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("m.ldm"), "jl"),
                      Contains("wrong archive kind: the file holds a 'whitening', expected a 'jl'"));

  const std::string bytes = read_bytes(dir.file("m.ldm"));
  // Flip one bit anywhere in the content: the CRC catches it.
  for (std::size_t at : {std::size_t{25}, bytes.size() / 2, bytes.size() - 5}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    write_bytes(dir.file("flip.ldm"), flipped);
    CAPTURE(at);
    REQUIRE_THROWS_WITH(ArchiveReader(dir.file("flip.ldm"), "whitening"), Contains("corrupt archive: CRC-32 mismatch"));
  }
  write_bytes(dir.file("cut.ldm"), bytes.substr(0, bytes.size() - 9));
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("cut.ldm"), "whitening"), Contains("truncated or padded"));
  write_bytes(dir.file("magic.ldm"), "NOTANARCHIVE" + bytes.substr(12));
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("magic.ldm"), "whitening"), Contains("not a lowdim archive: bad magic"));
  write_bytes(dir.file("tiny.ldm"), "LOWDIMAR");
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("tiny.ldm"), "whitening"), Contains("shorter than the 24-byte minimum"));
  write_bytes(dir.file("empty.ldm"), "");
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("empty.ldm"), "whitening"), Contains("empty file"));
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("none.ldm"), "whitening"), Contains("No such file or directory"));

  // A consistent CRC over inconsistent content: the structure is still checked.
  std::string lying = bytes;
  const std::size_t content_start = 20;
  lying[content_start + 3] = 0x7f;  // kind length 0x7f000009 > content
  const std::size_t length = bytes.size() - content_start - 4;
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(lying.data() + content_start),
                          static_cast<uInt>(length));
  for (int k = 0; k < 4; ++k) lying[content_start + length + static_cast<std::size_t>(k)] = static_cast<char>((crc >> (8 * k)) & 0xff);
  write_bytes(dir.file("lying.ldm"), lying);
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("lying.ldm"), "whitening"), Contains("corrupt archive: the kind needs 2130706441 bytes"));
}

TEST_CASE("archives hold integer arrays and bitsets, mapped in place when large", "[io][archive]") {
  TempDir dir("io_archive_arrays");
  const std::vector<std::int32_t> small{3, -7, 2147483647, -2147483647 - 1};
  std::vector<std::int64_t> big(300000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::int64_t>(i * i) - 5;
  const std::vector<std::uint64_t> codes{0, ~0ull, 0x8000000000000001ull};
  const std::vector<std::uint64_t> words{0xffull, 0x5ull};  // 67 bits: 0..7 and 64, 66
  const std::vector<std::int32_t> empty;
  for (const bool large : {false, true}) {
    CAPTURE(large);
    ArchiveWriter writer("lsh", 2);
    writer.put("n", std::int64_t{4});
    writer.put_array("small", std::span<const std::int32_t>(small));
    writer.put("between", std::string("x"));  // shifts the next entry off alignment
    if (large) writer.put_array("big", std::span<const std::int64_t>(big));
    writer.put_array("codes", std::span<const std::uint64_t>(codes));
    writer.put_array("empty", std::span<const std::int32_t>(empty));
    writer.put_bitset("bits", std::span<const std::uint64_t>(words), 67);
    REQUIRE_THROWS_WITH(writer.put_bitset("b2", std::span<const std::uint64_t>(words), 66),
                        Contains("'b2' sets bits at or past its size 66"));
    REQUIRE_THROWS_WITH(writer.put_bitset("b3", std::span<const std::uint64_t>(words), 200),
                        Contains("'b3' has 200 bits, which need 4 words, got 2"));
    writer.save(dir.file("a.ldm"));
    ArchiveReader reader(dir.file("a.ldm"), "lsh");
    REQUIRE(reader.mapped() == large);
    const auto s = reader.get_array<std::int32_t>("small");
    REQUIRE(std::vector<std::int32_t>(s.begin(), s.end()) == small);
    REQUIRE(reinterpret_cast<std::uintptr_t>(s.data()) % 64 == 0);
    const auto c = reader.get_array<std::uint64_t>("codes");
    REQUIRE(std::vector<std::uint64_t>(c.begin(), c.end()) == codes);
    REQUIRE(reinterpret_cast<std::uintptr_t>(c.data()) % 64 == 0);
    REQUIRE(reader.get_array<std::int32_t>("empty").size() == 0);
    const auto b = reader.get_bitset("bits");
    REQUIRE(b.bits == 67);
    REQUIRE(b.test(0));
    REQUIRE(b.test(7));
    REQUIRE(!b.test(8));
    REQUIRE(b.test(64));
    REQUIRE(!b.test(65));
    REQUIRE(b.test(66));
    if (large) {
      const auto g = reader.get_array<std::int64_t>("big");
      REQUIRE(g.mapped());
      REQUIRE(std::equal(g.begin(), g.end(), big.begin(), big.end()));
    }
    REQUIRE_THROWS_WITH(reader.get_array<std::int64_t>("small"), Contains("entry 'small' is a int32 array, not a int64 array"));
    REQUIRE_THROWS_WITH(reader.get_bitset("codes"), Contains("is a uint64 array, not a bitset"));
    REQUIRE_THROWS_WITH(reader.get_int("bits"), Contains("is a bitset, not a int64"));
  }
  // The arrays outlive the reader: they keep the map (or the copy) alive.
  SharedArray<std::int64_t> kept;
  {
    ArchiveReader reader(dir.file("a.ldm"), "lsh");
    kept = reader.get_array<std::int64_t>("big");
  }
  REQUIRE(kept[299999] == big[299999]);

  // Inconsistent content behind a valid CRC: each is a clear io_error before any allocation.
  auto rewrite = [&](const std::string& bytes, std::size_t at, const std::string& patch) {
    std::string s = bytes;
    s.replace(at, patch.size(), patch);
    const std::size_t length = s.size() - 24;
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(s.data() + 20), static_cast<uInt>(length));
    for (int k = 0; k < 4; ++k) s[20 + length + static_cast<std::size_t>(k)] = static_cast<char>((crc >> (8 * k)) & 0xff);
    write_bytes(dir.file("bad.ldm"), s);
  };
  ArchiveWriter one("lsh", 1);
  one.put_array("ids9", std::span<const std::int32_t>(small));
  one.save(dir.file("one.ldm"));
  const std::string bytes = read_bytes(dir.file("one.ldm"));
  // content: u32 3 "lsh" u32 version u64 count | u32 4 "ids9" 'I' u64 length | u64 count u8 pad ...
  const std::size_t count_at = 20 + 4 + 3 + 4 + 8 + 4 + 4 + 1 + 8;
  rewrite(bytes, count_at, std::string("\xff\xff\xff\xff\xff\xff\xff\x3f", 8));  // 2^62 elements: × 4 overflows
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("bad.ldm"), "lsh"),
                      Contains("entry 'ids9' (int32 array) has an inconsistent length"));
  rewrite(bytes, count_at, std::string("\x05", 1));  // 5 elements claimed, 4 stored
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("bad.ldm"), "lsh"), Contains("inconsistent length"));
  rewrite(bytes, count_at + 8, std::string("\x50", 1));  // pad 80 ≥ 64
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("bad.ldm"), "lsh"), Contains("inconsistent length"));
  const auto pad = static_cast<unsigned char>(bytes[count_at + 8]);
  REQUIRE(pad > 0);
  rewrite(bytes, count_at + 9, std::string("\x01", 1));  // a non-zero pad byte
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("bad.ldm"), "lsh"), Contains("inconsistent length"));
  ArchiveWriter bits("lsh", 1);
  const std::uint64_t word[] = {1};
  bits.put_bitset("b", std::span<const std::uint64_t>(word), 3);
  bits.save(dir.file("bits.ldm"));
  const std::string bbytes = read_bytes(dir.file("bits.ldm"));
  rewrite(bbytes, bbytes.size() - 4 - 8, std::string("\x09", 1));  // bit 3 set in a 3-bit set
  REQUIRE_THROWS_WITH(ArchiveReader(dir.file("bad.ldm"), "lsh"), Contains("bitset 'b' sets bits past its size 3"));
}

// ---------------------------------------------------------------- numpy as the peer

TEST_CASE("numpy reads what we write and we read what numpy writes", "[io][npy][numpy]") {
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
    WARN("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  TempDir dir("io_numpy");
  auto m = gaussian<float>(5, 4, 8);
  write_npy<float>(dir.file("ours.npy"), m.view());
  NpyWriter<double> writer(dir.file("stream.npy"), 2);
  writer.append(Matrix<double>(3, 2).view());
  writer.commit();
  const std::string script = fmt::format(
      "import numpy as np, sys\n"
      "a = np.load('{0}/ours.npy'); assert a.dtype == np.float32 and a.shape == (5, 4), a.shape\n"
      "assert abs(float(a[4, 3]) - {1}) == 0, a[4, 3]\n"
      "s = np.load('{0}/stream.npy'); assert s.shape == (3, 2) and s.dtype == np.float64\n"
      "x = np.arange(24, dtype='>f8').reshape(2, 3, 4)\n"
      "np.save('{0}/big.npy', x)\n"
      "np.save('{0}/fortran.npy', np.asfortranarray(x.astype('<i2')))\n"
      "with open('{0}/v3.npy', 'wb') as f: np.lib.format.write_array(f, x.astype('<f4'), version=(3, 0))\n"
      "with open('{0}/v2.npy', 'wb') as f: np.lib.format.write_array(f, x.astype('u1'), version=(2, 0))\n",
      dir.path().string(), static_cast<double>(m(4, 3)));
  write_bytes(dir.file("check.py"), script);
  REQUIRE(std::system(("/usr/bin/python3 " + dir.file("check.py")).c_str()) == 0);
  for (const char* name : {"big.npy", "fortran.npy", "v3.npy", "v2.npy"}) {
    CAPTURE(name);
    auto x = read_matrix<double>(dir.file(name));
    REQUIRE((x.rows() == 2 && x.cols() == 12));
    for (std::int64_t i = 0; i < 24; ++i) REQUIRE(x.data()[i] == static_cast<double>(i));
  }
  REQUIRE(probe(dir.file("fortran.npy")).fortran_order);
  REQUIRE(probe(dir.file("big.npy")).big_endian);
}

// ---------------------------------------------------------------- docs

TEST_CASE("docs/io.md worked example", "[io][docs]") {
  TempDir dir("io_docs");
  // Input: 2500 rows of an IDX-like uint8 data set, gzip-compressed, as Fashion-MNIST ships.
  std::string pixels;
  for (int i = 0; i < 2500 * 12; ++i) pixels += static_cast<char>((i * 37) % 251);
  const std::string input = dir.file("pixels-idx3-ubyte.gz"), output = dir.file("centred.npy");
  write_bytes(input, gzip(idx_file(0x08, {2500, 3, 4}, pixels)));

  // --- the example, as in the guide ---
  lowdim::RowReader reader(input);                 // .npy, IDX(.gz) or .fvecs
  lowdim::NpyWriter<float> writer(output, reader.cols());
  lowdim::Matrix<float> block(1000, reader.cols());
  while (std::int64_t n = reader.read(block.view())) {
    auto rows = block.row_block(0, n);
    for (std::int64_t i = 0; i < n; ++i) {
      double mean = 0;
      for (float v : rows.row_span(i)) mean += v;
      mean /= static_cast<double>(reader.cols());
      for (float& v : rows.row_span(i)) v = static_cast<float>(v - mean);
    }
    writer.append(rows);
  }
  writer.commit();                                 // output appears only now
  // --- end of the example ---

  const auto original = read_matrix<double>(input);
  const auto centred = read_matrix<float>(output);
  REQUIRE((centred.rows() == 2500 && centred.cols() == 12));
  for (std::int64_t i = 0; i < centred.rows(); ++i) {
    double mean = 0;
    for (std::int64_t j = 0; j < 12; ++j) mean += original(i, j);
    mean /= 12;
    // Each value is rounded once to float: error ≤ eps/2 · |value| ≤ eps/2 · 255.
    for (std::int64_t j = 0; j < 12; ++j)
      REQUIRE(std::abs(centred(i, j) - (original(i, j) - mean)) <= 0.5 * eps<float> * 255);
  }
}

TEST_CASE("special files are rejected without blocking", "[io][errors]") {
  TempDir dir("io_special");
  REQUIRE(::mkfifo(dir.file("pipe.npy").c_str(), 0600) == 0);
  REQUIRE_THROWS_WITH(probe(dir.file("pipe.npy")), Contains("pipe.npy: is not a regular file"));
  REQUIRE_THROWS_WITH(probe("/dev/null"), Contains("/dev/null: is not a regular file"));
}

TEST_CASE("commit_together: a failing later rename leaves the previous set intact", "[io][writer][errors]") {
  TempDir dir("io_together");
  const auto a1 = gaussian<double>(4, 3, 1), b1 = gaussian<double>(2, 5, 2);
  write_npy<double>(dir.file("a.npy"), a1.view());
  write_npy<double>(dir.file("b.npy"), b1.view());
  const std::string a_before = read_bytes(dir.file("a.npy")), b_before = read_bytes(dir.file("b.npy"));
  // The third target is a non-empty directory: its rename fails after the first two succeeded.
  fs::create_directory(dir.file("c.npy"));
  write_bytes(dir.file("c.npy") + "/keep", "x");
  {
    AtomicFile a(dir.file("a.npy")), b(dir.file("b.npy")), c(dir.file("c.npy")), d(dir.file("d.npy"));
    write_npy<double>(a, gaussian<double>(4, 3, 7).view());
    write_npy<double>(b, gaussian<double>(2, 5, 8).view());
    write_npy<double>(c, gaussian<double>(1, 1, 9).view());
    write_npy<double>(d, gaussian<double>(1, 1, 9).view());
    AtomicFile* const files[] = {&a, &b, &c, &d};
    REQUIRE_THROWS_WITH(commit_together(files), Catch::Contains("c.npy") && Catch::Contains("cannot rename"));
  }
  REQUIRE(read_bytes(dir.file("a.npy")) == a_before);  // replaced, then restored
  REQUIRE(read_bytes(dir.file("b.npy")) == b_before);
  REQUIRE(fs::is_directory(dir.file("c.npy")));
  REQUIRE(!fs::exists(dir.file("d.npy")));
  REQUIRE(files_in(dir.path()) == 3);  // a, b, the directory: no temporary, no backup left

  // A new file without a predecessor is removed again when a later rename fails.
  {
    AtomicFile e(dir.file("e.npy")), c(dir.file("c.npy"));
    write_npy<double>(e, a1.view());
    write_npy<double>(c, a1.view());
    AtomicFile* const files[] = {&e, &c};
    REQUIRE_THROWS_AS(commit_together(files), io_error);
  }
  REQUIRE(!fs::exists(dir.file("e.npy")));
  REQUIRE(files_in(dir.path()) == 3);

  // Success: all replaced, nothing else left.
  fs::remove_all(dir.file("c.npy"));
  {
    AtomicFile a(dir.file("a.npy")), c(dir.file("c.npy"));
    write_npy<double>(a, b1.view());
    write_npy<double>(c, std::span<const double>(b1.data(), 3));
    AtomicFile* const files[] = {&a, &c};
    commit_together(files);
  }
  REQUIRE(max_abs_diff<double>(read_matrix<double>(dir.file("a.npy")), b1) == 0);
  REQUIRE(probe(dir.file("c.npy")).shape == std::vector<std::int64_t>{3});
  REQUIRE(files_in(dir.path()) == 3);
}

TEST_CASE("writers of the same target use unique temporaries", "[io][writer]") {
  TempDir dir("io_unique_temp");
  AtomicFile first(dir.file("t.npy")), second(dir.file("t.npy"));
  REQUIRE(first.temp_path() != second.temp_path());
  REQUIRE(fs::path(first.temp_path()).parent_path() == fs::path(dir.file("t.npy")).parent_path());
  write_npy<double>(first, gaussian<double>(2, 2, 1).view());
  write_npy<double>(second, gaussian<double>(2, 2, 2).view());
  second.commit();
  first.commit();  // both succeed; the last rename wins
  REQUIRE(max_abs_diff<double>(read_matrix<double>(dir.file("t.npy")), gaussian<double>(2, 2, 1)) == 0);
  REQUIRE(files_in(dir.path()) == 1);
}
