// ControlApi: the meaning of the control protocol's methods. The server (control_server.h)
// owns the socket, framing and access; it hands each valid request here, where a dispatch
// table maps the method to one handler taking typed params and returning a typed result
// (or an RpcError). Handlers are coroutines: those that read the history wait, off the
// loop's critical path, until it has caught up with what the daemon has done.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "async/clock.h"
#include "async/scope.h"
#include "daemon/control_handler.h"
#include "daemon/ledger.h"
#include "daemon/reloader.h"
#include "daemon/scheduler.h"
#include "protocol/messages.h"

namespace kairos::daemon {

/// A handler's answer: its result, or a JSON-RPC error.
template <class R>
using Answer = std::variant<R, RpcError>;
/// The params of a method that takes none.
struct NoParams {};

class ControlApi final : public ControlHandler {
 public:
  ControlApi(async::Clock& clock, async::AsyncScope& scope, Scheduler& scheduler,
             RunLedger& ledger, Reloader& reloader);
  /// After this, run requests are refused (shutdown).
  void stop_accepting_runs() { accepting_runs_ = false; }

  void handle(const std::string& method, const nlohmann::json& params, const Peer& peer,
              Reply reply) override;

 private:
  using Handler = std::function<Task<RpcResult>(ControlApi&, const nlohmann::json&, const Peer&)>;
  static const std::map<std::string_view, Handler>& table();
  Task<void> serve(Handler h, nlohmann::json params, Peer peer, Reply reply);

  Task<Answer<protocol::StatusInfo>> status(NoParams, const Peer&);
  Task<Answer<protocol::ListResult>> list(NoParams, const Peer&);
  Task<Answer<protocol::JobDetail>> show(protocol::ShowParams, const Peer&);
  Task<Answer<protocol::RunInfo>> run(protocol::RunParams, const Peer&);
  Task<Answer<protocol::CancelResult>> cancel(protocol::CancelParams, const Peer&);
  Task<Answer<protocol::JobStateResult>> pause(protocol::JobParams, const Peer&);
  Task<Answer<protocol::JobStateResult>> resume(protocol::JobParams, const Peer&);
  Task<Answer<protocol::HistoryResult>> history(protocol::HistoryParams, const Peer&);
  Task<Answer<protocol::LogsResult>> logs(protocol::LogsParams, const Peer&);
  Task<Answer<protocol::ReloadResult>> reload(NoParams, const Peer&);
  Task<Answer<protocol::NextResult>> next(protocol::NextParams, const Peer&);

  Answer<protocol::JobStateResult> set_paused(const std::string& job, bool paused);
  std::vector<Millis> next_fires(const Job& job, int count) const;

  async::Clock& clock_;
  async::AsyncScope& scope_;
  Scheduler& scheduler_;
  RunLedger& ledger_;
  Reloader& reloader_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool accepting_runs_ = true;
};

}  // namespace kairos::daemon
