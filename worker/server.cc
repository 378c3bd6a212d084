#include "worker/server.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status.h"
#include "server/grpc_server.h"
#include "server/grpc_status.h"
#include "server/metrics.h"
#include "worker/batch_writer.h"

namespace curator::worker {

grpc::Status WorkerService::RunTask(grpc::ServerContext* context,
                                    const v1::RunTaskRequest* request,
                                    v1::RunTaskResponse* response) {
  if (grpc::Status allowed = security_->MayChangeState(context); !allowed.ok()) return allowed;
  absl::StatusOr<TaskRunner::Accepted> accepted = runner_->Submit(*request);
  if (!accepted.ok()) return ToGrpcStatus(accepted.status());
  response->set_accepted(accepted->accepted);
  response->set_message(accepted->accepted ? "queued" : "a task with this id is known already");
  response->set_boot_id(runner_->boot_id());
  response->set_accepted_seq(accepted->seq);
  return grpc::Status::OK;
}

grpc::Status WorkerService::CancelTask(grpc::ServerContext* context,
                                       const v1::CancelTaskRequest* request,
                                       v1::CancelTaskResponse* response) {
  if (grpc::Status allowed = security_->MayChangeState(context); !allowed.ok()) return allowed;
  response->set_cancelled(runner_->Cancel(request->task_id()));
  return grpc::Status::OK;
}

grpc::Status WorkerService::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                      v1::GetStatusResponse* response) {
  *response->mutable_load() = runner_->Load();
  for (v1::TaskStatus& t : runner_->Tasks()) *response->add_tasks() = std::move(t);
  return grpc::Status::OK;
}

WorkerServer::WorkerServer(const v1::Config& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Create(const v1::Config& config,
                                                                   WorkerParts parts) {
  if (config.archive_root().empty() || config.archive_root()[0] != '/') {
    return absl::InvalidArgumentError("archive_root must be an absolute path");
  }
  if (!config.has_worker() || config.worker().listen_address().empty()) {
    return absl::InvalidArgumentError("the config has no worker.listen_address");
  }
  std::unique_ptr<WorkerServer> s(new WorkerServer(config));
  absl::StatusOr<RpcSecurity> security = RpcSecurity::FromConfig(config);
  if (!security.ok()) return absl::InvalidArgumentError(security.status().message());
  s->security_ = *std::move(security);
  CURATOR_ASSIGN_OR_RETURN(s->credentials_, s->security_.ServerCredentials());
  TaskRunnerOptions options;
  options.archive_root = config.archive_root();
  options.slots = static_cast<int>(std::max(1u, config.worker().slots()));
  options.threads_per_task = static_cast<int>(config.worker().threads_per_task());
  options.conninfo = config.database().conninfo();
  if (parts.handlers == nullptr) {
    s->own_handlers_ =
        DefaultHandlers({}, config.cross_match().radius_arcsec());
    parts.handlers = &s->own_handlers_;
  }
  CURATOR_RETURN_IF_ERROR(CheckHandlers(*parts.handlers, *parts.registry));
  s->registry_ = parts.registry;
  options.registry = parts.registry;
  options.handlers = parts.handlers;
  options.hooks = parts.hooks;
  WorkerServer* self = s.get();
  if (!config.worker().daemon_address().empty()) {
    // A task's end goes to the daemon at once, not only with the next
    // heartbeat.
    options.on_finished = [self](const v1::TaskStatus& status) { self->ReportFinished(status); };
  }
  s->runner_ = std::make_unique<TaskRunner>(options);
  s->service_ = std::make_unique<WorkerService>(s->runner_.get(), &s->security_);
  return s;
}

void WorkerServer::ReportFinished(const v1::TaskStatus& status) {
  v1::ReportResultRequest r;
  r.set_worker_id(id_);
  *r.mutable_status() = status;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  security_.Authorize(&ctx);
  v1::ReportResultResponse response;
  grpc::Status st = DaemonStub()->ReportResult(&ctx, r, &response);
  if (!st.ok()) {
    // The heartbeats repeat it until it is acknowledged.
    CURATOR_LOG(WARNING) << "ReportResult: " << st.error_message();
  } else if (response.acknowledged()) {
    runner_->Forget({status.task_id()});
  }
}

WorkerServer::~WorkerServer() {
  Shutdown(absl::Seconds(10));
  Wait();
}

absl::Status WorkerServer::Start() {
  // Before the first call can arrive: a finished task reports through
  // these (on_finished).
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  id_ = config_.worker().worker_id().empty() ? host : config_.worker().worker_id();
  // What attempts killed before this start left in staging goes first.
  if (const int stale = RemoveStalePartials(config_.archive_root()); stale > 0) {
    CURATOR_LOG(INFO) << "removed " << stale << " partial batch directories of killed attempts";
  }
  if (!config_.worker().daemon_address().empty()) ReconnectToDaemon();
  CURATOR_ASSIGN_OR_RETURN(server_, StartGrpcServer(config_.worker().listen_address(),
                                                    credentials_, {service_.get()}, &port_));
  if (!config_.worker().metrics_address().empty()) {
    if (!config_.database().conninfo().empty()) {
      // As often as it reports its load to the daemon.
      database_ = std::make_unique<pg::DatabaseProbe>(
          config_.database().conninfo(), HeartbeatInterval());
      database_->Start();
    }
    metrics_ = std::make_unique<HttpServer>();
    metrics_->Get("/metrics", [this](const HttpRequest&) {
      return HttpResponse{200, kMetricsContentType, Metrics()};
    });
    if (absl::Status s = metrics_->Start(config_.worker().metrics_address()); !s.ok()) {
      server_->Shutdown();
      return s;
    }
  }
  CURATOR_LOG(INFO) << "curator-worker serving on port " << port_ << " with "
                    << runner_->Load().slots() << " slots";
  address_ = config_.worker().advertise_address().empty() ? absl::StrCat(host, ":", port_)
                                                          : config_.worker().advertise_address();
  if (daemon_ != nullptr) heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  return absl::OkStatus();
}

v1::HeartbeatRequest WorkerServer::Report() {
  v1::HeartbeatRequest request;
  request.set_worker_id(id_);
  request.set_address(address_);
  *request.mutable_load() = runner_->Load();
  request.add_data_roots(config_.archive_root());
  // The sequence number first: every task it covers is in the list below.
  request.set_boot_id(runner_->boot_id());
  request.set_seq(runner_->seq());
  for (v1::TaskStatus& t : runner_->Tasks()) *request.add_tasks() = std::move(t);
  return request;
}

std::shared_ptr<v1::Coordinator::Stub> WorkerServer::DaemonStub() {
  std::lock_guard<std::mutex> lock(stub_mu_);
  return daemon_;
}

void WorkerServer::ReconnectToDaemon() {
  // A channel of its own (not gRPC's shared subchannel): a new TCP
  // connection, not the one a cut left in retransmission backoff.
  auto stub = v1::Coordinator::NewStub(
      MakeChannel(config_.worker().daemon_address(), security_, /*own_connection=*/true));
  std::lock_guard<std::mutex> lock(stub_mu_);
  daemon_ = std::move(stub);
}

absl::Duration WorkerServer::HeartbeatInterval() const {
  return absl::Milliseconds(config_.worker().heartbeat_interval_ms()
                                ? config_.worker().heartbeat_interval_ms()
                                : 1000);
}

void WorkerServer::HeartbeatLoop() {
  const absl::Duration interval = HeartbeatInterval();
  // A heartbeat gives up after two intervals (at least half a second):
  // after a cut, the next goes out at once on a new connection. On the
  // old one TCP's retransmission backoff would hold it for seconds after
  // the link heals, and a cut shorter than the daemon's heartbeat timeout
  // would still cost the worker its tasks.
  const absl::Duration deadline =
      std::clamp(2 * interval, absl::Milliseconds(500), absl::Seconds(5));
  bool reported_failure = false;
  bool registered = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    v1::HeartbeatRequest request = Report();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    security_.Authorize(&ctx);
    v1::HeartbeatResponse response;
    std::shared_ptr<v1::Coordinator::Stub> daemon = DaemonStub();
    grpc::Status st = registered ? daemon->Heartbeat(&ctx, request, &response)
                                 : daemon->Register(&ctx, request, &response);
    registered |= st.ok();
    if (!st.ok()) ReconnectToDaemon();
    if (st.ok()) {
      runner_->Forget({response.acknowledged().begin(), response.acknowledged().end()});
      for (const std::string& id : response.cancel()) {
        CURATOR_LOG(WARNING) << "the daemon does not expect task " << id << " here; stopping it";
        runner_->Cancel(id);
      }
    }
    if (!st.ok() && !reported_failure) {
      CURATOR_LOG(WARNING) << "heartbeat to " << config_.worker().daemon_address()
                           << " failed: " << st.error_message() << " (will keep trying)";
    }
    reported_failure = !st.ok();
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(interval), [this] { return stopping_; });
  }
}

std::string WorkerServer::Metrics() const {
  const std::vector<v1::TaskStatus> tasks = runner_->Tasks();
  const v1::Load load = runner_->Load();
  const TaskRunner::Totals totals = runner_->totals();
  MetricsText m;
  m.AddBuildInfo();
  if (database_ != nullptr) {
    m.Add("curator_database_up", "gauge",
          "1 while this process reaches its database.", {},
          database_->up() ? 1 : 0);
  }
  std::map<std::string, double> by_state;
  for (int s = v1::TaskStatus::QUEUED; s <= v1::TaskStatus::CANCELLED; ++s) {
    by_state[absl::AsciiStrToLower(v1::TaskStatus::State_Name(s))] = 0;
  }
  for (const v1::TaskStatus& t : tasks) {
    ++by_state[absl::AsciiStrToLower(v1::TaskStatus::State_Name(t.state()))];
  }
  for (const auto& [state, n] : by_state) {
    m.Add("curator_worker_tasks", "gauge",
          "Tasks this worker holds (finished ones until the daemon acknowledges them), by state.",
          {{"state", state}}, n);
  }
  m.Add("curator_worker_tasks_total", "counter", "Tasks this worker finished, by outcome.",
        {{"outcome", "done"}}, static_cast<double>(totals.done));
  m.Add("curator_worker_tasks_total", "counter", "Tasks this worker finished, by outcome.",
        {{"outcome", "failed"}}, static_cast<double>(totals.failed));
  m.Add("curator_worker_tasks_total", "counter", "Tasks this worker finished, by outcome.",
        {{"outcome", "cancelled"}}, static_cast<double>(totals.cancelled));
  for (const archive::CuSpec& spec : registry_->specs()) {
    const auto it = totals.done_seconds.find(spec.cu);
    m.AddHistogram(
        "curator_worker_task_duration_seconds",
        "Tasks done by this worker, by CU: seconds from taking a slot to the "
        "end.",
        {{"cu", spec.name}},
        it == totals.done_seconds.end() ? EmptyHistogram() : it->second.data());
  }
  m.Add("curator_worker_files_processed_total", "counter", "Input files processed by tasks.", {},
        static_cast<double>(totals.files_processed));
  m.Add("curator_worker_files_failed_total", "counter", "Input files that failed.", {},
        static_cast<double>(totals.files_failed));
  m.Add("curator_worker_slots", "gauge", "Tasks this worker runs at once.", {}, load.slots());
  m.Add("curator_worker_running_tasks", "gauge", "Tasks running now.", {}, load.running_tasks());
  m.Add("curator_worker_queued_tasks", "gauge", "Tasks waiting for a slot.", {},
        load.queued_tasks());
  m.Add("curator_worker_load1", "gauge", "The machine's 1-minute load average.", {},
        load.load_average_1m());
  m.Add("curator_worker_free_memory_bytes", "gauge", "Available memory.", {},
        static_cast<double>(load.free_memory_bytes()));
  m.Add("curator_worker_free_disk_bytes", "gauge", "Free space on the archive's file system.",
        {}, static_cast<double>(load.free_disk_bytes()));
  return m.str();
}

void WorkerServer::Shutdown(absl::Duration deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (metrics_ != nullptr) metrics_->Stop();
  if (database_ != nullptr) database_->Stop();
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
  if (runner_ != nullptr) runner_->Shutdown();
}

void WorkerServer::Wait() {
  if (server_ != nullptr) server_->Wait();
  if (heartbeat_.joinable()) heartbeat_.join();
}

}  // namespace curator::worker
