#include "async/launcher.h"

namespace kairos::async {

namespace {
class RealChild final : public Child {
 public:
  explicit RealChild(std::unique_ptr<Process> p) : p_(std::move(p)) {}
  pid_t pid() const override { return p_->pid(); }
  void signal_group(int sig) override { p_->signal_group(sig); }
  Task<ExitStatus> wait() override { return p_->wait(); }
  std::string output() const override { return p_->output().str(); }
  bool output_truncated() const override { return p_->output().truncated(); }

 private:
  std::unique_ptr<Process> p_;
};
}  // namespace

std::unique_ptr<Child> ProcessLauncher::spawn(const SpawnOptions& options, std::string* error) {
  auto p = processes_.spawn(options, error);
  if (!p) return nullptr;
  return std::make_unique<RealChild>(std::move(p));
}

}  // namespace kairos::async
