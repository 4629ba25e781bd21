// Writes good and malformed data files into a directory: the fixtures of the
// `lowdim inspect` CLI tests (tests/cli_inspect.cmake) and the seed corpus of
// the fuzzers (tests/fuzz). Usage: lowdim_io_fixtures DIR

#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>
#include <lowdim/lsh.hpp>
#include <lowdim/whitening.hpp>

#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace {

std::string dir;

void put(const std::string& name, const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "lowdim_io_fixtures: cannot write %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
}

std::string gzip(const std::string& bytes) {
  std::string out(compressBound(static_cast<uLong>(bytes.size())) + 64, '\0');
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string npy(const std::string& descr, bool fortran, const std::string& shape, const std::string& data) {
  std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict + data;
}

template <class S>
std::string raw(std::initializer_list<S> values, bool big_endian = false) {
  std::string out;
  for (S v : values) {
    char b[sizeof(S)];
    std::memcpy(b, &v, sizeof(S));
    if (big_endian) std::reverse(b, b + sizeof(S));
    out.append(b, sizeof(S));
  }
  return out;
}

std::string idx(unsigned char code, std::initializer_list<std::uint32_t> dims, const std::string& data) {
  std::string out{'\0', '\0', static_cast<char>(code), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int k = 3; k >= 0; --k) out += static_cast<char>((d >> (8 * k)) & 0xff);
  return out + data;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lowdim_io_fixtures DIR\n");
    return 2;
  }
  dir = argv[1];
  std::filesystem::create_directories(dir);
  using lowdim::Matrix;

  // Good files: 4 x 3 values -1.5, -0.5, ..., 4.0 in every format.
  Matrix<float> m(4, 3);
  for (std::int64_t i = 0; i < 12; ++i) m.data()[i] = static_cast<float>(i) * 0.5f - 1.5f;
  lowdim::write_npy<float>(dir + "/good_f32.npy", m.view());
  lowdim::write_fvecs(dir + "/good.fvecs", m.view());
  Matrix<std::int32_t> ids(2, 3);
  for (std::int64_t i = 0; i < 6; ++i) ids.data()[i] = static_cast<std::int32_t>(i * 7 - 3);
  lowdim::write_ivecs(dir + "/good.ivecs", ids.view());
  put("good_f64_fortran_be.npy", npy(">f8", true, "(2, 2, 2)", raw<double>({0, 4, 2, 6, 1, 5, 3, 7}, true)));
  put("good_i16_v1.npy", npy("<i2", false, "(3,)", raw<std::int16_t>({-7, 0, 300})));
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  put("good_nan.npy", npy("<f8", false, "(2, 3)", raw<double>({1, nan, -inf, 3, nan, 5})));
  const std::string images = idx(0x08, {3, 2, 2}, std::string("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\xff", 12));
  put("good-idx3-ubyte", images);
  put("good-idx3-ubyte.gz", gzip(images));
  put("good_f32-idx2-ubyte", idx(0x0D, {2, 2}, raw<float>({1.5f, -2, 3, 4}, true)));
  put("good.fvecs.gz", gzip(std::string(std::istreambuf_iterator<char>(std::ifstream(dir + "/good.fvecs", std::ios::binary).rdbuf()), {})));
  lowdim::ArchiveWriter archive("fixture", 1);
  archive.put("alpha", 0.25);
  archive.put("k", std::int64_t{7});
  archive.put("name", std::string("gaussian"));
  archive.put<float>("F", m.view());
  archive.save(dir + "/good.ldm");
  lowdim::ArchiveWriter arrays("fixture", 1);
  arrays.put("k", std::int64_t{3});
  const std::int32_t array_ids[] = {4, -1, 7};
  const std::int64_t offsets[] = {0, 2, 3, 1ll << 40};
  const std::uint64_t codes[] = {0xdeadbeefcafef00dull, 1};
  const std::uint64_t bits[] = {0x15};
  arrays.put_array("ids", std::span<const std::int32_t>(array_ids));
  arrays.put_array("offsets", std::span<const std::int64_t>(offsets));
  arrays.put_array("codes", std::span<const std::uint64_t>(codes));
  arrays.put_bitset("bits", std::span<const std::uint64_t>(bits), 5);
  arrays.save(dir + "/good_arrays.ldm");

  // One saved model of each kind, the seeds of the model-loader fuzzer (models_*.ldm).
  Matrix<double> data(40, 6);
  for (std::int64_t i = 0; i < data.size(); ++i)  // pseudo-random, full rank
    data.data()[i] = static_cast<double>((static_cast<std::uint64_t>(i) * 2654435761u) % 1000) / 1000.0;
  lowdim::RandomProjection rp;
  rp.fit(6, {.kind = lowdim::SketchKind::sparse, .k = 3, .seed = 5});
  rp.save(dir + "/models_rp.ldm");
  lowdim::Whitening::fit<double>(data.cview(), {}).save(dir + "/models_whitening.ldm");
  lowdim::Pca::fit<double>(data.cview(), {.components = 2}).save(dir + "/models_pca.ldm");
  lowdim::LshIndex<double>(data.cview(), {.tables = 3, .hashes = 4, .seed = 2}).save(dir + "/models_lsh.ldm");

  // Malformed files: one per kind of problem the readers report.
  const std::string data12(48, '\0');
  put("bad_magic.npy", "\x93NUMPZ\x01\x00\x10\x00{}");
  put("bad_empty.npy", "");
  put("bad_truncated.npy", npy("<f4", false, "(3, 4)", std::string(20, '\0')));
  put("bad_claims.npy", npy("<f8", false, "(1000000000, 1000000)", data12));
  put("bad_overflow.npy", npy("<f8", false, "(4294967296, 4294967296)", data12));
  put("bad_negative.npy", npy("<f4", false, "(-3, 4)", data12));
  put("bad_dtype.npy", npy("<f2", false, "(3, 4)", data12));
  put("bad_magic-idx1-ubyte", std::string("\x01\x02\x08\x01\x00\x00\x00\x01x", 9));
  put("bad_dtype-idx1-ubyte", std::string("\x00\x00\x0a\x01\x00\x00\x00\x01x", 9));
  std::string corrupt = gzip(images + std::string(5000, 'x'));
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x55);
  put("bad_corrupt-idx3-ubyte.gz", corrupt);
  put("bad_short-idx3-ubyte.gz", gzip(images.substr(0, 20)));
  std::string fvecs = std::string(std::istreambuf_iterator<char>(std::ifstream(dir + "/good.fvecs", std::ios::binary).rdbuf()), {});
  fvecs[2 * 16] = 2;  // row 2 claims 2 values
  put("bad_ragged.fvecs", fvecs);
  std::filesystem::create_directories(dir + "/a_directory.npy");
  return 0;
}
