#ifndef LOWDIM_TOOLS_OUTPUT_HPP
#define LOWDIM_TOOLS_OUTPUT_HPP

// What every command that prints results shares: --quiet, --json [FILE] and a progress bar
// on stderr that appears only when stderr is a terminal (never on a pipe or a file).

#include <CLI/CLI.hpp>

#include <lowdim/io.hpp>

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lowdim::cli {

/// A JSON number, or null for NaN and ±Inf (which JSON cannot hold).
inline std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "null"; }

/// A JSON string literal of text (quotes, backslashes and control characters escaped).
inline std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\')
      out += '\\', out += static_cast<char>(c);
    else if (c < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out += static_cast<char>(c);
  }
  return out + "\"";
}

/// --quiet and --json [FILE] of one command. JSON goes to stdout for `--json` or `--json -`,
/// else to FILE (written atomically); with JSON on stdout the table is not printed.
struct Output {
  bool quiet = false;
  std::string json;  // "" = none, "-" = stdout

  /// Whether the human-readable table goes to stdout.
  bool table() const { return !quiet && json != "-"; }
  /// Whether a progress bar may be drawn (stderr must also be a terminal).
  bool progress() const { return !quiet; }
  bool wants_json() const { return !json.empty(); }
  /// Writes a JSON document (without a trailing newline) where --json asked for it.
  void write_json(const std::string& text) const {
    if (json == "-") {
      fmt::print("{}\n", text);
      return;
    }
    AtomicFile file(json);
    const std::string line = text + "\n";
    file.write(line.data(), line.size());
    file.commit();
  }
};

/// Adds --quiet and --json [FILE] to cmd.
inline void add_output_options(CLI::App* cmd, Output& out) {
  cmd->add_flag("--quiet", out.quiet, "Print no table and no progress (errors still go to stderr)");
  cmd->add_option("--json", out.json, "Write the results as JSON: to stdout (--json or --json -) or to FILE")
      ->expected(0, 1)
      ->default_str("-");
}

/// A one-line progress bar on stderr: label, bar, percentage, elapsed time. Drawn at most ten
/// times a second, only when stderr is a terminal and the command is not --quiet; cleared by
/// finish() (and by the destructor), so the terminal ends with the command's own output.
class Progress {
 public:
  explicit Progress(bool allowed = true) : enabled_(allowed && isatty(STDERR_FILENO) == 1) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { finish(); }

  bool enabled() const { return enabled_; }

  void update(const std::string& label, std::int64_t done, std::int64_t total) {
    if (!enabled_ || total <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    constexpr int kWidth = 30;
    const std::int64_t clamped = std::min(std::max<std::int64_t>(done, 0), total);
    const int filled = static_cast<int>(kWidth * clamped / total);
    const double seconds = std::chrono::duration<double>(now - start_).count();
    fmt::print(stderr, "\r[{}{}] {:3d}% {:6.1f} s  {:<36.36}", std::string(static_cast<std::size_t>(filled), '#'),
               std::string(static_cast<std::size_t>(kWidth - filled), '.'), static_cast<int>(100 * clamped / total),
               seconds, label);
    std::fflush(stderr);
  }
  void finish() {
    if (enabled_ && drawn_) {
      fmt::print(stderr, "\r{:<90}\r", "");
      std::fflush(stderr);
    }
    drawn_ = false;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

/// For a step whose length is not known beforehand (an SVD whose depth the residual check
/// decides): from construction to stop() a bar moves on stderr with the elapsed time, redrawn
/// five times a second by a thread of its own; same conditions as Progress (a terminal, not
/// --quiet), and erased when stopped.
class Activity {
 public:
  Activity(bool allowed, std::string label) : label_(std::move(label)) {
    if (!allowed || isatty(STDERR_FILENO) != 1) return;
    ticker_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      for (int tick = 0; !stopped_; ++tick) {
        draw(tick);
        wake_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopped_; });
      }
      fmt::print(stderr, "\r{:<90}\r", "");
      std::fflush(stderr);
    });
  }
  Activity(const Activity&) = delete;
  Activity& operator=(const Activity&) = delete;
  ~Activity() { stop(); }

  /// Ends the display (idempotent).
  void stop() {
    if (!ticker_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    wake_.notify_one();
    ticker_.join();
  }

 private:
  void draw(int tick) const {
    constexpr int kWidth = 30, kBlock = 6;
    const int at = tick % (2 * (kWidth - kBlock));
    const int left = at < kWidth - kBlock ? at : 2 * (kWidth - kBlock) - at;
    std::string bar(kWidth, '.');
    bar.replace(static_cast<std::size_t>(left), kBlock, kBlock, '#');
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    fmt::print(stderr, "\r[{}]      {:6.1f} s  {:<36.36}", bar, seconds, label_);
    std::fflush(stderr);
  }

  std::string label_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::thread ticker_;
};

}  // namespace lowdim::cli

#endif
