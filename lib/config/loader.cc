// config::load: reads the main file, then the files its `daemon.include` globs name, and
// builds a Config, or every problem found in any of them.
#include "config/loader.h"

#include <glob.h>
#include <sys/un.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/job_reader.h"
#include "config/reader.h"

namespace kairos::config {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 5> kTopKeys{"version", "daemon", "pools", "defaults",
                                                   "jobs"};
constexpr std::array<std::string_view, 2> kIncludedKeys{"version", "jobs"};
constexpr std::array<std::string_view, 10> kDaemonKeys{
    "socket",         "socket_mode", "socket_group", "database", "max_concurrent_runs",
    "shutdown_grace", "include",     "history",      "watch",    "on_remove"};
constexpr std::array<std::string_view, 2> kHistoryKeys{"keep_per_job", "keep_for"};
constexpr std::array<std::string_view, 2> kOnRemoveNames{"finish", "cancel"};

struct Text {
  std::string content;
  std::string error;  // set when the file could not be read
};

Text read_text(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return {"", "is a directory"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {"", std::strerror(errno)};
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return {"", std::strerror(errno)};
  return {out.str(), ""};
}

class Loader {
 public:
  Loader(const LoadOptions& options, std::string main_file)
      : options_(options),
        main_file_(std::move(main_file)),
        main_dir_(fs::path(main_file_).parent_path()) {}

  LoadResult run(const std::string& text) {
    main(text);
    LoadResult result;
    if (diagnostics_.count() == 0) {
      config_.files = files_;
      result.config = std::move(config_);
    }
    result.errors = diagnostics_.take_sorted(files_);
    return result;
  }

 private:
  void file_error(const std::string& file, const std::string& message) {
    files_.push_back(file);
    diagnostics_.add(SourceLoc{file, 0, 0}, message);
  }

  // The single document of a file as a map; nothing (after reporting why) when it is not
  // valid YAML or not a map. An empty file is an empty map.
  std::optional<YAML::Node> parse(const Reader& r, const std::string& text) {
    auto root = r.parse_document(text);
    if (!root) return std::nullopt;
    if (root->IsNull()) return YAML::Node(YAML::NodeType::Map);
    if (!root->IsMap()) {
      r.error(r.loc(*root), "expected a map at the top level, got " + Reader::describe(*root));
      return std::nullopt;
    }
    return root;
  }

  void version(const Reader& r, const Entry& e) {
    if (auto v = r.integer(e, INT64_MIN, INT64_MAX); v && *v != 1) {
      r.error(e.value_loc, "version: unsupported version " + std::to_string(*v) +
                               " (this kairos reads version 1)");
    }
  }

  void main(const std::string& text) {
    files_.push_back(main_file_);
    Reader r(main_file_, text, diagnostics_);
    auto root = parse(r, text);
    if (!root) return;
    auto entries = r.entries(*root, r.loc(*root), "top level");
    r.keep_known(entries, kTopKeys);
    auto find = [&](std::string_view key) -> const Entry* {
      for (const Entry& e : entries) {
        if (e.key == key) return &e;
      }
      return nullptr;
    };
    // Sections are read in dependency order, whatever order the file has them in: jobs
    // refer to pools and inherit defaults; includes come from the daemon section.
    if (auto e = find("version")) version(r, *e);
    bool includes_ok = true;
    if (auto e = find("daemon")) includes_ok = daemon(r, *e);
    apply_state_dir();
    if (auto e = find("pools")) pools(r, *e);
    context_ = JobContext{.pools = &config_.pools, .running_as_root = options_.running_as_root};
    if (auto e = find("defaults")) defaults_ = read_defaults(r, *e, context_);
    if (auto e = find("jobs")) jobs(r, *e);
    if (includes_ok) includes();
  }

  bool daemon(const Reader& r, const Entry& section) {
    DaemonConfig& d = config_.daemon;
    auto entries = r.entries(section.value, section.value_loc, section.key);
    r.keep_known(entries, kDaemonKeys);
    bool include_ok = true;
    for (const Entry& e : entries) {
      if (e.key == "socket" || e.key == "database") {
        auto path = r.nonempty_string(e);
        if (!path) continue;
        // Relative paths follow the config file, not the daemon's working directory.
        std::string resolved = path->starts_with('/')
                                   ? *path
                                   : fs::absolute(main_dir_ / *path).lexically_normal().string();
        if (e.key == "socket") {
          if (resolved.size() >= sizeof(sockaddr_un{}.sun_path)) {
            r.error(e.value_loc, "socket: path '" + resolved + "' is longer than " +
                                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                                     " bytes, the limit for Unix sockets");
            continue;
          }
          d.socket = resolved;
          socket_set_ = true;
        } else {
          d.database = resolved;
          database_set_ = true;
        }
      } else if (e.key == "socket_mode") {
        if (auto mode = socket_mode(r, e)) d.socket_mode = *mode;
      } else if (e.key == "socket_group") {
        if (auto v = r.string(e)) d.socket_group = *v;
      } else if (e.key == "max_concurrent_runs") {
        if (auto v = r.integer(e, 1, 1'000'000)) d.max_concurrent_runs = static_cast<int>(*v);
      } else if (e.key == "shutdown_grace") {
        if (auto v = r.duration(e)) d.shutdown_grace = *v;
      } else if (e.key == "include") {
        auto patterns = r.string_list(e, /*nonempty=*/false);
        include_ok = patterns.has_value();
        if (!patterns) continue;
        d.include = *patterns;
        include_entry_.emplace(e);
      } else if (e.key == "history") {
        auto history = r.entries(e.value, e.value_loc, e.key);
        r.keep_known(history, kHistoryKeys);
        for (const Entry& h : history) {
          if (h.key == "keep_per_job") {
            if (auto v = r.integer(h, 0, INT64_MAX)) d.history.keep_per_job = *v;
          } else if (auto v = r.duration(h)) {
            d.history.keep_for = *v;
          }
        }
      } else if (e.key == "watch") {
        if (auto v = r.boolean(e)) d.watch = *v;
      } else if (e.key == "on_remove") {
        if (auto v = r.choice(e, kOnRemoveNames)) d.on_remove = static_cast<OnRemove>(*v);
      }
    }
    return include_ok;
  }

  // Octal like chmod, quoted ("0660") or not (0660, 660): YAML 1.1 would read an unquoted
  // 0660 as octal and YAML 1.2 as decimal, so the digits are taken as octal either way.
  std::optional<unsigned> socket_mode(const Reader& r, const Entry& e) {
    if (e.value.IsScalar()) {
      std::string_view text = e.value.Scalar();
      if (text.starts_with("0o")) text.remove_prefix(2);
      unsigned mode = 0;
      bool ok = !text.empty() && text.size() <= 4;
      for (char c : text) {
        ok = ok && c >= '0' && c <= '7';
        mode = mode * 8 + static_cast<unsigned>(c - '0');
      }
      if (ok && mode <= 0777) return mode;
    }
    r.error(e.value_loc, "socket_mode: expected an octal file mode such as \"0660\", got " +
                             Reader::describe(e.value));
    return std::nullopt;
  }

  void apply_state_dir() {
    if (!options_.state_dir) return;
    const fs::path dir = *options_.state_dir;
    if (!database_set_) config_.daemon.database = (dir / "history.db").string();
    if (!socket_set_) config_.daemon.socket = (dir / "kairosd.sock").string();
  }

  void pools(const Reader& r, const Entry& section) {
    for (const Entry& e : r.entries(section.value, section.value_loc, section.key)) {
      if (!valid_name(e.key)) {
        r.error(e.key_loc, "pools: invalid pool name '" + e.key +
                               "' (letters, digits, '_', '.', '-'; at most 64 characters)");
        continue;
      }
      // A pool with a bad size still exists, so its jobs are not also reported as unknown.
      auto slots = r.integer(e, 1, 1'000'000);
      config_.pools[e.key] = slots ? static_cast<int>(*slots) : 1;
    }
  }

  void jobs(const Reader& r, const Entry& section) {
    for (const Entry& e : r.entries(section.value, section.value_loc, section.key,
                                    /*report_duplicates=*/false)) {
      bool ok = true;
      if (!valid_name(e.key)) {
        r.error(e.key_loc, "invalid job name '" + e.key +
                               "': use letters, digits, '_', '.', '-', starting with a letter "
                               "or digit, at most 64 characters");
        ok = false;
      } else if (auto [first, inserted] = job_locs_.emplace(e.key, e.key_loc); !inserted) {
        r.error(e.key_loc, "duplicate job '" + e.key + "' (first defined at " +
                               format_loc(first->second) + ")");
        ok = false;
      }
      // Read even a misnamed or duplicate job, so its own problems are reported too.
      auto spec = read_job(r, e, defaults_, context_);
      if (ok && spec) config_.jobs.push_back(std::move(*spec));
    }
  }

  void includes() {
    std::set<fs::path> seen;
    std::error_code ec;
    seen.insert(fs::weakly_canonical(main_file_, ec));
    Reader main_reader(main_file_, "", diagnostics_);
    const auto& patterns = config_.daemon.include;
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      const std::string& pattern = patterns[i];
      // Where to report a pattern's problem: its item in the list, or the list itself.
      SourceLoc at = include_entry_ ? include_entry_->value_loc : SourceLoc{main_file_, 0, 0};
      if (include_entry_ && include_entry_->value.IsSequence() &&
          i < include_entry_->value.size()) {
        at = main_reader.loc(include_entry_->value[i]);
      }
      if (pattern.empty()) {
        main_reader.error(at, "include: pattern must not be empty");
        continue;
      }
      const std::string full = pattern.starts_with('/') ? pattern : (main_dir_ / pattern).string();
      glob_t g{};
      const int rc = glob(full.c_str(), 0, nullptr, &g);
      std::vector<std::string> matches(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
      globfree(&g);
      if (rc == GLOB_NOMATCH) {
        // An empty jobs.d/ is normal; a literal file name that is not there is a mistake.
        if (pattern.find_first_of("*?[") == std::string::npos) {
          main_reader.error(at, "include: no such file '" + full + "'");
        }
        continue;
      }
      if (rc != 0) {
        main_reader.error(at, "include: cannot read the files matching '" + full + "'");
        continue;
      }
      for (const std::string& path : matches) {
        if (fs::is_directory(path, ec)) continue;
        if (!seen.insert(fs::weakly_canonical(path, ec)).second) continue;
        included_file(path);
      }
    }
  }

  void included_file(const std::string& path) {
    Text text = read_text(path);
    if (!text.error.empty()) {
      file_error(path, "cannot read: " + text.error);
      return;
    }
    files_.push_back(path);
    Reader r(path, text.content, diagnostics_);
    auto root = parse(r, text.content);
    if (!root) return;
    auto entries = r.entries(*root, r.loc(*root), "top level");
    std::vector<Entry> rest;
    for (const Entry& e : entries) {
      if (e.key == "daemon" || e.key == "pools" || e.key == "defaults") {
        r.error(e.key_loc, "'" + e.key + "' is only allowed in the main config file " + main_file_ +
                               "; included files hold only 'jobs:'");
      } else {
        rest.push_back(e);
      }
    }
    r.keep_known(rest, kIncludedKeys);
    entries.swap(rest);
    for (const Entry& e : entries) {
      if (e.key == "version") version(r, e);
    }
    for (const Entry& e : entries) {
      if (e.key == "jobs") jobs(r, e);
    }
  }

  LoadOptions options_;
  std::string main_file_;
  fs::path main_dir_;
  Diagnostics diagnostics_;
  std::vector<std::string> files_;  // in the order read: main first
  Config config_;
  JobDefaults defaults_;
  JobContext context_;
  std::map<std::string, SourceLoc> job_locs_;  // over all files, for duplicates
  std::optional<Entry> include_entry_;
  bool socket_set_ = false;
  bool database_set_ = false;
};

LoadResult internal_error(const std::string& file, const std::exception& e) {
  LoadResult result;
  result.errors.push_back(
      Diagnostic{SourceLoc{file, 0, 0}, std::string("internal error: ") + e.what()});
  return result;
}

}  // namespace

LoadResult load_string(const std::string& text, const std::string& filename,
                       const LoadOptions& options) {
  // Bad input never throws; this catch is for what is left (memory, a library bug), so a
  // reload can never take the daemon down.
  try {
    return Loader(options, filename).run(text);
  } catch (const std::exception& e) {
    return internal_error(filename, e);
  }
}

LoadResult load_file(const std::string& path, const LoadOptions& options) {
  try {
    Text text = read_text(path);
    if (!text.error.empty()) {
      LoadResult result;
      result.errors.push_back(Diagnostic{SourceLoc{path, 0, 0}, "cannot read: " + text.error});
      return result;
    }
    return Loader(options, path).run(text.content);
  } catch (const std::exception& e) {
    return internal_error(path, e);
  }
}

}  // namespace kairos::config
