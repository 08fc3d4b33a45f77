// YAML -> Config, with every problem reported as "file:line:column: message".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/job_spec.h"

namespace kairos::config {

struct Diagnostic {
  SourceLoc loc;
  std::string message;
  /// "file:line:column: message"
  std::string str() const;
};

struct LoadOptions {
  /// When set (kairosd --state-dir), `daemon.database` and `daemon.socket` default to
  /// DIR/history.db and DIR/kairosd.sock unless the file sets them explicitly.
  std::optional<std::string> state_dir;
  /// Whether the loading process runs as root: `user:`/`group:` are errors otherwise.
  bool running_as_root = false;
};

struct LoadResult {
  std::optional<Config> config;    // set only when errors is empty
  std::vector<Diagnostic> errors;  // all problems, in file order
  bool ok() const { return errors.empty(); }
};

/// Reads the main file and its includes; never throws for bad input.
LoadResult load_file(const std::string& path, const LoadOptions& options = {});
/// Same from text (tests, `kairosctl validate -`); `filename` is used in diagnostics, and
/// its directory anchors `include` globs and relative paths, as for load_file.
LoadResult load_string(const std::string& text, const std::string& filename,
                       const LoadOptions& options = {});

/// "250ms", "30s", "5m", "1h30m", "2d" (also "0"). nullopt + message on error.
std::optional<Duration> parse_duration(const std::string& text, std::string* error = nullptr);
/// "512", "64KiB", "1MiB", "2GiB", also "64KB"/"1MB" as powers of 1000.
std::optional<std::uint64_t> parse_size(const std::string& text, std::string* error = nullptr);
/// Inverse of parse_duration, shortest form ("1h30m", "250ms", "0s").
std::string format_duration(Duration d);
/// Inverse of parse_size in the largest exact binary unit ("64KiB", "1000", "0").
std::string format_size(std::uint64_t bytes);

}  // namespace kairos::config
