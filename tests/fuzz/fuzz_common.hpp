#ifndef LOWDIM_TESTS_FUZZ_COMMON_HPP
#define LOWDIM_TESTS_FUZZ_COMMON_HPP

// The readers work on files (their extension picks .fvecs/.ivecs), so each
// input is written to a file in a per-process scratch directory and read back
// through the public API: the fuzzers test exactly what users call.
// Only lowdim::io_error is an acceptable outcome for a malformed file; any other
// exception, crash, sanitizer report or oversized allocation is a finding.

#include <lowdim/io.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace lowdim::fuzz {

/// Writes data to <scratch>/<name> and returns the path.
inline std::string write_input(const char* name, const std::uint8_t* data, std::size_t size) {
  static const std::string directory = [] {
    const char* base = std::getenv("TMPDIR");
    std::string d = std::string(base != nullptr ? base : "/tmp") + "/lowdim-fuzz-" + std::to_string(::getpid());
    std::string command = "mkdir -p '" + d + "'";
    if (std::system(command.c_str()) != 0) std::abort();
    return d;
  }();
  const std::string path = directory + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

/// Reads the file every way a user can and checks the readers agree.
inline void exercise_readers(const std::string& path) {
  ArrayInfo info;
  try {
    info = probe(path);
  } catch (const io_error&) {
    return;
  }
  Matrix<double> whole;
  try {
    whole = read_matrix<double>(path);
  } catch (const io_error&) {
    whole = Matrix<double>();
  }
  try {
    RowReader reader(path);
    if (reader.rows() != info.rows() || reader.cols() != info.cols()) std::abort();
    // Blocks of up to 7 rows (1 for very wide rows), never more rows than the file has;
    // all rows at once when they are empty (a (10^9, 0) shape holds no data).
    const std::int64_t block_rows =
        reader.cols() == 0 ? reader.rows() : std::min<std::int64_t>(reader.rows(), reader.cols() > (1 << 20) ? 1 : 7);
    Matrix<float> block(block_rows, reader.cols());
    std::int64_t at = 0;
    while (std::int64_t got = block_rows > 0 ? reader.read(block.view()) : 0) {
      // Whenever read_matrix succeeded, the streamed rows must be the same numbers.
      if (whole.rows() == reader.rows() && reader.cols() > 0)
        for (std::int64_t i = 0; i < got; ++i)
          for (std::int64_t j = 0; j < reader.cols(); ++j) {
            const double a = whole(at + i, j), b = static_cast<double>(block(i, j));
            if (!(static_cast<float>(a) == b || (std::isnan(a) && std::isnan(b)))) std::abort();
          }
      at += got;
    }
    if (at != reader.rows()) std::abort();
  } catch (const io_error&) {
  }
  if (info.format == FileFormat::npy && !info.gzip) {
    try {
      MappedNpy mapped(path);
      if (mapped.viewable<double>()) {
        const auto v = mapped.view<double>();
        double sum = 0;
        for (std::int64_t i = 0; i < v.rows(); ++i)
          for (std::int64_t j = 0; j < v.cols(); ++j) sum += v(i, j);
        if (whole.rows() == v.rows() && v.size() > 0 && std::isfinite(sum) && !(whole(0, 0) == v(0, 0) || std::isnan(v(0, 0))))
          std::abort();
      }
    } catch (const io_error&) {
    }
  }
}

}  // namespace lowdim::fuzz

#endif
