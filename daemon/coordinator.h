// The data daemon's logic, without gRPC: what workers report in their
// heartbeats, what operators ask (tasks, plan, approve, workers, pause),
// and one pass of the daemon's loop (Tick): find complete nights and
// register them with their tasks, take tasks back from silent workers,
// approve pending tasks if the policy says so, and dispatch the approved
// ones that can start now to the workers the planner picks.
// All state lives in PostgreSQL; a restarted daemon carries on.
// Thread-safe (one database connection, behind a mutex).
#ifndef CURATOR_DAEMON_COORDINATOR_H_
#define CURATOR_DAEMON_COORDINATOR_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/pg.h"
#include "server/rpc_security.h"
#include "curator/v1/services.grpc.pb.h"
#include "daemon/planner.h"

namespace curator::daemon {

struct CoordinatorOptions {
  std::string archive_root;
  std::string conninfo;
  bool auto_approve = false;
  absl::Duration heartbeat_timeout = absl::Seconds(30);
  absl::Duration retry_backoff = absl::Seconds(10);
  double max_load_per_core = 1.5;
  // How to reach the workers (default: plaintext, no token).
  RpcSecurity security;
};

class Coordinator {
 public:
  // Connects and brings the schema up to date.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(const CoordinatorOptions& options);

  absl::Status Heartbeat(const v1::HeartbeatRequest& request);
  absl::Status ReportResult(const v1::ReportResultRequest& request);
  absl::StatusOr<v1::ListTasksResponse> ListTasks(const std::string& state);
  absl::StatusOr<v1::GetPlanResponse> GetPlan();
  absl::StatusOr<v1::ApproveResponse> Approve(const v1::ApproveRequest& request);
  absl::StatusOr<v1::TaskIdsResponse> Reject(const v1::TaskIdsRequest& request);
  absl::StatusOr<v1::TaskIdsResponse> Cancel(const v1::TaskIdsRequest& request);
  absl::StatusOr<v1::TaskIdsResponse> Retry(const v1::TaskIdsRequest& request);
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers();
  absl::StatusOr<v1::ListNightsResponse> ListNights();
  absl::StatusOr<v1::ListBatchesResponse> ListBatches();
  absl::StatusOr<v1::GetTaskLogResponse> GetTaskLog(int64_t task_id);
  // Pauses or resumes dispatch; kept in the database, so a restarted
  // daemon stays paused. Returns the state now.
  absl::StatusOr<bool> SetPaused(bool paused);
  // /metrics in Prometheus text format: tasks and batches by state, rows
  // ingested, ingest rate, log messages by level, and each worker's load.
  absl::StatusOr<std::string> Metrics();
  // Called after an approval, a retry, a resume or a heartbeat reporting a
  // finished task, so the loop dispatches at once, not at its next pass.
  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }

  // One pass of the daemon loop.
  absl::Status Tick();

  // The id a task attempt has on its worker: "task-<id>-<attempt>".
  static std::string AttemptId(int64_t task_id, int attempt);

 private:
  explicit Coordinator(CoordinatorOptions options) : options_(std::move(options)) {}
  absl::Status DiscoverNights();
  absl::Status Dispatch();
  absl::StatusOr<Plan> PlanFor(const std::vector<struct TaskRow>& tasks);
  absl::Status ApplyTaskStatus(const std::string& worker_id, const v1::TaskStatus& status);
  v1::Worker::Stub* StubFor(const std::string& address);

  const CoordinatorOptions options_;
  std::mutex mu_;
  std::unique_ptr<pg::Connection> conn_;
  DurationModel durations_;
  bool paused_ = false;
  std::set<std::string> nights_done_;  // registered after their transfer marker
  std::map<std::string, std::unique_ptr<v1::Worker::Stub>> stubs_;
  std::map<std::string, v1::Load> loads_;  // last heartbeat's, by worker
  std::function<void()> wake_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_COORDINATOR_H_
