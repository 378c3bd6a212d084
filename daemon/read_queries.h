// Everything the daemon shows, read-only: the answers of the Coordinator
// service's listings, shared by gRPC (curatorctl), the Load Monitor's JSON
// and /metrics, so they always agree. Plain domain class over the stores,
// the worker registry and the planner. Thread-safe.
#ifndef CURATOR_DAEMON_READ_QUERIES_H_
#define CURATOR_DAEMON_READ_QUERIES_H_

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "archive/cu_registry.h"
#include "curator/v1/services.pb.h"
#include "daemon/dispatcher.h"
#include "daemon/operator_commands.h"
#include "daemon/task_store.h"
#include "daemon/worker_registry.h"
#include "db/pool.h"

namespace curator::daemon {

class ReadQueries {
 public:
  ReadQueries(TaskStore* tasks, WorkerRegistry* workers, Dispatcher* dispatcher,
              const OperatorCommands* commands, pg::ConnectionPool* pool,
              const archive::CuRegistry* registry, const Clock* clock, std::string archive_root)
      : tasks_(tasks), workers_(workers), dispatcher_(dispatcher), commands_(commands),
        pool_(pool), registry_(registry), clock_(clock), archive_root_(std::move(archive_root)) {}

  // `state` empty: every task; `night` (YYYYMMDD) empty: every night;
  // `cu` 0: every CU. InvalidArgument for a state or CU that does not
  // exist, or a night that is not YYYYMMDD. Each task with its progress
  // and estimates (TaskInfo).
  absl::StatusOr<v1::ListTasksResponse> ListTasks(const std::string& state,
                                                  const std::string& night = "",
                                                  int cu = 0);
  absl::StatusOr<v1::GetPlanResponse> GetPlan();
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers();
  absl::StatusOr<v1::ListNightsResponse> ListNights();
  // With the batches in staging that have no row yet (ready, or loading
  // by whoever holds them).
  absl::StatusOr<v1::ListBatchesResponse> ListBatches();
  // NotFound for a task that does not exist.
  absl::StatusOr<v1::GetTaskLogResponse> GetTaskLog(int64_t task_id);
  v1::ListCusResponse ListCus() const;

  // The Load Monitor's own listings, as JSON objects (their keys are
  // written down in monitor.h):
  // Ingested batches, newest first, at most `limit`: when each finished,
  // its rows and its load time (verify + copy + validate + publish), for
  // the rows/s chart.
  absl::StatusOr<nlohmann::ordered_json> Throughput(int limit);
  // Every attempt of the night's tasks and every ingest of its batches,
  // with start and end (seconds since the epoch), for the Gantt chart.
  // `night` YYYYMMDD; empty: the newest night that has tasks.
  absl::StatusOr<nlohmann::ordered_json> Timeline(const std::string& night);
  // The task's per-file log (sqlLoader's third level: task, step, file) of
  // its current attempt, `limit` rows from `offset`, with the total.
  // NotFound for a task that does not exist.
  absl::StatusOr<nlohmann::ordered_json> FileLog(int64_t task_id, int limit,
                                                 int offset);
  // Errors counted in each task's log (its current attempt), for tasks
  // that have any: {"<task id>": errors}.
  absl::StatusOr<nlohmann::ordered_json> TaskErrors();
  bool paused() const { return commands_->paused(); }
  bool database_up() const { return pool_->up(); }

 private:
  v1::TaskInfo Info(const TaskRow& t) const;
  // Fills in each task's progress and estimates (TaskInfo fields 12-16).
  absl::Status AddProgress(const std::vector<TaskRow>& rows,
                           const std::vector<v1::TaskInfo*>& infos);

  TaskStore* const tasks_;
  WorkerRegistry* const workers_;
  Dispatcher* const dispatcher_;
  const OperatorCommands* const commands_;
  pg::ConnectionPool* const pool_;
  const archive::CuRegistry* const registry_;
  const Clock* const clock_;
  const std::string archive_root_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_READ_QUERIES_H_
