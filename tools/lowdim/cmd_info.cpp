// lowdim info: version, BLAS configuration, dense kernel, thread counts.

#include "command.hpp"

#include <lowdim/linalg.hpp>
#include <lowdim/sketch.hpp>
#include <lowdim/version.hpp>

#include <fmt/core.h>
#include <omp.h>

namespace lowdim::cli {
namespace {

const RegisterCommand registered{"info", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the version, the BLAS configuration, the dense kernel and thread counts");
  cmd->callback([] {
    fmt::print("lowdim {}\n", version());
    fmt::print("BLAS: {}\n", linalg::blas_info());
    fmt::print("dense kernel: {}\n", dense_kernel_isa());
    fmt::print("OpenMP threads: {} (processors: {})\n", omp_get_max_threads(), omp_get_num_procs());
  });
}};

}  // namespace
}  // namespace lowdim::cli
