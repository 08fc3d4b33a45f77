// `defaults:` and `jobs:` entries -> JobSpec. Shared by the main file and included files.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "config/job_spec.h"
#include "config/reader.h"

namespace kairos::config {

/// What every job starts from: built-in values overlaid with `defaults:`.
struct JobDefaults {
  JobSpec base;
  std::string timezone = "UTC";  // for cron schedules without their own `timezone`
};

/// Facts from outside the job that its keys are checked against.
struct JobContext {
  const std::map<std::string, int>* pools = nullptr;
  bool running_as_root = false;
};

/// Whether `name` is a valid job (or pool) name: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 64.
bool valid_name(const std::string& name);

/// Reads `defaults:`; problems are reported and the offending keys ignored.
JobDefaults read_defaults(const Reader& reader, const Entry& defaults, const JobContext& context);

/// Reads the job `entry` (name: map) on top of `defaults`; nullopt when it has problems, all
/// of which are reported.
std::optional<JobSpec> read_job(const Reader& reader, const Entry& entry,
                                const JobDefaults& defaults, const JobContext& context);

}  // namespace kairos::config
