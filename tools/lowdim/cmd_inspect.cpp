// lowdim inspect FILE: what a data file holds (format, dtype, shape) and a
// one-line summary of its values, computed streaming with RowReader so that
// files larger than memory work too.

#include "command.hpp"
#include "output.hpp"

#include <lowdim/io.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace lowdim::cli {
namespace {

struct Summary {
  std::int64_t count = 0, finite = 0, nan = 0, inf = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0, compensation = 0;  // Neumaier summation of the finite values
  double mean() const { return finite > 0 ? (sum + compensation) / static_cast<double>(finite) : std::nan(""); }
  void add(double v) {
    ++count;
    if (std::isnan(v)) {
      ++nan;
    } else if (std::isinf(v)) {
      ++inf;
    } else {
      ++finite;
      min = std::min(min, v);
      max = std::max(max, v);
      const double t = sum + v;
      compensation += std::abs(sum) >= std::abs(v) ? (sum - t) + v : (v - t) + sum;
      sum = t;
    }
  }
};

Summary summarise(RowReader& reader) {
  Summary s;
  if (reader.rows() == 0 || reader.cols() == 0) return s;
  // Blocks of about 4 MiB of doubles: memory stays bounded whatever the file size.
  const std::int64_t block = std::max<std::int64_t>(1, (std::int64_t{1} << 19) / std::max<std::int64_t>(1, reader.cols()));
  auto buffer = Matrix<double>::uninitialized(std::min(block, std::max<std::int64_t>(reader.rows(), 1)), reader.cols());
  for (;;) {
    const std::int64_t got = reader.read(buffer.view());
    if (got == 0) break;
    for (std::int64_t i = 0; i < got; ++i)
      for (double v : buffer.view().row_span(i)) s.add(v);
  }
  return s;
}

std::string shape_text(const std::vector<std::int64_t>& shape, const char* separator) {
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i == 0 ? "" : separator) + std::to_string(shape[i]);
  return s;
}

void inspect(const std::string& path, const Output& out) {
  RowReader reader(path);
  const ArrayInfo& info = reader.info();
  const Summary s = summarise(reader);
  if (out.wants_json()) {
    out.write_json(fmt::format(
        "{{\"file\": {}, \"format\": \"{}\", \"gzip\": {}, \"dtype\": \"{}\", \"shape\": [{}], \"rows\": {}, "
        "\"cols\": {}, \"fortran_order\": {}, \"big_endian\": {}, \"file_size\": {}, \"count\": {}, \"min\": {}, "
        "\"max\": {}, \"mean\": {}, \"nan\": {}, \"inf\": {}}}",
        json_string(path), to_string(info.format), info.gzip, to_string(info.dtype), shape_text(info.shape, ", "),
        reader.rows(), reader.cols(), info.fortran_order, info.big_endian, info.file_size, s.count,
        json_number(s.finite > 0 ? s.min : NAN), json_number(s.finite > 0 ? s.max : NAN), json_number(s.mean()),
        s.nan, s.inf));
  }
  if (!out.table()) return;
  fmt::print("file     {}\n", path);
  fmt::print("format   {}{}\n", to_string(info.format), info.gzip ? " (gzip-compressed)" : "");
  const bool multibyte = size_of(info.dtype) > 1;
  fmt::print("dtype    {}{}\n", to_string(info.dtype), multibyte ? (info.big_endian ? ", big-endian" : ", little-endian") : "");
  if (info.format == FileFormat::npy) fmt::print("order    {}\n", info.fortran_order ? "Fortran (column-major)" : "C (row-major)");
  fmt::print("shape    ({}) as stored; {} rows x {} cols as a matrix\n", shape_text(info.shape, ", "), reader.rows(),
             reader.cols());
  if (s.finite > 0) {
    fmt::print("values   {}: min {:.7g}, max {:.7g}, mean {:.7g}, NaN {}, Inf {}\n", s.count, s.min, s.max, s.mean(),
               s.nan, s.inf);
  } else {
    fmt::print("values   {}: no finite values, NaN {}, Inf {}\n", s.count, s.nan, s.inf);
  }
}

const RegisterCommand registered{"inspect", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "inspect",
      "Print a data file's format, dtype and shape, and min, max, mean and NaN/Inf counts of its values\n"
      "(.npy, IDX plain or .gz, .fvecs, .ivecs; read in bounded-memory blocks)");
  auto file = std::make_shared<std::string>();
  auto out = std::make_shared<Output>();
  cmd->add_option("file", *file, "The file to inspect")->required();
  add_output_options(cmd, *out);
  cmd->callback([file, out] { inspect(*file, *out); });
}};

}  // namespace
}  // namespace lowdim::cli
