#include "daemon/task_store.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "archive/task_log.h"

namespace curator::daemon {
namespace {

constexpr char kColumns[] =
    "task_id, to_char(night, 'YYYYMMDD'), cu, state, priority, files, attempts, max_attempts, "
    "(extract(epoch from not_before) * 1000000)::bigint, coalesce(worker_id, ''), "
    "coalesce(cu_event_id, 0), coalesce(batch_id, ''), coalesce(last_error, '')";

TaskRow ReadRow(const pg::Result& r, int i) {
  TaskRow t;
  t.task_id = r.GetInt(i, 0);
  t.night = r.Get(i, 1);
  t.cu = static_cast<int>(r.GetInt(i, 2));
  t.state = ParseTaskState(r.Get(i, 3)).value_or(TaskState::kPending);
  t.priority = static_cast<int>(r.GetInt(i, 4));
  t.files = static_cast<int>(r.GetInt(i, 5));
  t.attempts = static_cast<int>(r.GetInt(i, 6));
  t.max_attempts = static_cast<int>(r.GetInt(i, 7));
  if (!r.IsNull(i, 8)) t.not_before = absl::FromUnixMicros(r.GetInt(i, 8));
  t.worker_id = r.Get(i, 9);
  t.cu_event_id = r.GetInt(i, 10);
  t.batch_id = r.Get(i, 11);
  t.last_error = r.Get(i, 12);
  return t;
}

// A CTE closing the open attempt of the task that CTE `t` updated, with
// outcome and error from parameters $<outcome> and $<error>.
std::string CloseAttempt(size_t outcome, size_t error) {
  return absl::StrCat(", a AS (UPDATE curation.task_attempt x SET finished_at = now(), outcome = $",
                      outcome, ", error = $", error,
                      " FROM t WHERE x.task_id = t.task_id AND x.finished_at IS NULL)");
}

// Ends the processing event in column `column` of row 0 of `r` (if there
// is one) as failed with `error`: for attempts that end without a report
// from their worker.
absl::Status EndEvent(pg::Connection& conn, const pg::Result& r, int column,
                      const std::string& error) {
  if (r.IsNull(0, column)) return absl::OkStatus();
  return tasklog::Finish(conn, r.GetInt(0, column), {}, /*failed=*/true, error);
}

}  // namespace

absl::StatusOr<int> CreateNightTasks(pg::Connection& conn, const std::string& night) {
  // Files per task: images for CU2 and CU3, catalogues for CU4.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("INSERT INTO curation.task (night, cu, files) SELECT $1::date, c.cu, (SELECT "
                "count(*) FROM curation.registered_file f WHERE f.night = $1::date AND f.kind = "
                "CASE WHEN c.cu = 4 THEN 'catalogue' ELSE 'image' END) FROM (VALUES (3), (2), "
                "(4)) AS c(cu) WHERE EXISTS (SELECT 1 FROM curation.night n WHERE n.night = "
                "$1::date) ON CONFLICT (night, cu) DO NOTHING",
                {night}));
  return static_cast<int>(r.AffectedRows());
}

absl::Status Transition(pg::Connection& conn, int64_t task_id, TaskState to,
                        const TransitionFields& f) {
  std::string set = absl::StrCat("state = '", TaskStateName(to), "', updated_at = now()");
  std::vector<pg::Param> params = {std::to_string(task_id)};
  auto add = [&](const char* column, pg::Param value) {
    params.push_back(std::move(value));
    absl::StrAppend(&set, ", ", column, " = $", params.size());
  };
  if (f.worker_id) add("worker_id", *f.worker_id);
  if (f.cu_event_id) add("cu_event_id", std::to_string(*f.cu_event_id));
  if (f.batch_id) add("batch_id", *f.batch_id);
  if (f.error) add("last_error", *f.error);
  if (f.count_attempt) absl::StrAppend(&set, ", attempts = attempts + 1");
  // The move and the task's attempt record in one statement: a dispatch
  // opens an attempt; done and cancelled close the open one.
  std::string attempt;
  if (to == TaskState::kDispatched && f.count_attempt) {
    attempt = ", a AS (INSERT INTO curation.task_attempt (task_id, worker_id, cu_event_id) "
              "SELECT task_id, worker_id, cu_event_id FROM t)";
  } else if (to == TaskState::kDone || to == TaskState::kCancelled) {
    params.push_back(to == TaskState::kDone ? "done" : "cancelled");
    params.push_back(f.error ? pg::Param(*f.error) : std::nullopt);
    attempt = CloseAttempt(params.size() - 1, params.size());
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("WITH t AS (UPDATE curation.task SET ", set,
                             " WHERE task_id = $1 AND state = ANY('", AllowedFromSql(to),
                             "') RETURNING task_id, worker_id, cu_event_id)", attempt,
                             " SELECT count(*) FROM t"),
                params));
  if (r.GetInt(0, 0) == 1) return absl::OkStatus();
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result now, conn.Exec("SELECT state FROM curation.task WHERE task_id = $1",
                                {std::to_string(task_id)}));
  if (now.rows() == 0) return absl::NotFoundError(absl::StrCat("no task ", task_id));
  return absl::FailedPreconditionError(absl::StrCat("task ", task_id, " is ", now.Get(0, 0),
                                                    "; it cannot become ", TaskStateName(to)));
}

absl::StatusOr<TaskState> FailAttempt(pg::Connection& conn, int64_t task_id,
                                      const std::string& error, absl::Duration base_backoff,
                                      AttemptOutcome outcome) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat(
                    "WITH t AS (UPDATE curation.task SET state = CASE WHEN attempts < "
                    "max_attempts THEN 'pending' ELSE 'failed' END, not_before = CASE WHEN "
                    "attempts < max_attempts THEN now() + $3 * interval '1 microsecond' * "
                    "power(2, greatest(attempts - 1, 0)) END, last_error = $2, worker_id = NULL, "
                    "updated_at = now() WHERE task_id = $1 AND state = ANY('",
                    AllowedFromSql(TaskState::kFailed),
                    "') RETURNING task_id, state, cu_event_id)", CloseAttempt(4, 2),
                    " SELECT state, cu_event_id FROM t"),
                {std::to_string(task_id), error,
                 std::to_string(absl::ToInt64Microseconds(base_backoff)),
                 outcome == AttemptOutcome::kLost ? "lost" : "failed"}));
  if (r.rows() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("task ", task_id, " is not dispatched or running; nothing to fail"));
  }
  // A worker that failed a task wrote its event's log itself; a lost one
  // cannot, so the event ends here rather than stay 'running'.
  if (outcome == AttemptOutcome::kLost) CURATOR_RETURN_IF_ERROR(EndEvent(conn, r, 1, error));
  return ParseTaskState(r.Get(0, 0)).value_or(TaskState::kFailed);
}

absl::Status GiveBack(pg::Connection& conn, int64_t task_id, const std::string& worker_id,
                      const std::string& error) {
  CURATOR_RETURN_IF_ERROR(conn.Exec("UPDATE curation.worker SET last_heartbeat = NULL WHERE "
                                    "worker_id = $1",
                                    {worker_id})
                              .status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("WITH t AS (UPDATE curation.task SET state = 'approved', "
                             "max_attempts = max_attempts + 1, worker_id = NULL, last_error = $2, "
                             "updated_at = now() WHERE task_id = $1 AND state IN "
                             "('dispatched', 'running') AND worker_id = $4 RETURNING task_id, "
                             "cu_event_id)",
                             CloseAttempt(3, 2), " SELECT task_id, cu_event_id FROM t"),
                {std::to_string(task_id), error, "lost", worker_id}));
  if (r.rows() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("task ", task_id, " is no longer on ", worker_id, "; nothing to give back"));
  }
  return EndEvent(conn, r, 1, error);
}

absl::StatusOr<std::vector<TaskRow>> ListTasks(pg::Connection& conn,
                                               std::optional<TaskState> state) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      state ? conn.Exec(absl::StrCat("SELECT ", kColumns, " FROM curation.task WHERE state = $1 "
                                     "ORDER BY priority DESC, created_at, task_id"),
                        {std::string(TaskStateName(*state))})
            : conn.Exec(absl::StrCat("SELECT ", kColumns,
                                     " FROM curation.task ORDER BY night, cu, task_id")));
  std::vector<TaskRow> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(ReadRow(r, i));
  return out;
}

}  // namespace curator::daemon
