// User and group look-ups for `user:`/`group:` (getpwnam_r/getgrnam_r, so NSS is honoured).
#pragma once

#include <string>

namespace kairos::config {

/// Whether the account database knows this user / group (by name).
bool user_exists(const std::string& name);
bool group_exists(const std::string& name);

}  // namespace kairos::config
