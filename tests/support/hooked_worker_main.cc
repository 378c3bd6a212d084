// A test build of curator-worker: the production command line, plus
// --pause_before_task FILE (tests/support/test_hooks.h).
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "tests/support/test_hooks.h"
#include "worker/worker_main.h"

ABSL_FLAG(std::string, pause_before_task, "",
          "Testing only: before each task, write its id to this file and hold it until it is "
          "cancelled or the worker killed, or the file removed (then it runs)");
ABSL_FLAG(std::string, pause_after_files, "",
          "Testing only: CU,FILES,FILE: each time a task of that CU has done "
          "FILES files (one "
          "count, or several joined by '+'), write its id and the count to "
          "FILE and hold it "
          "until it is cancelled or the worker killed, or the file removed "
          "(then it goes on)");

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
  void AfterFile(const curator::v1::RunTaskRequest& request,
                 curator::worker::TaskControl& control,
                 int files_done) override {
    const std::string flag = absl::GetFlag(FLAGS_pause_after_files);
    if (flag.empty()) return;
    std::vector<std::string> parts =
        absl::StrSplit(flag, absl::MaxSplits(',', 2));
    int cu = 0;
    std::vector<int> files;
    bool ok = parts.size() == 3 && absl::SimpleAtoi(parts[0], &cu);
    for (absl::string_view n :
         absl::StrSplit(ok ? parts[1] : "", '+', absl::SkipEmpty())) {
      int count = 0;
      ok = ok && absl::SimpleAtoi(n, &count);
      files.push_back(count);
    }
    if (!ok || files.empty()) {
      CURATOR_LOG(ERROR) << "--pause_after_files wants CU,FILES,FILE, not "
                         << flag;
      return;
    }
    curator::testing::PauseAfterFiles(parts[2], cu, files)
        .AfterFile(request, control, files_done);
  }
};

}  // namespace

int main(int argc, char** argv) {
  FromFlag hooks;
  return curator::worker::WorkerMain(argc, argv, &hooks);
}
