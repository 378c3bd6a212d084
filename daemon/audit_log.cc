#include "daemon/audit_log.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "base/status.h"

namespace curator::daemon {
namespace {

// What a caller sent, fit for a text column and a terminal: at most 2000
// bytes, control characters and bytes that are not UTF-8 as '?'.
// (PostgreSQL refuses a NUL or malformed UTF-8 in text, and an audit
// entry must not be lost to a hostile --reason.)
std::string Clean(const std::string& s) {
  std::string out;
  out.reserve(std::min<size_t>(s.size(), 2000));
  for (size_t i = 0; i < s.size() && out.size() < 2000;) {
    const unsigned char c = s[i];
    size_t n = c < 0x80         ? 1
               : (c >> 5) == 6  ? 2
               : (c >> 4) == 14 ? 3
               : (c >> 3) == 30 ? 4
                                : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (!ok || (n == 1 && (c < 0x20 || c == 0x7f))) {
      out.push_back('?');
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  if (out.size() < s.size() && out.size() >= 2000) out += "...";
  return out;
}

std::string Refusals(
    int changed, const google::protobuf::RepeatedPtrField<std::string>& refused,
    absl::string_view verb) {
  std::string out = absl::StrCat("ok, ", changed, " ", verb);
  if (!refused.empty()) {
    absl::StrAppend(&out, ", ", refused.size(),
                    " refused: ", absl::StrJoin(refused, "; "));
  }
  return out;
}

}  // namespace

int64_t AuditLog::Begin(const AuditEntry& e) {
  auto conn = pool_->Get();
  absl::StatusOr<pg::Result> r =
      conn.ok() ? (*conn)->Exec(
                      "INSERT INTO curation.audit (who, via, command, target, "
                      "reason) "
                      "VALUES ($1, $2, $3, $4, $5) RETURNING audit_id",
                      {Clean(e.who), e.via, Clean(e.command), Clean(e.target),
                       Clean(e.reason)})
                : absl::StatusOr<pg::Result>(conn.status());
  if (!r.ok() || r->rows() != 1) {
    CURATOR_LOG(ERROR) << "audit: cannot record " << e.command << " "
                       << e.target << " by " << e.who << ": "
                       << (r.ok() ? "no row" : r.status().ToString());
    return 0;
  }
  return r->GetInt(0, 0);
}

void AuditLog::Finish(int64_t id, const std::string& outcome) {
  if (id == 0) return;
  auto conn = pool_->Get();
  absl::Status s = conn.ok()
                       ? (*conn)
                             ->Exec(
                                 "UPDATE curation.audit SET outcome = $2, "
                                 "finished = clock_timestamp() "
                                 "WHERE audit_id = $1 AND finished IS NULL",
                                 {std::to_string(id), Clean(outcome)})
                             .status()
                       : conn.status();
  if (!s.ok())
    CURATOR_LOG(ERROR) << "audit: cannot finish entry " << id << ": " << s;
}

absl::Status AuditLog::CloseUnfinished() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          "UPDATE curation.audit SET outcome = 'unknown: the daemon stopped "
          "before it "
          "answered', finished = clock_timestamp() WHERE finished IS NULL"));
  if (r.AffectedRows() > 0) {
    CURATOR_LOG(WARNING)
        << "audit: " << r.AffectedRows()
        << " command(s) were running when the daemon last stopped";
  }
  return absl::OkStatus();
}

void AuditLog::Record(const AuditEntry& entry, const std::string& outcome) {
  Finish(Begin(entry), outcome);
}

absl::StatusOr<v1::ListAuditResponse> AuditLog::List(
    const v1::ListAuditRequest& r) {
  if (r.limit() < 0 || r.limit() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit: a limit is 1 to 1000 entries, not ", r.limit()));
  }
  const int limit = r.limit() == 0 ? 100 : r.limit();
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result rows,
      conn->Exec(
          "SELECT audit_id, to_char(at AT TIME ZONE 'UTC', "
          "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), who, via, command, target, "
          "reason, "
          "outcome "
          "FROM curation.audit WHERE ($1 = 0 OR audit_id < $1) AND ($2 = '' OR "
          "command = "
          "$2) ORDER BY audit_id DESC LIMIT $3",
          {std::to_string(r.before_id()), r.command(), std::to_string(limit)}));
  v1::ListAuditResponse out;
  for (int i = 0; i < rows.rows(); ++i) {
    v1::AuditEntryInfo* e = out.add_entries();
    e->set_id(rows.GetInt(i, 0));
    e->set_at(rows.Get(i, 1));
    e->set_who(rows.Get(i, 2));
    e->set_via(rows.Get(i, 3));
    e->set_command(rows.Get(i, 4));
    e->set_target(rows.Get(i, 5));
    e->set_reason(rows.Get(i, 6));
    e->set_outcome(rows.Get(i, 7));
  }
  return out;
}

std::string AuditOutcome(const absl::Status& status) {
  if (status.ok()) return "ok";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kAborted:
      return absl::StrCat("refused: ", status.message());
    default:
      return absl::StrCat("failed: ", status.message());
  }
}

std::string AuditOutcome(const v1::ApproveResponse& r) {
  return Refusals(r.approved_size(), r.refused(), "approved");
}
std::string AuditOutcome(const v1::TaskIdsResponse& r) {
  return Refusals(r.changed_size(), r.refused(), "changed");
}
std::string AuditOutcome(const v1::ArchiveActionResponse& r) {
  std::string out = absl::StrCat("ok: ", r.summary());
  if (r.cu_event_id() != 0)
    absl::StrAppend(&out, " (event ", r.cu_event_id(), ")");
  if (!r.refused().empty())
    absl::StrAppend(&out, "; refused: ", absl::StrJoin(r.refused(), "; "));
  return out;
}
std::string AuditOutcome(const v1::DispatchState& r) {
  return r.paused() ? "ok, dispatch paused" : "ok, dispatch running";
}
std::string AuditOutcome(const v1::ChangesResponse& r) {
  return absl::StrCat("ok, ", r.changes_size(), " changes");
}
std::string AuditOutcome(const v1::ReleaseInfo& r) {
  return absl::StrCat("ok, release ", r.name(), " made (event ",
                      r.cu_event_id(), ")");
}
std::string AuditOutcome(const v1::DropReleaseResponse& r) {
  return absl::StrCat("ok, release ", r.name(), " dropped (event ",
                      r.cu_event_id(), ")");
}

}  // namespace curator::daemon
