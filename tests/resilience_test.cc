// Unattended operation: real processes on loopback through the faults a
// site sees. A worker that dies is seen dead at once; a worker killed and
// restarted again and again within the heartbeat timeout loses no task;
// PostgreSQL restarting mid-run needs no operator; and a run with ten
// worker crashes and two database restarts makes the same archive as a
// clean run.
#include <signal.h>

#include <filesystem>
#include <pqxx/pqxx>
#include <fstream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/archive_digest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/http.h"
#include "tests/support/process.h"

namespace curator {
namespace {

using ::testing::HasSubstr;

class ResilienceTest : public testing::ClusterTest {
 protected:
  // The config with a heartbeat timeout of `ms`.
  void SetHeartbeatTimeout(int ms) {
    std::string text = testing::ReadFileToString(config_);
    const std::string from = "heartbeat_timeout_ms: 2000";
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), absl::StrCat("heartbeat_timeout_ms: ", ms));
    std::ofstream(config_) << text;
  }
  std::string WorkersLine(const std::string& worker) {
    const std::string out = Ctl("workers").output;
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      if (absl::StartsWith(line, worker + " ")) return std::string(line);
    }
    return "";
  }
  testing::HttpResult DaemonMetrics() { return testing::Http("GET", monitor_port_, "/metrics"); }
};

TEST_F(ResilienceTest, ADeadWorkerIsShownDeadLongBeforeItsHeartbeatTimesOut) {
  WriteConfig(/*auto_approve=*/false);
  SetHeartbeatTimeout(60000);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  ASSERT_TRUE(testing::WaitUntil([&] { return absl::StrContains(WorkersLine("w1"), " yes "); },
                                 absl::Seconds(30)))
      << daemon.Log();
  w1.Signal(SIGKILL);
  ASSERT_TRUE(w1.Wait(absl::Seconds(10)).has_value());
  // Its link is down (connection refused): not alive, and nothing new
  // goes there, well within the 60 s heartbeat timeout.
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(testing::WaitUntil([&] { return absl::StrContains(WorkersLine("w1"), " NO "); },
                                 absl::Seconds(20)))
      << WorkersLine("w1") << daemon.Log();
  EXPECT_LT(absl::Now() - killed, absl::Seconds(20));
  EXPECT_THAT(DaemonMetrics().body, HasSubstr("curator_daemon_worker_up{worker=\"w1\"} 0\n"));
  EXPECT_THAT(daemon.Log(), HasSubstr("worker w1 is unreachable (its link is down)"));
}

TEST_F(ResilienceTest, AWorkerCrashLoopWithinTheHeartbeatTimeoutLosesNoTask) {
  Generate(Survey(2, 2, 20, 128));
  WriteConfig(/*auto_approve=*/true);
  // Long enough that only the heartbeats' reconciliation can save the
  // tasks: the whole run must end well before it.
  SetHeartbeatTimeout(60000);
  testing::Process daemon = Daemon();
  testing::Process ingester = Ingester();
  // w1 is killed five times while it holds a task, and restarted at once
  // (systemd's Restart=on-failure): each restart must hand the held task
  // back at once.
  for (int crash = 0; crash < 5; ++crash) {
    const std::string paused = archive_dir_.Join(absl::StrCat("w1-paused-", crash));
    testing::Process w1 = Start({Bin("tests/curator-worker-hooked"), "serve", "--config", config_,
                                 "--worker_id", "w1", "--pause_before_task", paused},
                                absl::StrCat("w1-", crash, ".log"));
    ASSERT_TRUE(testing::WaitForFile(paused, absl::Seconds(30))) << daemon.Log() << w1.Log();
    w1.Signal(SIGKILL);
    ASSERT_TRUE(w1.Wait(absl::Seconds(10)).has_value());
  }
  testing::Process w1 = Worker("w1");
  ASSERT_TRUE(AllIngested(6, absl::Seconds(40))) << daemon.Log() << w1.Log();
  EXPECT_GE(Count("SELECT count(*) FROM curation.task_attempt WHERE outcome = 'lost' AND error "
                  "= 'worker w1 restarted and no longer has it'"),
            5)
      << daemon.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state = 'failed'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE finished_at IS NULL"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE status = 'running'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 2 * 4 * 20);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 2 * 2 * 4 * 20);
  EXPECT_EQ(Count("SELECT count(comp_file) FROM multiframe_detector"), 2 * 2 * 4);
}

TEST_F(ResilienceTest, PostgresRestartingMidRunNeedsNoOperator) {
  Generate(Survey(2, 2, 20, 128));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process ingester = Ingester();
  const std::string paused = archive_dir_.Join("w1-paused");
  testing::Process w1 = Worker("w1", paused);
  ASSERT_TRUE(testing::WaitForFile(paused, absl::Seconds(30))) << daemon.Log();
  testing::Process w2 = Worker("w2");
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.batch WHERE state = 'ingested'") >= 1; },
      absl::Seconds(30)));
  // PostgreSQL goes away (pg_ctl stop -m fast) in the middle of the run.
  ASSERT_TRUE(server().Stop().ok());
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        testing::HttpResult m = DaemonMetrics();
        return m.status == 200 && absl::StrContains(m.body, "curator_database_up 0\n");
      },
      absl::Seconds(20)))
      << DaemonMetrics().body;
  // Metrics that do not need the database are still served.
  EXPECT_THAT(DaemonMetrics().body, HasSubstr("curator_daemon_worker_up{worker=\"w2\"} 1\n"));
  testing::CommandResult status = Ctl("status");
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_THAT(status.output, HasSubstr("database"));
  // It comes back: nobody restarts anything.
  ASSERT_TRUE(server().Restart().ok()) << server().LogTail();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return absl::StrContains(DaemonMetrics().body, "curator_database_up 1\n"); },
      absl::Seconds(30)))
      << daemon.Log();
  // w1's held task moves on when w1 dies; the run completes.
  w1.Signal(SIGKILL);
  ASSERT_TRUE(AllIngested(6, absl::Seconds(60))) << daemon.Log() << ingester.Log() << w2.Log();
  EXPECT_THAT(daemon.Log(), HasSubstr("connected to the database again"));
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 2 * 4 * 20);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 2 * 2 * 4 * 20);
  EXPECT_EQ(Count("SELECT count(comp_file) FROM multiframe_detector"), 2 * 2 * 4);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE finished_at IS NULL"), 0);
}

TEST_F(ResilienceTest, TenWorkerCrashesAndTwoDatabaseRestartsMakeTheArchiveOfACleanRun) {
  const synth::Options survey = Survey(3, 4, 60, 512);
  Generate(survey);
  // The clean run first, on a copy of the nights in a database of its own.
  const std::string clean = archive_dir_.Join("clean");
  std::filesystem::create_directories(clean);
  std::filesystem::copy(archive_ + "/incoming", clean + "/incoming",
                        std::filesystem::copy_options::recursive);
  ASSERT_TRUE(server().CreateDatabase(dbname() + "_clean").ok());
  const std::string clean_db = server().ConnInfo(dbname() + "_clean");
  {
    WriteConfigFor(/*auto_approve=*/true, clean_db, clean);
    testing::Process daemon = Start({Bin("daemon/curator-daemon"), "--config", config_},
                                    "clean-daemon.log");
    testing::Process w1 = Start({Bin("worker/curator-worker"), "serve", "--config", config_,
                                 "--worker_id", "c1"},
                                "clean-w1.log");
    testing::Process ingester = Start({Bin("ingester/curator-ingester"), "--config", config_},
                                      "clean-ingester.log");
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          try {  // the daemon makes the schema when it starts
            return testing::ArchiveDigests(clean_db).at("detection") ==
                       testing::ArchiveDigests(clean_db).at("detection") &&
                   pqxx::work(*std::make_unique<pqxx::connection>(clean_db))
                           .exec1("SELECT count(*) FROM curation.task WHERE state = 'ingested'")[0]
                           .as<int>() == 9;
          } catch (const std::exception&) {
            return false;
          }
        },
        absl::Seconds(90)))
        << daemon.Log();
  }
  // The run with faults: two workers, each killed five times and restarted
  // at once, and PostgreSQL restarted twice, while the nights go through.
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process ingester = Ingester();
  std::vector<std::optional<testing::Process>> workers(2);
  workers[0].emplace(Worker("w1"));
  workers[1].emplace(Worker("w2"));
  for (int crash = 0; crash < 10; ++crash) {
    // Wait for some work to be under way, then strike.
    testing::WaitUntil(
        [&] {
          return Count("SELECT count(*) FROM curation.task WHERE state IN ('dispatched', "
                       "'running')") > 0 ||
                 (Count("SELECT count(*) FROM curation.task") == 9 &&
                  Count("SELECT count(*) FROM curation.task WHERE state <> 'ingested'") == 0);
        },
        absl::Seconds(10));
    const int victim = crash % 2;
    workers[victim]->Signal(SIGKILL);
    ASSERT_TRUE(workers[victim]->Wait(absl::Seconds(10)).has_value());
    workers[victim].reset();
    workers[victim].emplace(Worker(absl::StrCat("w", victim + 1)));
    if (crash == 3 || crash == 7) {
      ASSERT_TRUE(server().Restart().ok()) << server().LogTail();
    }
  }
  // Settles with no operator: every task ingested, nothing failed.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count("SELECT count(*) FROM curation.task WHERE state = 'ingested'") == 9 &&
               Count("SELECT count(*) FROM curation.batch WHERE state = 'ingested'") == 9;
      },
      absl::Seconds(120)))
      << daemon.Log() << ingester.Log() << workers[0]->Log() << workers[1]->Log();
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state = 'failed'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE finished_at IS NULL"), 0);
  const std::map<std::string, std::string> faulted = testing::ArchiveDigests(conninfo());
  const std::map<std::string, std::string> reference = testing::ArchiveDigests(clean_db);
  for (const auto& [table, digest] : reference) {
    EXPECT_EQ(faulted.at(table), digest) << table;
  }
  // Every preview the archive names is on disk (a new connection: the
  // fixture's went with the restarts).
  auto conn = pg::Connection::Connect(conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto previews = (*conn)->Exec("SELECT comp_file FROM multiframe_detector");
  ASSERT_TRUE(previews.ok()) << previews.status();
  EXPECT_EQ(previews->rows(), 3 * 4 * 4);
  for (int i = 0; i < previews->rows(); ++i) {
    EXPECT_TRUE(std::filesystem::exists(archive_ + "/" + previews->Get(i, 0)))
        << previews->Get(i, 0);
  }
}

}  // namespace
}  // namespace curator
