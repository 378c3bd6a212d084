#include "archive/task_log.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"

namespace curator::tasklog {
namespace {

// One field of COPY's text format.
std::string CopyText(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string CopyTime(absl::Time t) {
  if (t == absl::Time()) return "\\N";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<int64_t> StartEvent(pg::Connection& conn, int cu,
                                   absl::string_view kind, absl::string_view night,
                                   absl::string_view producer) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("INSERT INTO curation.cu_event (cu, kind, night, producer) VALUES "
                "($1, $2, $3, $4) RETURNING cu_event_id",
                {std::to_string(cu), std::string(kind),
                 night.empty() ? pg::Param() : pg::Param(std::string(night)),
                 std::string(producer)}));
  return r.GetInt(0, 0);
}

namespace {

absl::Status FinishInTransaction(pg::Connection& conn, int64_t cu_event_id,
                                 const std::vector<Step>& steps, bool failed,
                                 absl::string_view message) {
  int64_t rows = 0;
  int errors = 0, warnings = 0;
  for (const Step& step : steps) {
    // Steps pass the same rows along (read, then write): the event's rows
    // are the most any step handled, not their sum.
    rows = std::max(rows, step.rows);
    errors += step.errors;
    warnings += step.warnings;
  }
  // The event is closed first, and only if it is still running: an
  // attempt the daemon already ended (its worker was lost, then came back
  // and reported late) keeps the record it has.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result closed,
      conn.Exec("UPDATE curation.cu_event SET finished_at = clock_timestamp(), status = $2, "
                "rows = $3, errors = $4, warnings = $5, message = $6 WHERE cu_event_id = $1 AND "
                "status = 'running'",
                {std::to_string(cu_event_id), failed ? "failed" : "done", std::to_string(rows),
                 std::to_string(errors), std::to_string(warnings), std::string(message)}));
  if (closed.AffectedRows() != 1) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result now, conn.Exec("SELECT status, coalesce(message, '') FROM curation.cu_event "
                                  "WHERE cu_event_id = $1",
                                  {std::to_string(cu_event_id)}));
    if (now.rows() == 0) return absl::NotFoundError(absl::StrCat("no event ", cu_event_id));
    return absl::FailedPreconditionError(
        absl::StrCat("event ", cu_event_id, " was ended already (", now.Get(0, 0), ": ",
                     now.Get(0, 1), "); its record stays as it is"));
  }
  std::string file_rows, message_rows;
  for (const Step& step : steps) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Exec("INSERT INTO curation.step_log (cu_event_id, step, started_at, "
                  "finished_at, rows, errors, warnings) VALUES ($1, $2, $3, $4, $5, "
                  "$6, $7) RETURNING step_id",
                  {std::to_string(cu_event_id), step.name, CopyTime(step.started),
                   CopyTime(step.finished), std::to_string(step.rows),
                   std::to_string(step.errors), std::to_string(step.warnings)}));
    const std::string step_id = r.Get(0, 0);
    for (const FileEntry& f : step.files) {
      absl::StrAppend(&file_rows, step_id, "\t", CopyText(f.path), "\t",
                      f.multiframe_id ? std::to_string(f.multiframe_id) : "\\N", "\t",
                      CopyTime(f.started), "\t", CopyTime(f.finished), "\t", f.rows, "\t",
                      f.errors, "\t", f.warnings, "\n");
    }
    for (const Message& m : step.messages) {
      absl::StrAppend(&message_rows, cu_event_id, "\t", step_id, "\t", m.level, "\t",
                      m.path.empty() ? "\\N" : CopyText(m.path), "\t",
                      m.hdu ? std::to_string(m.hdu) : "\\N", "\t",
                      m.item.empty() ? "\\N" : CopyText(m.item), "\t",
                      CopyText(m.message), "\n");
    }
  }
  if (!file_rows.empty()) {
    CURATOR_RETURN_IF_ERROR(
        conn.CopyIn("COPY curation.file_log (step_id, path, multiframe_id, started_at, "
                    "finished_at, rows, errors, warnings) FROM STDIN",
                    file_rows)
            .status());
  }
  if (!message_rows.empty()) {
    CURATOR_RETURN_IF_ERROR(
        conn.CopyIn("COPY curation.log_message (cu_event_id, step_id, level, path, hdu, "
                    "item, message) FROM STDIN",
                    message_rows)
            .status());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Finish(pg::Connection& conn, int64_t cu_event_id,
                    const std::vector<Step>& steps, bool failed,
                    absl::string_view message) {
  // Inside the caller's transaction (an ingest), or in one of its own:
  // the event's end and its steps are recorded together or not at all.
  if (conn.InTransaction()) return FinishInTransaction(conn, cu_event_id, steps, failed, message);
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(conn));
  CURATOR_RETURN_IF_ERROR(FinishInTransaction(conn, cu_event_id, steps, failed, message));
  return tx.Commit();
}

}  // namespace curator::tasklog
