// The daemon's live view of its workers (Kudu's ts_manager): who is
// there, their load and progress as last reported, and whether they are
// alive; heartbeats and results come in here.
//
// Every heartbeat is reconciled with the daemon's own view (the tasks the
// task store has on that worker), in one query whatever the number of
// tasks, plus one write per task whose state changed:
//  - a task the worker reports is applied (started, done, failed, or
//    stopped because the worker shuts down: given back at once);
//  - a task the daemon has on the worker that the worker no longer lists
//    is lost at once, as if the worker had gone silent: the worker
//    restarted (a new boot id) or forgot it (its sequence number is past
//    the attempt's); an attempt the worker never confirmed is lost once
//    it is older than the heartbeat timeout;
//  - a task the worker runs that the daemon does not expect there (an old
//    attempt, or one cancelled meanwhile) is cancelled there through the
//    heartbeat's answer;
//  - finished tasks the daemon has recorded are acknowledged, and the
//    worker forgets them.
// A worker silent for longer than the heartbeat timeout loses its tasks
// (ReclaimSilent). Time comes from the injected clock.
//
// Thread-safe; no lock is held across a database call.
#ifndef CURATOR_DAEMON_WORKER_REGISTRY_H_
#define CURATOR_DAEMON_WORKER_REGISTRY_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "curator/v1/services.pb.h"
#include "daemon/planner.h"
#include "daemon/task_store.h"
#include "daemon/worker_client.h"
#include "daemon/worker_store.h"

namespace curator::daemon {

// One worker as the daemon sees it now.
struct WorkerView {
  WorkerRecord record;
  absl::Duration since_heard;
  bool alive = false;  // heard within the timeout and not found unreachable since
  std::string down_reason;  // why it is not alive
  // Per attempt id, the status it last reported (progress per file).
  std::map<std::string, v1::TaskStatus> tasks;
};

class WorkerRegistry {
 public:
  struct Options {
    absl::Duration heartbeat_timeout = absl::Seconds(30);
    // How often a worker's record is written when nothing but its load
    // changed.
    absl::Duration persist_every = absl::Seconds(5);
  };

  WorkerRegistry(TaskStore* tasks, WorkerStore* workers, const Clock* clock, Options options)
      : tasks_(tasks), store_(workers), clock_(clock), options_(options) {}

  // Loads the workers the database knows, as heard from now: a worker
  // that does not call again within the timeout loses its tasks.
  absl::Status Load();

  // A worker's registration or heartbeat. InvalidArgument without an id,
  // an address or a slot; Unavailable while the database is away (the
  // worker sends it all again next time).
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  // A task's end, reported as it happens. True when recorded (the worker
  // may forget it).
  absl::StatusOr<bool> ReportResult(const std::string& worker_id, const v1::TaskStatus& status);

  // Workers silent for longer than the heartbeat timeout lose their tasks
  // (each attempt lost; retried later while attempts are left). Returns
  // the tasks taken back.
  absl::StatusOr<std::vector<int64_t>> ReclaimSilent();
  // Marks workers whose link is down (WorkerClient::LooksDown) as not
  // alive until they heartbeat again: no new task goes there.
  void CheckLinks(WorkerClient& client);
  // A dispatch found the worker unreachable.
  void MarkUnreachable(const std::string& worker_id, const std::string& why);

  std::vector<WorkerView> Snapshot() const;
  // For the planner: alive workers with their free slots.
  std::vector<WorkerState> PlannerView() const;
  std::optional<std::string> AddressOf(const std::string& worker_id) const;
  // Per attempt id ("task-<id>-<attempt>"), the files done that its
  // worker's last heartbeat reported (progress, kept in memory only).
  std::map<std::string, int> FilesDone() const;

 private:
  struct Entry {
    WorkerRecord record;
    absl::Time last_heard;
    absl::Time last_persisted = absl::InfinitePast();
    bool reachable = true;
    std::string down_reason;
    std::map<std::string, v1::TaskStatus> tasks;
  };
  // Applies one reported status of an attempt the task store has on the
  // worker. True when recorded.
  absl::StatusOr<bool> Apply(const std::string& worker_id, int64_t task_id,
                             int attempt, const v1::TaskStatus& status);
  bool AliveLocked(const Entry& e, absl::Time now) const;

  TaskStore* const tasks_;
  WorkerStore* const store_;
  const Clock* const clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> workers_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_WORKER_REGISTRY_H_
