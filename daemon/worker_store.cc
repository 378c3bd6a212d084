#include "daemon/worker_store.h"

#include "absl/strings/str_split.h"
#include "base/status.h"

namespace curator::daemon {

absl::Status WorkerStore::Record(const WorkerRecord& w) {
  if (w.worker_id.empty() || w.address.empty() || w.load.slots() < 1) {
    return absl::InvalidArgumentError("a worker needs an id, an address and at least one slot");
  }
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  return conn
      ->Exec("INSERT INTO curation.worker (worker_id, address, slots, cores, load_average, "
             "free_memory, free_disk, data_roots, running_tasks, boot_id, last_heartbeat) VALUES "
             "($1, $2, $3, $4, $5, $6, $7, $8::text[], $9, $10, now()) ON CONFLICT (worker_id) DO "
             "UPDATE SET address = EXCLUDED.address, slots = EXCLUDED.slots, cores = "
             "EXCLUDED.cores, load_average = EXCLUDED.load_average, free_memory = "
             "EXCLUDED.free_memory, free_disk = EXCLUDED.free_disk, data_roots = "
             "EXCLUDED.data_roots, running_tasks = EXCLUDED.running_tasks, boot_id = "
             "EXCLUDED.boot_id, last_heartbeat = now()",
             {w.worker_id, w.address, std::to_string(w.load.slots()),
              std::to_string(w.load.cores()), std::to_string(w.load.load_average_1m()),
              std::to_string(w.load.free_memory_bytes()), std::to_string(w.load.free_disk_bytes()),
              pg::TextArray(w.data_roots), std::to_string(w.load.running_tasks()), w.boot_id})
      .status();
}

absl::StatusOr<std::vector<WorkerRecord>> WorkerStore::All() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec("SELECT worker_id, address, coalesce(boot_id, ''), slots, coalesce(cores, 1), "
                 "coalesce(load_average, 0), coalesce(free_memory, 0), coalesce(free_disk, 0), "
                 "array_to_string(data_roots, E'\\x1f'), running_tasks FROM curation.worker ORDER "
                 "BY worker_id"));
  std::vector<WorkerRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    WorkerRecord w;
    w.worker_id = r.Get(i, 0);
    w.address = r.Get(i, 1);
    w.boot_id = r.Get(i, 2);
    w.load.set_slots(static_cast<int32_t>(r.GetInt(i, 3)));
    w.load.set_cores(static_cast<int32_t>(r.GetInt(i, 4)));
    w.load.set_load_average_1m(r.GetDouble(i, 5));
    w.load.set_free_memory_bytes(r.GetInt(i, 6));
    w.load.set_free_disk_bytes(r.GetInt(i, 7));
    for (absl::string_view root : absl::StrSplit(r.Get(i, 8), '\x1f', absl::SkipEmpty())) {
      w.data_roots.emplace_back(root);
    }
    w.load.set_running_tasks(static_cast<int32_t>(r.GetInt(i, 9)));
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace curator::daemon
