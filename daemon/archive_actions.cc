#include "daemon/archive_actions.h"

#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "archive/file_registry.h"
#include "archive/live.h"
#include "base/log.h"
#include "base/status.h"
#include "db/lock_keys.h"

namespace curator::daemon {
namespace {

namespace live = archive::live;

v1::ChangesResponse ToProto(const archive::DeliveryChanges& c) {
  v1::ChangesResponse out;
  out.set_night(c.night);
  out.set_delivery(c.delivery);
  for (const archive::DeliveryChange& d : c.changes) {
    v1::DeliveryChangeInfo* i = out.add_changes();
    i->set_path(d.path);
    i->set_kind(d.is_catalogue ? "catalogue" : "image");
    i->set_change(d.change);
    i->set_old_multiframe_id(d.old_multiframe_id);
    i->set_new_multiframe_id(d.new_multiframe_id);
    i->set_old_bytes(d.old_bytes);
    i->set_new_bytes(d.new_bytes);
  }
  return out;
}

// The frames `files` name (a multiframe's file name, its base name, or a
// registered image's path) whose code is `code`, locked, out of retired
// nights (restore a night to change its frames); a file naming none is
// refused in `out`.
absl::StatusOr<std::vector<int64_t>> FramesOf(pg::Connection& conn,
                                              const v1::FilesRequest& request,
                                              int code,
                                              v1::ArchiveActionResponse* out) {
  std::vector<int64_t> frames;
  for (const std::string& file : request.files()) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Exec("SELECT m.multiframe_id, CASE WHEN n.retired_event IS "
                  "NULL THEN m.deprecated ELSE -1 END, CASE WHEN "
                  "n.retired_event IS NULL THEN c.name ELSE c.name || ', its "
                  "night retired' END FROM multiframe m "
                  "JOIN curation.deprecation_code c ON c.code = m.deprecated "
                  "JOIN curation.night n ON n.night = m.night "
                  "WHERE m.file_name = $1 "
                  "OR regexp_replace(m.file_name, '^.*/', '') = $1 "
                  "OR m.multiframe_id IN (SELECT multiframe_id "
                  "FROM curation.registered_file "
                  "WHERE path = $1 AND kind = 'image') "
                  "ORDER BY m.multiframe_id FOR UPDATE OF m",
                  {file}));
    std::vector<std::string> other;
    const size_t before = frames.size();
    for (int i = 0; i < r.rows(); ++i) {
      if (r.GetInt(i, 1) == code) {
        frames.push_back(r.GetInt(i, 0));
      } else {
        other.push_back(
            absl::StrCat("multiframe ", r.Get(i, 0), " is ", r.Get(i, 2)));
      }
    }
    if (frames.size() > before) continue;
    if (r.rows() == 0) {
      out->add_refused(
          absl::StrCat(file, ": no frame of that file is in the archive"));
    } else if (code == live::kOperator) {
      out->add_refused(absl::StrCat(file, ": not deprecated by an operator (",
                                    absl::StrJoin(other, ", "), ")"));
    }
  }
  return frames;
}

absl::StatusOr<std::vector<int64_t>> FramesOfNight(pg::Connection& conn,
                                                   const std::string& night) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT multiframe_id FROM multiframe WHERE night = $1::date",
                {night}));
  std::vector<int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.GetInt(i, 0));
  return out;
}

}  // namespace

// One action: a connection in a transaction, and what it answers.
struct ArchiveActions::Action {
  explicit Action(pg::ConnectionPool::Lease c) : conn(std::move(c)) {}

  pg::ConnectionPool::Lease conn;
  std::optional<pg::Transaction> tx;
  bool retired = false;  // the night's, for an action on a night
  v1::ArchiveActionResponse out;

  // The action's event, done when the transaction commits.
  absl::StatusOr<int64_t> Record(const std::string& kind,
                                 const std::string& night,
                                 const std::string& who,
                                 const std::string& summary) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn->Exec("INSERT INTO curation.cu_event "
                   "(kind, night, producer, finished_at, status, message) "
                   "VALUES ($1, nullif($2, '')::date, $3, now(), 'done', $4) "
                   "RETURNING cu_event_id",
                   {kind, night, who, summary}));
    out.set_cu_event_id(r.GetInt(0, 0));
    out.set_summary(summary);
    return out.cu_event_id();
  }
  // Commits; the answer.
  absl::StatusOr<v1::ArchiveActionResponse> Commit(const std::string& who) {
    CURATOR_RETURN_IF_ERROR(tx->Commit());
    CURATOR_LOG(INFO) << out.summary() << " (" << who << ")";
    return std::move(out);
  }
  // Nothing to do: the transaction rolls back, nothing is recorded.
  v1::ArchiveActionResponse Nothing(const std::string& summary) {
    out.set_summary(summary);
    return std::move(out);
  }
};

absl::StatusOr<ArchiveActions::Action> ArchiveActions::Begin() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  Action a(std::move(conn));
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(*a.conn));
  a.tx.emplace(std::move(tx));
  return a;
}

absl::StatusOr<ArchiveActions::Action> ArchiveActions::BeginOnNight(
    const std::string& night, NightNeeds needs) {
  if (!archive::IsNightName(night)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", night, "' is not a night (YYYYMMDD)"));
  }
  CURATOR_ASSIGN_OR_RETURN(Action a, Begin());
  // The registration lock first, as registration takes it before the
  // night's row: no deadlock with a scan of the night.
  CURATOR_RETURN_IF_ERROR(
      a.conn
          ->Exec(absl::StrCat("SELECT pg_advisory_xact_lock(",
                              pg::lock_keys::kRegisterNight, ")"),
                 {night})
          .status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      a.conn->Exec("SELECT retired_event IS NOT NULL FROM curation.night "
                   "WHERE night = $1::date FOR UPDATE",
                   {night}));
  if (r.rows() == 0) {
    return absl::NotFoundError(
        absl::StrCat("night ", night, " is not registered"));
  }
  a.retired = r.Get(0, 0) == "t";
  if (needs == NightNeeds::kLive && a.retired) {
    return absl::FailedPreconditionError(
        absl::StrCat("night ", night, " is retired: restore it first"));
  }
  if (needs == NightNeeds::kLive) {
    CURATOR_RETURN_IF_ERROR(tasks_->LockSettledNight(*a.conn, night));
  }
  return a;
}

absl::Status ArchiveActions::Reregister(const std::string& night) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(archive::NightRegistration reg,
                           archive::RegisterNight(*conn, archive_root_, night));
  for (const std::string& p : reg.problems) CURATOR_LOG(INFO) << p;
  return absl::OkStatus();
}

absl::StatusOr<v1::ChangesResponse> ArchiveActions::Changes(
    const std::string& night) {
  CURATOR_RETURN_IF_ERROR(Reregister(night));
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(archive::DeliveryChanges c,
                           archive::PendingChanges(*conn, night));
  return ToProto(c);
}

absl::StatusOr<v1::ArchiveActionResponse> ArchiveActions::Accept(
    const std::string& night, const std::string& who) {
  CURATOR_RETURN_IF_ERROR(Reregister(night));
  CURATOR_ASSIGN_OR_RETURN(Action a, BeginOnNight(night, NightNeeds::kLive));
  CURATOR_ASSIGN_OR_RETURN(archive::DeliveryChanges accepted,
                           archive::AcceptDelivery(*a.conn, night));
  if (accepted.changes.empty()) {
    return a.Nothing(absl::StrCat("night ", night, ": nothing to accept"));
  }
  std::vector<std::string> inputs = {"catalogues", "database"};
  if (accepted.images_changed()) inputs.push_back("images");
  CURATOR_ASSIGN_OR_RETURN(std::vector<int64_t> rerun,
                           tasks_->RerunNightIn(*a.conn, night, inputs));
  std::map<std::string, int> by_change;
  for (const archive::DeliveryChange& c : accepted.changes) {
    ++by_change[c.change];
  }
  std::vector<std::string> counts;
  for (const auto& [change, count] : by_change) {
    counts.push_back(absl::StrCat(count, " ", change));
  }
  CURATOR_RETURN_IF_ERROR(
      a.Record("accept", night, who,
               absl::StrCat("night ", night, ": delivery ", accepted.delivery,
                            " accepted (", absl::StrJoin(counts, ", "), "); ",
                            rerun.size(), " tasks to run again"))
          .status());
  for (int64_t id : rerun) a.out.add_tasks(id);
  *a.out.mutable_accepted() = ToProto(accepted);
  CURATOR_ASSIGN_OR_RETURN(v1::ArchiveActionResponse out, a.Commit(who));
  Wake();
  return out;
}

absl::StatusOr<v1::ArchiveActionResponse> ArchiveActions::SetFrames(
    const v1::FilesRequest& request, const std::string& who, bool deprecate) {
  if (deprecate && request.reason().empty()) {
    return absl::InvalidArgumentError(
        "a deprecation needs a reason (--reason TEXT)");
  }
  const int from = deprecate ? live::kLive : live::kOperator;
  const live::Code to = deprecate ? live::kOperator : live::kLive;
  CURATOR_ASSIGN_OR_RETURN(Action a, Begin());
  CURATOR_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                           FramesOf(*a.conn, request, from, &a.out));
  if (ids.empty()) {
    return a.Nothing(deprecate ? "nothing deprecated" : "nothing undeprecated");
  }
  const std::string reason =
      !request.reason().empty() ? request.reason() : "undeprecated";
  CURATOR_ASSIGN_OR_RETURN(
      int64_t event,
      a.Record(
          deprecate ? "deprecate" : "undeprecate", "", who,
          absl::StrCat(ids.size(), " frames ",
                       deprecate ? "deprecated: " : "live again: ", reason)));
  CURATOR_ASSIGN_OR_RETURN(
      std::vector<int64_t> changed,
      live::SetCode(*a.conn, ids, {from}, to, reason, event));
  for (int64_t id : changed) a.out.add_multiframe_ids(id);
  return a.Commit(who);
}

absl::StatusOr<v1::ArchiveActionResponse> ArchiveActions::Deprecate(
    const v1::FilesRequest& request, const std::string& who) {
  return SetFrames(request, who, /*deprecate=*/true);
}

absl::StatusOr<v1::ArchiveActionResponse> ArchiveActions::Undeprecate(
    const v1::FilesRequest& request, const std::string& who) {
  return SetFrames(request, who, /*deprecate=*/false);
}

absl::StatusOr<v1::ArchiveActionResponse> ArchiveActions::Retire(
    const std::string& night, const std::string& reason,
    const std::string& who) {
  if (reason.empty()) {
    return absl::InvalidArgumentError("retiring a night needs --reason TEXT");
  }
  CURATOR_ASSIGN_OR_RETURN(Action a, BeginOnNight(night, NightNeeds::kAny));
  if (a.retired) {
    return a.Nothing(absl::StrCat("night ", night, " is retired already"));
  }
  CURATOR_RETURN_IF_ERROR(
      tasks_->LockSettledNight(*a.conn, night, /*idle=*/true));
  // Its detections: every partition of the night's batches, detached (the
  // parent's exclusive lock for a moment) and kept. A reader or a release
  // holding the table makes the retire fail after a few seconds rather
  // than queue every other reader behind it.
  CURATOR_RETURN_IF_ERROR(
      a.conn->Exec("SET LOCAL lock_timeout = '5s'").status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result parts,
      a.conn->Exec("SELECT c.relname FROM pg_inherits i "
                   "JOIN pg_class c ON c.oid = i.inhrelid "
                   "WHERE i.inhparent = 'detection'::regclass "
                   "AND c.relname LIKE 'detection\\_' || $1 || '\\_b%' "
                   "ORDER BY 1",
                   {night}));
  for (int i = 0; i < parts.rows(); ++i) {
    const std::string part = a.conn->QuoteIdentifier(parts.Get(i, 0));
    absl::Status detached =
        a.conn
            ->Exec(
                absl::StrCat("ALTER TABLE detection DETACH PARTITION ", part))
            .status();
    if (absl::StrContains(detached.message(), "55P03")) {  // lock_timeout
      return absl::FailedPreconditionError(absl::StrCat(
          "night ", night,
          " not retired: the detection table is in use (a "
          "long query, or a release being made); try again later"));
    }
    CURATOR_RETURN_IF_ERROR(detached);
    CURATOR_RETURN_IF_ERROR(
        a.conn
            ->Exec(absl::StrCat("ALTER TABLE ", part,
                                " SET SCHEMA curation_retired"))
            .status());
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                           FramesOfNight(*a.conn, night));
  CURATOR_ASSIGN_OR_RETURN(
      int64_t event,
      a.Record("retire", night, who,
               absl::StrCat("night ", night, " retired (", parts.rows(),
                            " detection partitions kept in curation_retired): ",
                            reason)));
  CURATOR_ASSIGN_OR_RETURN(std::vector<int64_t> changed,
                           live::SetCode(*a.conn, ids, {live::kLive},
                                         live::kRetired, reason, event));
  for (int64_t id : changed) a.out.add_multiframe_ids(id);
  CURATOR_RETURN_IF_ERROR(
      a.conn
          ->Exec("UPDATE curation.night SET retired_event = $2 "
                 "WHERE night = $1::date",
                 {night, std::to_string(event)})
          .status());
  return a.Commit(who);
}

absl::StatusOr<v1::ArchiveActionResponse> ArchiveActions::Restore(
    const std::string& night, const std::string& who) {
  CURATOR_ASSIGN_OR_RETURN(Action a, BeginOnNight(night, NightNeeds::kAny));
  if (!a.retired) {
    return a.Nothing(absl::StrCat("night ", night, " is not retired"));
  }
  CURATOR_RETURN_IF_ERROR(tasks_->LockSettledNight(*a.conn, night));
  // Each kept partition back where it was: its range is its batch's
  // block of ids.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result parts,
      a.conn->Exec("SELECT c.relname, i.base, i.base + i.count "
                   "FROM pg_class c "
                   "JOIN pg_namespace s ON s.oid = c.relnamespace "
                   "JOIN curation.id_block i "
                   "ON c.relname = 'detection_' || $1 || '_b' || i.base "
                   "WHERE s.nspname = 'curation_retired' "
                   "AND i.id_kind = 'obj_id' ORDER BY 1",
                   {night}));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result home,
      a.conn->Exec("SELECT n.nspname FROM pg_class c "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE c.oid = 'detection'::regclass"));
  for (int i = 0; i < parts.rows(); ++i) {
    const std::string name = a.conn->QuoteIdentifier(parts.Get(i, 0));
    CURATOR_RETURN_IF_ERROR(
        a.conn
            ->Exec(absl::StrCat("ALTER TABLE curation_retired.", name,
                                " SET SCHEMA ",
                                a.conn->QuoteIdentifier(home.Get(0, 0))))
            .status());
    CURATOR_RETURN_IF_ERROR(
        a.conn
            ->Exec(absl::StrCat("ALTER TABLE detection ATTACH PARTITION ", name,
                                " FOR VALUES FROM (", parts.Get(i, 1), ") TO (",
                                parts.Get(i, 2), ")"))
            .status());
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                           FramesOfNight(*a.conn, night));
  CURATOR_ASSIGN_OR_RETURN(
      int64_t event,
      a.Record("restore", night, who,
               absl::StrCat("night ", night, " restored (", parts.rows(),
                            " detection partitions)")));
  CURATOR_ASSIGN_OR_RETURN(
      std::vector<int64_t> changed,
      live::SetCode(*a.conn, ids, {live::kRetired}, live::kLive,
                    "its night restored", event));
  for (int64_t id : changed) a.out.add_multiframe_ids(id);
  CURATOR_RETURN_IF_ERROR(
      a.conn
          ->Exec("UPDATE curation.night SET retired_event = NULL "
                 "WHERE night = $1::date",
                 {night})
          .status());
  return a.Commit(who);
}

absl::StatusOr<v1::ArchiveActionResponse> ArchiveActions::Reload(
    const std::string& night, const std::string& who) {
  CURATOR_RETURN_IF_ERROR(Reregister(night));
  CURATOR_ASSIGN_OR_RETURN(Action a, BeginOnNight(night, NightNeeds::kLive));
  CURATOR_ASSIGN_OR_RETURN(archive::DeliveryChanges pending,
                           archive::PendingChanges(*a.conn, night));
  if (!pending.changes.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "night ", night, " has ", pending.changes.size(),
        " files changed since its delivery was accepted (curatorctl changes ",
        night, "): accept them, or put the files back, before a reload"));
  }
  CURATOR_ASSIGN_OR_RETURN(
      std::vector<int64_t> rerun,
      tasks_->RerunNightIn(*a.conn, night,
                           {"images", "catalogues", "database"}));
  if (rerun.empty()) {
    return a.Nothing(
        absl::StrCat("night ", night, ": no finished task to run again"));
  }
  CURATOR_RETURN_IF_ERROR(a.Record("reload", night, who,
                                   absl::StrCat("night ", night, ": reload of ",
                                                rerun.size(), " tasks"))
                              .status());
  for (int64_t id : rerun) a.out.add_tasks(id);
  CURATOR_ASSIGN_OR_RETURN(v1::ArchiveActionResponse out, a.Commit(who));
  Wake();
  return out;
}

}  // namespace curator::daemon
