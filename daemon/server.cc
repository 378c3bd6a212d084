#include "daemon/server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "base/status.h"
#include "daemon/audit_log.h"
#include "daemon/monitor.h"
#include "server/grpc_server.h"
#include "server/grpc_status.h"

namespace curator::daemon {
namespace {

// Calls that change state need a client certificate or the token
// (RpcSecurity::MayChangeState); listings are open to any client that can
// connect, as the Load Monitor is.
#define CURATOR_MAY_CHANGE_STATE(context)                                          \
  if (grpc::Status allowed = security_->MayChangeState(context); !allowed.ok()) { \
    return allowed;                                                                \
  }

template <typename T>
grpc::Status Answer(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

// "tasks 4 5 6", "night 20071021", "files a.fit b.fit": what a command
// was asked to act on, for the audit log.
template <typename List>
std::string Target(absl::string_view what, const List& items) {
  return absl::StrCat(what, " ", absl::StrJoin(items, " "));
}

AuditEntry Asked(std::string command, std::string target,
                 std::string reason = "") {
  return AuditEntry{.who = "",
                    .via = "grpc",
                    .command = std::move(command),
                    .target = std::move(target),
                    .reason = std::move(reason)};
}

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  CoordinatorService(Daemon* d, const RpcSecurity* security, std::function<void()> wake)
      : d_(d), security_(security), wake_(std::move(wake)) {}

  // A call that may change state: refused without the certificate or the
  // token (refusals go to the daemon's log, not the table, so a caller
  // without either cannot fill the database), and recorded in the audit
  // log before it runs and when it has answered.
  template <typename Out, typename Run>
  grpc::Status Audited(grpc::ServerContext* context, AuditEntry entry, Run run,
                       Out* out) {
    entry.who = security_->Caller(context);
    if (grpc::Status allowed = security_->MayChangeState(context);
        !allowed.ok()) {
      CURATOR_LOG(WARNING) << "refused " << entry.command << " " << entry.target
                           << " from " << context->peer() << ": "
                           << allowed.error_message();
      return allowed;
    }
    const int64_t id = d_->audit().Begin(entry);
    absl::StatusOr<Out> result = run();
    d_->audit().Finish(id, result.ok() ? AuditOutcome(*result)
                                       : AuditOutcome(result.status()));
    return Answer(std::move(result), out);
  }

  grpc::Status Register(grpc::ServerContext* context, const v1::HeartbeatRequest* r,
                        v1::HeartbeatResponse* out) override {
    return Heartbeat(context, r, out);
  }
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* r,
                         v1::HeartbeatResponse* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    grpc::Status st = Answer(d_->workers().Heartbeat(*r), out);
    // A finished task frees a slot: dispatch at once, not at the next
    // pass.
    if (st.ok() && out->acknowledged_size() > 0) wake_();
    return st;
  }
  grpc::Status ReportResult(grpc::ServerContext* context, const v1::ReportResultRequest* r,
                            v1::ReportResultResponse* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    absl::StatusOr<bool> recorded = d_->workers().ReportResult(r->worker_id(), r->status());
    if (!recorded.ok()) return ToGrpcStatus(recorded.status());
    out->set_acknowledged(*recorded);
    wake_();
    return grpc::Status::OK;
  }
  grpc::Status ListTasks(grpc::ServerContext*, const v1::ListTasksRequest* r,
                         v1::ListTasksResponse* out) override {
    return Answer(d_->queries().ListTasks(r->state(), r->night(), r->cu()),
                  out);
  }
  grpc::Status GetPlan(grpc::ServerContext*, const v1::GetPlanRequest*,
                       v1::GetPlanResponse* out) override {
    return Answer(d_->queries().GetPlan(), out);
  }
  grpc::Status Approve(grpc::ServerContext* context, const v1::ApproveRequest* r,
                       v1::ApproveResponse* out) override {
    return Audited(
        context,
        Asked("approve",
              r->all() ? "every pending task" : Target("tasks", r->task_ids())),
        [&] { return d_->commands().Approve(*r); }, out);
  }
  grpc::Status Reject(grpc::ServerContext* context, const v1::TaskIdsRequest* r,
                      v1::TaskIdsResponse* out) override {
    return Audited(
        context, Asked("reject", Target("tasks", r->task_ids())),
        [&] { return d_->commands().Reject(*r); }, out);
  }
  grpc::Status Cancel(grpc::ServerContext* context, const v1::TaskIdsRequest* r,
                      v1::TaskIdsResponse* out) override {
    return Audited(
        context, Asked("cancel", Target("tasks", r->task_ids())),
        [&] { return d_->commands().Cancel(*r); }, out);
  }
  grpc::Status Retry(grpc::ServerContext* context, const v1::TaskIdsRequest* r,
                     v1::TaskIdsResponse* out) override {
    return Audited(
        context, Asked("retry", Target("tasks", r->task_ids())),
        [&] { return d_->commands().Retry(*r); }, out);
  }
  grpc::Status Rerun(grpc::ServerContext* context, const v1::TaskIdsRequest* r,
                     v1::TaskIdsResponse* out) override {
    return Audited(
        context, Asked("rerun", Target("tasks", r->task_ids())),
        [&] { return d_->commands().Rerun(*r); }, out);
  }
  grpc::Status ListNights(grpc::ServerContext*, const v1::ListNightsRequest*,
                          v1::ListNightsResponse* out) override {
    return Answer(d_->queries().ListNights(), out);
  }
  grpc::Status ListBatches(grpc::ServerContext*, const v1::ListBatchesRequest*,
                           v1::ListBatchesResponse* out) override {
    return Answer(d_->queries().ListBatches(), out);
  }
  grpc::Status GetTaskLog(grpc::ServerContext*, const v1::GetTaskLogRequest* r,
                          v1::GetTaskLogResponse* out) override {
    return Answer(d_->queries().GetTaskLog(r->task_id()), out);
  }
  // Registers the night again: a state change.
  grpc::Status ListChanges(grpc::ServerContext* context,
                           const v1::NightRequest* r,
                           v1::ChangesResponse* out) override {
    return Audited(
        context, Asked("changes", absl::StrCat("night ", r->night())),
        [&] { return d_->actions().Changes(r->night()); }, out);
  }
  grpc::Status Accept(grpc::ServerContext* context, const v1::NightRequest* r,
                      v1::ArchiveActionResponse* out) override {
    return Audited(
        context, Asked("accept", absl::StrCat("night ", r->night())),
        [&] {
          return d_->actions().Accept(r->night(), security_->Caller(context));
        },
        out);
  }
  grpc::Status Deprecate(grpc::ServerContext* context,
                         const v1::FilesRequest* r,
                         v1::ArchiveActionResponse* out) override {
    return Audited(
        context, Asked("deprecate", Target("files", r->files()), r->reason()),
        [&] { return d_->actions().Deprecate(*r, security_->Caller(context)); },
        out);
  }
  grpc::Status Undeprecate(grpc::ServerContext* context,
                           const v1::FilesRequest* r,
                           v1::ArchiveActionResponse* out) override {
    return Audited(
        context, Asked("undeprecate", Target("files", r->files()), r->reason()),
        [&] {
          return d_->actions().Undeprecate(*r, security_->Caller(context));
        },
        out);
  }
  grpc::Status Retire(grpc::ServerContext* context, const v1::NightRequest* r,
                      v1::ArchiveActionResponse* out) override {
    return Audited(
        context,
        Asked("retire", absl::StrCat("night ", r->night()), r->reason()),
        [&] {
          return d_->actions().Retire(r->night(), r->reason(),
                                      security_->Caller(context));
        },
        out);
  }
  grpc::Status Restore(grpc::ServerContext* context, const v1::NightRequest* r,
                       v1::ArchiveActionResponse* out) override {
    return Audited(
        context, Asked("restore", absl::StrCat("night ", r->night())),
        [&] {
          return d_->actions().Restore(r->night(), security_->Caller(context));
        },
        out);
  }
  grpc::Status Reload(grpc::ServerContext* context, const v1::NightRequest* r,
                      v1::ArchiveActionResponse* out) override {
    return Audited(
        context, Asked("reload", absl::StrCat("night ", r->night())),
        [&] {
          return d_->actions().Reload(r->night(), security_->Caller(context));
        },
        out);
  }
  // The audit log is open to read, as listings are.
  grpc::Status ListAudit(grpc::ServerContext*, const v1::ListAuditRequest* r,
                         v1::ListAuditResponse* out) override {
    return Answer(d_->audit().List(*r), out);
  }
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse* out) override {
    return Answer(d_->queries().ListWorkers(), out);
  }
  grpc::Status ListCus(grpc::ServerContext*, const v1::ListCusRequest*,
                       v1::ListCusResponse* out) override {
    *out = d_->queries().ListCus();
    return grpc::Status::OK;
  }
  grpc::Status Pause(grpc::ServerContext* context, const v1::PauseRequest*,
                     v1::DispatchState* out) override {
    return Audited(
        context, Asked("pause", ""),
        [&]() -> absl::StatusOr<v1::DispatchState> {
          CURATOR_ASSIGN_OR_RETURN(const bool paused,
                                   d_->commands().SetPaused(true));
          v1::DispatchState state;
          state.set_paused(paused);
          return state;
        },
        out);
  }
  grpc::Status Resume(grpc::ServerContext* context, const v1::ResumeRequest*,
                      v1::DispatchState* out) override {
    return Audited(
        context, Asked("resume", ""),
        [&]() -> absl::StatusOr<v1::DispatchState> {
          CURATOR_ASSIGN_OR_RETURN(const bool paused,
                                   d_->commands().SetPaused(false));
          v1::DispatchState state;
          state.set_paused(paused);
          return state;
        },
        out);
  }
  grpc::Status CreateRelease(grpc::ServerContext* context,
                             const v1::CreateReleaseRequest* r,
                             v1::ReleaseInfo* out) override {
    return Audited(
        context,
        Asked(
            "release create",
            absl::StrCat(
                "release ", r->name(),
                r->until().empty() ? "" : absl::StrCat(" until ", r->until()))),
        [&] {
          return d_->releases().Create(r->name(), r->until(),
                                       security_->Caller(context));
        },
        out);
  }
  grpc::Status ListReleases(grpc::ServerContext*,
                            const v1::ListReleasesRequest*,
                            v1::ListReleasesResponse* out) override {
    return Answer(d_->releases().List(), out);
  }
  // Reads only, as listings do.
  grpc::Status VerifyRelease(grpc::ServerContext*,
                             const v1::ReleaseNameRequest* r,
                             v1::VerifyReleaseResponse* out) override {
    return Answer(d_->releases().Verify(r->name()), out);
  }
  grpc::Status DropRelease(grpc::ServerContext* context,
                           const v1::ReleaseNameRequest* r,
                           v1::DropReleaseResponse* out) override {
    return Audited(
        context, Asked("release drop", absl::StrCat("release ", r->name())),
        [&] {
          return d_->releases().Drop(r->name(), security_->Caller(context));
        },
        out);
  }

 private:
  Daemon* d_;
  const RpcSecurity* security_;
  std::function<void()> wake_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DaemonServer>> DaemonServer::Create(
    const v1::Config& config, const archive::CuRegistry* registry, const Clock* clock,
    std::unique_ptr<WorkerClient> client) {
  if (!config.has_daemon() || config.daemon().listen_address().empty()) {
    return absl::InvalidArgumentError("the config has no daemon.listen_address");
  }
  std::unique_ptr<DaemonServer> s(new DaemonServer());
  s->config_ = config;
  const v1::DaemonConfig& d = config.daemon();
  DaemonOptions o;
  o.archive_root = config.archive_root();
  o.conninfo = config.database().conninfo();
  o.shards = archive::shards::FromConfig(config.database());
  o.auto_approve = d.auto_approve();
  o.accept_redeliveries = d.accept_redeliveries();
  o.heartbeat_timeout =
      absl::Milliseconds(d.heartbeat_timeout_ms() ? d.heartbeat_timeout_ms() : 30000);
  o.policy.retry_backoff = absl::Milliseconds(d.retry_backoff_ms() ? d.retry_backoff_ms() : 10000);
  o.max_load_per_core = d.max_load_per_core() > 0 ? d.max_load_per_core() : 1.5;
  s->interval_ = absl::Milliseconds(d.poll_interval_ms() ? d.poll_interval_ms() : 1000);
  absl::StatusOr<RpcSecurity> security = RpcSecurity::FromConfig(config);
  if (!security.ok()) return absl::InvalidArgumentError(security.status().message());
  CURATOR_ASSIGN_OR_RETURN(s->credentials_, security->ServerCredentials());
  s->security_ = *std::move(security);
  if (client == nullptr) {
    // A dispatch is a queueing call: a worker that takes longer than this
    // to answer is treated as not having the task (daemon/dispatcher.h).
    client = std::make_unique<GrpcWorkerClient>(s->security_, absl::Seconds(10));
  }
  if (registry == nullptr) {
    registry = &archive::CuRegistry::ForSite(config.cross_match().enabled());
  }
  CURATOR_ASSIGN_OR_RETURN(s->daemon_, Daemon::Create(o, registry, clock, std::move(client)));
  DaemonServer* self = s.get();
  s->service_ = std::make_unique<CoordinatorService>(s->daemon_.get(), &s->security_,
                                                     [self] { self->Wake(); });
  return s;
}

DaemonServer::~DaemonServer() {
  Shutdown(absl::Seconds(5));
  Wait();
}

void DaemonServer::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

absl::Status DaemonServer::Start() {
  CURATOR_ASSIGN_OR_RETURN(server_, StartGrpcServer(config_.daemon().listen_address(),
                                                    credentials_, {service_.get()}, &port_));
  if (!config_.daemon().monitor_address().empty()) {
    monitor_ = std::make_unique<HttpServer>();
    AddMonitorRoutes(daemon_.get(), monitor_.get());
    if (absl::Status s = monitor_->Start(config_.daemon().monitor_address()); !s.ok()) {
      server_->Shutdown();
      return s;
    }
  }
  if (config_.daemon().monitor_actions().enabled()) {
    absl::StatusOr<std::unique_ptr<MonitorHttps>> https =
        MonitorHttps::Create(config_, &security_, daemon_.get());
    absl::Status s = https.ok() ? (*https)->Start() : https.status();
    if (!s.ok()) {
      if (monitor_ != nullptr) monitor_->Stop();
      server_->Shutdown();
      return s;
    }
    monitor_https_ = *std::move(https);
  }
  daemon_->SetWake([this] { Wake(); });
  loop_ = std::thread([this] { Loop(); });
  CURATOR_LOG(INFO)
      << "curator-daemon serving on port " << port_
      << (monitor_ ? absl::StrCat(", Load Monitor on port ", monitor_->port())
                   : "")
      << (monitor_https_
              ? absl::StrCat(", with operator actions over HTTPS on port ",
                             monitor_https_->port())
              : "")
      << (config_.daemon().auto_approve() ? ", approving automatically" : "");
  return absl::OkStatus();
}

void DaemonServer::Loop() {
  bool failing = false;
  absl::Time last_said = absl::InfinitePast();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    absl::Status s = daemon_->Tick();
    if (s.ok()) {
      if (failing) CURATOR_LOG(INFO) << "daemon loop: working again";
      failing = false;
      beat_.Beat();
    } else if (!failing || absl::Now() - last_said > absl::Minutes(1)) {
      // Said when it starts and once a minute, not every pass: the
      // database may be away for minutes.
      CURATOR_LOG(ERROR) << "daemon loop: " << s;
      failing = true;
      last_said = absl::Now();
    }
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_),
                 [this] { return stopping_ || woken_; });
    woken_ = false;
  }
  loop_done_ = true;
  cv_.notify_all();
}

void DaemonServer::Shutdown(absl::Duration deadline) {
  const absl::Time until = absl::Now() + deadline;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (monitor_ != nullptr) monitor_->Stop();
  if (monitor_https_ != nullptr) monitor_https_->Stop();
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(until));
  // A pass blocked on a dead database link must not hold the shutdown
  // past its deadline: its calls are broken off (they fail; what they
  // were doing is rolled back by the server, and redone at the next
  // start).
  std::unique_lock<std::mutex> lock(mu_);
  if (loop_.joinable() &&
      !cv_.wait_for(lock, absl::ToChronoMilliseconds(std::max(absl::ZeroDuration(), until - absl::Now())),
                    [this] { return loop_done_; })) {
    CURATOR_LOG(WARNING) << "the daemon loop did not stop within the shutdown deadline; breaking "
                            "its database calls";
    daemon_->InterruptDatabase();
  }
}

void DaemonServer::Wait() {
  if (server_ != nullptr) server_->Wait();
  if (loop_.joinable()) loop_.join();
}

}  // namespace curator::daemon
