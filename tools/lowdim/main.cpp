// lowdim: the command-line front end. Subcommands register themselves
// (command.hpp); this file only parses, dispatches and maps errors to exit codes.

#include "command.hpp"

#include <lowdim/error.hpp>
#include <lowdim/version.hpp>

#include <algorithm>
#include <cstdio>
#include <fmt/core.h>

int main(int argc, char** argv) {
  CLI::App app{"lowdim: dimensionality reduction and randomized linear algebra", "lowdim"};
  app.set_version_flag("--version", std::string(lowdim::version()));
  app.require_subcommand(1);
  auto commands = lowdim::cli::CommandRegistry::all();
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : commands) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lowdim::cli::Exit& e) {
    if (!e.message.empty()) fmt::print(stderr, "lowdim: {}\n", e.message);
    return e.status;
  } catch (const lowdim::error& e) {
    fmt::print(stderr, "lowdim: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "lowdim: unexpected error: {}\n", e.what());
    return 2;
  }
  return 0;
}
