// Test hooks of the task runner: an interface that only tests install
// (tests/support/worker_hooks.cc, linked into a test build of
// curator-worker); production workers run with none, and no production
// path pauses or polls for a test.
#ifndef CURATOR_WORKER_TASK_HOOKS_H_
#define CURATOR_WORKER_TASK_HOOKS_H_

#include "curator/v1/services.pb.h"
#include "worker/task_control.h"

namespace curator::worker {

class TaskHooks {
 public:
  virtual ~TaskHooks() = default;
  // Called on the task's thread just before it runs. A hook may block
  // (e.g. until the task is cancelled: control.WaitCancelled()).
  virtual void BeforeTask(const v1::RunTaskRequest& request, TaskControl& control) = 0;
  // Called on the task's thread each time a file is done, with the files
  // done so far (one call at a time: the count stays while it runs). A
  // hook may block, as BeforeTask.
  virtual void AfterFile(const v1::RunTaskRequest& request,
                         TaskControl& control, int files_done) {
    (void)request;
    (void)control;
    (void)files_done;
  }
};

}  // namespace curator::worker

#endif  // CURATOR_WORKER_TASK_HOOKS_H_
