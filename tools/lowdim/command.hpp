#ifndef LOWDIM_TOOLS_COMMAND_HPP
#define LOWDIM_TOOLS_COMMAND_HPP

// Each subcommand lives in its own cmd_<name>.cpp and registers itself here,
// so adding one touches no other file.

#include <CLI/CLI.hpp>

#include <fmt/core.h>

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

/// The exit statuses, documented in `lowdim --help`.
constexpr int kExitOk = 0;        ///< success
constexpr int kExitUsage = 1;     ///< a usage error: unknown option, missing or malformed argument
constexpr int kExitBadInput = 2;  ///< bad input: a value, shape or file content lowdim cannot accept
constexpr int kExitIo = 3;        ///< an I/O failure: a file that cannot be opened, read or written
constexpr int kExitInternal = 4;  ///< out of memory, or an internal error (a bug: please report it)

/// Thrown by a command to end with a message and an exit status (no stack trace).
struct Exit {
  int status;
  std::string message;
};

/// Ends the command with a usage error (status 1) unless cond holds: for an argument the
/// command line itself gets wrong (malformed, not a value of the option's type).
template <class... Args>
void usage_check(bool cond, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) throw Exit{kExitUsage, fmt::format(format, std::forward<Args>(args)...)};
}

}  // namespace lowdim::cli

#endif
