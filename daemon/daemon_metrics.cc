#include "daemon/daemon_metrics.h"

#include <map>

#include "archive/batch_state.h"
#include "archive/batch_store.h"
#include "archive/live.h"
#include "base/status.h"
#include "daemon/task_state.h"
#include "server/metrics.h"

namespace curator::daemon {
namespace {

// Counts by a key from `sql` (key, count), with every `known` key present
// (0 when absent), so a series never disappears.
absl::StatusOr<std::map<std::string, double>> Counts(pg::Connection& conn, const std::string& sql,
                                                     const std::vector<std::string>& known) {
  std::map<std::string, double> by;
  for (const std::string& k : known) by[k] = 0;
  CURATOR_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(sql));
  for (int i = 0; i < r.rows(); ++i) by[r.Get(i, 0)] = r.GetDouble(i, 1);
  return by;
}

absl::Status DatabaseMetrics(TaskStore& task_store, pg::ConnectionPool& pool,
                             const archive::CuRegistry& registry,
                             MetricsText& m) {
  // The task store leases connections of its own: before this one.
  CURATOR_ASSIGN_OR_RETURN(auto attempts, task_store.EndedAttempts());
  CURATOR_ASSIGN_OR_RETURN(auto attempt_seconds,
                           task_store.DoneAttemptSeconds());
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool.Get());
  std::vector<std::string> task_states;
  for (TaskState t : AllTaskStates()) task_states.push_back(TaskStateName(t));
  CURATOR_ASSIGN_OR_RETURN(
      auto tasks,
      Counts(*conn, "SELECT state, count(*) FROM curation.task GROUP BY state", task_states));
  std::vector<std::string> batch_states;
  for (archive::BatchState b : archive::AllBatchStates())
    batch_states.push_back(archive::StateName(b));
  CURATOR_ASSIGN_OR_RETURN(
      auto batches,
      Counts(*conn, "SELECT state, count(*) FROM curation.batch GROUP BY state",
             batch_states));
  CURATOR_ASSIGN_OR_RETURN(auto loads,
                           archive::BatchStore::LoadsByCu(*conn, registry));
  CURATOR_ASSIGN_OR_RETURN(
      auto levels, Counts(*conn, "SELECT level, count(*) FROM curation.log_message WHERE level "
                                 "<> 'info' GROUP BY level",
                          {"warning", "error"}));
  for (const auto& [state, n] : tasks) {
    m.Add("curator_tasks", "gauge", "Tasks by state.", {{"state", state}}, n);
  }
  for (const auto& [cu, by_outcome] : attempts) {
    for (const auto& [outcome, n] : by_outcome) {
      m.Add("curator_task_attempts_total", "counter",
            "Task attempts ended, by CU and outcome (done: processed, "
            "its batch handed to the ingester).",
            {{"cu", registry.Name(cu)}, {"outcome", outcome}},
            static_cast<double>(n));
    }
  }
  for (const auto& [cu, h] : attempt_seconds) {
    m.AddHistogram("curator_task_duration_seconds",
                   "Task attempts processed, by CU: seconds from dispatch "
                   "to the worker's done report.",
                   {{"cu", registry.Name(cu)}}, h);
  }
  for (const auto& [state, n] : batches) {
    m.Add("curator_batches", "gauge", "Batches with a database row, by state.",
          {{"state", state}}, n);
  }
  for (const auto& [cu, l] : loads) {
    m.Add("curator_rows_ingested_total", "counter",
          "Rows published by batches loaded, by CU (batches replaced "
          "since by a rerun's included).",
          {{"cu", registry.Name(cu)}}, static_cast<double>(l.rows));
  }
  for (const auto& [cu, l] : loads) {
    m.AddHistogram("curator_batch_ingest_duration_seconds",
                   "Batches loaded, by CU: seconds of verify, copy, "
                   "validate and publish, on the ingester's clock.",
                   {{"cu", registry.Name(cu)}}, l.seconds);
  }
  for (const auto& [level, n] : levels) {
    m.Add("curator_log_messages_total", "counter",
          "Warnings and errors logged by tasks and ingests.", {{"level", level}}, n);
  }
  CURATOR_ASSIGN_OR_RETURN(archive::live::Counts live,
                           archive::live::Count(*conn));
  for (const auto& [code, n] : live.frames_by_code) {
    m.Add("curator_frames", "gauge",
          "Frames (multiframes) in the archive, by deprecation code "
          "(live: in the live views).",
          {{"deprecated", code}}, static_cast<double>(n));
  }
  m.Add("curator_files_waiting_acceptance", "gauge",
        "Files of registered nights changed, new or gone since the night's "
        "delivery, waiting for curatorctl accept.",
        {}, static_cast<double>(live.files_waiting));
  m.Add("curator_nights_retired", "gauge",
        "Nights out of the live archive (curatorctl retire).", {},
        static_cast<double>(live.nights_retired));
  return absl::OkStatus();
}

}  // namespace

std::string DaemonMetrics(ReadQueries& queries, TaskStore& tasks,
                          pg::ConnectionPool& pool,
                          const archive::CuRegistry& registry) {
  MetricsText m;
  m.AddBuildInfo();
  MetricsText db;
  const bool db_ok = DatabaseMetrics(tasks, pool, registry, db).ok();
  m.Add("curator_database_up", "gauge",
        "1 while this process reaches its database.", {},
        db_ok && pool.up() ? 1 : 0);
  std::string out = m.str();
  if (db_ok) out += db.str();
  MetricsText rest;
  rest.Add("curator_dispatch_paused", "gauge", "1 while dispatch is paused.", {},
           queries.paused() ? 1 : 0);
  absl::StatusOr<v1::ListWorkersResponse> workers = queries.ListWorkers();
  if (workers.ok()) {
    // The daemon's view of each worker, under names of its own: the
    // workers export curator_worker_* about themselves.
    const auto per_worker = [&](const char* name, const char* help, auto value) {
      for (const v1::WorkerInfo& w : workers->workers()) {
        rest.Add(name, "gauge", help, {{"worker", w.worker_id()}}, value(w));
      }
    };
    per_worker("curator_daemon_worker_up", "1 if the worker's last heartbeat is recent.",
               [](const v1::WorkerInfo& w) { return w.alive() ? 1.0 : 0.0; });
    per_worker("curator_daemon_worker_seconds_since_heartbeat", "Age of the worker's last heartbeat.",
               [](const v1::WorkerInfo& w) { return w.seconds_since_heartbeat(); });
    per_worker("curator_daemon_worker_load1", "The worker machine's 1-minute load average.",
               [](const v1::WorkerInfo& w) { return w.load().load_average_1m(); });
    per_worker("curator_daemon_worker_slots", "Tasks the worker runs at once.",
               [](const v1::WorkerInfo& w) { return double(w.load().slots()); });
    per_worker("curator_daemon_worker_running_tasks", "Tasks running on the worker.",
               [](const v1::WorkerInfo& w) { return double(w.load().running_tasks()); });
    per_worker("curator_daemon_worker_free_disk_bytes", "Free space on the worker's archive file system.",
               [](const v1::WorkerInfo& w) { return double(w.load().free_disk_bytes()); });
  }
  return out + rest.str();
}

}  // namespace curator::daemon
