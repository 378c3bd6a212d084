// A test build of curator-worker: the production command line, plus
// --pause_before_task FILE (tests/support/test_hooks.h).
#include "absl/flags/flag.h"
#include "tests/support/test_hooks.h"
#include "worker/worker_main.h"

ABSL_FLAG(std::string, pause_before_task, "",
          "Testing only: before each task, write its id to this file and hold it until it is "
          "cancelled or the worker killed, or the file removed (then it runs)");

namespace {

// Reads the flag when the first task arrives (after the command line is
// parsed).
class FromFlag : public curator::worker::TaskHooks {
 public:
  void BeforeTask(const curator::v1::RunTaskRequest& request,
                  curator::worker::TaskControl& control) override {
    const std::string file = absl::GetFlag(FLAGS_pause_before_task);
    if (!file.empty()) curator::testing::PauseBeforeTask(file).BeforeTask(request, control);
  }
};

}  // namespace

int main(int argc, char** argv) {
  FromFlag hooks;
  return curator::worker::WorkerMain(argc, argv, &hooks);
}
