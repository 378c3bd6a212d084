// A test build of curator-ingester: the production command line, plus
// --pause_before_commit FILE (tests/support/test_hooks.h).
#include "absl/flags/flag.h"
#include "ingester/ingester_main.h"
#include "tests/support/test_hooks.h"

ABSL_FLAG(std::string, pause_before_commit, "",
          "Testing only: before COMMIT, write the batch id to this file and wait to be killed");

namespace {

class FromFlag : public curator::ingester::IngestHooks {
 public:
  void BeforeCommit(const std::string& batch_id) override {
    const std::string file = absl::GetFlag(FLAGS_pause_before_commit);
    if (!file.empty()) curator::testing::PauseBeforeCommit(file).BeforeCommit(batch_id);
  }
};

}  // namespace

int main(int argc, char** argv) {
  FromFlag hooks;
  return curator::ingester::IngesterMain(argc, argv, &hooks);
}
