// The estimator over the database's history and the progress of the
// tasks on workers now: what the planner and the read queries share
// (docs/ARCHITECTURE.md, "Estimates").
//
// Progress is the worker registry's, in memory: each heartbeat carries
// every task's files done, so a restarted daemon knows it again within a
// heartbeat, and writing it would cost a database write per task per
// heartbeat for nothing the database needs. What an attempt was expected
// to take is recorded with it at dispatch (TaskStore::Claim), so the
// estimates are checked against what happened after a restart too.
//
// Thread-safe (its parts are).
#ifndef CURATOR_DAEMON_ESTIMATES_H_
#define CURATOR_DAEMON_ESTIMATES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/estimator.h"
#include "daemon/task_store.h"
#include "daemon/worker_registry.h"

namespace curator::daemon {

// A task on a worker now.
struct TaskProgress {
  std::string worker_id;
  int files = 0;
  int files_done = 0;      // from its worker's last heartbeat
  std::string started_at;  // the attempt's dispatch, RFC 3339
  double elapsed_seconds = 0;
  double estimated_seconds = -1;  // recorded at dispatch; -1: none
  double remaining_seconds = -1;  // Estimator::Remaining
};

class Estimates {
 public:
  // Finished attempts the estimator learns from (the most recent).
  static constexpr int kHistory = 2000;

  Estimates(TaskStore* tasks, const WorkerRegistry* workers)
      : tasks_(tasks), workers_(workers) {}

  // The estimator's history, newest first.
  absl::StatusOr<std::vector<PastAttempt>> History();
  // Every task dispatched to or running on a worker now.
  absl::StatusOr<std::map<int64_t, TaskProgress>> OnWorkers();
  // The same for `rows` (those of them on a worker; the others are left
  // out).
  absl::StatusOr<std::map<int64_t, TaskProgress>> OnWorkers(
      const std::vector<TaskRow>& rows);

 private:
  TaskStore* const tasks_;
  const WorkerRegistry* const workers_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_ESTIMATES_H_
