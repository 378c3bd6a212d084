// clients/python/curator_client.py against a real curator-daemon: the
// fixture starts PostgreSQL and the daemon with one night of pending
// tasks, and runs the module's unittest suite with python3.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"

namespace curator {
namespace {

class PythonClientTest : public testing::ClusterTest {};

TEST_F(PythonClientTest, UnittestSuitePassesAgainstARealDaemon) {
  Generate(Survey(1, 2));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  ASSERT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM curation.task") == 3; },
                                 absl::Seconds(30)))
      << daemon.Log();
  const std::string dir = std::string(CURATOR_SOURCE_DIR) + "/clients/python";
  testing::CommandResult r = testing::RunCommand(absl::StrCat(
      "cd ", dir, " && CURATORCTL=", Bin("daemon/curatorctl"), " CURATOR_DAEMON=127.0.0.1:",
      port_, " CURATOR_CONFIG=", config_, " python3 -B test_curator_client.py 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("test_the_operators_cycle) ... ok"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("Ran 5 tests"));
  std::cout << r.output;
}

}  // namespace
}  // namespace curator
