#include "daemon/read_queries.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "archive/batch.h"
#include "archive/batch_store.h"
#include "base/status.h"

namespace curator::daemon {

v1::TaskInfo ReadQueries::Info(const TaskRow& t) const {
  v1::TaskInfo i;
  i.set_task_id(t.task_id);
  i.set_night(t.night);
  i.set_cu(static_cast<v1::Cu>(t.cu));
  i.set_state(TaskStateName(t.state));
  i.set_files(t.files);
  i.set_attempts(t.attempts);
  i.set_max_attempts(t.max_attempts);
  i.set_worker_id(t.worker_id);
  i.set_batch_id(t.batch_id);
  i.set_last_error(t.last_error);
  i.set_estimated_seconds(-1);
  i.set_remaining_seconds(-1);
  return i;
}

absl::Status ReadQueries::AddProgress(const std::vector<TaskRow>& rows,
                                      const std::vector<v1::TaskInfo*>& infos) {
  Estimates& estimates = dispatcher_->estimates();
  CURATOR_ASSIGN_OR_RETURN(auto on_workers, estimates.OnWorkers(rows));
  // Finished ones: their last attempt, with what it was expected to take.
  std::vector<int64_t> finished, waiting;
  for (const TaskRow& t : rows) {
    if (t.state == TaskState::kDone || t.state == TaskState::kIngested) {
      finished.push_back(t.task_id);
    } else if (t.state == TaskState::kPending ||
               t.state == TaskState::kApproved) {
      waiting.push_back(t.task_id);
    }
  }
  CURATOR_ASSIGN_OR_RETURN(auto last, tasks_->LatestAttempts(finished));
  std::map<int64_t, int64_t> bytes;
  std::optional<Estimator> estimator;
  if (!waiting.empty()) {
    CURATOR_ASSIGN_OR_RETURN(bytes, tasks_->InputBytes(waiting));
    CURATOR_ASSIGN_OR_RETURN(std::vector<PastAttempt> history,
                             estimates.History());
    estimator.emplace(history);
  }
  for (size_t k = 0; k < rows.size(); ++k) {
    const TaskRow& t = rows[k];
    v1::TaskInfo* i = infos[k];
    if (auto p = on_workers.find(t.task_id); p != on_workers.end()) {
      i->set_files_done(p->second.files_done);
      i->set_started_at(p->second.started_at);
      i->set_elapsed_seconds(p->second.elapsed_seconds);
      i->set_estimated_seconds(p->second.estimated_seconds);
      i->set_remaining_seconds(p->second.remaining_seconds);
    } else if (auto a = last.find(t.task_id); a != last.end()) {
      // What the finished attempt took against its estimate.
      i->set_files_done(t.files);
      i->set_started_at(a->second.started_at);
      i->set_elapsed_seconds(a->second.seconds);
      i->set_estimated_seconds(a->second.estimated_seconds);
    } else if (t.state == TaskState::kDone || t.state == TaskState::kIngested) {
      i->set_files_done(t.files);
    } else if (estimator && (t.state == TaskState::kPending ||
                             t.state == TaskState::kApproved)) {
      // Waiting to run: on a worker of average speed.
      auto b = bytes.find(t.task_id);
      i->set_estimated_seconds(
          estimator->Estimate(t.cu, b != bytes.end() ? b->second : 0, t.files)
              .seconds);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ListTasksResponse> ReadQueries::ListTasks(
    const std::string& state, const std::string& night, int cu) {
  std::optional<TaskState> filter;
  if (!state.empty()) {
    filter = ParseTaskState(state);
    if (!filter) return absl::InvalidArgumentError(absl::StrCat("no task state '", state, "'"));
  }
  if (cu != 0 && registry_->Find(cu) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no CU ", cu));
  }
  if (!night.empty() && (night.size() != 8 ||
                         !std::all_of(night.begin(), night.end(), [](char c) {
                           return c >= '0' && c <= '9';
                         }))) {
    return absl::InvalidArgumentError(
        absl::StrCat("night '", night, "' is not YYYYMMDD"));
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> rows,
                           tasks_->Find(filter, night, cu));
  CURATOR_ASSIGN_OR_RETURN(auto waits, tasks_->WaitingFor());
  const absl::Time now = clock_->Now();
  v1::ListTasksResponse out;
  std::vector<v1::TaskInfo*> infos;
  for (const TaskRow& t : rows) {
    v1::TaskInfo* i = out.add_tasks();
    infos.push_back(i);
    *i = Info(t);
    auto w = waits.find(t.task_id);
    if (w != waits.end()) {
      for (const std::string& why : w->second) i->add_waiting_for(why);
    }
    if (t.state == TaskState::kApproved && t.not_before && *t.not_before > now) {
      i->add_waiting_for(absl::StrCat(
          "retry after ", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *t.not_before,
                                           absl::UTCTimeZone())));
    }
  }
  CURATOR_RETURN_IF_ERROR(AddProgress(rows, infos));
  return out;
}

absl::StatusOr<v1::GetPlanResponse> ReadQueries::GetPlan() {
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> rows, tasks_->List(TaskState::kPending));
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> approved, tasks_->List(TaskState::kApproved));
  rows.insert(rows.end(), approved.begin(), approved.end());
  CURATOR_ASSIGN_OR_RETURN(auto waits, tasks_->ProcessingPrerequisites());
  Dispatcher::PlanBasis basis;
  CURATOR_ASSIGN_OR_RETURN(Plan plan,
                           dispatcher_->PlanFor(rows, waits, &basis));
  std::map<int64_t, const TaskRow*> by_id;
  for (const TaskRow& t : rows) by_id[t.task_id] = &t;
  const absl::Time now = clock_->Now();
  v1::GetPlanResponse out;
  for (const PlanEntry& e : plan.entries) {
    v1::PlanEntryInfo* i = out.add_entries();
    i->set_task_id(e.task_id);
    i->set_night(by_id[e.task_id]->night);
    i->set_cu(static_cast<v1::Cu>(by_id[e.task_id]->cu));
    i->set_worker_id(e.worker_id);
    i->set_start_in_seconds(absl::ToDoubleSeconds(e.start - now));
    i->set_finish_in_seconds(absl::ToDoubleSeconds(e.finish - now));
    i->set_starts_now(e.starts_now);
    i->set_estimated_seconds(e.estimate.seconds);
    i->set_estimate_basis(e.estimate.basis);
  }
  for (int64_t id : plan.unplaceable) out.add_unplaceable(id);
  out.set_finish_in_seconds(std::max(0.0, absl::ToDoubleSeconds(plan.finish - now)));
  out.set_paused(commands_->paused());
  out.set_running_tasks(basis.on_workers);
  const EstimateErrors errors = Estimator::Errors(basis.history);
  out.set_estimates_compared(errors.compared);
  out.set_estimate_error_median(errors.median);
  out.set_estimate_error_p90(errors.p90);
  out.set_estimate_error_mean_signed(errors.mean_signed);
  return out;
}

absl::StatusOr<v1::ListWorkersResponse> ReadQueries::ListWorkers() {
  // The workers are the registry's, in memory: they are listed even
  // while the database is away (then without the database's count of
  // tasks on the dead ones).
  absl::StatusOr<std::map<std::string, int>> tasks_on = tasks_->BusyByWorker();
  const std::map<std::string, int> busy = tasks_on.ok() ? *tasks_on : std::map<std::string, int>();
  v1::ListWorkersResponse out;
  for (const WorkerView& w : workers_->Snapshot()) {
    v1::WorkerInfo* i = out.add_workers();
    i->set_worker_id(w.record.worker_id);
    i->set_address(w.record.address);
    i->set_alive(w.alive);
    i->set_seconds_since_heartbeat(absl::ToDoubleSeconds(w.since_heard));
    *i->mutable_load() = w.record.load;
    // A worker that is not alive runs nothing the daemon knows of but the
    // tasks it still has on it, until they are taken back.
    if (!w.alive) {
      auto b = busy.find(w.record.worker_id);
      i->mutable_load()->set_running_tasks(b == busy.end() ? 0 : b->second);
      i->mutable_load()->set_queued_tasks(0);
    }
  }
  return out;
}

absl::StatusOr<v1::ListNightsResponse> ReadQueries::ListNights() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          "SELECT to_char(n.night, 'YYYYMMDD'), n.transfer_complete, (SELECT "
          "count(*) "
          "FROM curation.live_file f WHERE f.night = n.night AND f.kind "
          "= 'image'), "
          "(SELECT count(*) FROM curation.live_file f WHERE f.night = "
          "n.night AND "
          "f.kind = 'catalogue'), coalesce((SELECT string_agg(t.cu || '=' || "
          "t.state || "
          "'=' || t.task_id, ',' ORDER BY t.cu) FROM curation.task t WHERE "
          "t.night = "
          "n.night), ''), s.night IS NOT NULL, coalesce(s.detections, 0), "
          "coalesce(s.new_sources, 0), coalesce(s.updated_sources, 0), "
          "coalesce(s.unmatched_sources, 0), coalesce(s.radius_arcsec, 0), "
          "n.delivery, "
          "(SELECT count(*) FROM curation.waiting_file f "
          "WHERE f.night = n.night), (SELECT count(*) FROM multiframe m WHERE "
          "m.night = n.night "
          "AND m.deprecated "
          "<> 0), n.retired_event IS NOT NULL FROM curation.night n LEFT JOIN "
          "source_night s "
          "USING (night) ORDER BY n.night"));
  v1::ListNightsResponse out;
  for (int i = 0; i < r.rows(); ++i) {
    v1::NightInfo* n = out.add_nights();
    n->set_night(r.Get(i, 0));
    n->set_transfer_complete(r.Get(i, 1) == "t");
    n->set_images(static_cast<int32_t>(r.GetInt(i, 2)));
    n->set_catalogues(static_cast<int32_t>(r.GetInt(i, 3)));
    n->set_delivery(static_cast<int32_t>(r.GetInt(i, 11)));
    n->set_pending_changes(static_cast<int32_t>(r.GetInt(i, 12)));
    n->set_deprecated_frames(static_cast<int32_t>(r.GetInt(i, 13)));
    n->set_retired(r.Get(i, 14) == "t");
    for (absl::string_view kv : absl::StrSplit(r.Get(i, 4), ',', absl::SkipEmpty())) {
      std::vector<std::string> p = absl::StrSplit(kv, '=');
      int cu = 0;
      int64_t id = 0;
      if (p.size() != 3 || !absl::SimpleAtoi(p[0], &cu) || !absl::SimpleAtoi(p[2], &id)) continue;
      (*n->mutable_tasks())[registry_->Name(cu)] = p[1];
      (*n->mutable_task_ids())[registry_->Name(cu)] = id;
    }
    if (r.Get(i, 5) == "t") {
      v1::SourceNightInfo* s = n->mutable_sources();
      s->set_loaded(true);
      s->set_detections(r.GetInt(i, 6));
      s->set_new_sources(r.GetInt(i, 7));
      s->set_updated_sources(r.GetInt(i, 8));
      s->set_unmatched_sources(r.GetInt(i, 9));
      double radius = 0;
      (void)absl::SimpleAtod(r.Get(i, 10), &radius);
      s->set_radius_arcsec(radius);
    }
  }
  return out;
}

absl::StatusOr<v1::ListBatchesResponse> ReadQueries::ListBatches() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(std::vector<archive::BatchRecord> rows,
                           archive::BatchStore::List(*conn));
  v1::ListBatchesResponse out;
  std::map<std::string, v1::BatchInfo*> by_id;
  for (const archive::BatchRecord& r : rows) {
    v1::BatchInfo* b = out.add_batches();
    b->set_batch_id(r.batch_id);
    b->set_cu(static_cast<v1::Cu>(r.cu));
    b->set_night(r.night);
    b->set_state(archive::StateName(r.state));
    if (!r.rows_per_table.empty()) {
      const nlohmann::json rows =
          nlohmann::json::parse(r.rows_per_table, nullptr, false);
      if (rows.is_object()) {
        for (const auto& [table, n] : rows.items()) {
          if (n.is_number_integer())
            (*b->mutable_rows_by_table())[table] = n.get<int64_t>();
        }
      }
    }
    b->set_ingest_ms(r.ingest_ms);
    b->set_report(r.report);
    b->set_rows(r.rows);
    by_id[b->batch_id()] = b;
  }
  // Batches in staging that have no row yet are ready; one an ingester
  // holds is loading, and says who holds it since when.
  std::vector<std::string> staged;
  for (const std::string& dir : batch::StagedBatchDirs(archive_root_)) {
    absl::StatusOr<v1::Manifest> m = batch::ReadManifest(dir);
    if (!m.ok()) continue;
    auto known = by_id.find(m->batch_id());
    if (known == by_id.end()) {
      v1::BatchInfo* b = out.add_batches();
      b->set_batch_id(m->batch_id());
      b->set_cu(m->cu());
      b->set_night(m->night());
      b->set_state("ready");
      for (const v1::BatchFile& f : m->files()) b->set_rows(b->rows() + f.rows());
      by_id[b->batch_id()] = b;
    }
    staged.push_back(m->batch_id());
  }
  CURATOR_ASSIGN_OR_RETURN(auto holders, archive::BatchStore::Holders(*conn, staged));
  for (const auto& [id, holder] : holders) {
    v1::BatchInfo* b = by_id[id];
    if (b->state() == "ready" || b->state() == "waiting") b->set_state("loading");
    b->set_held_by(holder.session);
    b->set_held_since(holder.since);
  }
  return out;
}

absl::StatusOr<v1::GetTaskLogResponse> ReadQueries::GetTaskLog(int64_t task_id) {
  CURATOR_ASSIGN_OR_RETURN(std::optional<TaskRow> task, tasks_->Get(task_id));
  if (!task) return absl::NotFoundError(absl::StrCat("no task ", task_id));
  v1::GetTaskLogResponse out;
  *out.mutable_task() = Info(*task);
  CURATOR_RETURN_IF_ERROR(AddProgress({*task}, {out.mutable_task()}));
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result attempts,
      conn->Exec("SELECT coalesce(worker_id, ''), to_char(started_at AT TIME ZONE 'UTC', "
                 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), extract(epoch from coalesce(finished_at, "
                 "now()) - started_at), coalesce(outcome, ''), coalesce(error, '') FROM "
                 "curation.task_attempt WHERE task_id = $1 ORDER BY attempt_id",
                 {std::to_string(task_id)}));
  for (int i = 0; i < attempts.rows(); ++i) {
    v1::AttemptInfo* a = out.add_attempts();
    a->set_number(i + 1);
    a->set_worker_id(attempts.Get(i, 0));
    a->set_started(attempts.Get(i, 1));
    a->set_seconds(attempts.GetDouble(i, 2));
    a->set_outcome(attempts.Get(i, 3));
    a->set_error(attempts.Get(i, 4));
  }
  if (task->cu_event_id == 0) return out;
  const std::string event = std::to_string(task->cu_event_id);
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result steps,
      conn->Exec("SELECT s.step, coalesce(extract(epoch from s.finished_at - s.started_at), 0), "
                 "s.rows, (SELECT count(*) FROM curation.file_log f WHERE f.step_id = "
                 "s.step_id), s.errors, s.warnings FROM curation.step_log s WHERE s.cu_event_id "
                 "= $1 ORDER BY s.step_id",
                 {event}));
  for (int i = 0; i < steps.rows(); ++i) {
    v1::StepInfo* s = out.add_steps();
    s->set_step(steps.Get(i, 0));
    s->set_seconds(steps.GetDouble(i, 1));
    s->set_rows(steps.GetInt(i, 2));
    s->set_files(static_cast<int32_t>(steps.GetInt(i, 3)));
    s->set_errors(static_cast<int32_t>(steps.GetInt(i, 4)));
    s->set_warnings(static_cast<int32_t>(steps.GetInt(i, 5)));
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result lines,
      conn->Exec("SELECT coalesce(s.step, ''), m.level, coalesce(m.path, ''), coalesce(m.hdu, "
                 "0), coalesce(m.item, ''), m.message FROM curation.log_message m LEFT JOIN "
                 "curation.step_log s USING (step_id) WHERE m.cu_event_id = $1 AND m.level <> "
                 "'info' ORDER BY m.message_id",
                 {event}));
  for (int i = 0; i < lines.rows(); ++i) {
    v1::LogLine* l = out.add_lines();
    l->set_step(lines.Get(i, 0));
    l->set_level(lines.Get(i, 1));
    l->set_path(lines.Get(i, 2));
    l->set_hdu(static_cast<int32_t>(lines.GetInt(i, 3)));
    l->set_item(lines.Get(i, 4));
    l->set_message(lines.Get(i, 5));
  }
  return out;
}

absl::StatusOr<nlohmann::ordered_json> ReadQueries::Throughput(int limit) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          "SELECT batch_id, cu, to_char(night, 'YYYYMMDD'), extract(epoch "
          "from ingest_finished_at), coalesce((SELECT sum(value::bigint) FROM "
          "jsonb_each_text(rows_per_table)), 0), (coalesce(verify_ms, 0) + "
          "copy_ms + coalesce(validate_ms, 0) + coalesce(publish_ms, 0)) / "
          "1000 FROM curation.batch WHERE state IN ('ingested', 'replaced') "
          "AND copy_ms IS NOT NULL AND ingest_finished_at IS NOT NULL ORDER "
          "BY ingest_finished_at DESC LIMIT $1",
          {std::to_string(limit)}));
  nlohmann::ordered_json out = {{"batches", nlohmann::ordered_json::array()}};
  for (int i = 0; i < r.rows(); ++i) {
    const double seconds = r.GetDouble(i, 5);
    const int64_t rows = r.GetInt(i, 4);
    out["batches"].push_back(
        {{"batch_id", r.Get(i, 0)},
         {"cu", registry_->Name(static_cast<int>(r.GetInt(i, 1)))},
         {"night", r.Get(i, 2)},
         {"finished", r.GetDouble(i, 3)},
         {"rows", rows},
         {"seconds", seconds},
         {"rows_per_second", seconds > 0 ? rows / seconds : 0.0}});
  }
  return out;
}

absl::StatusOr<nlohmann::ordered_json> ReadQueries::Timeline(
    const std::string& night) {
  if (!night.empty() &&
      (night.size() != 8 ||
       night.find_first_not_of("0123456789") != std::string::npos)) {
    return absl::InvalidArgumentError(
        absl::StrCat("night '", night, "' is not YYYYMMDD"));
  }
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  std::string which = night;
  if (which.empty()) {
    CURATOR_ASSIGN_OR_RETURN(pg::Result newest,
                             conn->Exec("SELECT coalesce(to_char(max(night), "
                                        "'YYYYMMDD'), '') FROM curation.task"));
    which = newest.Get(0, 0);
  }
  nlohmann::ordered_json out = {
      {"night", which},
      {"now", absl::ToDoubleSeconds(clock_->Now() - absl::UnixEpoch())},
      {"attempts", nlohmann::ordered_json::array()},
      {"ingests", nlohmann::ordered_json::array()}};
  if (which.empty()) return out;
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result a,
      conn->Exec(
          "SELECT t.task_id, t.cu, coalesce(a.worker_id, ''), extract(epoch "
          "from a.started_at), extract(epoch from coalesce(a.finished_at, "
          "now())), coalesce(a.outcome, ''), a.finished_at IS NULL FROM "
          "curation.task_attempt a JOIN curation.task t USING (task_id) WHERE "
          "t.night = $1::date ORDER BY a.started_at, a.attempt_id LIMIT 2000",
          {which}));
  for (int i = 0; i < a.rows(); ++i) {
    out["attempts"].push_back(
        {{"task_id", a.GetInt(i, 0)},
         {"cu", registry_->Name(static_cast<int>(a.GetInt(i, 1)))},
         {"worker_id", a.Get(i, 2)},
         {"start", a.GetDouble(i, 3)},
         {"end", a.GetDouble(i, 4)},
         {"outcome", a.Get(i, 6) == "t" ? "running" : a.Get(i, 5)}});
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result b,
      conn->Exec("SELECT batch_id, cu, extract(epoch from ingest_started_at), "
                 "extract(epoch from coalesce(ingest_finished_at, "
                 "ingest_started_at)), state FROM curation.batch WHERE night = "
                 "$1::date AND ingest_started_at IS NOT NULL ORDER BY "
                 "ingest_started_at LIMIT 2000",
                 {which}));
  for (int i = 0; i < b.rows(); ++i) {
    out["ingests"].push_back(
        {{"batch_id", b.Get(i, 0)},
         {"cu", registry_->Name(static_cast<int>(b.GetInt(i, 1)))},
         {"start", b.GetDouble(i, 2)},
         {"end", b.GetDouble(i, 3)},
         {"state", b.Get(i, 4)}});
  }
  return out;
}

absl::StatusOr<nlohmann::ordered_json> ReadQueries::FileLog(int64_t task_id,
                                                            int limit,
                                                            int offset) {
  CURATOR_ASSIGN_OR_RETURN(std::optional<TaskRow> task, tasks_->Get(task_id));
  if (!task) return absl::NotFoundError(absl::StrCat("no task ", task_id));
  nlohmann::ordered_json out = {{"task_id", task_id},
                                {"total", 0},
                                {"offset", offset},
                                {"files", nlohmann::ordered_json::array()}};
  if (task->cu_event_id == 0) return out;
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  const std::string event = std::to_string(task->cu_event_id);
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec("SELECT s.step, f.path, coalesce(f.multiframe_id, 0), "
                 "coalesce(to_char(f.started_at AT TIME ZONE 'UTC', "
                 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
                 "coalesce(extract(epoch from f.finished_at - f.started_at), "
                 "0), f.rows, f.errors, f.warnings, count(*) OVER () FROM "
                 "curation.file_log f JOIN curation.step_log s USING "
                 "(step_id) WHERE s.cu_event_id = $1 ORDER BY f.file_log_id "
                 "LIMIT $2 OFFSET $3",
                 {event, std::to_string(limit), std::to_string(offset)}));
  for (int i = 0; i < r.rows(); ++i) {
    out["total"] = r.GetInt(i, 8);
    out["files"].push_back({{"step", r.Get(i, 0)},
                            {"path", r.Get(i, 1)},
                            {"multiframe_id", r.GetInt(i, 2)},
                            {"started", r.Get(i, 3)},
                            {"seconds", r.GetDouble(i, 4)},
                            {"rows", r.GetInt(i, 5)},
                            {"errors", r.GetInt(i, 6)},
                            {"warnings", r.GetInt(i, 7)}});
  }
  if (r.rows() == 0 && offset > 0) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result n,
        conn->Exec(
            "SELECT count(*) FROM curation.file_log f JOIN curation.step_log "
            "s USING (step_id) WHERE s.cu_event_id = $1",
            {event}));
    out["total"] = n.GetInt(0, 0);
  }
  return out;
}

absl::StatusOr<nlohmann::ordered_json> ReadQueries::TaskErrors() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, conn->Exec("SELECT t.task_id, sum(s.errors) FROM "
                               "curation.task t JOIN curation.step_log s ON "
                               "s.cu_event_id = t.cu_event_id GROUP BY "
                               "t.task_id HAVING sum(s.errors) > 0"));
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (int i = 0; i < r.rows(); ++i) out[r.Get(i, 0)] = r.GetInt(i, 1);
  return out;
}

v1::ListCusResponse ReadQueries::ListCus() const {
  v1::ListCusResponse out;
  for (const archive::CuSpec& s : registry_->specs()) {
    v1::CuInfo* c = out.add_cus();
    c->set_cu(s.cu);
    c->set_name(s.name);
    c->set_title(s.title);
    c->set_input(archive::CuInputName(s.input));
    for (const archive::Prerequisite& p : s.before_processing) {
      c->add_before_processing(registry_->Describe(p));
    }
    for (const archive::Prerequisite& p : s.before_ingest) {
      c->add_before_ingest(registry_->Describe(p));
    }
  }
  return out;
}

}  // namespace curator::daemon
