#include "daemon/task_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "archive/task_log.h"
#include "base/status.h"
#include "db/histograms.h"

namespace curator::daemon {
namespace {

using archive::CuSpec;

constexpr char kColumns[] =
    "task_id, to_char(night, 'YYYYMMDD'), cu, state, priority, files, attempts, max_attempts, "
    "(extract(epoch from not_before) * 1000000)::bigint, coalesce(worker_id, ''), "
    "coalesce(cu_event_id, 0), coalesce(batch_id, ''), coalesce(last_error, ''), "
    "(extract(epoch from created_at) * 1000000)::bigint";

// The states in which a task is on a worker.
constexpr char kOnWorker[] = "'{dispatched,running}'";
// When prerequisite r, of task p, is met: p ingested; or done, where
// being processed is enough; or, for a 'settled' one (the previous
// night's task of a CU that follows the nights in order), cancelled, as
// an operator who gives up on a night lets the next nights go on.
constexpr char kMet[] =
    "(p.state = 'ingested' OR (r.stage = 'processed' AND p.state = 'done') OR "
    "(r.stage = "
    "'settled' AND p.state = 'cancelled'))";

// Task ids as an SQL array parameter.
std::string IdArray(const std::vector<int64_t>& ids) {
  std::vector<std::string> text;
  for (int64_t id : ids) text.push_back(std::to_string(id));
  return pg::TextArray(text);
}

// A time as exact microseconds, and the SQL that reads it back.
std::string Micros(absl::Time t) { return std::to_string(absl::ToUnixMicros(t)); }
std::string At(int param) {
  return absl::StrFormat("(timestamptz 'epoch' + $%d::bigint * interval '1 microsecond')", param);
}

absl::StatusOr<TaskRow> ReadRow(const pg::Result& r, int i) {
  TaskRow t;
  t.task_id = r.GetInt(i, 0);
  t.night = r.Get(i, 1);
  t.cu = static_cast<int>(r.GetInt(i, 2));
  CURATOR_ASSIGN_OR_RETURN(t.state, TaskStateFromDatabase(r.Get(i, 3)));
  t.priority = static_cast<int>(r.GetInt(i, 4));
  t.files = static_cast<int>(r.GetInt(i, 5));
  t.attempts = static_cast<int>(r.GetInt(i, 6));
  t.max_attempts = static_cast<int>(r.GetInt(i, 7));
  if (!r.IsNull(i, 8)) t.not_before = absl::FromUnixMicros(r.GetInt(i, 8));
  t.worker_id = r.Get(i, 9);
  t.cu_event_id = r.GetInt(i, 10);
  t.batch_id = r.Get(i, 11);
  t.last_error = r.Get(i, 12);
  t.created = absl::FromUnixMicros(r.GetInt(i, 13));
  return t;
}

absl::StatusOr<std::vector<TaskRow>> ReadRows(const pg::Result& r) {
  std::vector<TaskRow> out;
  for (int i = 0; i < r.rows(); ++i) {
    CURATOR_ASSIGN_OR_RETURN(TaskRow t, ReadRow(r, i));
    out.push_back(std::move(t));
  }
  return out;
}

// Closes the task's open attempt with `outcome` and `error`.
absl::Status CloseAttempt(pg::Connection& conn, int64_t task_id, const char* outcome,
                          const pg::Param& error) {
  return conn
      .Exec("UPDATE curation.task_attempt SET finished_at = clock_timestamp(), outcome = $2, "
            "error = $3 WHERE task_id = $1 AND finished_at IS NULL",
            {std::to_string(task_id), outcome, error})
      .status();
}

// Ends an attempt's processing event as failed, unless its worker ended it
// already (tasklog::Finish refuses to overwrite an ended event).
absl::Status EndEvent(pg::Connection& conn, int64_t event, const std::string& why) {
  if (event == 0) return absl::OkStatus();
  absl::Status s = tasklog::Finish(conn, event, {}, /*failed=*/true, why);
  return s.code() == absl::StatusCode::kFailedPrecondition ? absl::OkStatus() : s;
}

// Why `task_id` could not move by `event`: its state now, or that it
// does not exist.
absl::StatusOr<std::string> RefusalFor(pg::Connection& conn, int64_t task_id, TaskEvent event) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result now,
      conn.Exec("SELECT state FROM curation.task WHERE task_id = $1", {std::to_string(task_id)}));
  if (now.rows() == 0) return absl::StrCat("no task ", task_id);
  CURATOR_ASSIGN_OR_RETURN(TaskState state, TaskStateFromDatabase(now.Get(0, 0)));
  return Refusal(task_id, state, event);
}

}  // namespace

std::string TaskStore::AttemptId(int64_t task_id, int attempt) {
  return absl::StrCat("task-", task_id, "-", attempt);
}

bool TaskStore::ParseAttemptId(const std::string& s, int64_t* task_id, int* attempt) {
  std::vector<std::string> parts = absl::StrSplit(s, '-');
  return parts.size() == 3 && parts[0] == "task" && absl::SimpleAtoi(parts[1], task_id) &&
         absl::SimpleAtoi(parts[2], attempt);
}

absl::StatusOr<int> TaskStore::CreateNightTasks(const std::string& night) {
  std::vector<std::string> cus, inputs;
  std::vector<std::string> dep_cu, dep_on, dep_step, dep_stage, chained;
  for (const CuSpec& s : registry_->specs()) {
    cus.push_back(std::to_string(s.cu));
    if (s.after_previous_night) chained.push_back(std::to_string(s.cu));
    inputs.push_back(archive::CuInputName(s.input));
    for (const auto& [step, list] :
         {std::pair{"process", &s.before_processing}, std::pair{"ingest", &s.before_ingest}}) {
      for (const archive::Prerequisite& p : *list) {
        dep_cu.push_back(std::to_string(s.cu));
        dep_on.push_back(std::to_string(p.cu));
        dep_step.push_back(step);
        dep_stage.push_back(archive::StageName(p.stage));
      }
    }
  }
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  // Files per task: the night's registered files of the kind its CU reads.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result made,
      conn->Exec(
          "INSERT INTO curation.task (night, cu, files) SELECT $1::date, s.cu, "
          "CASE s.input "
          "WHEN 'images' THEN (SELECT count(*) FROM curation.live_file f WHERE "
          "f.night = $1::date AND f.kind = 'image') WHEN 'catalogues' THEN "
          "(SELECT "
          "count(*) FROM curation.live_file f WHERE f.night = $1::date AND "
          "f.kind = "
          "'catalogue') ELSE 0 END FROM unnest($2::smallint[], $3::text[]) AS "
          "s(cu, "
          "input) WHERE EXISTS (SELECT 1 FROM curation.night n WHERE n.night = "
          "$1::date) "
          "ON CONFLICT (night, cu) DO NOTHING",
          {night, pg::TextArray(cus), pg::TextArray(inputs)}));
  CURATOR_RETURN_IF_ERROR(
      conn->Exec("INSERT INTO curation.task_prerequisite (task_id, prerequisite, for_step, "
                 "stage) SELECT t.task_id, p.task_id, d.for_step, d.stage FROM "
                 "unnest($2::smallint[], $3::smallint[], $4::text[], $5::text[]) AS d(cu, on_cu, "
                 "for_step, stage) JOIN curation.task t ON t.night = $1::date AND t.cu = d.cu "
                 "JOIN curation.task p ON p.night = $1::date AND p.cu = d.on_cu ON CONFLICT DO "
                 "NOTHING",
                 {night, pg::TextArray(dep_cu), pg::TextArray(dep_on), pg::TextArray(dep_step),
                  pg::TextArray(dep_stage)})
          .status());
  if (!chained.empty()) {
    // Nights in order: this night's task waits for the one of the night
    // before, and the next night's, if it has not started, for this one
    // (a night registered late slots into the chain).
    CURATOR_RETURN_IF_ERROR(
        conn->Exec("INSERT INTO curation.task_prerequisite (task_id, "
                   "prerequisite, for_step, "
                   "stage) SELECT t.task_id, p.task_id, 'process', 'settled' "
                   "FROM curation.task "
                   "t JOIN LATERAL (SELECT p.task_id FROM curation.task p "
                   "WHERE p.cu = t.cu AND "
                   "p.night < t.night ORDER BY p.night DESC LIMIT 1) p ON true "
                   "WHERE t.night = "
                   "$1::date AND t.cu = ANY($2::smallint[]) ON CONFLICT DO "
                   "NOTHING",
                   {night, pg::TextArray(chained)})
            .status());
    CURATOR_RETURN_IF_ERROR(
        conn->Exec("INSERT INTO curation.task_prerequisite (task_id, "
                   "prerequisite, for_step, "
                   "stage) SELECT n.task_id, t.task_id, 'process', 'settled' "
                   "FROM curation.task "
                   "t JOIN LATERAL (SELECT n.task_id, n.state FROM "
                   "curation.task n WHERE n.cu = "
                   "t.cu AND n.night > t.night ORDER BY n.night LIMIT 1) n ON "
                   "true WHERE t.night "
                   "= $1::date AND t.cu = ANY($2::smallint[]) AND n.state IN "
                   "('pending', "
                   "'approved') ON CONFLICT DO NOTHING",
                   {night, pg::TextArray(chained)})
            .status());
  }
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  return static_cast<int>(made.AffectedRows());
}

absl::StatusOr<MoveResult> TaskStore::MoveEach(const std::vector<int64_t>& ids, TaskEvent event,
                                               const std::string& extra_set) {
  const TaskMove& m = MoveOf(event);
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  MoveResult out;
  for (int64_t id : ids) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn->Exec(absl::StrCat("UPDATE curation.task SET state = '", TaskStateName(m.to),
                                "', updated_at = now()", extra_set,
                                " WHERE task_id = $1 AND state = ANY('", FromSql(event), "')"),
                   {std::to_string(id)}));
    if (r.AffectedRows() == 1) {
      out.changed.push_back(id);
    } else {
      CURATOR_ASSIGN_OR_RETURN(std::string why, RefusalFor(*conn, id, event));
      out.refused.push_back(std::move(why));
    }
  }
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  return out;
}

absl::StatusOr<MoveResult> TaskStore::Approve(const std::vector<int64_t>& ids) {
  return MoveEach(ids, TaskEvent::kApprove);
}

absl::StatusOr<MoveResult> TaskStore::ApproveAllPending() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat("UPDATE curation.task SET state = 'approved', updated_at = now() "
                              "WHERE state = ANY('",
                              FromSql(TaskEvent::kApprove), "') RETURNING task_id")));
  MoveResult out;
  for (int i = 0; i < r.rows(); ++i) out.changed.push_back(r.GetInt(i, 0));
  return out;
}

absl::StatusOr<MoveResult> TaskStore::Reject(const std::vector<int64_t>& ids) {
  return MoveEach(ids, TaskEvent::kReject);
}

absl::StatusOr<MoveResult> TaskStore::Cancel(
    const std::vector<int64_t>& ids, std::vector<std::pair<std::string, std::string>>* on_workers) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  MoveResult out;
  for (int64_t id : ids) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result before,
        conn->Exec("SELECT state, coalesce(worker_id, ''), attempts, coalesce(cu_event_id, 0) "
                   "FROM curation.task WHERE task_id = $1 FOR UPDATE",
                   {std::to_string(id)}));
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r, conn->Exec(absl::StrCat("UPDATE curation.task SET state = 'cancelled', "
                                              "updated_at = now() WHERE task_id = $1 AND state = "
                                              "ANY('",
                                              FromSql(TaskEvent::kCancel), "')"),
                                 {std::to_string(id)}));
    if (r.AffectedRows() != 1) {
      CURATOR_ASSIGN_OR_RETURN(std::string why, RefusalFor(*conn, id, TaskEvent::kCancel));
      out.refused.push_back(std::move(why));
      continue;
    }
    out.changed.push_back(id);
    CURATOR_ASSIGN_OR_RETURN(TaskState was, TaskStateFromDatabase(before.Get(0, 0)));
    if (was == TaskState::kDispatched || was == TaskState::kRunning) {
      const std::string why = "cancelled by an operator";
      CURATOR_RETURN_IF_ERROR(CloseAttempt(*conn, id, "cancelled", std::nullopt));
      CURATOR_RETURN_IF_ERROR(EndEvent(*conn, before.GetInt(0, 3), why));
      if (on_workers != nullptr && !before.Get(0, 1).empty()) {
        on_workers->emplace_back(before.Get(0, 1),
                                 AttemptId(id, static_cast<int>(before.GetInt(0, 2))));
      }
    }
  }
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  return out;
}

absl::StatusOr<MoveResult> TaskStore::Retry(const std::vector<int64_t>& ids) {
  return MoveEach(ids, TaskEvent::kRetry,
                  absl::StrCat(", max_attempts = attempts + ", policy_.max_attempts,
                               ", lost_attempts = 0, not_before = NULL, worker_id = NULL"));
}

std::string TaskStore::RerunSet() const {
  return absl::StrCat(
      ", max_attempts = attempts + ", policy_.max_attempts,
      ", lost_attempts = 0, not_before = NULL, worker_id = NULL, "
      "generation = generation + 1, replaces = CASE WHEN batch_id IS "
      "NULL OR batch_id = ANY(replaces) THEN replaces ELSE "
      "array_append(replaces, batch_id) END, batch_id = NULL");
}

absl::StatusOr<MoveResult> TaskStore::Rerun(const std::vector<int64_t>& ids) {
  return MoveEach(ids, TaskEvent::kRerun, RerunSet());
}

absl::Status TaskStore::LockSettledNight(pg::Connection& conn,
                                         const std::string& night, bool idle) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT t.task_id, c.name, t.state FROM curation.task t JOIN "
                "curation.cu c USING (cu) WHERE t.night = $1::date ORDER BY "
                "t.task_id FOR UPDATE OF t",
                {night}));
  std::vector<std::string> busy;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string state = r.Get(i, 2);
    if (state == "dispatched" || state == "running" || state == "done" ||
        (idle && (state == "pending" || state == "approved"))) {
      busy.push_back(absl::StrCat("task ", r.Get(i, 0), " (", r.Get(i, 1),
                                  ") is ", state));
    }
  }
  if (busy.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "night ", night,
      idle ? " has work to do (" : " is being processed or loaded (",
      absl::StrJoin(busy, ", "),
      idle ? "): let it finish or cancel it first"
           : "): try again when its batches are in"));
}

absl::StatusOr<std::vector<int64_t>> TaskStore::RerunNightIn(
    pg::Connection& conn, const std::string& night,
    const std::vector<std::string>& inputs) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          absl::StrCat(
              "UPDATE curation.task t SET state = '",
              TaskStateName(MoveOf(TaskEvent::kRerun).to),
              "', updated_at = now()", RerunSet(),
              " FROM curation.cu c WHERE c.cu = t.cu AND t.night = "
              "$1::date AND c.input = ANY($2::text[]) AND t.state = ANY('",
              FromSql(TaskEvent::kRerun), "') RETURNING t.task_id"),
          {night, pg::TextArray(inputs)}));
  // Tasks of those CUs not yet run again (pending or approved, perhaps
  // after a lost attempt) start a generation too: a late batch of an
  // attempt made before the new delivery is then replaced, never loaded.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("UPDATE curation.task t SET generation = generation + 1, "
                "updated_at = now() FROM curation.cu c WHERE c.cu = t.cu "
                "AND t.night = $1::date AND c.input = ANY($2::text[]) "
                "AND t.state IN ('pending', 'approved')",
                {night, pg::TextArray(inputs)})
          .status());
  std::vector<int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.GetInt(i, 0));
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<TaskRow>> TaskStore::Ready() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  // A prerequisite is met when its task has reached the stage: ingested,
  // or done where being processed is enough.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          absl::StrCat("SELECT ", kColumns,
                       " FROM curation.task t WHERE t.state = 'approved' AND "
                       "NOT EXISTS (SELECT 1 FROM curation.night n WHERE "
                       "n.night = t.night AND n.retired_event IS NOT NULL) "
                       "AND (t.not_before IS NULL "
                       "OR t.not_before <= ",
                       At(1),
                       ") AND NOT EXISTS (SELECT 1 FROM "
                       "curation.task_prerequisite r JOIN "
                       "curation.task p ON p.task_id = r.prerequisite WHERE "
                       "r.task_id = t.task_id "
                       "AND r.for_step = 'process' AND NOT ",
                       kMet,
                       ") ORDER BY t.priority DESC, t.created_at, t.task_id"),
          {Micros(clock_->Now())}));
  return ReadRows(r);
}

absl::StatusOr<Claimed> TaskStore::Claim(int64_t task_id,
                                         const std::string& worker_id,
                                         const AttemptInputs& inputs) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result row,
      conn->Exec(
          "SELECT cu, to_char(night, 'YYYYMMDD'), state, attempts, generation, "
          "array_to_string(replaces, ' ') FROM curation.task WHERE task_id = "
          "$1 FOR UPDATE",
          {std::to_string(task_id)}));
  if (row.rows() == 0) return absl::NotFoundError(absl::StrCat("no task ", task_id));
  CURATOR_ASSIGN_OR_RETURN(TaskState state, TaskStateFromDatabase(row.Get(0, 2)));
  if (!IsAllowed(TaskEvent::kDispatch, state)) {
    return absl::FailedPreconditionError(Refusal(task_id, state, TaskEvent::kDispatch));
  }
  CURATOR_ASSIGN_OR_RETURN(int64_t event,
                           tasklog::StartEvent(*conn, static_cast<int>(row.GetInt(0, 0)),
                                               "process", row.Get(0, 1), worker_id));
  CURATOR_RETURN_IF_ERROR(
      conn->Exec(absl::StrCat("UPDATE curation.task SET state = 'dispatched', attempts = "
                              "attempts + 1, worker_id = $2, cu_event_id = $3, worker_boot = "
                              "NULL, worker_seq = NULL, not_before = NULL, dispatched_at = ",
                              At(4), ", updated_at = now() WHERE task_id = $1"),
                 {std::to_string(task_id), worker_id, std::to_string(event),
                  Micros(clock_->Now())})
          .status());
  CURATOR_RETURN_IF_ERROR(
      conn->Exec("INSERT INTO curation.task_attempt (task_id, worker_id, "
                 "cu_event_id, "
                 "input_files, input_bytes, estimated_seconds, estimate_basis) "
                 "VALUES ($1, $2, $3, "
                 "$4, $5, $6, $7)",
                 {std::to_string(task_id), worker_id, std::to_string(event),
                  std::to_string(std::max(inputs.files, 0)),
                  std::to_string(std::max<int64_t>(inputs.bytes, 0)),
                  inputs.estimated_seconds >= 0
                      ? pg::Param(
                            absl::StrFormat("%.17g", inputs.estimated_seconds))
                      : pg::Param(),
                  inputs.basis.empty() ? pg::Param() : pg::Param(inputs.basis)})
          .status());
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  Claimed claimed{static_cast<int>(row.GetInt(0, 3)) + 1,
                  event,
                  static_cast<int>(row.GetInt(0, 4)),
                  {}};
  // Batch ids have no spaces (worker/batch_writer.h).
  claimed.replaces = absl::StrSplit(row.Get(0, 5), ' ', absl::SkipEmpty());
  return claimed;
}

absl::Status TaskStore::Accepted(int64_t task_id, int attempt, const std::string& boot_id,
                                 int64_t seq) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  return conn
      ->Exec(absl::StrCat("UPDATE curation.task SET worker_boot = $3, worker_seq = $4 WHERE "
                          "task_id = $1 AND attempts = $2 AND state = ANY(",
                          kOnWorker, ")"),
             {std::to_string(task_id), std::to_string(attempt), boot_id, std::to_string(seq)})
      .status();
}

absl::Status TaskStore::GiveBack(int64_t task_id, int attempt, const std::string& worker_id,
                                 const std::string& why) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat("UPDATE curation.task SET state = 'approved', max_attempts = "
                              "max_attempts + 1, worker_id = NULL, worker_boot = NULL, worker_seq "
                              "= NULL, not_before = NULL, last_error = $4, updated_at = now() "
                              "WHERE task_id = $1 AND attempts = $2 AND worker_id = $3 AND state "
                              "= ANY('",
                              FromSql(TaskEvent::kGiveBack), "') RETURNING coalesce(cu_event_id, 0)"),
                 {std::to_string(task_id), std::to_string(attempt), worker_id, why}));
  if (r.rows() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task ", task_id, " is no longer on attempt ", attempt, " on ", worker_id));
  }
  CURATOR_RETURN_IF_ERROR(CloseAttempt(*conn, task_id, "lost", why));
  CURATOR_RETURN_IF_ERROR(EndEvent(*conn, r.GetInt(0, 0), why));
  return tx.Commit();
}

absl::StatusOr<TaskState> TaskStore::FailAttempt(int64_t task_id, int attempt,
                                                 const std::string& worker_id, AttemptEnd end,
                                                 const std::string& why) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  // A failed attempt uses up one of the task's attempts and waits longer
  // each time; a lost one uses none (its budget grows by the one the
  // dispatch took), counts toward max_lost and waits the base backoff.
  const bool lost = end == AttemptEnd::kLost;
  const std::string retried =
      lost ? "lost_attempts + 1 < max_lost" : "attempts < max_attempts";
  const std::string backoff =
      lost ? absl::StrCat(At(5), " + $6::bigint * interval '1 microsecond'")
           : absl::StrCat(At(5), " + $6::bigint * interval '1 microsecond' * power(2, "
                                 "greatest(attempts - 1, 0))");
  const std::string error =
      lost ? "CASE WHEN lost_attempts + 1 < max_lost THEN $4 ELSE $4 || ' (lost ' || "
             "(lost_attempts + 1) || ' times: a task that kills its workers?)' END"
           : "$4";
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          absl::StrCat("UPDATE curation.task SET state = CASE WHEN ", retried,
                       " THEN 'approved' ELSE 'failed' END, not_before = CASE WHEN ", retried,
                       " THEN ", backoff, " END, last_error = ", error,
                       lost ? ", lost_attempts = lost_attempts + 1, max_attempts = max_attempts + 1"
                            : "",
                       ", worker_id = NULL, worker_boot = NULL, worker_seq = NULL, updated_at = "
                       "now() WHERE task_id = $1 AND attempts = $2 AND worker_id = $3 AND state = "
                       "ANY(",
                       kOnWorker, ") RETURNING state, coalesce(cu_event_id, 0)"),
          {std::to_string(task_id), std::to_string(attempt), worker_id, why,
           Micros(clock_->Now()),
           std::to_string(absl::ToInt64Microseconds(policy_.retry_backoff))}));
  if (r.rows() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task ", task_id, " is no longer on attempt ", attempt, " on ", worker_id));
  }
  CURATOR_RETURN_IF_ERROR(CloseAttempt(*conn, task_id, lost ? "lost" : "failed", why));
  // A worker that failed a task wrote its event's log itself; a lost one
  // cannot, so the event ends here rather than stay 'running'.
  if (lost) CURATOR_RETURN_IF_ERROR(EndEvent(*conn, r.GetInt(0, 1), why));
  CURATOR_ASSIGN_OR_RETURN(TaskState now, TaskStateFromDatabase(r.Get(0, 0)));
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  return now;
}

absl::Status TaskStore::Started(int64_t task_id, int attempt, const std::string& worker_id) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  return conn
      ->Exec(absl::StrCat("UPDATE curation.task SET state = 'running', updated_at = now() WHERE "
                          "task_id = $1 AND attempts = $2 AND worker_id = $3 AND state = ANY('",
                          FromSql(TaskEvent::kStart), "')"),
             {std::to_string(task_id), std::to_string(attempt), worker_id})
      .status();
}

absl::Status TaskStore::Finished(int64_t task_id, int attempt, const std::string& worker_id,
                                 const std::string& batch_id) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat("UPDATE curation.task SET state = 'done', batch_id = $4, updated_at "
                              "= now() WHERE task_id = $1 AND attempts = $2 AND worker_id = $3 "
                              "AND state = ANY('",
                              FromSql(TaskEvent::kFinish), "')"),
                 {std::to_string(task_id), std::to_string(attempt), worker_id, batch_id}));
  if (r.AffectedRows() == 1) {
    CURATOR_RETURN_IF_ERROR(CloseAttempt(*conn, task_id, "done", std::nullopt));
  }
  return tx.Commit();
}

absl::StatusOr<std::vector<TaskOnWorker>> TaskStore::OnWorker(const std::string& worker_id) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat("SELECT task_id, attempts, state, coalesce(worker_boot, ''), "
                              "coalesce(worker_seq, 0), coalesce((extract(epoch from "
                              "dispatched_at) * 1000000)::bigint, 0) FROM curation.task WHERE "
                              "worker_id = $1 AND state = ANY(",
                              kOnWorker, ") ORDER BY task_id"),
                 {worker_id}));
  std::vector<TaskOnWorker> out;
  for (int i = 0; i < r.rows(); ++i) {
    TaskOnWorker t;
    t.task_id = r.GetInt(i, 0);
    t.attempt = static_cast<int>(r.GetInt(i, 1));
    CURATOR_ASSIGN_OR_RETURN(t.state, TaskStateFromDatabase(r.Get(i, 2)));
    t.boot_id = r.Get(i, 3);
    t.seq = r.GetInt(i, 4);
    t.dispatched_at = absl::FromUnixMicros(r.GetInt(i, 5));
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> TaskStore::ApplyBatchOutcomes() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*conn));
  std::vector<int64_t> moved;
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result ingested,
      conn->Exec(absl::StrCat("UPDATE curation.task t SET state = 'ingested', updated_at = now() "
                              "FROM curation.batch b WHERE t.state = ANY('",
                              FromSql(TaskEvent::kIngest),
                              "') AND b.batch_id = t.batch_id AND b.state = 'ingested' RETURNING "
                              "t.task_id")));
  for (int i = 0; i < ingested.rows(); ++i) moved.push_back(ingested.GetInt(i, 0));
  // Quarantined since the task's current attempt started: that attempt's
  // batch (or an identical one it found staged) was refused.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result refused,
      conn->Exec(
          absl::StrCat(
              "UPDATE curation.task t SET state = CASE WHEN t.attempts < t.max_attempts THEN "
              "'approved' ELSE 'failed' END, not_before = CASE WHEN t.attempts < t.max_attempts "
              "THEN ",
              At(1),
              " + $2::bigint * interval '1 microsecond' * power(2, greatest(t.attempts - 1, 0)) "
              "END, last_error = 'batch ' || b.batch_id || CASE WHEN b.state = 'replaced' THEN ' was "
              "not loaded: a later run''s batch ' || coalesce(b.replaced_by, '') || ' is in' "
              "ELSE ' quarantined: ' || coalesce(b.report, '') END, worker_id = NULL, updated_at = now() FROM curation.batch b "
              "WHERE t.state = ANY('",
              FromSql(TaskEvent::kRetryLater),
              "') AND t.state = 'done' AND b.batch_id = t.batch_id AND ((b.state = "
              "'quarantined' AND b.ingest_finished_at >= (SELECT max(a.started_at) FROM "
              "curation.task_attempt a WHERE a.task_id = t.task_id)) OR b.state = 'replaced') "
              "RETURNING t.task_id, t.last_error"),
          {Micros(clock_->Now()),
           std::to_string(absl::ToInt64Microseconds(policy_.retry_backoff))}));
  for (int i = 0; i < refused.rows(); ++i) {
    moved.push_back(refused.GetInt(i, 0));
    CURATOR_RETURN_IF_ERROR(
        conn->Exec("UPDATE curation.task_attempt SET outcome = 'quarantined', error = $2 WHERE "
                   "attempt_id = (SELECT max(attempt_id) FROM curation.task_attempt WHERE "
                   "task_id = $1)",
                   {refused.Get(i, 0), refused.Get(i, 1)})
            .status());
  }
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  return moved;
}

absl::StatusOr<std::vector<TaskRow>> TaskStore::List(std::optional<TaskState> state) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      state ? conn->Exec(absl::StrCat("SELECT ", kColumns, " FROM curation.task WHERE state = $1 "
                                      "ORDER BY priority DESC, created_at, task_id"),
                         {std::string(TaskStateName(*state))})
            : conn->Exec(absl::StrCat("SELECT ", kColumns,
                                      " FROM curation.task ORDER BY night, cu, task_id")));
  return ReadRows(r);
}

absl::StatusOr<std::optional<TaskRow>> TaskStore::Get(int64_t task_id) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, conn->Exec(absl::StrCat("SELECT ", kColumns,
                                            " FROM curation.task WHERE task_id = $1"),
                               {std::to_string(task_id)}));
  if (r.rows() == 0) return std::nullopt;
  CURATOR_ASSIGN_OR_RETURN(TaskRow t, ReadRow(r, 0));
  return t;
}

absl::StatusOr<std::map<int64_t, std::vector<std::string>>> TaskStore::WaitingFor() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          absl::StrCat("SELECT r.task_id, r.for_step, r.stage, p.task_id, "
                       "p.cu, to_char(p.night, "
                       "'YYYYMMDD'), p.state FROM curation.task_prerequisite r "
                       "JOIN curation.task t ON "
                       "t.task_id = r.task_id JOIN curation.task p ON "
                       "p.task_id = r.prerequisite WHERE NOT ",
                       kMet,
                       " AND ((r.for_step = 'process' AND t.state IN "
                       "('pending', 'approved')) OR (r.for_step "
                       "= 'ingest' AND t.state IN ('pending', 'approved', "
                       "'dispatched', 'running', "
                       "'done'))) ORDER BY r.task_id, r.for_step DESC, p.cu")));
  std::map<int64_t, std::vector<std::string>> out;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string stage =
        r.Get(i, 2) == "settled" ? "ingested (or cancelled)" : r.Get(i, 2);
    const std::string what = absl::StrCat(
        registry_->Name(static_cast<int>(r.GetInt(i, 4))), " of ", r.Get(i, 5),
        " ", stage, " (task ", r.Get(i, 3), " is ", r.Get(i, 6), ")");
    out[r.GetInt(i, 0)].push_back(r.Get(i, 1) == "process" ? what
                                                           : absl::StrCat("its ingest: ", what));
  }
  return out;
}

absl::StatusOr<std::map<int64_t, std::vector<int64_t>>> TaskStore::ProcessingPrerequisites() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat(
          "SELECT r.task_id, r.prerequisite FROM curation.task_prerequisite r "
          "JOIN curation.task t ON t.task_id = r.task_id JOIN curation.task p "
          "ON p.task_id = r.prerequisite WHERE r.for_step = 'process' AND "
          "t.state IN ('pending', 'approved') AND NOT ",
          kMet, " ORDER BY 1, 2")));
  std::map<int64_t, std::vector<int64_t>> out;
  for (int i = 0; i < r.rows(); ++i) out[r.GetInt(i, 0)].push_back(r.GetInt(i, 1));
  return out;
}

absl::StatusOr<std::vector<TaskRow>> TaskStore::Unsettled(
    pg::Connection& conn, const std::string& until) {
  const std::vector<std::string> settled = {
      TaskStateName(TaskState::kIngested), TaskStateName(TaskState::kFailed),
      TaskStateName(TaskState::kCancelled)};
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          absl::StrCat(
              "SELECT ", kColumns,
              " FROM curation.task WHERE state <> ALL($1::text[]) AND "
              "($2::date "
              "IS NULL OR night <= $2::date) ORDER BY night, cu, task_id"),
          {pg::TextArray(settled),
           until.empty() ? pg::Param() : pg::Param(until)}));
  return ReadRows(r);
}

absl::StatusOr<std::map<std::string, int>> TaskStore::BusyByWorker() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, conn->Exec(absl::StrCat("SELECT worker_id, count(*) FROM curation.task WHERE "
                                            "state = ANY(",
                                            kOnWorker, ") GROUP BY worker_id")));
  std::map<std::string, int> out;
  for (int i = 0; i < r.rows(); ++i) out[r.Get(i, 0)] = static_cast<int>(r.GetInt(i, 1));
  return out;
}

absl::StatusOr<std::vector<TaskRow>> TaskStore::Find(
    std::optional<TaskState> state, const std::string& night, int cu) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          absl::StrCat(
              "SELECT ", kColumns,
              " FROM curation.task WHERE ($1::text IS NULL OR state = $1) AND "
              "($2::date IS NULL OR night = $2::date) AND ($3::smallint = 0 OR "
              "cu = $3::smallint) ORDER BY night, cu, task_id"),
          {state ? pg::Param(std::string(TaskStateName(*state))) : pg::Param(),
           night.empty() ? pg::Param() : pg::Param(night),
           std::to_string(cu)}));
  return ReadRows(r);
}

absl::StatusOr<std::map<int64_t, int64_t>> TaskStore::InputBytes(
    const std::vector<int64_t>& task_ids) {
  std::map<int64_t, int64_t> out;
  if (task_ids.empty()) return out;
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  // The file kinds as CreateNightTasks counts them.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, conn->Exec("SELECT t.task_id, coalesce(sum(f.bytes), "
                               "0)::bigint FROM curation.task t JOIN "
                               "curation.cu c USING (cu) LEFT JOIN "
                               "curation.live_file f ON f.night = t.night "
                               "AND f.kind = CASE c.input WHEN 'images' THEN "
                               "'image' WHEN 'catalogues' THEN "
                               "'catalogue' END WHERE t.task_id = "
                               "ANY($1::bigint[]) GROUP BY t.task_id",
                               {IdArray(task_ids)}));
  for (int i = 0; i < r.rows(); ++i) out[r.GetInt(i, 0)] = r.GetInt(i, 1);
  return out;
}

absl::StatusOr<std::map<int64_t, AttemptTiming>> TaskStore::LatestAttempts(
    const std::vector<int64_t>& task_ids) {
  std::map<int64_t, AttemptTiming> out;
  if (task_ids.empty()) return out;
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          "SELECT DISTINCT ON (task_id) task_id, coalesce(worker_id, ''), "
          "to_char(started_at AT TIME ZONE 'UTC', "
          "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
          "extract(epoch from coalesce(finished_at, clock_timestamp()) - "
          "started_at)::float8, finished_at IS NOT NULL, coalesce(outcome, "
          "''), "
          "coalesce(estimated_seconds, -1) FROM curation.task_attempt WHERE "
          "task_id = "
          "ANY($1::bigint[]) ORDER BY task_id, attempt_id DESC",
          {IdArray(task_ids)}));
  for (int i = 0; i < r.rows(); ++i) {
    AttemptTiming& a = out[r.GetInt(i, 0)];
    a.worker_id = r.Get(i, 1);
    a.started_at = r.Get(i, 2);
    a.seconds = r.GetDouble(i, 3);
    a.ended = r.Get(i, 4) == "t";
    a.outcome = r.Get(i, 5);
    a.estimated_seconds = r.GetDouble(i, 6);
  }
  return out;
}

absl::StatusOr<std::vector<PastAttempt>> TaskStore::FinishedAttempts(
    int limit) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          "SELECT t.cu, coalesce(a.worker_id, ''), a.input_bytes, "
          "a.input_files, "
          "extract(epoch from a.finished_at - a.started_at)::float8, "
          "coalesce(a.estimated_seconds, -1) FROM curation.task_attempt a JOIN "
          "curation.task t USING (task_id) WHERE a.outcome IN ('done', "
          "'quarantined') "
          "AND a.input_bytes IS NOT NULL AND a.finished_at IS NOT NULL ORDER "
          "BY "
          "a.attempt_id DESC LIMIT $1",
          {std::to_string(limit)}));
  std::vector<PastAttempt> out;
  for (int i = 0; i < r.rows(); ++i) {
    PastAttempt a;
    a.cu = static_cast<int>(r.GetInt(i, 0));
    a.worker_id = r.Get(i, 1);
    a.input_bytes = r.GetInt(i, 2);
    a.input_files = static_cast<int>(r.GetInt(i, 3));
    a.seconds = r.GetDouble(i, 4);
    a.estimated_seconds = r.GetDouble(i, 5);
    out.push_back(std::move(a));
  }
  return out;
}

const std::vector<std::string>& TaskStore::AttemptOutcomes() {
  static const std::vector<std::string>* const all =
      new std::vector<std::string>{"done", "failed", "lost", "cancelled"};
  return *all;
}

absl::StatusOr<std::map<int, std::map<std::string, int64_t>>>
TaskStore::EndedAttempts() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec("SELECT t.cu, CASE a.outcome WHEN 'quarantined' THEN 'done' "
                 "ELSE a.outcome END, count(*) FROM curation.task_attempt a "
                 "JOIN curation.task t USING (task_id) WHERE a.outcome IS NOT "
                 "NULL GROUP BY 1, 2"));
  std::map<int, std::map<std::string, int64_t>> out;
  for (const CuSpec& spec : registry_->specs()) {
    for (const std::string& outcome : AttemptOutcomes())
      out[spec.cu][outcome] = 0;
  }
  for (int i = 0; i < r.rows(); ++i) {
    out[static_cast<int>(r.GetInt(i, 0))][r.Get(i, 1)] = r.GetInt(i, 2);
  }
  return out;
}

absl::StatusOr<std::map<int, HistogramData>> TaskStore::DoneAttemptSeconds() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      auto by_cu,
      pg::Histograms(
          *conn,
          "SELECT t.cu::bigint AS key, extract(epoch FROM a.finished_at - "
          "a.started_at)::float8 AS value FROM curation.task_attempt a "
          "JOIN curation.task t USING (task_id) WHERE a.outcome IN "
          "('done', 'quarantined')"));
  std::map<int, HistogramData> out;
  for (const CuSpec& spec : registry_->specs()) out[spec.cu] = EmptyHistogram();
  for (auto& [cu, h] : by_cu) out[static_cast<int>(cu)] = std::move(h);
  return out;
}

}  // namespace curator::daemon
