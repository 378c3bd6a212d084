#include "tests/support/test_hooks.h"

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "base/log.h"

namespace curator::testing {

void PauseBeforeTask::BeforeTask(const v1::RunTaskRequest& request,
                                 worker::TaskControl& control) {
  if (absl::Status s = files::WriteAtomically(file_, absl::StrCat(request.task_id(), "\n"));
      !s.ok()) {
    CURATOR_LOG(ERROR) << "test hook: " << s;
  }
  CURATOR_LOG(WARNING) << "test hook: task " << request.task_id()
                       << " held before it runs, until it is cancelled or " << file_
                       << " is removed";
  // Polled: a test hook, never a production path; the task control has
  // nothing to wake it on a file's removal.
  std::error_code ec;
  while (!control.Cancelled() && std::filesystem::exists(file_, ec)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!control.Cancelled()) {
    CURATOR_LOG(WARNING) << "test hook: task " << request.task_id() << " released";
  }
}

void PauseBeforeCommit::BeforeCommit(const std::string& batch_id) {
  (void)files::WriteAtomically(file_, batch_id);
  CURATOR_LOG(WARNING) << "test hook: held before COMMIT of " << batch_id << " until killed";
  std::promise<void>().get_future().wait();  // never set
}

}  // namespace curator::testing
