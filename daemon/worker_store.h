// The daemon's record of its workers (curation.worker): what each
// reported at registration and in its last heartbeat, which are alive for
// the planner, and reclaiming the tasks of a worker that went silent.
#ifndef CURATOR_DAEMON_WORKER_STORE_H_
#define CURATOR_DAEMON_WORKER_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/pg.h"
#include "daemon/planner.h"

namespace curator::daemon {

struct WorkerReport {
  std::string worker_id;
  std::string address;  // host:port of its gRPC server
  int slots = 1;
  int cores = 1;
  double load_average = 0;
  int64_t free_memory = 0;
  int64_t free_disk = 0;
  int running_tasks = 0;
  std::vector<std::string> data_roots;
};

// Registration or heartbeat: inserts or updates the worker and stamps its
// last heartbeat now.
absl::Status RecordWorker(pg::Connection& conn, const WorkerReport& report);

// Every known worker as the planner sees it; alive = heard from within
// `timeout`.
absl::StatusOr<std::vector<WorkerState>> Workers(pg::Connection& conn, absl::Duration timeout);

// Workers silent for longer than `timeout` lose their dispatched and
// running tasks: each attempt is failed ("worker W lost") and the task
// goes back to pending with backoff, or to failed when out of attempts.
// Returns the task ids reclaimed.
absl::StatusOr<std::vector<int64_t>> ReclaimLostWorkers(pg::Connection& conn,
                                                        absl::Duration timeout,
                                                        absl::Duration base_backoff);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_WORKER_STORE_H_
