#ifndef LOWDIM_TOOLS_OUTPUT_DTYPE_HPP
#define LOWDIM_TOOLS_OUTPUT_DTYPE_HPP

// The --dtype option of the commands that transform a data file (whiten apply, pca).

#include <lowdim/error.hpp>
#include <lowdim/io.hpp>

#include <string>

namespace lowdim::cli {

/// The output dtype for --dtype: "auto" follows the input file (float64 stays float64, as in
/// `lowdim project`; every other dtype gives float32); float32 and float64 force it.
inline std::string output_dtype(const std::string& option, const std::string& input, const char* command) {
  LOWDIM_CHECK(option == "auto" || option == "float32" || option == "float64",
               "{}: --dtype must be auto, float32 or float64, not '{}'", command, option);
  if (option != "auto") return option;
  return probe(input).dtype == DType::float64 ? "float64" : "float32";
}

}  // namespace lowdim::cli

#endif
