// curator-worker's command line (worker/worker_main.cc has the usage),
// as a function, so the production binary (worker/main.cc) and a test
// build with test hooks (tests/support/hooked_worker_main.cc) share it.
#ifndef CURATOR_WORKER_WORKER_MAIN_H_
#define CURATOR_WORKER_WORKER_MAIN_H_

#include "worker/task_hooks.h"

namespace curator::worker {

// `hooks`: nullptr in production.
int WorkerMain(int argc, char** argv, TaskHooks* hooks);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_WORKER_MAIN_H_
