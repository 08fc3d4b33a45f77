#include "fake_launcher.h"

#include <signal.h>

#include <stdexcept>

namespace kairos::fakes {

/// What the runner holds: a view of a FakeProcess, whose life the launcher owns.
class FakeChild final : public async::Child {
 public:
  explicit FakeChild(FakeProcess& p) : p_(p) {}
  ~FakeChild() override {
    // As Process::~Process: a child dropped while running is killed.
    if (p_.alive()) {
      p_.abandoned_ = true;
      p_.signal(SIGKILL);
    }
  }
  pid_t pid() const override { return p_.pid(); }
  void signal_group(int sig) override { p_.signal(sig); }
  async::Task<async::ExitStatus> wait() override { return wait_for(p_); }
  std::string output() const override { return p_.output_; }
  bool output_truncated() const override { return p_.truncated_; }

 private:
  static async::Task<async::ExitStatus> wait_for(FakeProcess& p) {
    co_await p.exited_.wait();
    co_return *p.status_;
  }
  FakeProcess& p_;
};

std::optional<std::string> FakeProcess::env(const std::string& name) const {
  for (const auto& kv : options_.env)
    if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 && kv[name.size()] == '=')
      return kv.substr(name.size() + 1);
  return std::nullopt;
}

void FakeProcess::end(async::ExitStatus s) {
  if (status_) return;
  status_ = std::move(s);
  exited_.set();  // resumes the runner through the loop, never inline
}

void FakeProcess::exit(int code) {
  async::ExitStatus s;
  s.exit_code = code;
  end(std::move(s));
}

void FakeProcess::kill_by_signal(int sig) {
  async::ExitStatus s;
  s.signal = sig;
  end(std::move(s));
}

void FakeProcess::fail_exec(const std::string& error) {
  async::ExitStatus s;
  s.exit_code = 127;
  s.error = error;
  end(std::move(s));
}

void FakeProcess::signal(int sig) {
  if (!alive()) {
    late_signals_.push_back(sig);
    return;
  }
  signals_.push_back(sig);
  if (sig == SIGKILL || (sig == SIGTERM && !ignore_sigterm_)) kill_by_signal(sig);
}

std::unique_ptr<async::Child> FakeLauncher::spawn(const async::SpawnOptions& options,
                                                  std::string* error) {
  auto fail = [&](std::string why) -> std::unique_ptr<async::Child> {
    ++failed_;
    if (error) *error = std::move(why);
    return nullptr;
  };
  if (!fail_next_.empty()) {
    std::string why = std::move(fail_next_.front());
    fail_next_.pop_front();
    return fail(std::move(why));
  }
  if (options.argv.empty()) return fail("empty command");
  if (auto it = fail_command_.find(options.argv[0]); it != fail_command_.end())
    return fail(it->second);
  std::size_t index = procs_.size();
  auto& p = *procs_.emplace_back(
      std::make_unique<FakeProcess>(index, static_cast<pid_t>(10000 + index), options));
  p.ignore_sigterm(ignore_sigterm_by_default);
  if (on_spawn) on_spawn(p);
  return std::make_unique<FakeChild>(p);
}

FakeProcess& FakeLauncher::process(std::size_t i) {
  if (i >= procs_.size())
    throw std::out_of_range("FakeLauncher: no child #" + std::to_string(i) + " (" +
                            std::to_string(procs_.size()) + " spawned)");
  return *procs_[i];
}

FakeProcess& FakeLauncher::last() {
  if (procs_.empty()) throw std::out_of_range("FakeLauncher: nothing spawned");
  return *procs_.back();
}

FakeProcess* FakeLauncher::find_pid(pid_t pid) {
  for (auto& p : procs_)
    if (p->pid() == pid) return p.get();
  return nullptr;
}

std::vector<FakeProcess*> FakeLauncher::alive() {
  std::vector<FakeProcess*> out;
  for (auto& p : procs_)
    if (p->alive()) out.push_back(p.get());
  return out;
}

std::vector<FakeProcess*> FakeLauncher::of_job(const std::string& job) {
  std::vector<FakeProcess*> out;
  for (auto& p : procs_)
    if (p->env("KAIROS_JOB") == job) out.push_back(p.get());
  return out;
}

void FakeLauncher::kill_all() {
  for (auto* p : alive()) p->signal(SIGKILL);
}

void FakeLauncher::fail_next(std::string error, int times) {
  for (int i = 0; i < times; ++i) fail_next_.push_back(error);
}

void FakeLauncher::fail_command(const std::string& command, std::string error) {
  fail_command_[command] = error.empty() ? "command not found: " + command : std::move(error);
}

}  // namespace kairos::fakes
