#include "daemon/estimates.h"

#include "base/status.h"

namespace curator::daemon {

absl::StatusOr<std::vector<PastAttempt>> Estimates::History() {
  return tasks_->FinishedAttempts(kHistory);
}

absl::StatusOr<std::map<int64_t, TaskProgress>> Estimates::OnWorkers() {
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> rows,
                           tasks_->List(TaskState::kDispatched));
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> running,
                           tasks_->List(TaskState::kRunning));
  rows.insert(rows.end(), running.begin(), running.end());
  return OnWorkers(rows);
}

absl::StatusOr<std::map<int64_t, TaskProgress>> Estimates::OnWorkers(
    const std::vector<TaskRow>& rows) {
  std::vector<const TaskRow*> on;
  std::vector<int64_t> ids;
  for (const TaskRow& t : rows) {
    if (t.state != TaskState::kDispatched && t.state != TaskState::kRunning)
      continue;
    on.push_back(&t);
    ids.push_back(t.task_id);
  }
  std::map<int64_t, TaskProgress> out;
  if (ids.empty()) return out;
  CURATOR_ASSIGN_OR_RETURN(auto attempts, tasks_->LatestAttempts(ids));
  const std::map<std::string, int> done = workers_->FilesDone();
  for (const TaskRow* t : on) {
    TaskProgress& p = out[t->task_id];
    p.worker_id = t->worker_id;
    p.files = t->files;
    auto d = done.find(TaskStore::AttemptId(t->task_id, t->attempts));
    if (d != done.end()) p.files_done = d->second;
    auto a = attempts.find(t->task_id);
    if (a != attempts.end() && !a->second.ended) {
      p.started_at = a->second.started_at;
      p.elapsed_seconds = a->second.seconds;
      p.estimated_seconds = a->second.estimated_seconds;
    }
    p.remaining_seconds = Estimator::Remaining(
        p.estimated_seconds, p.elapsed_seconds, p.files_done, p.files);
  }
  return out;
}

}  // namespace curator::daemon
