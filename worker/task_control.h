// Shared between a running task and whoever watches it (the worker
// server): per-file progress, and a flag that asks the task to stop.
// A cancelled task returns Cancelled and publishes nothing; what it wrote
// so far is removed.
#ifndef CURATOR_WORKER_TASK_CONTROL_H_
#define CURATOR_WORKER_TASK_CONTROL_H_

#include <atomic>

namespace curator::worker {

struct TaskControl {
  std::atomic<bool> cancelled{false};
  std::atomic<int> files_done{0};
  std::atomic<int> files_failed{0};

  bool Cancelled() const { return cancelled.load(std::memory_order_relaxed); }
  void FileDone(bool ok) {
    files_done.fetch_add(1, std::memory_order_relaxed);
    if (!ok) files_failed.fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace curator::worker

#endif  // CURATOR_WORKER_TASK_CONTROL_H_
