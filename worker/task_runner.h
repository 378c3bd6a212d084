// Runs the tasks a worker is handed, `slots` at a time (a bounded
// executor), and keeps their status for GetStatus. Plain domain class:
// the gRPC service in worker/service.h only converts to and from it.
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
#include "curator/v1/services.pb.h"
#include "worker/task_control.h"

namespace curator::worker {

struct TaskRunnerOptions {
  std::string archive_root;
  int slots = 1;
  int threads_per_task = 0;  // 0: one per core
  // Where each task's log goes (curation.step_log, file_log,
  // log_message, under the request's cu_event_id); empty: nowhere.
  std::string conninfo;
  // Test hook: before running a task, create this file and wait until the
  // task is cancelled (then run it, which finds it cancelled) or the
  // process is killed. Empty in production.
  std::string pause_before_task_file;
  // Called (from the task's thread) when a task ends, with its status.
  std::function<void(const v1::TaskStatus&)> on_finished;
};

class TaskRunner {
 public:
  explicit TaskRunner(TaskRunnerOptions options);
  ~TaskRunner();  // Shutdown()

  // Queues a task. InvalidArgument for a malformed request (bad CU or
  // night, no files, a path outside the archive root); false if a task
  // with this id is known already (nothing is queued); FailedPrecondition
  // while shutting down.
  absl::StatusOr<bool> Submit(const v1::RunTaskRequest& request);
  // Asks a queued or running task to stop; false if unknown or finished.
  bool Cancel(const std::string& task_id);
  std::vector<v1::TaskStatus> Tasks() const;
  v1::Load Load() const;

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
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  std::map<std::string, std::shared_ptr<Task>> tasks_;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace curator::worker

#endif  // CURATOR_WORKER_TASK_RUNNER_H_
