// Runs the tasks a worker is handed, `slots` at a time (a bounded
// executor), through the handler of each task's CU (worker/cu_handler.h),
// and keeps their status for GetStatus and the heartbeats until the
// daemon acknowledges them (Forget). Plain domain class: the gRPC service
// in worker/server.h only converts to and from it.
//
// Every runner has a boot id, new at every start, and numbers the tasks
// it accepts 1, 2, ...: the daemon compares both with what it sent to
// notice a worker that restarted or lost a task.
// Thread-safe.
#ifndef CURATOR_WORKER_TASK_RUNNER_H_
#define CURATOR_WORKER_TASK_RUNNER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "archive/cu_registry.h"
#include "base/histogram.h"
#include "curator/v1/services.pb.h"
#include "worker/cu_handler.h"
#include "worker/task_control.h"
#include "worker/task_hooks.h"

namespace curator::worker {

struct TaskRunnerOptions {
  std::string archive_root;
  int slots = 1;
  int threads_per_task = 0;  // 0: one per core
  // Where each task's log goes (curation.step_log, file_log,
  // log_message, under the request's cu_event_id); empty: nowhere.
  std::string conninfo;
  // The CUs it knows and their handlers; neither owned, both must
  // outlive the runner.
  const archive::CuRegistry* registry = &archive::CuRegistry::WithSources();
  const HandlerTable* handlers = nullptr;
  // Test hooks; nullptr in production.
  TaskHooks* hooks = nullptr;
  // Called (from the task's thread) when a task ends, with its status.
  std::function<void(const v1::TaskStatus&)> on_finished;
};

class TaskRunner {
 public:
  explicit TaskRunner(TaskRunnerOptions options);
  ~TaskRunner();  // Shutdown()

  struct Accepted {
    bool accepted = false;  // false: a task with this id is known already
    int64_t seq = 0;        // the task's sequence number in this process
  };
  // Queues a task. InvalidArgument for a malformed request (a CU without
  // a handler, a bad night, no files for a CU that reads files, a path
  // outside the archive root); FailedPrecondition while shutting down.
  absl::StatusOr<Accepted> Submit(const v1::RunTaskRequest& request);
  // Asks a queued or running task to stop; false if unknown or finished.
  bool Cancel(const std::string& task_id);
  // Every task not yet forgotten: queued, running and finished ones.
  std::vector<v1::TaskStatus> Tasks() const;
  // Forgets finished tasks the daemon has recorded.
  void Forget(const std::vector<std::string>& task_ids);
  v1::Load Load() const;
  // Since the runner started (counters: they never go down when tasks
  // are forgotten).
  struct Totals {
    int64_t done = 0, failed = 0, cancelled = 0;
    int64_t files_processed = 0, files_failed = 0;
    // Tasks done, by CU: seconds from taking a slot to the end (its log
    // written).
    std::map<int, Histogram> done_seconds;
  };
  Totals totals() const;
  const std::string& boot_id() const { return boot_id_; }
  // The sequence number of the last task accepted.
  int64_t seq() const;

  // Cancels what is queued or running and waits for the slots to finish.
  void Shutdown();

 private:
  struct Task {
    v1::RunTaskRequest request;
    v1::TaskStatus status;  // guarded by TaskRunner::mu_
    TaskControl control;
  };
  void WorkLoop();
  void Run(Task& task);

  const TaskRunnerOptions options_;
  const std::string boot_id_;
  mutable std::mutex mu_;
  int64_t seq_ = 0;
  Totals totals_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  std::map<std::string, std::shared_ptr<Task>> tasks_;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace curator::worker

#endif  // CURATOR_WORKER_TASK_RUNNER_H_
