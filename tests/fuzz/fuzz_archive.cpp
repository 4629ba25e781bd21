// libFuzzer target: ArchiveReader. The CRC makes random bytes fail early, so
// with an even first byte the rest is content whose prelude and CRC are
// computed here (exercising the structural checks behind a valid CRC); with an
// odd first byte the rest is the whole file.
#include "fuzz_common.hpp"

#include <zlib.h>

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  ++data;
  --size;
  std::vector<std::uint8_t> file;
  if (mode % 2 == 0) {
    file = {'L', 'O', 'W', 'D', 'I', 'M', 'A', 'R', 1, 0, 0, 0};
    for (int k = 0; k < 8; ++k) file.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(size) >> (8 * k)));
    file.insert(file.end(), data, data + size);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), data, static_cast<uInt>(size));
    for (int k = 0; k < 4; ++k) file.push_back(static_cast<std::uint8_t>(crc >> (8 * k)));
  } else {
    file.assign(data, data + size);
  }
  const std::string path = lowdim::fuzz::write_input("input.ldm", file.data(), file.size());
  try {
    lowdim::ArchiveReader reader(path, "fixture");
    for (const char* name : {"alpha", "k", "name", "F", "ids", "offsets", "codes", "bits"}) {
      if (!reader.has(name)) continue;
      try {
        (void)reader.get_double(name);
      } catch (const lowdim::io_error&) {
      }
      try {
        (void)reader.get_int(name);
      } catch (const lowdim::io_error&) {
      }
      try {
        (void)reader.get_string(name);
      } catch (const lowdim::io_error&) {
      }
      try {
        const auto m = reader.get_matrix<double>(name);
        const auto f = reader.get_matrix<float>(name);
        if (m.rows() != f.rows() || m.cols() != f.cols()) std::abort();
      } catch (const lowdim::io_error&) {
      }
      // Integer arrays and bitsets: read every element (ASan sees any overrun of the
      // validated length) and check a bitset's unused high bits are zero.
      try {
        const auto a = reader.get_array<std::int32_t>(name);
        std::int64_t sum = 0;
        for (const auto v : a) sum += v;
        (void)sum;
      } catch (const lowdim::io_error&) {
      }
      try {
        const auto a = reader.get_array<std::int64_t>(name);
        std::uint64_t sum = 0;
        for (const auto v : a) sum += static_cast<std::uint64_t>(v);
        (void)sum;
      } catch (const lowdim::io_error&) {
      }
      try {
        const auto a = reader.get_array<std::uint64_t>(name);
        std::uint64_t sum = 0;
        for (const auto v : a) sum += v;
        (void)sum;
      } catch (const lowdim::io_error&) {
      }
      try {
        const auto b = reader.get_bitset(name);
        if (b.words.size() != b.bits / 64 + (b.bits % 64 != 0)) std::abort();
        if (b.bits % 64 != 0 && (b.words[b.words.size() - 1] >> (b.bits % 64)) != 0) std::abort();
        std::uint64_t set = 0;
        for (std::uint64_t i = 0; i < b.bits; ++i) set += b.test(i);
        (void)set;
      } catch (const lowdim::io_error&) {
      }
    }
  } catch (const lowdim::io_error&) {
  }
  return 0;
}
