#include "daemon/daemon_metrics.h"

#include <map>

#include "archive/batch_state.h"
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

absl::Status DatabaseMetrics(pg::ConnectionPool& pool, const archive::CuRegistry& registry,
                             MetricsText& m) {
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
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result rows,
      conn->Exec("SELECT b.cu, coalesce(sum(r.value::bigint), 0), coalesce(sum(b.copy_ms + "
                 "b.validate_ms + b.publish_ms), 0) FROM curation.batch b, "
                 "jsonb_each_text(b.rows_per_table) r WHERE b.state = 'ingested' GROUP BY b.cu "
                 "ORDER BY b.cu"));
  CURATOR_ASSIGN_OR_RETURN(
      auto levels, Counts(*conn, "SELECT level, count(*) FROM curation.log_message WHERE level "
                                 "<> 'info' GROUP BY level",
                          {"warning", "error"}));
  for (const auto& [state, n] : tasks) {
    m.Add("curator_tasks", "gauge", "Tasks by state.", {{"state", state}}, n);
  }
  for (const auto& [state, n] : batches) {
    m.Add("curator_batches", "gauge", "Batches with a database row, by state.",
          {{"state", state}}, n);
  }
  double all_rows = 0, all_ms = 0;
  for (int i = 0; i < rows.rows(); ++i) {
    m.Add("curator_rows_ingested_total", "counter", "Rows published by ingested batches.",
          {{"cu", registry.Name(static_cast<int>(rows.GetInt(i, 0)))}}, rows.GetDouble(i, 1));
    all_rows += rows.GetDouble(i, 1);
    all_ms += rows.GetDouble(i, 2);
  }
  m.Add("curator_ingest_rows_per_second", "gauge",
        "Rows ingested per second of ingest transaction time, over every ingested batch.", {},
        all_ms > 0 ? all_rows / (all_ms / 1000) : 0);
  for (const auto& [level, n] : levels) {
    m.Add("curator_log_messages_total", "counter",
          "Warnings and errors logged by tasks and ingests.", {{"level", level}}, n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string DaemonMetrics(ReadQueries& queries, pg::ConnectionPool& pool,
                          const archive::CuRegistry& registry) {
  MetricsText m;
  MetricsText db;
  const bool db_ok = DatabaseMetrics(pool, registry, db).ok();
  m.Add("curator_database_up", "gauge", "1 while the daemon reaches its database.", {},
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
