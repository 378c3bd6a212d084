// The data daemon's planner: which worker runs which pending task, and
// when each is estimated to start and finish. A pure function of the
// workers' reported state, the pending tasks and the durations seen so
// far (daemon/estimator.h); the daemon shows the plan to the operator (or an
// auto-approve policy), and dispatches the entries that can start now.
//
// Rules:
//  - a worker takes tasks only if it is alive, has free disk above the
//    minimum, and can read the task's data root;
//  - its free slots now are slots - running, none while its load average
//    per core is above the threshold; a busy slot frees up when the
//    task on it now is estimated to finish (its remaining time; a minute
//    when unknown), later ones as the tasks the plan gives it finish;
//  - tasks go in order of priority, then their CU's rank (the registry's:
//    a CU whose ingest or processing others wait for goes first), then
//    the oldest first;
//  - a task whose prerequisites are not met yet never starts now: it is
//    planned after the prerequisites this plan places (or a moment from
//    now if they run already);
//  - each goes to the eligible slot that is free soonest (ties: the
//    least loaded worker), estimated for that worker, so the plan also
//    says when the night will be done (counting the tasks on workers
//    now).
#ifndef CURATOR_DAEMON_PLANNER_H_
#define CURATOR_DAEMON_PLANNER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "daemon/estimator.h"

namespace curator::daemon {

struct WorkerState {
  std::string id;
  std::string address;  // host:port of its Worker service
  int slots = 1;
  int running = 0;
  double load_average = 0;  // 1 minute
  int cores = 1;
  int64_t free_disk_bytes = 0;
  std::vector<std::string> data_roots;  // archive roots it can read
  bool alive = true;
  // What is left of each task on it now (the first `running` slots),
  // as far as known: a negative duration is unknown.
  std::vector<absl::Duration> busy_for;
};

struct PendingTask {
  int64_t task_id = 0;
  int cu = 0;
  int rank = 0;  // the CU's planning rank (archive/cu_registry.h)
  std::string night;
  int64_t files = 0;
  int64_t input_bytes = 0;  // of those files
  std::string data_root;
  int priority = 0;  // higher first
  absl::Time ready_since;
  // False while a prerequisite for processing is not met; `after` lists
  // the tasks it waits for.
  bool ready = true;
  std::vector<int64_t> after;
};

struct PlannerOptions {
  double max_load_per_core = 1.5;
  int64_t min_free_disk_bytes = int64_t{1} << 30;
};

struct PlanEntry {
  int64_t task_id = 0;
  std::string worker_id;
  absl::Time start;   // estimated
  absl::Time finish;  // estimated
  bool starts_now = false;  // a slot is free now: dispatch it when approved
  // On that worker (finish - start); without its basis, which the
  // caller asks the estimator for where it shows it.
  TaskEstimate estimate;
};

struct Plan {
  std::vector<PlanEntry> entries;      // in planning order
  std::vector<int64_t> unplaceable;    // no worker can take them (locality, disk, dead)
  absl::Time finish;  // of the last entry or task on a worker now
};

Plan MakePlan(const std::vector<PendingTask>& tasks,
              const std::vector<WorkerState>& workers,
              const Estimator& estimator, const PlannerOptions& options,
              absl::Time now);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_PLANNER_H_
