#include "daemon/worker_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "daemon/task_store.h"

namespace curator::daemon {
namespace {

std::string Micros(absl::Duration d) { return std::to_string(absl::ToInt64Microseconds(d)); }

}  // namespace

absl::Status RecordWorker(pg::Connection& conn, const WorkerReport& r) {
  if (r.worker_id.empty() || r.address.empty() || r.slots < 1) {
    return absl::InvalidArgumentError("a worker needs an id, an address and at least one slot");
  }
  return conn
      .Exec("INSERT INTO curation.worker (worker_id, address, slots, cores, load_average, "
            "free_memory, free_disk, data_roots, running_tasks, last_heartbeat) VALUES ($1, $2, "
            "$3, $4, $5, $6, $7, $8::text[], $9, now()) ON CONFLICT (worker_id) DO UPDATE SET "
            "address = EXCLUDED.address, slots = EXCLUDED.slots, cores = EXCLUDED.cores, "
            "load_average = EXCLUDED.load_average, free_memory = EXCLUDED.free_memory, free_disk "
            "= EXCLUDED.free_disk, data_roots = EXCLUDED.data_roots, running_tasks = "
            "EXCLUDED.running_tasks, last_heartbeat = now()",
            {r.worker_id, r.address, std::to_string(r.slots), std::to_string(r.cores),
             std::to_string(r.load_average), std::to_string(r.free_memory),
             std::to_string(r.free_disk), pg::TextArray(r.data_roots),
             std::to_string(r.running_tasks)})
      .status();
}

absl::StatusOr<std::vector<WorkerState>> Workers(pg::Connection& conn, absl::Duration timeout) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT worker_id, slots, coalesce(cores, 1), coalesce(load_average, 0), "
                "coalesce(free_disk, 0), array_to_string(data_roots, E'\\x1f'), running_tasks, "
                "coalesce(last_heartbeat > now() - $1 * interval '1 microsecond', false), address, "
                "(SELECT count(*) FROM curation.task t WHERE t.worker_id = w.worker_id AND "
                "t.state IN ('dispatched', 'running')) FROM curation.worker w ORDER BY worker_id",
                {Micros(timeout)}));
  std::vector<WorkerState> out;
  for (int i = 0; i < r.rows(); ++i) {
    WorkerState w;
    w.id = r.Get(i, 0);
    w.slots = static_cast<int>(r.GetInt(i, 1));
    w.cores = static_cast<int>(r.GetInt(i, 2));
    w.load_average = r.GetDouble(i, 3);
    w.free_disk_bytes = r.GetInt(i, 4);
    for (absl::string_view root : absl::StrSplit(r.Get(i, 5), '\x1f', absl::SkipEmpty())) {
      w.data_roots.emplace_back(root);
    }
    // Tasks handed to it but not yet in its heartbeat count too.
    w.running = static_cast<int>(std::max(r.GetInt(i, 6), r.GetInt(i, 9)));
    w.alive = r.Get(i, 7) == "t";
    w.address = r.Get(i, 8);
    out.push_back(std::move(w));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> ReclaimLostWorkers(pg::Connection& conn,
                                                        absl::Duration timeout,
                                                        absl::Duration base_backoff) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result lost,
      conn.Exec("SELECT t.task_id, w.worker_id FROM curation.task t JOIN curation.worker w USING "
                "(worker_id) WHERE t.state IN ('dispatched', 'running') AND (w.last_heartbeat IS "
                "NULL OR w.last_heartbeat < now() - $1 * interval '1 microsecond') ORDER BY "
                "t.task_id",
                {Micros(timeout)}));
  std::vector<int64_t> reclaimed;
  for (int i = 0; i < lost.rows(); ++i) {
    const int64_t task = lost.GetInt(i, 0);
    const std::string why = absl::StrCat("worker ", lost.Get(i, 1), " lost (no heartbeat)");
    absl::StatusOr<TaskState> now =
        FailAttempt(conn, task, why, base_backoff, AttemptOutcome::kLost);
    // Another daemon pass may have moved it meanwhile: then it is not ours.
    if (now.ok()) reclaimed.push_back(task);
  }
  return reclaimed;
}

}  // namespace curator::daemon
