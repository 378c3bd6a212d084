// Task states and the one table of allowed transitions (the control
// plane's state machine). Every change in the database is a conditional
// update: UPDATE curation.task ... WHERE state = ANY(AllowedFrom(to)).
//
//   pending    --approve-->  approved  --dispatch-->  dispatched
//   dispatched --worker started-->  running  --> done | failed
//   dispatched | running  --worker lost, or failed with attempts left-->  pending
//   failed | cancelled  --retry-->  pending;  approved --reject-->  pending
//   pending | approved | dispatched | running  --cancel-->  cancelled
#ifndef CURATOR_DAEMON_TASK_STATE_H_
#define CURATOR_DAEMON_TASK_STATE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace curator::daemon {

enum class TaskState { kPending, kApproved, kDispatched, kRunning, kDone, kFailed, kCancelled };

const char* TaskStateName(TaskState state);
std::optional<TaskState> ParseTaskState(absl::string_view name);

// The states from which a task may move to `to`.
const std::vector<TaskState>& AllowedFrom(TaskState to);
bool IsAllowed(TaskState from, TaskState to);
// A SQL array literal of AllowedFrom(to), e.g. '{pending}'.
std::string AllowedFromSql(TaskState to);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_TASK_STATE_H_
