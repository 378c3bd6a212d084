// The daemon's tasks in PostgreSQL (curation.task): the task graph of a
// night, and moves between states through the one transition table
// (daemon/task_state.h), each a conditional update, so two daemons or a
// restart mid-move can never move a task twice.
#ifndef CURATOR_DAEMON_TASK_STORE_H_
#define CURATOR_DAEMON_TASK_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/pg.h"
#include "daemon/task_state.h"

namespace curator::daemon {

struct TaskRow {
  int64_t task_id = 0;
  std::string night;  // YYYYMMDD
  int cu = 0;
  TaskState state = TaskState::kPending;
  int priority = 0;
  int files = 0;
  int attempts = 0;
  int max_attempts = 0;
  std::optional<absl::Time> not_before;
  std::string worker_id;
  int64_t cu_event_id = 0;
  std::string batch_id;
  std::string last_error;
};

// The tasks of a registered night: CU3, CU2 and CU4 (processing depends
// only on registration). Creating them again adds nothing. Returns how
// many were created now.
absl::StatusOr<int> CreateNightTasks(pg::Connection& conn, const std::string& night);

struct TransitionFields {
  std::optional<std::string> worker_id = std::nullopt;
  std::optional<int64_t> cu_event_id = std::nullopt;
  std::optional<std::string> batch_id = std::nullopt;
  std::optional<std::string> error = std::nullopt;
  bool count_attempt = false;  // attempts + 1 (on dispatch)
};

// Every move keeps curation.task_attempt in step: a dispatch (with
// count_attempt) opens an attempt row; done and cancelled close it.
//
// Moves the task to `to`. FailedPrecondition naming the task, its state
// and the move if the state does not allow it (or it changed meanwhile);
// NotFound if there is no such task.
absl::Status Transition(pg::Connection& conn, int64_t task_id, TaskState to,
                        const TransitionFields& fields = {});

// How an attempt ended, as curation.task_attempt records it.
enum class AttemptOutcome { kFailed, kLost };

// A dispatched or running task failed (or its worker was lost): back to
// pending after a backoff of base * 2^(attempts - 1) while attempts are
// left, else failed for good; its attempt is closed with `outcome`, and a
// lost attempt's processing event ends as failed with `error`.
// Returns the state it is in now.
absl::StatusOr<TaskState> FailAttempt(pg::Connection& conn, int64_t task_id,
                                      const std::string& error, absl::Duration base_backoff,
                                      AttemptOutcome outcome = AttemptOutcome::kFailed);

// A task its worker never ran to the end through no fault of the task: a
// dispatch that never reached the worker (unreachable), or a task the
// worker stopped because it is shutting down. The task goes back from
// dispatched or running to approved, to be planned again at once, and its
// budget of attempts grows by one so this one does not count against it
// (the attempt number still moves on, so the next attempt's id on a
// worker is new); the attempt is recorded as lost with `error`; the
// worker is marked lost until it heartbeats again; the attempt's
// processing event ends as failed with `error`. The one move outside
// AllowedFrom(): an operator must not be able to approve a dispatched or
// running task, so the table does not list it.
absl::Status GiveBack(pg::Connection& conn, int64_t task_id, const std::string& worker_id,
                      const std::string& error);

// Tasks, optionally of one state, by priority and age.
absl::StatusOr<std::vector<TaskRow>> ListTasks(pg::Connection& conn,
                                               std::optional<TaskState> state = std::nullopt);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_TASK_STORE_H_
