// fake_kairosd SOCKET: the real ControlServer with a handler that serves canned,
// deterministic answers, so kairosctl's tables and --json can be tested without the
// daemon. Times are relative to start-up so "3m ago" renders stably. Exits on SIGTERM
// or SIGINT, closing every handle first.
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <memory>
#include <string>

#include "kairos/version.h"
#include "daemon/control_server.h"
#include "protocol/errors.h"
#include "protocol/messages.h"

namespace {

using namespace kairos;
namespace proto = kairos::protocol;
using nlohmann::json;

std::int64_t now_ms() {
  uv_timeval64_t tv;
  uv_gettimeofday(&tv);
  return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/// One delayed reply: a heap timer owned by itself, freed in its close callback.
struct Delayed {
  uv_timer_t timer{};
  daemon::Reply reply;
  json result;
  Delayed() = default;
  Delayed(const Delayed&) = delete;
  Delayed& operator=(const Delayed&) = delete;

  static void start(uv_loop_t* loop, std::uint64_t ms, daemon::Reply reply, json result) {
    auto* d = new Delayed;
    d->reply = std::move(reply);
    d->result = std::move(result);
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(
        &d->timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<Delayed*>(t->data);
          self->reply(self->result);
          uv_close(reinterpret_cast<uv_handle_t*>(t),
                   [](uv_handle_t* h) { delete static_cast<Delayed*>(h->data); });
        },
        ms, 0);
  }
};

class CannedHandler : public daemon::ControlHandler {
 public:
  explicit CannedHandler(uv_loop_t* loop) : loop_(loop), t0_(now_ms()) {}

  void handle(const std::string& method, const json& params, const daemon::Peer&,
              daemon::Reply reply) override {
    std::string job = params.is_object() ? params.value("job", "") : "";
    auto not_found = [&] {
      reply(daemon::RpcError{proto::errc::not_found, "no job named '" + job + "'", nullptr});
    };
    if (method == "status") {
      proto::StatusInfo s;
      s.version = kairos::kVersion;
      s.pid = 4242;
      s.uptime_ms = 3 * 3600000 + 12 * 60000;
      s.config_path = "/etc/kairos/kairos.yaml";
      s.jobs = 3;
      s.paused = 1;
      s.running = 1;
      s.running_runs = {running_run()};
      s.next_fire = proto::NextFire{"heartbeat", t0_ + 4 * 60000 + 30000};
      return reply(json(s));
    }
    if (method == "list") return reply(json(proto::ListResult{{backup(), heartbeat(), warm()}}));
    if (method == "show") {
      if (job != "nightly-backup") return not_found();
      proto::JobDetail d;
      d.summary = backup();
      d.description = "Full database dump";
      d.shell = "pg_dump app | zstd > /srv/backup/app.sql.zst";
      d.command = {"/bin/sh", "-c", d.shell};
      d.timezone = "Europe/Berlin";
      d.working_dir = "/srv/backup";
      d.user = "backup";
      d.pool = "database";
      d.concurrency = "forbid";
      d.timeout_ms = 3600000;
      d.kill_grace_ms = 10000;
      d.output_limit = 65536;
      d.retry = {4, 30000, 2.0, 600000, 0.2, {"failure", "timeout"}};
      d.catch_up = "last";
      d.catch_up_max_age_ms = 6 * 3600000;
      d.source = "/etc/kairos/kairos.yaml:12:3";
      d.next_fires = {1795999800000, 1796086200000};
      d.recent_runs = {failed_run(), succeeded_run()};
      return reply(json(d));
    }
    if (method == "run") {
      bool wait = params.value("wait", false);
      bool force = params.value("force", false);
      if (job == "busy" && !force)
        return reply(daemon::RpcError{proto::errc::conflict,
                                      "job 'busy' is already running (run 40) and its "
                                      "concurrency is forbid",
                                      json{{"job", "busy"}, {"run_id", 40}}});
      if (job != "ok" && job != "bad" && job != "busy") return not_found();
      proto::RunInfo r;
      r.id = job == "bad" ? 42 : 43;
      r.job = job;
      r.trigger = "manual";
      r.started_at = now_ms();
      r.status = "running";
      r.attempts = 1;
      if (!wait) return reply(json(r));
      r.finished_at = *r.started_at + 300;
      if (job == "bad") {
        r.status = "failed";
        r.attempts = 3;
        r.exit_code = 2;
      } else {
        r.status = "succeeded";
        r.exit_code = 0;
      }
      Delayed::start(loop_, 300, std::move(reply), json(r));
      return;
    }
    if (method == "cancel") {
      if (params.contains("run_id")) {
        auto id = params["run_id"].get<std::int64_t>();
        if (id == 999)
          return reply(daemon::RpcError{proto::errc::not_found, "no run 999", nullptr});
        return reply(json(proto::CancelResult{{id}}));
      }
      if (job == "nightly-backup") return reply(json(proto::CancelResult{{41}}));
      return reply(json(proto::CancelResult{}));
    }
    if (method == "pause" || method == "resume") {
      if (job == "missing") return not_found();
      bool pause = method == "pause";
      return reply(json(
          proto::JobStateResult{job, pause ? "paused" : "active", job != "heartbeat" || !pause}));
    }
    if (method == "history") {
      proto::HistoryResult h;
      for (auto r : {running_run(), failed_run(), succeeded_run()}) {
        if (params.contains("job") && params["job"] != r.job) continue;
        if (params.contains("status") && params["status"] != r.status) continue;
        if (params.contains("since") && r.started_at &&
            *r.started_at < params["since"].get<std::int64_t>())
          continue;
        h.runs.push_back(r);
      }
      int limit = params.value("limit", 50);
      if (int(h.runs.size()) > limit) h.runs.resize(std::size_t(limit));
      return reply(json(h));
    }
    if (method == "logs") {
      auto id = params["run_id"].get<std::int64_t>();
      if (id != 42 && id != 38)
        return reply(
            daemon::RpcError{proto::errc::not_found, "no run " + std::to_string(id), nullptr});
      proto::LogsResult l;
      l.run = failed_run();
      l.run.id = id;
      for (int a = 1; a <= 3; ++a) {
        proto::AttemptInfo at;
        at.run_id = id;
        at.attempt = a;
        at.started_at = t0_ - 180000 + a * 1000;
        at.finished_at = *at.started_at + 500;
        at.status = "failed";
        at.exit_code = 2;
        at.output =
            "dumping app\npg_dump: error: connection refused (attempt " + std::to_string(a) + ")\n";
        if (a == 3) at.output += std::string("bad byte \xff here\n");
        at.output_truncated = a == 1;
        l.attempts.push_back(at);
      }
      return reply(json(l));
    }
    if (method == "reload") {
      if (std::getenv("FAKE_RELOAD_FAIL"))
        return reply(json(proto::ReloadResult{
            false, {"/etc/kairos/kairos.yaml:3:5: unknown key 'shedule'"}, {}, {}, {}, {}}));
      return reply(json(proto::ReloadResult{
          true, {}, {"new-job"}, {}, {"heartbeat"}, {"nightly-backup", "warm-cache"}}));
    }
    if (method == "next") {
      if (job != "nightly-backup") return not_found();
      int count = params.value("count", 5);
      proto::NextResult n{job, "Europe/Berlin", {}};
      // 2026-03-28T02:30:00+01:00 then daily; the DST day shifts to 03:00+02:00.
      std::vector<std::int64_t> fires = {1774661400000, 1774746000000, 1774830600000};
      for (int i = 0; i < count && i < int(fires.size()); ++i)
        n.fires.push_back(fires[std::size_t(i)]);
      return reply(json(n));
    }
    reply(daemon::RpcError{proto::errc::method_not_found, "not faked: " + method, nullptr});
  }

 private:
  proto::RunInfo running_run() const {
    proto::RunInfo r;
    r.id = 41;
    r.job = "nightly-backup";
    r.trigger = "schedule";
    r.scheduled_at = t0_ - 65000;
    r.started_at = t0_ - 65000;
    r.status = "running";
    r.attempts = 1;
    return r;
  }
  proto::RunInfo failed_run() const {
    proto::RunInfo r;
    r.id = 38;
    r.job = "nightly-backup";
    r.trigger = "schedule";
    r.scheduled_at = t0_ - 184000;
    r.started_at = t0_ - 184000;
    r.finished_at = t0_ - 180000;
    r.status = "failed";
    r.attempts = 3;
    r.exit_code = 2;
    return r;
  }
  proto::RunInfo succeeded_run() const {
    proto::RunInfo r;
    r.id = 37;
    r.job = "heartbeat";
    r.trigger = "schedule";
    r.scheduled_at = t0_ - 12000;
    r.started_at = t0_ - 12000;
    r.finished_at = t0_ - 11800;
    r.status = "succeeded";
    r.attempts = 1;
    r.exit_code = 0;
    return r;
  }
  proto::JobSummary backup() const {
    return {"nightly-backup",  "cron 30 2 * * * (Europe/Berlin)", "running", {41}, failed_run(),
            t0_ + 16 * 3600000};
  }
  proto::JobSummary heartbeat() const {
    return {"heartbeat", "every 5m", "paused", {}, succeeded_run(), std::nullopt};
  }
  proto::JobSummary warm() const {
    return {"warm-cache", "after 30s", "active", {}, std::nullopt, t0_ + 30000};
  }

  uv_loop_t* loop_;
  std::int64_t t0_;
};

struct Signals {
  uv_signal_t term{}, intr{};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fake_kairosd SOCKET\n");
    return 2;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  CannedHandler handler(&loop);
  daemon::ControlServer::Options opts;
  opts.path = argv[1];
  opts.mode = 0600;
  std::string err;
  auto server = daemon::ControlServer::listen(&loop, opts, handler, &err);
  if (!server) {
    std::fprintf(stderr, "fake_kairosd: %s\n", err.c_str());
    return 1;
  }
  // Signal handles live on the stack of main, which outlives the loop run below.
  Signals sig;
  struct Ctx {
    std::unique_ptr<daemon::ControlServer>* server;
    Signals* sig;
  } ctx{&server, &sig};
  auto on_signal = [](uv_signal_t* s, int) {
    auto* c = static_cast<Ctx*>(s->data);
    c->server->reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&c->sig->term), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->sig->intr), nullptr);
  };
  uv_signal_init(&loop, &sig.term);
  uv_signal_init(&loop, &sig.intr);
  sig.term.data = sig.intr.data = &ctx;
  uv_signal_start(&sig.term, on_signal, SIGTERM);
  uv_signal_start(&sig.intr, on_signal, SIGINT);
  std::printf("ready\n");
  std::fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  if (rc != 0) {
    uv_print_all_handles(&loop, stderr);
    return 1;
  }
  return 0;
}
