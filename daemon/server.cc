#include "daemon/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"
#include "base/log.h"
#include "base/status.h"
#include "daemon/monitor.h"

namespace curator::daemon {
namespace {

// Calls that change state need a client certificate or the token
// (RpcSecurity::MayChangeState); listings are open to any client that can
// connect, as the Load Monitor is.
#define CURATOR_MAY_CHANGE_STATE(context)                                          \
  if (grpc::Status allowed = security_->MayChangeState(context); !allowed.ok()) { \
    return allowed;                                                                \
  }

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  CoordinatorService(Coordinator* c, const RpcSecurity* security) : c_(c), security_(security) {}
  grpc::Status Register(grpc::ServerContext* context, const v1::HeartbeatRequest* r,
                        v1::HeartbeatResponse*) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return ToGrpcStatus(c_->Heartbeat(*r));
  }
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* r,
                         v1::HeartbeatResponse*) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return ToGrpcStatus(c_->Heartbeat(*r));
  }
  grpc::Status ReportResult(grpc::ServerContext* context, const v1::ReportResultRequest* r,
                            v1::ReportResultResponse*) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return ToGrpcStatus(c_->ReportResult(*r));
  }
  grpc::Status ListTasks(grpc::ServerContext*, const v1::ListTasksRequest* r,
                         v1::ListTasksResponse* out) override {
    return Answer(c_->ListTasks(r->state()), out);
  }
  grpc::Status GetPlan(grpc::ServerContext*, const v1::GetPlanRequest*,
                       v1::GetPlanResponse* out) override {
    return Answer(c_->GetPlan(), out);
  }
  grpc::Status Approve(grpc::ServerContext* context, const v1::ApproveRequest* r,
                       v1::ApproveResponse* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return Answer(c_->Approve(*r), out);
  }
  grpc::Status Reject(grpc::ServerContext* context, const v1::TaskIdsRequest* r,
                      v1::TaskIdsResponse* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return Answer(c_->Reject(*r), out);
  }
  grpc::Status Cancel(grpc::ServerContext* context, const v1::TaskIdsRequest* r,
                      v1::TaskIdsResponse* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return Answer(c_->Cancel(*r), out);
  }
  grpc::Status Retry(grpc::ServerContext* context, const v1::TaskIdsRequest* r,
                     v1::TaskIdsResponse* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return Answer(c_->Retry(*r), out);
  }
  grpc::Status ListNights(grpc::ServerContext*, const v1::ListNightsRequest*,
                          v1::ListNightsResponse* out) override {
    return Answer(c_->ListNights(), out);
  }
  grpc::Status ListBatches(grpc::ServerContext*, const v1::ListBatchesRequest*,
                           v1::ListBatchesResponse* out) override {
    return Answer(c_->ListBatches(), out);
  }
  grpc::Status GetTaskLog(grpc::ServerContext*, const v1::GetTaskLogRequest* r,
                          v1::GetTaskLogResponse* out) override {
    return Answer(c_->GetTaskLog(r->task_id()), out);
  }
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse* out) override {
    return Answer(c_->ListWorkers(), out);
  }
  grpc::Status Pause(grpc::ServerContext* context, const v1::PauseRequest*,
                     v1::DispatchState* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return Answer(c_->SetPaused(true), out);
  }
  grpc::Status Resume(grpc::ServerContext* context, const v1::ResumeRequest*,
                      v1::DispatchState* out) override {
    CURATOR_MAY_CHANGE_STATE(context);
    return Answer(c_->SetPaused(false), out);
  }

 private:
  template <typename T>
  static grpc::Status Answer(absl::StatusOr<T> result, T* out) {
    if (!result.ok()) return ToGrpcStatus(result.status());
    *out = *std::move(result);
    return grpc::Status::OK;
  }
  static grpc::Status Answer(absl::StatusOr<bool> paused, v1::DispatchState* out) {
    if (!paused.ok()) return ToGrpcStatus(paused.status());
    out->set_paused(*paused);
    return grpc::Status::OK;
  }
  Coordinator* c_;
  const RpcSecurity* security_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DaemonServer>> DaemonServer::Create(const v1::Config& config) {
  if (!config.has_daemon() || config.daemon().listen_address().empty()) {
    return absl::InvalidArgumentError("the config has no daemon.listen_address");
  }
  std::unique_ptr<DaemonServer> s(new DaemonServer());
  s->config_ = config;
  const v1::DaemonConfig& d = config.daemon();
  CoordinatorOptions o;
  o.archive_root = config.archive_root();
  o.conninfo = config.database().conninfo();
  o.auto_approve = d.auto_approve();
  o.heartbeat_timeout = absl::Milliseconds(d.heartbeat_timeout_ms() ? d.heartbeat_timeout_ms() : 30000);
  o.retry_backoff = absl::Milliseconds(d.retry_backoff_ms() ? d.retry_backoff_ms() : 10000);
  o.max_load_per_core = d.max_load_per_core() > 0 ? d.max_load_per_core() : 1.5;
  s->interval_ = absl::Milliseconds(d.poll_interval_ms() ? d.poll_interval_ms() : 1000);
  absl::StatusOr<RpcSecurity> security = RpcSecurity::FromConfig(config);
  if (!security.ok()) return absl::InvalidArgumentError(security.status().message());
  o.security = *security;
  CURATOR_ASSIGN_OR_RETURN(s->credentials_, security->ServerCredentials());
  CURATOR_ASSIGN_OR_RETURN(s->coordinator_, Coordinator::Create(o));
  s->security_ = *std::move(security);
  s->service_ = std::make_unique<CoordinatorService>(s->coordinator_.get(), &s->security_);
  return s;
}

DaemonServer::~DaemonServer() {
  Shutdown(absl::Seconds(5));
  Wait();
}

absl::Status DaemonServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.daemon().listen_address(), credentials_,
                           &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.daemon().listen_address()));
  }
  if (!config_.daemon().monitor_address().empty()) {
    monitor_ = std::make_unique<HttpServer>();
    AddMonitorRoutes(coordinator_.get(), monitor_.get());
    if (absl::Status s = monitor_->Start(config_.daemon().monitor_address()); !s.ok()) {
      server_->Shutdown();
      return s;
    }
  }
  coordinator_->SetWake([this] {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_all();
  });
  loop_ = std::thread([this] { Loop(); });
  CURATOR_LOG(INFO) << "curator-daemon serving on port " << port_
                    << (monitor_ ? absl::StrCat(", Load Monitor on port ", monitor_->port()) : "")
                    << (config_.daemon().auto_approve() ? ", approving automatically" : "");
  return absl::OkStatus();
}

void DaemonServer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    absl::Status s = coordinator_->Tick();
    if (!s.ok()) CURATOR_LOG(ERROR) << "daemon loop: " << s;
    beat_.Beat();
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_),
                 [this] { return stopping_ || woken_; });
    woken_ = false;
  }
}

void DaemonServer::Shutdown(absl::Duration deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (monitor_ != nullptr) monitor_->Stop();
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
}

void DaemonServer::Wait() {
  if (server_ != nullptr) server_->Wait();
  if (loop_.joinable()) loop_.join();
}

}  // namespace curator::daemon
