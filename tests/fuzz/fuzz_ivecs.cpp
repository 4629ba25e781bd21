// libFuzzer target: the .ivecs reader (read_ivecs, and probe, read_matrix, RowReader).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = lowdim::fuzz::write_input("input.ivecs", data, size);
  try {
    const auto ids = lowdim::read_ivecs(path);
    const auto as_double = lowdim::read_matrix<double>(path);
    if (ids.rows() != as_double.rows() || ids.cols() != as_double.cols()) std::abort();
    for (std::int64_t i = 0; i < ids.size(); ++i)
      if (static_cast<double>(ids.data()[i]) != as_double.data()[i]) std::abort();
  } catch (const lowdim::io_error&) {
  }
  lowdim::fuzz::exercise_readers(path);
  return 0;
}
