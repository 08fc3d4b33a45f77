#include "daemon/reloader.h"

#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "async/offload.h"

namespace kairos::daemon {

namespace fs = std::filesystem;

namespace {
/// Editors write a file in several steps: reload once they have settled.
constexpr std::chrono::milliseconds kWatchDebounce{300};

bool is_yaml(const std::string& n) { return n.ends_with(".yaml") || n.ends_with(".yml"); }
}  // namespace

Reloader::Reloader(async::Clock& clock, async::AsyncScope& scope, Scheduler& scheduler,
                   RunLedger& ledger, Notifier& notifier, std::string config_path,
                   config::LoadOptions options, config::DaemonConfig daemon,
                   std::vector<std::string> files)
    : clock_(clock),
      scope_(scope),
      scheduler_(scheduler),
      ledger_(ledger),
      notifier_(notifier),
      path_(std::move(config_path)),
      options_(std::move(options)),
      daemon_(std::move(daemon)),
      files_(std::move(files)) {}

std::string Reloader::summary() const {
  std::size_t paused = 0;
  for (const auto& j : scheduler_.jobs()) paused += j->paused ? 1 : 0;
  return std::to_string(scheduler_.jobs().size()) + " jobs (" + std::to_string(paused) +
         " paused), " + std::to_string(ledger_.active_count()) + " active runs";
}

Task<protocol::ReloadResult> Reloader::reload(std::string origin) {
  protocol::ReloadResult out;
  auto turn = co_await one_at_a_time_->acquire();
  if (closed_) {
    out.errors.push_back("kairosd is stopping");
    co_return out;
  }
  notifier_.reloading();
  // Built in a statement of its own: GCC 12 mishandles temporaries that hold captures in a
  // full-expression that also contains co_await.
  auto load = async::offload(clock_.loop(),
                             [path = path_, o = options_] { return config::load_file(path, o); });
  auto loaded = co_await load;
  if (closed_) {
    out.errors.push_back("kairosd is stopping");
    co_return out;
  }
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) {
      spdlog::error("reload ({}): {}", origin, d.str());
      out.errors.push_back(d.str());
    }
    spdlog::error("reload ({}) refused: {} error(s); the previous configuration stays active",
                  origin, loaded.errors.size());
    notifier_.ready(summary());
    co_return out;
  }
  auto& cfg = *loaded.config;
  if (cfg.daemon.socket != daemon_.socket || cfg.daemon.database != daemon_.database)
    spdlog::warn("reload: daemon.socket and daemon.database take effect at the next restart");
  ReloadDiff d;
  try {
    // A job added back reads its saved state: let everything written reach the database.
    ledger_.flush_and_trim();
    d = scheduler_.apply(cfg);
  } catch (const std::exception& e) {
    out.errors.push_back(e.what());
    spdlog::error("reload ({}) failed: {}; the previous configuration stays active", origin,
                  e.what());
    notifier_.ready(summary());
    co_return out;
  }
  bool watch_changed = cfg.daemon.watch != daemon_.watch || cfg.files != files_;
  // The daemon section that needs a restart stays as it was.
  cfg.daemon.socket = daemon_.socket;
  cfg.daemon.database = daemon_.database;
  daemon_ = std::move(cfg.daemon);
  files_ = std::move(cfg.files);
  // The scheduler keeps its own copy of each definition: drop this one before trimming.
  cfg.jobs.clear();
  cfg.jobs.shrink_to_fit();
  ledger_.flush_and_trim();
  if (watch_changed) watch();
  out.ok = true;
  out.added = d.added;
  out.removed = d.removed;
  out.changed = d.changed;
  out.unchanged = d.unchanged;
  spdlog::info("reload ({}): {} added, {} removed, {} changed, {} unchanged", origin,
               d.added.size(), d.removed.size(), d.changed.size(), d.unchanged.size());
  notifier_.ready(summary());
  co_return out;
}

void Reloader::watch() {
  if (watching_) watching_->request();
  watching_.reset();
  if (!daemon_.watch || closed_) return;
  // Watch the directories (editors replace files by rename, which a file watch loses), and
  // those the include globs read, so the first file dropped into an empty jobs.d/ counts.
  std::set<std::string> dirs;
  auto dir_of = [](const fs::path& p) {
    auto d = p.parent_path();
    return d.empty() ? std::string(".") : d.string();
  };
  for (const auto& f : files_) dirs.insert(dir_of(f));
  const fs::path main_dir = fs::path(path_).parent_path();
  for (const auto& pattern : daemon_.include) {
    std::string d = dir_of(pattern.starts_with('/') ? fs::path(pattern) : main_dir / pattern);
    std::error_code ec;
    if (d.find_first_of("*?[") == std::string::npos && fs::is_directory(d, ec)) dirs.insert(d);
  }
  std::vector<std::string> warnings;
  auto watcher = async::DirectoryWatch::create(clock_.loop(), {dirs.begin(), dirs.end()}, &warnings);
  for (const auto& w : warnings) spdlog::warn("watch {}", w);
  watching_ = std::make_unique<async::CancelSource>();
  scope_.spawn(watch_loop(std::move(watcher), watching_->token()));
}

Task<void> Reloader::watch_loop(std::unique_ptr<async::DirectoryWatch> w,
                                async::CancelToken stop) {
  // The loop owns its watch: a cancelled loop closes it on the way out, never before.
  while (auto name = co_await w->changed(stop)) {
    if (!is_yaml(*name)) continue;
    if (co_await clock_.sleep_for(kWatchDebounce, stop) != async::WakeReason::reached) break;
    (void)co_await reload("file change");
  }
  w->close();
}

void Reloader::close() {
  closed_ = true;
  if (watching_) watching_->request();
}

}  // namespace kairos::daemon
