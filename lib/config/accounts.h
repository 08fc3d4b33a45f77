// User and group look-ups (getpwnam_r/getpwuid_r/getgrnam_r, so NSS is honoured): the one
// place kairos reads the account database, for the loader's checks and the daemon's jobs.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace kairos::config {

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;  // primary group
  std::string name;
  std::string home;
  std::string shell;
};

std::optional<Account> find_user(const std::string& name);
std::optional<Account> find_user(uid_t uid);
std::optional<gid_t> find_group(const std::string& name);

/// Whether the account database knows this user / group (by name).
inline bool user_exists(const std::string& name) { return !name.empty() && find_user(name); }
inline bool group_exists(const std::string& name) { return !name.empty() && find_group(name); }

}  // namespace kairos::config
