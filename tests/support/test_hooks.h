// Test hooks of the worker and the ingester (worker/task_hooks.h,
// ingester/ingest.h), installed only by the test builds of their binaries
// (hooked_worker_main.cc, hooked_ingester_main.cc) and by in-process
// tests. Each announces itself by writing a file, whole or not at all, so
// a test that sees the file can read it.
#ifndef CURATOR_TESTS_SUPPORT_TEST_HOOKS_H_
#define CURATOR_TESTS_SUPPORT_TEST_HOOKS_H_

#include <string>
#include <vector>

#include "ingester/ingest.h"
#include "worker/task_hooks.h"

namespace curator::testing {

// Before each task: writes the attempt id to `file`, then holds the task
// until it is cancelled (the worker shuts down, or the daemon cancels it),
// or the process is killed, or the test removes `file`: then the task
// runs as usual.
class PauseBeforeTask : public worker::TaskHooks {
 public:
  explicit PauseBeforeTask(std::string file) : file_(std::move(file)) {}
  void BeforeTask(const v1::RunTaskRequest& request, worker::TaskControl& control) override;

 private:
  const std::string file_;
};

// Each time a task of CU `cu` has done one of the counts in `files`:
// writes the attempt id and the count ("task-7-1 2") to `file`, then
// holds the task, its count of files done as it is, until it is
// cancelled, the process killed, or the test removes `file`.
class PauseAfterFiles : public worker::TaskHooks {
 public:
  PauseAfterFiles(std::string file, int cu, std::vector<int> files)
      : file_(std::move(file)), cu_(cu), files_(std::move(files)) {}
  void BeforeTask(const v1::RunTaskRequest&, worker::TaskControl&) override {}
  void AfterFile(const v1::RunTaskRequest& request,
                 worker::TaskControl& control, int files_done) override;

 private:
  const std::string file_;
  const int cu_;
  const std::vector<int> files_;
};

// Just before COMMIT of a loaded batch: writes the batch id to `file` and
// blocks until the process is killed.
class PauseBeforeCommit : public ingester::IngestHooks {
 public:
  explicit PauseBeforeCommit(std::string file) : file_(std::move(file)) {}
  void BeforeCommit(const std::string& batch_id) override;

 private:
  const std::string file_;
};

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_TEST_HOOKS_H_
