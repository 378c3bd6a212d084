// clients/python/curator_client.py against a real curator-daemon: the
// fixture starts PostgreSQL and the daemon with one night of pending
// tasks, and runs the module's unittest suite with python3.
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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
  EXPECT_THAT(r.output, ::testing::HasSubstr("Ran 7 tests"));
  std::cout << r.output;
}

// The README's Python example, as written there (only the daemon's
// address and the config are this test's), against a daemon, a worker and
// an ingester: it approves a night, watches it settle, makes a release
// and meets a refusal.
TEST_F(PythonClientTest, TheReadmesExampleRunsAsWritten) {
  Generate(Survey(1, 2));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM curation.task") == 3; },
                                 absl::Seconds(30)))
      << daemon.Log();
  const std::string readme =
      testing::ReadFileToString(std::string(CURATOR_SOURCE_DIR) + "/README.md");
  const size_t start = readme.find("```python\n  from curator_client import");
  ASSERT_NE(start, std::string::npos);
  const size_t body = readme.find('\n', start) + 1;
  std::string example = readme.substr(body, readme.find("```", body) - body);
  // As indented in the README's list.
  example = std::regex_replace(example, std::regex("(^|\n)  "), "$1");
  example = absl::StrReplaceAll(example, {{"pixel00:7400", absl::StrCat("127.0.0.1:", port_)},
                                          {"/etc/curator/curator.conf", config_}});
  const std::string script = absl::StrCat(config_, ".example.py");
  std::ofstream(script) << example;
  testing::CommandResult r = testing::RunCommand(
      absl::StrCat("PYTHONPATH=", CURATOR_SOURCE_DIR, "/clients/python CURATORCTL=",
                   Bin("daemon/curatorctl"), " timeout 600 python3 -B ", script, " 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << example << r.output << daemon.Log();
  EXPECT_THAT(r.output, ::testing::HasSubstr("'ingested': 3"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("'failed': 0"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("task 999999"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.release WHERE name = 'dr1'"), 1);
}

}  // namespace
}  // namespace curator
