#ifndef LOWDIM_TOOLS_COMMAND_HPP
#define LOWDIM_TOOLS_COMMAND_HPP

// Each subcommand lives in its own cmd_<name>.cpp and registers itself here,
// so adding one touches no other file.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace lowdim::cli {

/// Adds a subcommand to app: declares its options and sets its callback.
using CommandSetup = std::function<void(CLI::App& app)>;

struct CommandRegistry {
  static std::vector<std::pair<std::string, CommandSetup>>& all() {
    static std::vector<std::pair<std::string, CommandSetup>> commands;
    return commands;
  }
};

struct RegisterCommand {
  RegisterCommand(std::string name, CommandSetup setup) {
    CommandRegistry::all().emplace_back(std::move(name), std::move(setup));
  }
};

/// Thrown by a command to end with a message and an exit status (no stack trace).
struct Exit {
  int status;
  std::string message;
};

}  // namespace lowdim::cli

#endif
