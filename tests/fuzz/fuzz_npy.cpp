// libFuzzer target: the npy reader (probe, read_matrix, RowReader, MappedNpy).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lowdim::fuzz::exercise_readers(lowdim::fuzz::write_input("input.npy", data, size));
  return 0;
}
