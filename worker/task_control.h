// Shared between a running task and whoever watches it (the worker
// server): per-file progress, and a flag that asks the task to stop.
// A cancelled task returns Cancelled and publishes nothing; what it wrote
// so far is removed. Thread-safe.
#ifndef CURATOR_WORKER_TASK_CONTROL_H_
#define CURATOR_WORKER_TASK_CONTROL_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace curator::worker {

class TaskControl {
 public:
  bool Cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  // Blocks until the task is cancelled (test hooks hold a task this way).
  void WaitCancelled() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return Cancelled(); });
  }
  // Blocks until the task is cancelled or `done()` holds, rechecked at
  // each Cancel and Notify. True if `done()` held.
  template <typename Done>
  bool WaitCancelledOr(Done done) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return Cancelled() || done(); });
    return !Cancelled();
  }
  // Wakes WaitCancelledOr to recheck its condition.
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  void FileDone(bool ok) {
    if (file_hook_) {
      // One file at a time while a hook watches: the count it is given
      // stays as it is until it returns.
      std::lock_guard<std::mutex> lock(hook_mu_);
      const int done = files_done_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (!ok) files_failed_.fetch_add(1, std::memory_order_relaxed);
      file_hook_(done);
      return;
    }
    files_done_.fetch_add(1, std::memory_order_relaxed);
    if (!ok) files_failed_.fetch_add(1, std::memory_order_relaxed);
  }
  // For test hooks only (worker/task_hooks.h): called from FileDone with
  // the files done so far. Set before the task runs.
  void SetFileHook(std::function<void(int files_done)> hook) {
    file_hook_ = std::move(hook);
  }
  int files_done() const { return files_done_.load(std::memory_order_relaxed); }
  int files_failed() const { return files_failed_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<int> files_done_{0};
  std::atomic<int> files_failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void(int)> file_hook_;
  std::mutex hook_mu_;
};

}  // namespace curator::worker

#endif  // CURATOR_WORKER_TASK_CONTROL_H_
