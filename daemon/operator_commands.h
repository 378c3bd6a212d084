// What operators ask of the daemon (curatorctl, the Python client): each
// command is one transaction through the task store, and answers per task
// (changed, or refused with the task's state). Cancelling a task that is
// on a worker also stops it there: after the transaction, on a thread of
// its own, so a slow or frozen worker never holds the operator's command
// (a worker that does not answer is told again by its next heartbeat's
// answer). The pause is kept in the database (curation.dispatch_state, owned
// here), so a restarted daemon stays paused. Every command that may let
// work start wakes the daemon's loop.
//
// Thread-safe.
#ifndef CURATOR_DAEMON_OPERATOR_COMMANDS_H_
#define CURATOR_DAEMON_OPERATOR_COMMANDS_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "curator/v1/services.pb.h"
#include "daemon/task_store.h"
#include "daemon/worker_client.h"
#include "daemon/worker_registry.h"
#include "db/pool.h"

namespace curator::daemon {

class OperatorCommands {
 public:
  OperatorCommands(TaskStore* tasks, WorkerRegistry* workers, WorkerClient* client,
                   pg::ConnectionPool* pool)
      : tasks_(tasks), workers_(workers), client_(client), pool_(pool) {}
  ~OperatorCommands();  // waits for the calls to workers in flight

  // Reads the pause from the database.
  absl::Status Load();
  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }

  absl::StatusOr<v1::ApproveResponse> Approve(const v1::ApproveRequest& request);
  absl::StatusOr<v1::TaskIdsResponse> Reject(const v1::TaskIdsRequest& request);
  absl::StatusOr<v1::TaskIdsResponse> Cancel(const v1::TaskIdsRequest& request);
  absl::StatusOr<v1::TaskIdsResponse> Retry(const v1::TaskIdsRequest& request);
  absl::StatusOr<v1::TaskIdsResponse> Rerun(const v1::TaskIdsRequest& request);
  // Pauses or resumes dispatch; returns the state now.
  absl::StatusOr<bool> SetPaused(bool paused);
  bool paused() const { return paused_.load(); }

 private:
  void Wake() const {
    if (wake_) wake_();
  }

  TaskStore* const tasks_;
  WorkerRegistry* const workers_;
  WorkerClient* const client_;
  pg::ConnectionPool* const pool_;
  std::atomic<bool> paused_{false};
  std::function<void()> wake_;
  std::mutex mu_;
  std::condition_variable idle_;
  int in_flight_ = 0;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_OPERATOR_COMMANDS_H_
