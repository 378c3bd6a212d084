#include "daemon/coordinator.h"

#include <grpcpp/create_channel.h>

#include <filesystem>

#include "absl/cleanup/cleanup.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "archive/file_registry.h"
#include "archive/layout.h"
#include "archive/batch.h"
#include "server/http_server.h"
#include "base/log.h"
#include "db/migrations.h"
#include "base/status.h"
#include "archive/task_log.h"
#include "daemon/task_store.h"
#include "daemon/worker_store.h"

namespace curator::daemon {
namespace {

namespace fs = std::filesystem;

v1::TaskInfo ToInfo(const TaskRow& t) {
  v1::TaskInfo i;
  i.set_task_id(t.task_id);
  i.set_night(t.night);
  i.set_cu(t.cu);
  i.set_state(TaskStateName(t.state));
  i.set_files(t.files);
  i.set_attempts(t.attempts);
  i.set_worker_id(t.worker_id);
  i.set_batch_id(t.batch_id);
  i.set_last_error(t.last_error);
  return i;
}

// Parses "task-<id>-<attempt>".
bool ParseAttemptId(const std::string& s, int64_t* task_id, int* attempt) {
  std::vector<std::string> parts = absl::StrSplit(s, '-');
  return parts.size() == 3 && parts[0] == "task" && absl::SimpleAtoi(parts[1], task_id) &&
         absl::SimpleAtoi(parts[2], attempt);
}

}  // namespace

std::string Coordinator::AttemptId(int64_t task_id, int attempt) {
  return absl::StrCat("task-", task_id, "-", attempt);
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(const CoordinatorOptions& o) {
  std::unique_ptr<Coordinator> c(new Coordinator(o));
  CURATOR_ASSIGN_OR_RETURN(c->conn_, pg::Connection::Connect(o.conninfo));
  CURATOR_RETURN_IF_ERROR(migrations::Migrate(*c->conn_).status());
  // An operator's pause outlives a restart.
  CURATOR_ASSIGN_OR_RETURN(pg::Result paused,
                           c->conn_->Exec("SELECT paused FROM curation.dispatch_state"));
  c->paused_ = paused.rows() == 1 && paused.Get(0, 0) == "t";
  if (c->paused_) CURATOR_LOG(WARNING) << "dispatch is paused (curatorctl resume to go on)";
  return c;
}

v1::Worker::Stub* Coordinator::StubFor(const std::string& address) {
  auto& stub = stubs_[address];
  if (stub == nullptr) {
    stub = v1::Worker::NewStub(
        grpc::CreateChannel(address, options_.security.ChannelCredentials()));
  }
  return stub.get();
}

absl::Status Coordinator::Heartbeat(const v1::HeartbeatRequest& r) {
  // A finished task frees a slot: dispatch at once rather than at the next
  // pass.
  bool freed = false;
  absl::Cleanup wake = [&] {
    if (freed && wake_) wake_();
  };
  std::lock_guard<std::mutex> lock(mu_);
  WorkerReport report;
  report.worker_id = r.worker_id();
  report.address = r.address();
  report.slots = std::max(1, r.load().slots());
  report.cores = r.load().cores();
  report.load_average = r.load().load_average_1m();
  report.free_memory = r.load().free_memory_bytes();
  report.free_disk = r.load().free_disk_bytes();
  report.running_tasks = r.load().running_tasks();
  report.data_roots.assign(r.data_roots().begin(), r.data_roots().end());
  CURATOR_RETURN_IF_ERROR(RecordWorker(*conn_, report));
  loads_[r.worker_id()] = r.load();
  for (const v1::TaskStatus& t : r.tasks()) {
    freed |= t.state() == v1::TaskStatus::DONE || t.state() == v1::TaskStatus::FAILED ||
             t.state() == v1::TaskStatus::CANCELLED;
    absl::Status s = ApplyTaskStatus(r.worker_id(), t);
    if (!s.ok()) CURATOR_LOG(WARNING) << "heartbeat of " << r.worker_id() << ": " << s;
  }
  return absl::OkStatus();
}

absl::Status Coordinator::ReportResult(const v1::ReportResultRequest& r) {
  absl::Cleanup wake = [this] {
    if (wake_) wake_();
  };
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyTaskStatus(r.worker_id(), r.status());
}

absl::Status Coordinator::ApplyTaskStatus(const std::string& worker_id, const v1::TaskStatus& t) {
  int64_t id = 0;
  int attempt = 0;
  if (!ParseAttemptId(t.task_id(), &id, &attempt)) return absl::OkStatus();  // not ours
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result row,
      conn_->Exec("SELECT state, attempts, coalesce(worker_id, ''), cu, files, "
                  "extract(epoch from now() - updated_at) FROM curation.task WHERE task_id = $1",
                  {std::to_string(id)}));
  if (row.rows() != 1 || row.GetInt(0, 1) != attempt || row.Get(0, 2) != worker_id) {
    return absl::OkStatus();  // an old attempt, or a task taken back from this worker
  }
  const TaskState state = ParseTaskState(row.Get(0, 0)).value_or(TaskState::kPending);
  auto ignore_moved = [](absl::Status s) {
    return s.code() == absl::StatusCode::kFailedPrecondition ? absl::OkStatus() : s;
  };
  switch (t.state()) {
    case v1::TaskStatus::RUNNING:
      if (state == TaskState::kDispatched) {
        return ignore_moved(Transition(*conn_, id, TaskState::kRunning));
      }
      return absl::OkStatus();
    case v1::TaskStatus::DONE:
      if (state == TaskState::kDispatched) {
        CURATOR_RETURN_IF_ERROR(ignore_moved(Transition(*conn_, id, TaskState::kRunning)));
      }
      if (state == TaskState::kDispatched || state == TaskState::kRunning) {
        durations_.Record(static_cast<int>(row.GetInt(0, 3)), row.GetInt(0, 4),
                          absl::Seconds(row.GetDouble(0, 5)));
        return ignore_moved(
            Transition(*conn_, id, TaskState::kDone, {.batch_id = t.batch_id()}));
      }
      return absl::OkStatus();
    case v1::TaskStatus::FAILED:
      if (state == TaskState::kDispatched || state == TaskState::kRunning) {
        return FailAttempt(*conn_, id, absl::StrCat("on ", worker_id, ": ", t.error()),
                           options_.retry_backoff)
            .status();
      }
      return absl::OkStatus();
    case v1::TaskStatus::CANCELLED:
      // Cancelled on the worker while still ours here: not an operator's
      // cancel (that moves the task first), so the worker stopped it to
      // shut down. Not the task's fault: it goes elsewhere at once, the
      // attempt not counted against it, and the worker gets nothing new
      // meanwhile.
      if (state == TaskState::kDispatched || state == TaskState::kRunning) {
        const std::string why =
            absl::StrCat("worker ", worker_id, " stopped it (shutting down)");
        CURATOR_LOG(WARNING) << "task " << id << ": " << why << "; giving it back";
        return ignore_moved(GiveBack(*conn_, id, worker_id, why));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::StatusOr<v1::ListTasksResponse> Coordinator::ListTasks(const std::string& state) {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<TaskState> filter;
  if (!state.empty()) {
    filter = ParseTaskState(state);
    if (!filter) return absl::InvalidArgumentError(absl::StrCat("no task state '", state, "'"));
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> rows, daemon::ListTasks(*conn_, filter));
  v1::ListTasksResponse out;
  for (const TaskRow& t : rows) *out.add_tasks() = ToInfo(t);
  return out;
}

absl::StatusOr<Plan> Coordinator::PlanFor(const std::vector<TaskRow>& rows) {
  CURATOR_ASSIGN_OR_RETURN(std::vector<WorkerState> workers,
                           Workers(*conn_, options_.heartbeat_timeout));
  std::vector<PendingTask> tasks;
  for (const TaskRow& t : rows) {
    PendingTask p;
    p.task_id = t.task_id;
    p.cu = t.cu;
    p.night = t.night;
    p.files = t.files;
    p.priority = t.priority;
    p.data_root = options_.archive_root;
    tasks.push_back(std::move(p));
  }
  PlannerOptions po;
  po.min_free_disk_bytes = 0;
  po.max_load_per_core = options_.max_load_per_core;
  return MakePlan(tasks, workers, durations_, po, absl::Now());
}

absl::StatusOr<v1::GetPlanResponse> Coordinator::GetPlan() {
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> pending, daemon::ListTasks(*conn_, TaskState::kPending));
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> approved, daemon::ListTasks(*conn_, TaskState::kApproved));
  pending.insert(pending.end(), approved.begin(), approved.end());
  std::map<int64_t, const TaskRow*> by_id;
  for (const TaskRow& t : pending) by_id[t.task_id] = &t;
  CURATOR_ASSIGN_OR_RETURN(Plan plan, PlanFor(pending));
  const absl::Time now = absl::Now();
  v1::GetPlanResponse out;
  for (const PlanEntry& e : plan.entries) {
    v1::PlanEntryInfo* i = out.add_entries();
    i->set_task_id(e.task_id);
    i->set_night(by_id[e.task_id]->night);
    i->set_cu(by_id[e.task_id]->cu);
    i->set_worker_id(e.worker_id);
    i->set_start_in_seconds(absl::ToDoubleSeconds(e.start - now));
    i->set_finish_in_seconds(absl::ToDoubleSeconds(e.finish - now));
    i->set_starts_now(e.starts_now);
  }
  for (int64_t id : plan.unplaceable) out.add_unplaceable(id);
  out.set_finish_in_seconds(std::max(0.0, absl::ToDoubleSeconds(plan.finish - now)));
  out.set_paused(paused_);
  return out;
}

absl::StatusOr<v1::ApproveResponse> Coordinator::Approve(const v1::ApproveRequest& r) {
  absl::Cleanup wake = [this] { if (wake_) wake_(); };
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> ids(r.task_ids().begin(), r.task_ids().end());
  if (r.all()) {
    CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> pending,
                             daemon::ListTasks(*conn_, TaskState::kPending));
    for (const TaskRow& t : pending) ids.push_back(t.task_id);
  }
  v1::ApproveResponse out;
  for (int64_t id : ids) {
    absl::Status s = Transition(*conn_, id, TaskState::kApproved);
    if (s.ok()) {
      out.add_approved(id);
    } else {
      out.add_refused(std::string(s.message()));
    }
  }
  return out;
}

absl::StatusOr<v1::TaskIdsResponse> Coordinator::Reject(const v1::TaskIdsRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::TaskIdsResponse out;
  for (int64_t id : r.task_ids()) {
    CURATOR_ASSIGN_OR_RETURN(pg::Result st, conn_->Exec("SELECT state FROM curation.task WHERE "
                                                        "task_id = $1", {std::to_string(id)}));
    if (st.rows() == 1 && st.Get(0, 0) != "approved") {
      out.add_refused(absl::StrCat("task ", id, " is ", st.Get(0, 0), "; only approved tasks can be rejected"));
      continue;
    }
    absl::Status s = Transition(*conn_, id, TaskState::kPending);
    if (s.ok()) out.add_changed(id); else out.add_refused(std::string(s.message()));
  }
  return out;
}

absl::StatusOr<v1::TaskIdsResponse> Coordinator::Cancel(const v1::TaskIdsRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::TaskIdsResponse out;
  for (int64_t id : r.task_ids()) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result t, conn_->Exec("SELECT t.state, t.attempts, coalesce(w.address, '') FROM "
                                  "curation.task t LEFT JOIN curation.worker w USING (worker_id) "
                                  "WHERE t.task_id = $1",
                                  {std::to_string(id)}));
    absl::Status s = Transition(*conn_, id, TaskState::kCancelled);
    if (!s.ok()) {
      out.add_refused(std::string(s.message()));
      continue;
    }
    out.add_changed(id);
    // A task on a worker: stop it there; the worker removes what it wrote.
    if (t.rows() == 1 && (t.Get(0, 0) == "dispatched" || t.Get(0, 0) == "running") &&
        !t.Get(0, 2).empty()) {
      v1::CancelTaskRequest cancel;
      cancel.set_task_id(AttemptId(id, static_cast<int>(t.GetInt(0, 1))));
      v1::CancelTaskResponse response;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      options_.security.Authorize(&ctx);
      grpc::Status st = StubFor(t.Get(0, 2))->CancelTask(&ctx, cancel, &response);
      if (!st.ok()) {
        CURATOR_LOG(WARNING) << "task " << id << " cancelled here, but its worker did not answer: "
                             << st.error_message();
      }
    }
  }
  return out;
}

absl::StatusOr<v1::TaskIdsResponse> Coordinator::Retry(const v1::TaskIdsRequest& r) {
  absl::Cleanup wake = [this] { if (wake_) wake_(); };
  std::lock_guard<std::mutex> lock(mu_);
  v1::TaskIdsResponse out;
  for (int64_t id : r.task_ids()) {
    CURATOR_ASSIGN_OR_RETURN(pg::Result st, conn_->Exec("SELECT state FROM curation.task WHERE "
                                                        "task_id = $1", {std::to_string(id)}));
    if (st.rows() == 1 && st.Get(0, 0) != "failed" && st.Get(0, 0) != "cancelled") {
      out.add_refused(absl::StrCat("task ", id, " is ", st.Get(0, 0),
                                   "; only failed or cancelled tasks can be retried"));
      continue;
    }
    absl::Status s = Transition(*conn_, id, TaskState::kPending);
    if (!s.ok()) {
      out.add_refused(std::string(s.message()));
      continue;
    }
    // Fresh attempts, no backoff: the operator asked for it.
    CURATOR_RETURN_IF_ERROR(conn_->Exec("UPDATE curation.task SET attempts = 0, not_before = "
                                        "NULL WHERE task_id = $1",
                                        {std::to_string(id)})
                                .status());
    out.add_changed(id);
  }
  return out;
}

absl::StatusOr<v1::ListWorkersResponse> Coordinator::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, conn_->Exec("SELECT worker_id, address, coalesce(extract(epoch from now() - "
                                "last_heartbeat), 1e9) FROM curation.worker ORDER BY worker_id"));
  v1::ListWorkersResponse out;
  for (int i = 0; i < r.rows(); ++i) {
    v1::WorkerInfo* w = out.add_workers();
    w->set_worker_id(r.Get(i, 0));
    w->set_address(r.Get(i, 1));
    w->set_seconds_since_heartbeat(r.GetDouble(i, 2));
    w->set_alive(r.GetDouble(i, 2) < absl::ToDoubleSeconds(options_.heartbeat_timeout));
    auto load = loads_.find(w->worker_id());
    if (load != loads_.end()) *w->mutable_load() = load->second;
  }
  return out;
}

absl::StatusOr<v1::ListNightsResponse> Coordinator::ListNights() {
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn_->Exec("SELECT to_char(n.night, 'YYYYMMDD'), n.transfer_complete, (SELECT count(*) FROM "
                  "curation.registered_file f WHERE f.night = n.night AND f.kind = 'image'), "
                  "(SELECT count(*) FROM curation.registered_file f WHERE f.night = n.night AND "
                  "f.kind = 'catalogue'), coalesce((SELECT string_agg('CU' || t.cu || '=' || "
                  "t.state || '=' || t.task_id, ',' ORDER BY t.cu) FROM curation.task t WHERE "
                  "t.night = n.night), '') "
                  "FROM curation.night n ORDER BY n.night"));
  v1::ListNightsResponse out;
  for (int i = 0; i < r.rows(); ++i) {
    v1::NightInfo* n = out.add_nights();
    n->set_night(r.Get(i, 0));
    n->set_transfer_complete(r.Get(i, 1) == "t");
    n->set_images(static_cast<int32_t>(r.GetInt(i, 2)));
    n->set_catalogues(static_cast<int32_t>(r.GetInt(i, 3)));
    for (absl::string_view kv : absl::StrSplit(r.Get(i, 4), ',', absl::SkipEmpty())) {
      std::vector<std::string> p = absl::StrSplit(kv, '=');
      int64_t id = 0;
      if (p.size() != 3 || !absl::SimpleAtoi(p[2], &id)) continue;
      (*n->mutable_tasks())[p[0]] = p[1];
      (*n->mutable_task_ids())[p[0]] = id;
    }
  }
  return out;
}

absl::StatusOr<v1::ListBatchesResponse> Coordinator::ListBatches() {
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn_->Exec("SELECT batch_id, cu, to_char(night, 'YYYYMMDD'), state, "
                  "coalesce(rows_per_table::text, ''), coalesce(copy_ms + validate_ms + "
                  "publish_ms, 0), coalesce(report, ''), coalesce((SELECT sum(value::bigint) FROM "
                  "jsonb_each_text(rows_per_table)), 0) FROM curation.batch ORDER BY night, cu"));
  v1::ListBatchesResponse out;
  std::map<std::string, v1::BatchInfo*> by_id;
  for (int i = 0; i < r.rows(); ++i) {
    v1::BatchInfo* b = out.add_batches();
    b->set_batch_id(r.Get(i, 0));
    b->set_cu(static_cast<int32_t>(r.GetInt(i, 1)));
    b->set_night(r.Get(i, 2));
    b->set_state(r.Get(i, 3));
    b->set_rows_per_table(r.Get(i, 4));
    b->set_ingest_ms(r.GetDouble(i, 5));
    b->set_report(r.Get(i, 6));
    b->set_rows(r.GetInt(i, 7));
    by_id[b->batch_id()] = b;
  }
  // Batches in staging that have no row yet are ready; one whose advisory
  // lock an ingester holds (see ingester/loader.h) is loading.
  std::vector<std::string> staged;
  for (const std::string& dir : batch::StagedBatchDirs(options_.archive_root)) {
    absl::StatusOr<v1::Manifest> m = batch::ReadManifest(dir);
    if (!m.ok() || by_id.count(m->batch_id()) > 0) continue;
    v1::BatchInfo* b = out.add_batches();
    b->set_batch_id(m->batch_id());
    b->set_cu(m->cu());
    b->set_night(m->night());
    b->set_state("ready");
    for (const v1::BatchFile& f : m->files()) b->set_rows(b->rows() + f.rows());
    by_id[b->batch_id()] = b;
    staged.push_back(m->batch_id());
  }
  if (!staged.empty()) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result locked,
        conn_->Exec("SELECT id FROM unnest($1::text[]) id WHERE hashtext('batch ' || id)::bigint "
                    "IN (SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks WHERE "
                    "locktype = 'advisory' AND objsubid = 1 AND granted)",
                    {pg::TextArray(staged)}));
    for (int i = 0; i < locked.rows(); ++i) by_id[locked.Get(i, 0)]->set_state("loading");
  }
  return out;
}

absl::StatusOr<std::string> Coordinator::Metrics() {
  CURATOR_ASSIGN_OR_RETURN(v1::ListWorkersResponse workers, ListWorkers());
  std::lock_guard<std::mutex> lock(mu_);
  MetricsText m;
  const auto counts = [&](const std::string& sql,
                          const std::vector<std::string>& known) -> absl::StatusOr<std::map<std::string, double>> {
    std::map<std::string, double> by;
    for (const std::string& k : known) by[k] = 0;
    CURATOR_ASSIGN_OR_RETURN(pg::Result r, conn_->Exec(sql));
    for (int i = 0; i < r.rows(); ++i) by[r.Get(i, 0)] = r.GetDouble(i, 1);
    return by;
  };
  std::vector<std::string> task_states;
  for (TaskState t : {TaskState::kPending, TaskState::kApproved, TaskState::kDispatched,
                      TaskState::kRunning, TaskState::kDone, TaskState::kFailed,
                      TaskState::kCancelled}) {
    task_states.push_back(TaskStateName(t));
  }
  CURATOR_ASSIGN_OR_RETURN(
      auto tasks, counts("SELECT state, count(*) FROM curation.task GROUP BY state", task_states));
  for (const auto& [state, n] : tasks) {
    m.Add("curator_tasks", "gauge", "Tasks by state.", {{"state", state}}, n);
  }
  CURATOR_ASSIGN_OR_RETURN(
      auto batches, counts("SELECT state, count(*) FROM curation.batch GROUP BY state",
                           {"waiting", "ingested", "quarantined"}));
  for (const auto& [state, n] : batches) {
    m.Add("curator_batches", "gauge", "Batches with a database row, by state.",
          {{"state", state}}, n);
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result rows,
      conn_->Exec("SELECT b.cu, coalesce(sum(r.value::bigint), 0), coalesce(sum(b.copy_ms + "
                  "b.validate_ms + b.publish_ms), 0) FROM curation.batch b, "
                  "jsonb_each_text(b.rows_per_table) r WHERE b.state = 'ingested' GROUP BY b.cu "
                  "ORDER BY b.cu"));
  double all_rows = 0, all_ms = 0;
  for (int i = 0; i < rows.rows(); ++i) {
    m.Add("curator_rows_ingested_total", "counter", "Rows published by ingested batches.",
          {{"cu", rows.Get(i, 0)}}, rows.GetDouble(i, 1));
    all_rows += rows.GetDouble(i, 1);
    all_ms += rows.GetDouble(i, 2);
  }
  m.Add("curator_ingest_rows_per_second", "gauge",
        "Rows ingested per second of ingest transaction time, over every ingested batch.", {},
        all_ms > 0 ? all_rows / (all_ms / 1000) : 0);
  CURATOR_ASSIGN_OR_RETURN(
      auto levels, counts("SELECT level, count(*) FROM curation.log_message WHERE level <> "
                          "'info' GROUP BY level",
                          {"warning", "error"}));
  for (const auto& [level, n] : levels) {
    m.Add("curator_log_messages_total", "counter",
          "Warnings and errors logged by tasks and ingests.", {{"level", level}}, n);
  }
  m.Add("curator_dispatch_paused", "gauge", "1 while dispatch is paused.", {}, paused_ ? 1 : 0);
  const auto per_worker = [&](const char* name, const char* help, auto value) {
    for (const v1::WorkerInfo& w : workers.workers()) {
      m.Add(name, "gauge", help, {{"worker", w.worker_id()}}, value(w));
    }
  };
  per_worker("curator_worker_up", "1 if the worker's last heartbeat is recent.",
             [](const v1::WorkerInfo& w) { return w.alive() ? 1.0 : 0.0; });
  per_worker("curator_worker_seconds_since_heartbeat", "Age of the worker's last heartbeat.",
             [](const v1::WorkerInfo& w) { return w.seconds_since_heartbeat(); });
  per_worker("curator_worker_load1", "The worker machine's 1-minute load average.",
             [](const v1::WorkerInfo& w) { return w.load().load_average_1m(); });
  per_worker("curator_worker_slots", "Tasks the worker runs at once.",
             [](const v1::WorkerInfo& w) { return double(w.load().slots()); });
  per_worker("curator_worker_running_tasks", "Tasks running on the worker.",
             [](const v1::WorkerInfo& w) { return double(w.load().running_tasks()); });
  per_worker("curator_worker_free_disk_bytes", "Free space on the worker's archive file system.",
             [](const v1::WorkerInfo& w) { return double(w.load().free_disk_bytes()); });
  return m.str();
}

absl::StatusOr<v1::GetTaskLogResponse> Coordinator::GetTaskLog(int64_t task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> rows, daemon::ListTasks(*conn_));
  v1::GetTaskLogResponse out;
  const TaskRow* task = nullptr;
  for (const TaskRow& t : rows) {
    if (t.task_id == task_id) task = &t;
  }
  if (task == nullptr) return absl::NotFoundError(absl::StrCat("no task ", task_id));
  *out.mutable_task() = ToInfo(*task);
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result attempts,
      conn_->Exec("SELECT coalesce(worker_id, ''), to_char(started_at AT TIME ZONE 'UTC', "
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
      conn_->Exec("SELECT s.step, coalesce(extract(epoch from s.finished_at - s.started_at), 0), "
                  "s.rows, (SELECT count(*) FROM curation.file_log f WHERE f.step_id = s.step_id), "
                  "s.errors, s.warnings FROM curation.step_log s WHERE s.cu_event_id = $1 ORDER "
                  "BY s.step_id",
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
      conn_->Exec("SELECT coalesce(s.step, ''), m.level, coalesce(m.path, ''), coalesce(m.hdu, 0), "
                  "coalesce(m.item, ''), m.message FROM curation.log_message m LEFT JOIN "
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

absl::StatusOr<bool> Coordinator::SetPaused(bool paused) {
  absl::Cleanup wake = [this] { if (wake_) wake_(); };
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_RETURN_IF_ERROR(conn_->Exec("UPDATE curation.dispatch_state SET paused = $1, "
                                      "changed_at = now()",
                                      {paused ? "true" : "false"})
                              .status());
  if (paused != paused_) {
    CURATOR_LOG(WARNING) << "dispatch " << (paused ? "paused" : "resumed") << " by an operator";
  }
  paused_ = paused;
  return paused_;
}

absl::Status Coordinator::DiscoverNights() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(
           absl::StrCat(options_.archive_root, "/", layout::kIncoming), ec)) {
    const std::string night = e.path().filename();
    if (nights_done_.count(night) || !archive::IsNightName(night) ||
        !fs::exists(e.path() / layout::kTransferMarker, ec)) {
      continue;
    }
    CURATOR_ASSIGN_OR_RETURN(archive::NightRegistration reg,
                             archive::RegisterNight(*conn_, options_.archive_root, night));
    CURATOR_ASSIGN_OR_RETURN(int created, CreateNightTasks(*conn_, night));
    CURATOR_LOG(INFO) << "night " << night << ": " << reg.files.size() << " files registered ("
                      << reg.new_files << " new), " << created << " tasks created";
    for (const std::string& p : reg.problems) CURATOR_LOG(WARNING) << p;
    nights_done_.insert(night);
  }
  return absl::OkStatus();
}

absl::Status Coordinator::Dispatch() {
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> approved,
                           daemon::ListTasks(*conn_, TaskState::kApproved));
  if (approved.empty()) return absl::OkStatus();
  CURATOR_ASSIGN_OR_RETURN(Plan plan, PlanFor(approved));
  CURATOR_ASSIGN_OR_RETURN(std::vector<WorkerState> workers,
                           Workers(*conn_, options_.heartbeat_timeout));
  std::map<std::string, std::string> address;
  for (const WorkerState& w : workers) address[w.id] = w.address;
  std::map<int64_t, const TaskRow*> by_id;
  for (const TaskRow& t : approved) by_id[t.task_id] = &t;
  std::set<std::string> workers_lost;  // unreachable in this pass
  for (const PlanEntry& e : plan.entries) {
    if (!e.starts_now || workers_lost.count(e.worker_id) > 0) continue;
    const TaskRow& t = *by_id[e.task_id];
    v1::RunTaskRequest request;
    request.set_cu(t.cu);
    request.set_night(t.night);
    if (t.cu == 4) {
      CURATOR_ASSIGN_OR_RETURN(std::vector<archive::CatalogueFile> cats, archive::RegisteredCatalogues(*conn_, t.night));
      for (const archive::CatalogueFile& c : cats) {
        v1::TaskFile* f = request.add_files();
        f->set_multiframe_id(c.multiframe_id);
        f->set_path(c.path);
        f->set_image_path(c.image_path);
      }
    } else {
      CURATOR_ASSIGN_OR_RETURN(std::vector<archive::ImageFile> images, archive::RegisteredImages(*conn_, t.night));
      for (const archive::ImageFile& i : images) {
        v1::TaskFile* f = request.add_files();
        f->set_multiframe_id(i.multiframe_id);
        f->set_path(i.path);
        f->set_file_name(i.file_name);
        f->set_file_time_stamp_us(absl::ToUnixMicros(i.file_time_stamp));
        f->set_cat_name(i.cat_name);
      }
    }
    CURATOR_ASSIGN_OR_RETURN(int64_t event,
                             tasklog::StartEvent(*conn_, t.cu, "process", t.night, e.worker_id));
    absl::Status moved = Transition(*conn_, t.task_id, TaskState::kDispatched,
                                    {.worker_id = e.worker_id, .cu_event_id = event,
                                     .count_attempt = true});
    if (!moved.ok()) continue;  // moved by someone else meanwhile
    request.set_cu_event_id(event);
    request.set_task_id(AttemptId(t.task_id, t.attempts + 1));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    options_.security.Authorize(&ctx);
    v1::RunTaskResponse response;
    grpc::Status st = StubFor(address[e.worker_id])->RunTask(&ctx, request, &response);
    if (!st.ok()) {
      CURATOR_LOG(WARNING) << "dispatching task " << t.task_id << " to " << e.worker_id
                           << " failed: " << st.error_message();
      const std::string why =
          absl::StrCat("dispatch to ", e.worker_id, " failed: ", st.error_message());
      if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
        // The worker is gone (stopped, or its machine down): the task
        // never started, so it does not use up an attempt and goes
        // elsewhere.
        CURATOR_RETURN_IF_ERROR(GiveBack(*conn_, t.task_id, e.worker_id, why));
        workers_lost.insert(e.worker_id);
        continue;
      }
      CURATOR_RETURN_IF_ERROR(FailAttempt(*conn_, t.task_id,
                                          absl::StrCat("dispatch to ", e.worker_id, " failed: ",
                                                       st.error_message()),
                                          options_.retry_backoff)
                                  .status());
      continue;
    }
    CURATOR_LOG(INFO) << "task " << t.task_id << " (CU" << t.cu << " " << t.night << ") -> "
                      << e.worker_id;
  }
  return absl::OkStatus();
}

absl::Status Coordinator::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_RETURN_IF_ERROR(DiscoverNights());
  CURATOR_ASSIGN_OR_RETURN(std::vector<int64_t> reclaimed,
                           ReclaimLostWorkers(*conn_, options_.heartbeat_timeout,
                                              options_.retry_backoff));
  for (int64_t id : reclaimed) CURATOR_LOG(WARNING) << "task " << id << " taken back from a lost worker";
  if (options_.auto_approve) {
    CURATOR_RETURN_IF_ERROR(
        conn_->Exec(absl::StrCat("UPDATE curation.task SET state = 'approved', updated_at = "
                                 "now() WHERE state = ANY('",
                                 AllowedFromSql(TaskState::kApproved),
                                 "') AND (not_before IS NULL OR not_before <= now())"))
            .status());
  }
  if (paused_) return absl::OkStatus();
  return Dispatch();
}

}  // namespace curator::daemon
