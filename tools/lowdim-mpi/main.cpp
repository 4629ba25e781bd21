// lowdim-mpi: the distributed front end, run under mpirun (`mpirun -np P lowdim CMD ...` hands
// over to it; see tools/lowdim/main.cpp). The same subcommands and flags as lowdim for the
// operations that are distributed (project, whiten fit|apply, pca, svd); only rank 0 prints.
// Errors: a failure on any rank is agreed on by all (lowdim::mpi::collective), rank 0 prints that
// rank's message and every rank exits with its status; a failure that could not be agreed on
// (outside the agreed steps) prints its rank's message and calls MPI_Abort, so no rank hangs.

#include "command.hpp"
#include "distributed.hpp"

#include <lowdim/error.hpp>
#include <lowdim/mpi.hpp>
#include <lowdim/version.hpp>

#include <algorithm>
#include <cstdio>
#include <fmt/core.h>
#include <new>

namespace {

int status_of(int kind) {
  using namespace lowdim::cli;
  switch (kind) {
    case 1: return kExitBadInput;
    case 2: return kExitIo;
    case 3: return kExitBadInput;
    default: return kExitInternal;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lowdim::cli;
  lowdim::mpi::Environment environment(&argc, &argv);
  const int rank = world().rank();
  CLI::App app{"lowdim (MPI): distributed dimensionality reduction and randomized linear algebra", "lowdim"};
  app.set_version_flag("--version", std::string("lowdim ") + lowdim::version() + " (MPI)");
  app.require_subcommand(1);
  app.footer(fmt::format(
      "Run under mpirun: rows are split over the ranks; only rank 0 prints. Exit status: {} success; {} usage "
      "error; {} bad input (on any rank); {} I/O failure (on any rank); {} out of memory or internal error.",
      kExitOk, kExitUsage, kExitBadInput, kExitIo, kExitInternal));
  auto commands = CommandRegistry::all();
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : commands) setup(app);
  // Every rank parses the same command line, so usage errors are the same everywhere: rank 0 says it.
  const auto fail = [&](int status, const std::string& message) {
    std::fflush(stdout);
    if (rank == 0) fmt::print(stderr, "lowdim: {}\n", message);
    return status;
  };
  const auto abort_with = [&](int status, const std::string& message) {
    std::fflush(stdout);
    fmt::print(stderr, "lowdim: rank {}: {}\n", rank, message);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    return status;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (rank != 0) return e.get_exit_code() == 0 ? kExitOk : kExitUsage;
    const int printed = app.exit(e);
    return printed == 0 ? kExitOk : kExitUsage;
  } catch (const Exit& e) {
    if (!e.message.empty()) fail(e.status, e.message);
    return e.status;
  } catch (const lowdim::mpi::remote_error& e) {
    return fail(status_of(e.kind()), e.what());
  } catch (const lowdim::io_error& e) {
    return abort_with(kExitIo, e.what());
  } catch (const lowdim::error& e) {
    return abort_with(kExitBadInput, e.what());
  } catch (const std::bad_alloc&) {
    return abort_with(kExitInternal, "out of memory");
  } catch (const std::exception& e) {
    return abort_with(kExitInternal, fmt::format("internal error: {}", e.what()));
  }
  std::fflush(stdout);
  return kExitOk;
}
