// Hands approved tasks to workers. One pass (RunOnce): the ready tasks
// (task store), the workers' free slots (worker registry), a plan
// (planner), and for each entry that can start now: claim it in the
// database (approved -> dispatched, the attempt opened), then send it to
// its worker on a thread of its own, with nothing locked, and apply the
// answer there: accepted (the worker's boot id and sequence number
// recorded), unreachable (given back at once, not counted, the worker
// marked down), timed out (given back; if the worker did get it, its next
// heartbeat shows an attempt the daemon no longer expects, which is then
// cancelled), refused or failed (the attempt fails, retried with
// backoff). A slow or frozen worker therefore delays no other dispatch.
// Each attempt is claimed with the plan's estimate for it on its worker
// (recorded with the attempt, and checked against what it took).
//
// Thread-safe.
#ifndef CURATOR_DAEMON_DISPATCHER_H_
#define CURATOR_DAEMON_DISPATCHER_H_

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "archive/cu_registry.h"
#include "base/clock.h"
#include "daemon/estimates.h"
#include "daemon/planner.h"
#include "daemon/task_store.h"
#include "daemon/worker_client.h"
#include "daemon/worker_registry.h"
#include "db/pool.h"

namespace curator::daemon {

class Dispatcher {
 public:
  struct Options {
    std::string archive_root;  // every task's data root
    double max_load_per_core = 1.5;
  };

  Dispatcher(TaskStore* tasks, WorkerRegistry* workers, WorkerClient* client,
             pg::ConnectionPool* pool, const archive::CuRegistry* registry,
             const Clock* clock, Options options)
      : tasks_(tasks),
        workers_(workers),
        client_(client),
        pool_(pool),
        registry_(registry),
        clock_(clock),
        options_(std::move(options)),
        estimates_(tasks, workers) {}
  ~Dispatcher();  // waits for the calls in flight

  // One pass. Errors are systematic (the database is away); a task that
  // cannot be sent is handled, not an error. Returns how many tasks were
  // handed to workers in this pass (their calls may still be in flight).
  absl::StatusOr<int> RunOnce();

  // Waits until every call started so far has been answered and applied.
  void WaitIdle();

  // What a plan was made from.
  struct PlanBasis {
    std::map<int64_t, int64_t> input_bytes;  // per task planned
    std::vector<PastAttempt> history;        // the estimator's
    int on_workers = 0;                      // tasks on workers now
    // Each entry's estimate with its basis; else only those that start
    // now (the ones dispatched).
    bool explain_all = true;
  };
  // A plan for `tasks` against the workers' view now; `waits` gives, per
  // task, the prerequisites it still waits for (none: ready). The tasks
  // on workers now hold their slots for their remaining time.
  absl::StatusOr<Plan> PlanFor(
      const std::vector<TaskRow>& tasks,
      const std::map<int64_t, std::vector<int64_t>>& waits,
      PlanBasis* basis = nullptr);

  // Progress and the estimator's history (shared with the read queries).
  Estimates& estimates() { return estimates_; }

 private:
  // Builds the attempt's request: the night's registered files of the
  // kind its CU reads.
  absl::StatusOr<v1::RunTaskRequest> Request(const TaskRow& task, const Claimed& claim);
  // On the call's own thread.
  void Send(TaskRow task, Claimed claim, std::string worker_id, std::string address,
            v1::RunTaskRequest request);

  TaskStore* const tasks_;
  WorkerRegistry* const workers_;
  WorkerClient* const client_;
  pg::ConnectionPool* const pool_;
  const archive::CuRegistry* const registry_;
  const Clock* const clock_;
  const Options options_;
  Estimates estimates_;

  std::mutex mu_;
  std::condition_variable idle_;
  int in_flight_ = 0;  // calls on their (detached) threads
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_DISPATCHER_H_
