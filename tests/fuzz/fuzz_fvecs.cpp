// libFuzzer target: the .fvecs reader (probe, read_matrix, RowReader).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lowdim::fuzz::exercise_readers(lowdim::fuzz::write_input("input.fvecs", data, size));
  return 0;
}
