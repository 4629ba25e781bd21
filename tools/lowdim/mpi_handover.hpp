#ifndef LOWDIM_TOOLS_MPI_HANDOVER_HPP
#define LOWDIM_TOOLS_MPI_HANDOVER_HPP

// `mpirun -np P lowdim CMD ...`: a process started by Open MPI's launcher (OMPI_COMM_WORLD_SIZE
// set) becomes lowdim-mpi, the distributed front end installed beside this binary, with the same
// arguments. lowdim itself never links MPI, so running it without mpirun never loads libmpi.

#include "command.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace lowdim::cli {

/// Under mpirun, exec lowdim-mpi (never returns on success); returns an exit status when it cannot
/// (a multi-rank launch without the MPI front end), −1 when not launched by mpirun or on one rank
/// without it (then the command runs here, in one process).
inline int hand_over_to_mpi(char** argv) {
  const char* ranks = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (ranks == nullptr) return -1;
  char self[PATH_MAX];
  const ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string binary;
  if (length > 0) {
    const std::string path(self, static_cast<std::size_t>(length));
    binary = path.substr(0, path.rfind('/') + 1) + "lowdim-mpi";
    if (::access(binary.c_str(), X_OK) == 0) {
      ::execv(binary.c_str(), argv);
      std::perror(("lowdim: cannot run " + binary).c_str());
      return kExitInternal;
    }
  }
  if (std::atoi(ranks) <= 1) return -1;
  fmt::print(stderr,
             "lowdim: started by mpirun on {} ranks, but this lowdim was built without MPI ({} not found): every "
             "rank would run the whole job. Build with -DLOWDIM_WITH_MPI=ON (needs libopenmpi-dev), or run lowdim "
             "without mpirun.\n",
             ranks, binary.empty() ? std::string("lowdim-mpi") : binary);
  return kExitUsage;
}

}  // namespace lowdim::cli

#endif
