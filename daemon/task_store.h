// The daemon's tasks in PostgreSQL: the only writer of curation.task,
// curation.task_attempt and curation.task_prerequisite. Every move goes
// through the one table of daemon/task_state.h as a conditional update,
// so two callers (an operator and the dispatcher, or a restarted daemon
// and a late report) can never move a task twice; every method is one
// transaction.
//
// Attempts: a dispatch counts one (attempts + 1) and opens its row in
// curation.task_attempt; the attempt's id on a worker is
// "task-<id>-<attempt>" (AttemptId). Methods about an attempt name it, and
// change nothing once the task has moved on to another attempt or worker:
// a lost attempt's late report is ignored.
//
// Time: decisions (backoff, readiness) use the injected clock, so the
// dispatcher and the worker registry are tested with a fake one.
//
// Thread-safe.
#ifndef CURATOR_DAEMON_TASK_STORE_H_
#define CURATOR_DAEMON_TASK_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "archive/cu_registry.h"
#include "base/clock.h"
#include "base/histogram.h"
#include "daemon/estimator.h"
#include "daemon/task_state.h"
#include "db/pool.h"

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
  std::optional<absl::Time> not_before;  // retry backoff
  std::string worker_id;
  int64_t cu_event_id = 0;
  std::string batch_id;
  std::string last_error;
  absl::Time created;
};

// A task as its worker holds it, for reconciling heartbeats.
struct TaskOnWorker {
  int64_t task_id = 0;
  int attempt = 0;
  TaskState state = TaskState::kDispatched;
  std::string boot_id;  // empty until the worker accepted the attempt
  int64_t seq = 0;
  absl::Time dispatched_at;
};

// The outcome of an operator's command over several tasks.
struct MoveResult {
  std::vector<int64_t> changed;
  std::vector<std::string> refused;  // each naming the task and why
};

// An attempt handed to the dispatcher.
struct Claimed {
  int attempt = 0;
  int64_t cu_event_id = 0;
  // Which run of the task this is (0, then one more at each rerun) and
  // the batches of its earlier runs, which its batch replaces.
  int generation = 0;
  std::vector<std::string> replaces;
};

// What an attempt is given and expected to take, recorded when it is
// dispatched (docs/ARCHITECTURE.md, "Estimates").
struct AttemptInputs {
  int files = 0;
  int64_t bytes = 0;
  double estimated_seconds = -1;  // -1: none
  std::string basis;
};

// A task's latest attempt, as curation.task_attempt has it.
struct AttemptTiming {
  std::string worker_id;
  std::string started_at;  // RFC 3339, UTC
  double seconds = 0;      // until it ended, or until now
  bool ended = false;
  std::string outcome;
  double estimated_seconds = -1;  // recorded at dispatch; -1: none
};

struct TaskPolicy {
  // Attempts a task gets, and again at each operator retry or rerun.
  int max_attempts = 3;
  // A failed attempt's retry waits base * 2^(attempts - 1); a lost one
  // waits base.
  absl::Duration retry_backoff = absl::Seconds(10);
};

// How an attempt ended without being done, as task_attempt records it.
enum class AttemptEnd { kFailed, kLost };

class TaskStore {
 public:
  TaskStore(pg::ConnectionPool* pool, const archive::CuRegistry* registry, const Clock* clock,
            TaskPolicy policy)
      : pool_(pool), registry_(registry), clock_(clock), policy_(policy) {}

  // "task-<id>-<attempt>", and back.
  static std::string AttemptId(int64_t task_id, int attempt);
  static bool ParseAttemptId(const std::string& id, int64_t* task_id, int* attempt);

  // The task graph of a registered night: one task per CU of the
  // registry, with its prerequisites on the night's other tasks, from the
  // registry's declarations. Idempotent: returns how many tasks were made
  // now (0 for a night that is not registered).
  absl::StatusOr<int> CreateNightTasks(const std::string& night);

  // Operator commands (and the auto-approve policy): one transaction
  // each, refusals naming the task and its state.
  absl::StatusOr<MoveResult> Approve(const std::vector<int64_t>& ids);
  absl::StatusOr<MoveResult> ApproveAllPending();
  absl::StatusOr<MoveResult> Reject(const std::vector<int64_t>& ids);
  // Also returns, per cancelled task that was on a worker, the worker and
  // the attempt id to stop there.
  absl::StatusOr<MoveResult> Cancel(const std::vector<int64_t>& ids,
                                    std::vector<std::pair<std::string, std::string>>* on_workers);
  // A fresh budget of attempts; the attempt count goes on (attempt ids on
  // workers are never reused).
  absl::StatusOr<MoveResult> Retry(const std::vector<int64_t>& ids);
  // Processes the task again from its files, whatever it reached: a new
  // generation, whose batch replaces the batches of every run before
  // (docs/ARCHITECTURE.md, "Reruns").
  absl::StatusOr<MoveResult> Rerun(const std::vector<int64_t>& ids);
  // For an action on a night's archive rows (daemon/archive_actions.h),
  // in the caller's transaction on `conn`, the night's tasks locked:
  // FailedPrecondition naming them if a task of the night is in flight
  // (dispatched, running, or done with its batch not yet in); with
  // `idle`, also if one waits to run (pending, approved).
  absl::Status LockSettledNight(pg::Connection& conn, const std::string& night,
                                bool idle = false);
  // Then reruns (as Rerun) every finished task of the night whose CU reads
  // one of `inputs` (images, catalogues, database); returns them.
  absl::StatusOr<std::vector<int64_t>> RerunNightIn(
      pg::Connection& conn, const std::string& night,
      const std::vector<std::string>& inputs);

  // Approved tasks that may start now: their backoff has passed and every
  // prerequisite for processing has reached its stage. By priority, then
  // age.
  absl::StatusOr<std::vector<TaskRow>> Ready();
  // approved -> dispatched on `worker_id`: counts and opens the attempt
  // and starts its processing event. FailedPrecondition if the task moved
  // meanwhile.
  // `inputs` is recorded with the attempt.
  absl::StatusOr<Claimed> Claim(int64_t task_id, const std::string& worker_id,
                                const AttemptInputs& inputs = {});
  // The worker accepted the attempt (RunTask answered): its process and
  // sequence number, for reconciling its heartbeats.
  absl::Status Accepted(int64_t task_id, int attempt, const std::string& boot_id, int64_t seq);
  // The attempt never ran through no fault of the task (the worker was
  // unreachable, or stopped it to shut down, or the dispatch timed out):
  // back to approved at once, this attempt not counted against its budget
  // (the attempt number still moves on); the attempt recorded lost with
  // `why` and its processing event ended as failed.
  absl::Status GiveBack(int64_t task_id, int attempt, const std::string& worker_id,
                        const std::string& why);
  // The attempt failed: back to approved after a backoff of
  // retry_backoff * 2^(attempts - 1) while attempts are left (an approved
  // task stays approved), else failed for good. Or it was lost with its
  // worker (a crash, a cut link, a restart: not the task's fault): back
  // to approved after retry_backoff without using up an attempt, unless
  // it was lost max_lost times (curation.task.max_lost, 10), which fails
  // it ("a task that kills its workers"). A lost attempt's event ends as
  // failed. Returns the state now; FailedPrecondition if the task is no
  // longer on that attempt.
  absl::StatusOr<TaskState> FailAttempt(int64_t task_id, int attempt, const std::string& worker_id,
                                        AttemptEnd end, const std::string& why);

  // What the worker reports of an attempt: started (dispatched ->
  // running) and finished (-> done, with its batch). OK and no change for
  // an attempt the task is no longer on.
  absl::Status Started(int64_t task_id, int attempt, const std::string& worker_id);
  absl::Status Finished(int64_t task_id, int attempt, const std::string& worker_id,
                        const std::string& batch_id);

  // The tasks dispatched to or running on a worker.
  absl::StatusOr<std::vector<TaskOnWorker>> OnWorker(const std::string& worker_id);

  // Batches decided since: done tasks whose batch is ingested become
  // ingested; a quarantined batch (quarantined after the task's current
  // attempt started) sends its task back to be retried, or fails it, with
  // the report. Returns the tasks moved.
  absl::StatusOr<std::vector<int64_t>> ApplyBatchOutcomes();

  // Tasks, optionally of one state: by night and CU (all), or by priority
  // and age (one state).
  absl::StatusOr<std::vector<TaskRow>> List(std::optional<TaskState> state = std::nullopt);
  absl::StatusOr<std::optional<TaskRow>> Get(int64_t task_id);
  // Why each task that has not started (or whose batch is not in) waits
  // for another task: "CU3 of 20071021 ingested (task 4 is running)".
  absl::StatusOr<std::map<int64_t, std::vector<std::string>>> WaitingFor();
  // Per pending or approved task, the other tasks it still waits for
  // before it is processed (for the planner).
  absl::StatusOr<std::map<int64_t, std::vector<int64_t>>> ProcessingPrerequisites();
  // The tasks of the nights up to `until` (YYYYMMDD; every night if
  // empty) that are not settled: neither ingested, failed nor cancelled,
  // so work of theirs may still reach the archive. By night and CU. In
  // the caller's transaction on `conn` (a release reads them in the
  // snapshot it copies).
  absl::StatusOr<std::vector<TaskRow>> Unsettled(pg::Connection& conn,
                                                 const std::string& until);
  // How many tasks are dispatched to or running on each worker.
  absl::StatusOr<std::map<std::string, int>> BusyByWorker();
  // Tasks filtered in SQL: by state (none: any), night (YYYYMMDD; empty:
  // any) and CU (0: any); by night and CU.
  absl::StatusOr<std::vector<TaskRow>> Find(std::optional<TaskState> state,
                                            const std::string& night, int cu);
  // Per task, the bytes of the files its CU reads of its night's live
  // delivery (0 for a CU that reads the database).
  absl::StatusOr<std::map<int64_t, int64_t>> InputBytes(
      const std::vector<int64_t>& task_ids);
  // Per task that has one, its latest attempt.
  absl::StatusOr<std::map<int64_t, AttemptTiming>> LatestAttempts(
      const std::vector<int64_t>& task_ids);
  // The most recent `limit` attempts whose processing finished (done, or
  // quarantined after) and that recorded their inputs, newest first: the
  // estimator's history.
  absl::StatusOr<std::vector<PastAttempt>> FinishedAttempts(int limit);

  // For /metrics, counted from curation.task_attempt so that a restarted
  // daemon reports the same; neither ever goes down (attempt rows are
  // never deleted, and an attempt's outcome only moves from done to
  // quarantined, which both count as done: its processing finished).
  // Ended attempts per CU of the registry and outcome: every one of
  // AttemptOutcomes() present, 0 when none.
  // done, failed, lost, cancelled
  static const std::vector<std::string>& AttemptOutcomes();
  absl::StatusOr<std::map<int, std::map<std::string, int64_t>>> EndedAttempts();
  // Per CU of the registry (empty when none), the seconds from dispatch
  // to the worker's done report of every attempt whose processing
  // finished.
  absl::StatusOr<std::map<int, HistogramData>> DoneAttemptSeconds();

 private:
  // The SET clause of a rerun: a fresh budget, one more generation, the
  // last batch into `replaces`.
  std::string RerunSet() const;
  // Applies `event` to each task in one transaction.
  absl::StatusOr<MoveResult> MoveEach(const std::vector<int64_t>& ids, TaskEvent event,
                                      const std::string& extra_set = "");

  pg::ConnectionPool* pool_;
  const archive::CuRegistry* registry_;
  const Clock* clock_;
  const TaskPolicy policy_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_TASK_STORE_H_
