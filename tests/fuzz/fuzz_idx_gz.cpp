// libFuzzer target: IDX through gzip. The first byte picks the mode: even, the
// rest is an IDX file that is compressed here (so the fuzzer explores IDX
// headers behind a valid gzip stream, level = byte / 2 % 10); odd, the rest is
// written as the .gz file itself (exercising our gzip stream handling: corrupt
// data, truncation, concatenated members, trailing bytes).
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
    z_stream z{};
    if (deflateInit2(&z, mode / 2 % 10, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
    file.resize(deflateBound(&z, static_cast<uLong>(size)) + 64);
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = static_cast<uInt>(size);
    z.next_out = file.data();
    z.avail_out = static_cast<uInt>(file.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
    file.resize(z.total_out);
    deflateEnd(&z);
  } else {
    file.assign(data, data + size);
  }
  lowdim::fuzz::exercise_readers(lowdim::fuzz::write_input("input-idx3-ubyte.gz", file.data(), file.size()));
  return 0;
}
