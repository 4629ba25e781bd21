// lowdim info: version, CPU, BLAS configuration, dense kernel, thread counts.

#include "command.hpp"
#include "output.hpp"

#include <lowdim/linalg.hpp>
#include <lowdim/sketch.hpp>
#include <lowdim/version.hpp>

#include <fmt/core.h>
#include <omp.h>

#include <fstream>
#include <string>

namespace lowdim::cli {
namespace {

// The CPU from /proc/cpuinfo — model name, family and model, vector extensions — since a
// virtual machine's model name alone ("AMD EPYC") may not tell one generation from another,
// and every benchmark figure names the CPU it came from.
std::string cpu_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string name = "unknown", family, model, flags;
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto value_at = line.find_first_not_of(' ', colon + 1);
    const std::string value = value_at == std::string::npos ? "" : line.substr(value_at);
    if (line.rfind("model name", 0) == 0) name = value;
    else if (line.rfind("cpu family", 0) == 0) family = value;
    else if (line.rfind("model", 0) == 0 && model.empty()) model = value;
    else if (line.rfind("flags", 0) == 0) {
      flags = " " + value + " ";
      break;  // the first processor says it all
    }
  }
  const auto has = [&](const char* flag) { return flags.find(std::string(" ") + flag + " ") != std::string::npos; };
  return fmt::format("{} (family {}, model {}; {}, {})", name, family, model, has("avx2") ? "avx2" : "no avx2",
                     has("avx512f") ? "avx512f" : "no avx512f");
}

const RegisterCommand registered{"info", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the version, the CPU, the BLAS configuration, the dense kernel and thread counts");
  auto out = std::make_shared<Output>();
  add_output_options(cmd, *out);
  cmd->callback([out] {
    const std::string cpu = cpu_description(), blas = linalg::blas_info();
    if (out->table()) {
      fmt::print("lowdim {}\n", version());
      fmt::print("CPU: {}\n", cpu);
      fmt::print("BLAS: {}\n", blas);
      fmt::print("dense kernel: {}\n", dense_kernel_isa());
      fmt::print("OpenMP threads: {} (processors: {})\n", omp_get_max_threads(), omp_get_num_procs());
    }
    if (out->wants_json())
      out->write_json(fmt::format(
          "{{\"version\": {}, \"cpu\": {}, \"blas\": {}, \"dense_kernel\": {}, \"openmp_threads\": {}, "
          "\"processors\": {}}}",
          json_string(version()), json_string(cpu), json_string(blas), json_string(std::string(dense_kernel_isa())),
          omp_get_max_threads(), omp_get_num_procs()));
  });
}};

}  // namespace
}  // namespace lowdim::cli
