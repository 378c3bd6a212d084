#include "tests/support/test_hooks.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "base/log.h"

namespace curator::testing {
namespace {

// Until `file_` is removed (true) or the task is cancelled (false).
bool WaitForRemoval(const std::string& file_, worker::TaskControl& control) {
  const std::filesystem::path file(file_);
  const int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  const int stop = eventfd(0, EFD_CLOEXEC);
  if (watch < 0 || stop < 0 ||
      inotify_add_watch(watch, file.parent_path().c_str(), IN_DELETE | IN_MOVED_FROM) < 0) {
    CURATOR_LOG(ERROR) << "test hook: cannot watch " << file_ << ": " << std::strerror(errno);
    if (watch >= 0) close(watch);
    if (stop >= 0) close(stop);
    return !control.Cancelled();
  }
  std::atomic<bool> removed{false};
  std::thread watcher([&] {
    std::error_code ec;
    // Checked after the watch is in place, so no removal is missed.
    while (std::filesystem::exists(file, ec)) {
      pollfd fds[2] = {{watch, POLLIN, 0}, {stop, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[1].revents != 0) return;  // cancelled
      char events[4096];
      while (read(watch, events, sizeof(events)) > 0) {
      }
    }
    removed = true;
    control.Notify();
  });
  const bool released = control.WaitCancelledOr([&] { return removed.load(); });
  const uint64_t one = 1;
  (void)!write(stop, &one, sizeof(one));
  watcher.join();
  close(watch);
  close(stop);
  return released;
}

}  // namespace

void PauseBeforeTask::BeforeTask(const v1::RunTaskRequest& request,
                                 worker::TaskControl& control) {
  if (absl::Status s = files::WriteAtomically(file_, absl::StrCat(request.task_id(), "\n"));
      !s.ok()) {
    CURATOR_LOG(ERROR) << "test hook: " << s;
  }
  CURATOR_LOG(WARNING) << "test hook: task " << request.task_id()
                       << " held before it runs, until it is cancelled or " << file_
                       << " is removed";
  // Released by the file's removal, seen through inotify on its
  // directory, or by cancellation; nothing polls.
  if (!WaitForRemoval(file_, control)) return;
  CURATOR_LOG(WARNING) << "test hook: task " << request.task_id()
                       << " released";
}

void PauseAfterFiles::AfterFile(const v1::RunTaskRequest& request,
                                worker::TaskControl& control, int files_done) {
  if (request.cu() != cu_ ||
      std::find(files_.begin(), files_.end(), files_done) == files_.end()) {
    return;
  }
  if (absl::Status s = files::WriteAtomically(
          file_, absl::StrCat(request.task_id(), " ", files_done, "\n"));
      !s.ok()) {
    CURATOR_LOG(ERROR) << "test hook: " << s;
  }
  CURATOR_LOG(WARNING) << "test hook: task " << request.task_id()
                       << " held after " << files_done
                       << " files, until it is cancelled or " << file_
                       << " is removed";
  if (!WaitForRemoval(file_, control)) return;
  CURATOR_LOG(WARNING) << "test hook: task " << request.task_id() << " released";
}

void PauseBeforeCommit::BeforeCommit(const std::string& batch_id) {
  (void)files::WriteAtomically(file_, batch_id);
  CURATOR_LOG(WARNING) << "test hook: held before COMMIT of " << batch_id << " until killed";
  std::promise<void>().get_future().wait();  // never set
}

}  // namespace curator::testing
