// lowdim min-dim --n N --eps E [--delta D]: the Johnson–Lindenstrauss target
// dimension (Dasgupta–Gupta bound, rounded up), printed alone for scripts.

#include "command.hpp"
#include "output.hpp"

#include <lowdim/jl.hpp>

#include <fmt/core.h>

#include <cmath>
#include <optional>

namespace lowdim::cli {
namespace {

// Accepts 1000000 and 1e6 alike, but not 1.5.
std::int64_t parse_count(const std::string& text, const char* option) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  usage_check(used == text.size() && std::isfinite(value) && value == std::floor(value) && std::abs(value) < 9.0e18,
               "min-dim: {} {} is not an integer", option, text);
  return static_cast<std::int64_t>(value);
}

const RegisterCommand registered{"min-dim", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "min-dim",
      "Print the Johnson-Lindenstrauss target dimension k >= 4 ln n / (eps^2/2 - eps^3/3), rounded up "
      "(with --delta: k >= 2 ln(n(n-1)/delta) / (eps^2/2 - eps^3/3), failure probability <= delta)");
  auto n = std::make_shared<std::string>();
  auto eps = std::make_shared<double>(0);
  auto delta = std::make_shared<std::optional<double>>();
  cmd->add_option("--n", *n, "Number of points (1000000 or 1e6)")->required();
  cmd->add_option("--eps", *eps, "Distortion, in (0, 1)")->required();
  cmd->add_option("--delta", *delta, "Failure probability, in (0, 1)");
  auto out = std::make_shared<Output>();
  add_output_options(cmd, *out);
  cmd->callback([n, eps, delta, out] {
    const std::int64_t points = parse_count(*n, "--n");
    const std::int64_t k = delta->has_value() ? min_dim(points, *eps, **delta) : min_dim(points, *eps);
    if (out->table()) fmt::print("{}\n", k);
    if (out->wants_json())
      out->write_json(fmt::format("{{\"n_points\": {}, \"eps\": {}, \"delta\": {}, \"k\": {}}}", points,
                                  json_number(*eps), delta->has_value() ? json_number(**delta) : "null", k));
  });
}};

}  // namespace
}  // namespace lowdim::cli
