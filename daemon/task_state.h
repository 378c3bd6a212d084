// Task states and the one table of allowed moves (the control plane's
// state machine). Each move is a named event with the states it may start
// from and the state it ends in; every change in the database is a
// conditional update, UPDATE curation.task ... WHERE state = ANY(from),
// made by the task store (daemon/task_store.h), the only writer.
//
//   pending --approve--> approved --dispatch--> dispatched --start--> running
//   dispatched | running --finish--> done --ingest--> ingested
//   dispatched | running | done --retry later--> approved (backoff; attempts left,
//       or for an attempt lost with its worker, fewer than max_lost losses)
//   dispatched | running | done --fail--> failed (none left)
//   dispatched | running --give back--> approved (not the task's fault: not counted)
//   approved --reject--> pending
//   pending | approved | dispatched | running --cancel--> cancelled
//   failed | cancelled --retry--> pending (a fresh budget of attempts)
//   done | ingested | failed | cancelled --rerun--> pending
//
// 'done' means processed (its batch is in staging); 'ingested' means its
// batch is in the archive; a quarantined batch sends a done task back
// (retry later) or fails it, with the report's reason.
#ifndef CURATOR_DAEMON_TASK_STATE_H_
#define CURATOR_DAEMON_TASK_STATE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace curator::daemon {

enum class TaskState {
  kPending, kApproved, kDispatched, kRunning, kDone, kIngested, kFailed, kCancelled
};

// Every state, in the order above (for listings and metrics).
const std::vector<TaskState>& AllTaskStates();
const char* TaskStateName(TaskState state);
std::optional<TaskState> ParseTaskState(absl::string_view name);
// A state read from the database: an unknown one is an error (the
// schema's CHECK and this table disagree), never silently 'pending'.
absl::StatusOr<TaskState> TaskStateFromDatabase(absl::string_view name);

enum class TaskEvent {
  kApprove, kReject, kDispatch, kStart, kFinish, kIngest, kRetryLater, kFail, kGiveBack,
  kCancel, kRetry, kRerun
};

struct TaskMove {
  TaskEvent event;
  const char* name;        // "approve"
  const char* participle;  // "approved"
  std::vector<TaskState> from;
  TaskState to;
};

// The move an event makes.
const TaskMove& MoveOf(TaskEvent event);
bool IsAllowed(TaskEvent event, TaskState from);
// A SQL array literal of MoveOf(event).from, e.g. '{pending}'.
std::string FromSql(TaskEvent event);
// Why `event` cannot move task `task_id` from `now`: "task 7 is done; it
// cannot become approved: only pending tasks can be approved".
std::string Refusal(int64_t task_id, TaskState now, TaskEvent event);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_TASK_STATE_H_
