// lowdim: the command-line front end. Subcommands register themselves
// (command.hpp); this file only parses, dispatches and maps errors to exit statuses.

#include "command.hpp"
#include "mpi_handover.hpp"

#include <lowdim/error.hpp>
#include <lowdim/version.hpp>

#include <algorithm>
#include <cstdio>
#include <fmt/core.h>
#include <new>

int main(int argc, char** argv) {
  using namespace lowdim::cli;
  if (const int status = hand_over_to_mpi(argv); status >= 0) return status;  // under mpirun: lowdim-mpi
  CLI::App app{"lowdim: dimensionality reduction and randomized linear algebra", "lowdim"};
  app.set_version_flag("--version", std::string("lowdim ") + lowdim::version());
  app.require_subcommand(1);
  app.footer(fmt::format(
      "Exit status: {} success; {} usage error (unknown option, missing argument, an argument that is not of "
      "its type); {} bad input (a value or shape lowdim cannot accept, non-finite data, a computation that "
      "fails on the data); {} I/O failure (a file that cannot be opened, read, parsed or written); {} out of "
      "memory or internal error.\n"
      "Long commands draw a progress bar on stderr when it is a terminal; --quiet turns it off.",
      kExitOk, kExitUsage, kExitBadInput, kExitIo, kExitInternal));
  auto commands = CommandRegistry::all();
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : commands) setup(app);
  const auto fail = [](int status, const std::string& message) {
    std::fflush(stdout);
    fmt::print(stderr, "lowdim: {}\n", message);
    return status;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" of status 0 that print what was asked.
    const int printed = app.exit(e);
    return printed == 0 ? kExitOk : kExitUsage;
  } catch (const Exit& e) {
    if (!e.message.empty()) fmt::print(stderr, "lowdim: {}\n", e.message);
    return e.status;
  } catch (const lowdim::io_error& e) {
    return fail(kExitIo, e.what());
  } catch (const lowdim::error& e) {  // invalid_argument, dimension_mismatch, numerical_error
    return fail(kExitBadInput, e.what());
  } catch (const std::bad_alloc&) {
    return fail(kExitInternal, "out of memory");
  } catch (const std::exception& e) {
    return fail(kExitInternal, fmt::format("internal error: {}", e.what()));
  }
  return kExitOk;
}
