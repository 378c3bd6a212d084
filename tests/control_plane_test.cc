// The control plane with real processes on loopback: curator-daemon, two
// curator-worker servers and curator-ingester against a real PostgreSQL.
// Nights are found, planned, dispatched to both workers and ingested; a
// worker that dies mid-task loses it to the other; a daemon killed and
// restarted carries on.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/archive_digest.h"
#include "tests/support/command.h"
#include "tests/support/grpc_health.h"
#include "tests/support/cluster_test.h"
#include "tests/support/http.h"
#include "tests/support/process.h"

namespace curator {
namespace {

using ::testing::HasSubstr;


class ControlPlaneTest : public testing::ClusterTest {};

TEST_F(ControlPlaneTest, NightsArePlannedApprovedDispatchedToBothWorkersAndIngested) {
  Generate(Survey(3, 3, 60, 256));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1"), w2 = Worker("w2");
  testing::Process ingester = Ingester();
  // Found and registered, waiting for the operator.
  ASSERT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM curation.task") == 9; },
                                 absl::Seconds(30)))
      << daemon.Log();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.worker WHERE last_heartbeat > now() - interval '2 seconds'") == 2; },
      absl::Seconds(30)));
  // The daemon and the ingester answer health checks (the workers' is in
  // worker_server_test).
  EXPECT_EQ(testing::HealthStatus(absl::StrCat("127.0.0.1:", port_)), 1) << daemon.Log();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return testing::HealthStatus(absl::StrCat("127.0.0.1:", ingester_port_)) == 1; },
      absl::Seconds(30)))
      << ingester.Log();
  testing::CommandResult plan = Ctl("plan");
  EXPECT_EQ(plan.exit_code, 0) << plan.output;
  EXPECT_THAT(plan.output, HasSubstr("(starts when approved)"));
  EXPECT_THAT(plan.output, HasSubstr("estimated finish in"));
  EXPECT_THAT(plan.output, HasSubstr("worker w1"));
  EXPECT_THAT(plan.output, HasSubstr("slots busy"));
  testing::CommandResult json = Ctl("tasks --json");
  EXPECT_THAT(json.output, HasSubstr("\"state\":\"pending\""));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state <> 'pending'"), 0);

  testing::CommandResult approve = Ctl("approve --all");
  EXPECT_EQ(approve.exit_code, 0) << approve.output;
  EXPECT_THAT(approve.output, HasSubstr("approved 9 task(s)"));
  ASSERT_TRUE(AllIngested(9, absl::Seconds(90))) << daemon.Log() << w1.Log() << w2.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state = 'ingested'"), 9);
  EXPECT_EQ(Count("SELECT count(DISTINCT worker_id) FROM curation.task"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 9);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 9 * 4 * 60);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 9 * 4 * 60);
  EXPECT_EQ(Count("SELECT count(comp_file) FROM multiframe_detector"), 36);
  testing::CommandResult workers = Ctl("workers");
  EXPECT_THAT(workers.output, HasSubstr("w1"));
  EXPECT_THAT(workers.output, HasSubstr("w2"));
  // Approving again is refused, with the reason.
  testing::CommandResult again = Ctl("approve 1");
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.output, HasSubstr("task 1 is ingested; it cannot become approved"));
}

TEST_F(ControlPlaneTest, AWorkerStoppedMidTaskGivesItBackAtOnce) {
  Generate(Survey(1, 2, 20, 128));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process ingester = Ingester();
  const std::string paused = archive_dir_.Join("w1-paused");
  testing::Process w1 = Worker("w1", paused);
  ASSERT_TRUE(testing::WaitForFile(paused, absl::Seconds(60))) << daemon.Log() << w1.Log();
  // "task-<id>-<attempt>": the task w1 holds.
  const std::string held = testing::ReadFileToString(paused);
  const std::string task = held.substr(5, held.find('-', 5) - 5);
  // An operator stops w1 (systemctl stop): it cancels what it runs and
  // says so; the daemon hands the task to w2 without waiting for w1's
  // heartbeats to age out, and without using up one of its attempts.
  testing::Process w2 = Worker("w2");
  w1.Signal(SIGTERM);
  EXPECT_EQ(w1.Wait(absl::Seconds(30)), 0) << w1.Log();
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60))) << daemon.Log() << w2.Log();
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ", task,
                               " AND worker_id = 'w1' AND outcome = 'lost' AND error = 'worker w1 "
                               "stopped it (shutting down)'")),
            1)
      << daemon.Log();
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ", task,
                               " AND worker_id = 'w2' AND outcome = 'done'")),
            1);
  EXPECT_EQ(Count(absl::StrCat("SELECT max_attempts FROM curation.task WHERE task_id = ", task)),
            4);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE error LIKE '%no heartbeat%'"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 20);
}

TEST_F(ControlPlaneTest, AWorkerThatDiesMidTaskLosesItAndTheRestartedDaemonCarriesOn) {
  Generate(Survey(1, 4, 100, 256));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  // w1 alone first: it takes a task, and dies in the middle of it.
  const std::string paused = archive_dir_.Join("w1-paused");
  testing::Process w1 = Worker("w1", paused);
  ASSERT_TRUE(testing::WaitForFile(paused, absl::Seconds(60))) << daemon.Log() << w1.Log();
  w1.Signal(SIGKILL);
  EXPECT_EQ(w1.Wait(absl::Seconds(10)), 128 + SIGKILL);
  testing::Process w2 = Worker("w2");
  // The daemon itself is killed and restarted meanwhile.
  daemon.Signal(SIGKILL);
  EXPECT_EQ(daemon.Wait(absl::Seconds(10)), 128 + SIGKILL);
  testing::Process daemon2 = Daemon("daemon2.log");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(AllIngested(3, absl::Seconds(120))) << daemon2.Log() << w2.Log();
  // w1's task went back to the queue and ran on w2; nothing twice, nothing missing.
  EXPECT_GE(Count("SELECT count(*) FROM curation.task WHERE last_error LIKE 'worker w1 lost%'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state = 'ingested' AND worker_id = 'w2'"), 3);
  EXPECT_EQ(Count("SELECT max(attempts) FROM curation.task"), 2);
  // The attempts on record: w1's lost, w2's done, none left open; and w1's
  // processing event ended as failed instead of staying 'running'.
  EXPECT_GE(Count("SELECT count(*) FROM curation.task_attempt WHERE worker_id = 'w1' AND outcome "
                  "= 'lost' AND error LIKE 'worker w1 lost%'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE worker_id = 'w2' AND outcome "
                  "= 'done'"),
            3);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE finished_at IS NULL"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE kind = 'process' AND status = "
                  "'running'"),
            0);
  EXPECT_GE(Count("SELECT count(*) FROM curation.cu_event WHERE kind = 'process' AND status = "
                  "'failed' AND message LIKE 'worker w1 lost%'"),
            1);
  // ... and curatorctl log shows both attempts of that task.
  const int64_t lost_task = Count(
      "SELECT min(task_id) FROM curation.task_attempt WHERE worker_id = 'w1' AND outcome = 'lost'");
  testing::CommandResult log = Ctl(absl::StrCat("log ", lost_task));
  EXPECT_THAT(log.output,
              ::testing::ContainsRegex(
                  "attempt 1 on w1 at [0-9-]+T[0-9:]+Z: lost after "
                  "[0-9.]+ m?s: worker w1 lost \\(no heartbeat\\)"));
  EXPECT_THAT(log.output, ::testing::ContainsRegex("attempt 2 on w2 at [^:]+:[^:]+:[^:]+: done"));
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 4 * 4 * 100);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 4 * 4 * 100);
  EXPECT_EQ(Count("SELECT count(comp_file) FROM multiframe_detector"), 16);
}

TEST_F(ControlPlaneTest, TheOperatorPausesRejectsCancelsRetriesAndResumes) {
  Generate(Survey(1, 2, 20, 128));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM curation.task") == 3; },
                                 absl::Seconds(30)));
  const int64_t cu3 = Count("SELECT task_id FROM curation.task WHERE cu = 3");
  const int64_t cu2 = Count("SELECT task_id FROM curation.task WHERE cu = 2");
  const int64_t cu4 = Count("SELECT task_id FROM curation.task WHERE cu = 4");
  EXPECT_THAT(Ctl("pause").output, HasSubstr("dispatch paused"));
  EXPECT_THAT(Ctl("approve --all").output, HasSubstr("approved 3 task(s)"));
  EXPECT_THAT(Ctl("plan").output, HasSubstr("dispatch is PAUSED"));
  // Several daemon passes later, still nothing dispatched.
  const int64_t events = Count("SELECT count(*) FROM curation.cu_event");
  ASSERT_FALSE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task WHERE state <> 'approved'") > 0; },
      absl::Milliseconds(800)));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event"), events);
  // The pause outlives the daemon: killed and restarted, it still waits.
  daemon.Signal(SIGKILL);
  ASSERT_TRUE(daemon.Wait(absl::Seconds(10)).has_value());
  testing::Process restarted = Daemon("daemon-restarted.log");
  ASSERT_TRUE(testing::WaitUntil([&] { return Ctl("plan").exit_code == 0; }, absl::Seconds(30)))
      << restarted.Log();
  EXPECT_THAT(Ctl("plan").output, HasSubstr("dispatch is PAUSED"));
  ASSERT_FALSE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task WHERE state <> 'approved'") > 0; },
      absl::Milliseconds(800)))
      << restarted.Log();
  EXPECT_THAT(restarted.Log(), HasSubstr("dispatch is paused (curatorctl resume to go on)"));
  // Not CU2 now; no CU4 at all; then CU4 after all.
  EXPECT_THAT(Ctl(absl::StrCat("reject ", cu2)).output, HasSubstr("reject: 1 task(s)"));
  EXPECT_THAT(Ctl(absl::StrCat("cancel ", cu4)).output, HasSubstr("cancel: 1 task(s)"));
  testing::CommandResult refused = Ctl(absl::StrCat("retry ", cu3));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output, HasSubstr("only failed or cancelled tasks can be retried"));
  EXPECT_THAT(Ctl(absl::StrCat("retry ", cu4)).output, HasSubstr("retry: 1 task(s)"));
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task WHERE state = 'pending' AND "
                               "task_id IN (", cu2, ", ", cu4, ")")),
            2);
  EXPECT_THAT(Ctl("resume").output, HasSubstr("dispatch running"));
  EXPECT_THAT(Ctl("approve --all").output, HasSubstr("approved 2 task(s)"));
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60))) << restarted.Log() << w1.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 20);
  // One attempt each, on record with its worker, event and outcome.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE outcome = 'done' AND "
                  "worker_id = 'w1' AND cu_event_id IS NOT NULL AND finished_at IS NOT NULL"),
            3);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt"), 3);
  // What an operator looks at afterwards.
  testing::CommandResult nights = Ctl("nights");
  EXPECT_THAT(nights.output, HasSubstr("20071021  yes            2           2  CU3 ingested, CU4 ingested, CU2 ingested"));
  testing::CommandResult batches = Ctl("batches");
  EXPECT_THAT(batches.output, HasSubstr("ingested"));
  EXPECT_THAT(batches.output, HasSubstr("detection 160"));
  testing::CommandResult log = Ctl(absl::StrCat("log ", cu3));
  EXPECT_EQ(log.exit_code, 0) << log.output;
  EXPECT_THAT(log.output, HasSubstr("CU3 of 20071021, ingested, attempt 1 on w1"));
  EXPECT_THAT(log.output, HasSubstr("step read headers"));
  EXPECT_THAT(log.output, HasSubstr("2 files"));
  testing::CommandResult status = Ctl("status");
  EXPECT_THAT(status.output, HasSubstr("tasks: 3 ingested"));
  EXPECT_THAT(status.output, HasSubstr("workers: 1 alive of 1"));
  EXPECT_THAT(status.output, HasSubstr("batches: 3 ingested"));
  // No such task is a refusal (2), not a failure to reach the daemon (3).
  testing::CommandResult missing = Ctl("log 424242");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("no task 424242"));
  // The commands describe themselves for client libraries.
  testing::CommandResult describe = testing::RunCommand(Bin("daemon/curatorctl") + " describe --json");
  EXPECT_EQ(describe.exit_code, 0);
  for (const char* c : {"\"name\":\"approve\"", "\"name\":\"cancel\"",
                        "\"type\":\"int64[]\"", "\"exit_codes\""}) {
    EXPECT_THAT(describe.output, HasSubstr(c));
  }
}

TEST_F(ControlPlaneTest, CancellingARunningTaskStopsItOnItsWorkerAndLeavesNoBatch) {
  Generate(Survey(1, 2, 20, 128));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  const std::string paused = archive_dir_.Join("w1-paused");
  testing::Process w1 = Worker("w1", paused);
  ASSERT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM curation.task") == 3; },
                                 absl::Seconds(30)));
  const int64_t cu3 = Count("SELECT task_id FROM curation.task WHERE cu = 3");
  EXPECT_THAT(Ctl(absl::StrCat("approve ", cu3)).output, HasSubstr("approved 1 task(s)"));
  // The worker holds it, started, until it is told to stop.
  ASSERT_TRUE(testing::WaitForFile(paused, absl::Seconds(60))) << daemon.Log() << w1.Log();
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(absl::StrCat("SELECT count(*) FROM curation.task WHERE task_id = ", cu3,
                                  " AND state = 'running'")) == 1;
      },
      absl::Seconds(30)))
      << daemon.Log();
  testing::CommandResult cancel = Ctl(absl::StrCat("cancel ", cu3));
  EXPECT_EQ(cancel.exit_code, 0) << cancel.output;
  EXPECT_THAT(cancel.output, HasSubstr("cancel: 1 task(s)"));
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return absl::StrContains(w1.Log(), "(CU3 20071021): CANCELLED"); },
      absl::Seconds(30)))
      << w1.Log();
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task WHERE task_id = ", cu3,
                               " AND state = 'cancelled'")),
            1);
  // Nothing of it reached staging, so nothing can be ingested; CU2 and CU4
  // stay waiting for it.
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(archive_ + "/staging", ec)) {
    EXPECT_EQ(e.path().string().find("-cu3-"), std::string::npos) << e.path();
  }
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state = 'pending'"), 2);
  EXPECT_THAT(Ctl(absl::StrCat("log ", cu3)).output, HasSubstr("attempt 1 on w1 at "));
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ", cu3,
                               " AND outcome = 'cancelled' AND finished_at IS NOT NULL")),
            1);
}

// The quickest of three runs of `call`: what it takes when nothing but the
// thing tested is in its way.
absl::Duration Fastest(const std::function<void()>& call) {
  absl::Duration best = absl::InfiniteDuration();
  for (int i = 0; i < 3; ++i) {
    const absl::Time t0 = absl::Now();
    call();
    best = std::min(best, absl::Now() - t0);
  }
  return best;
}

TEST_F(ControlPlaneTest, AFrozenWorkerHoldsUpNothingAndItsTasksMoveOnAfterTheTimeout) {
  Generate(Survey(1, 2, 20, 128));
  WriteConfig(/*auto_approve=*/false);
  // w1 has two slots: it holds its first task in one, and the daemon
  // sends it more while it is frozen (calls that never return).
  const std::string w1_config = archive_dir_.Join("w1.conf");
  {
    std::string text = testing::ReadFileToString(config_);
    const size_t at = text.find("slots: 1");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 8, "slots: 2");
    std::ofstream(w1_config) << text;
  }
  testing::Process daemon = Daemon();
  testing::Process ingester = Ingester();
  const std::string paused = archive_dir_.Join("w1-paused");
  testing::Process w1 = Start({Bin("tests/curator-worker-hooked"), "serve", "--config", w1_config,
                               "--worker_id", "w1", "--pause_before_task", paused},
                              "w1.log");
  ASSERT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM curation.task") == 3; },
                                 absl::Seconds(30)));
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return absl::StrContains(Ctl("workers").output, "w1"); }, absl::Seconds(30)));
  const int64_t cu3 = Count("SELECT task_id FROM curation.task WHERE cu = 3");
  EXPECT_EQ(Ctl(absl::StrCat("approve ", cu3)).exit_code, 0);
  ASSERT_TRUE(testing::WaitForFile(paused, absl::Seconds(60))) << daemon.Log() << w1.Log();
  // w1 freezes while it holds a task (a hung process, a stalled disk) ...
  w1.Signal(SIGSTOP);
  // ... and, its heartbeats still recent, gets another task: the
  // daemon's call to it hangs until its deadline.
  EXPECT_EQ(Ctl("approve --all").exit_code, 0);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count("SELECT count(*) FROM curation.task WHERE worker_id = 'w1' AND state IN "
                     "('dispatched', 'running')") == 2;
      },
      absl::Seconds(30)))
      << daemon.Log() << Ctl("tasks").output;
  // Nothing else waits for it: operator commands, the Load Monitor and
  // another worker's heartbeats answer at once.
  EXPECT_LT(Fastest([&] { EXPECT_EQ(Ctl("status").exit_code, 0); }), absl::Milliseconds(200));
  EXPECT_LT(Fastest([&] {
              EXPECT_EQ(testing::Http("GET", monitor_port_, "/api/tasks").status, 200);
            }),
            absl::Milliseconds(200));
  testing::Process w2 = Worker("w2");
  const std::regex w2_heard(
      "\"worker_id\":\"w2\"[^}]*\"seconds_since_heartbeat\":([0-9.e-]+)");
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return absl::StrContains(Ctl("workers").output, "w2"); }, absl::Seconds(30)));
  for (int i = 0; i < 5; ++i) {
    testing::HttpResult workers = testing::Http("GET", monitor_port_, "/api/workers");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(workers.body, m, w2_heard)) << workers.body;
    EXPECT_LT(std::stod(m[1]), 1.0) << workers.body;  // it beats every 100 ms
  }
  // After the heartbeat timeout (2 s) the frozen worker's tasks move on.
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60))) << daemon.Log() << w2.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE worker_id = 'w2'"), 3);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ",
                               cu3, " AND worker_id = 'w1' AND outcome = 'lost' AND error = "
                               "'worker w1 lost (no heartbeat)'")),
            1);
  // Thawed, w1 still holds its first attempt: it is told to drop it, and
  // the lost attempt's record stays as it was.
  w1.Signal(SIGCONT);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return absl::StrContains(
            w1.Log(), absl::StrCat("the daemon does not expect task task-", cu3, "-1 here"));
      },
      absl::Seconds(30)))
      << w1.Log();
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ",
                               cu3, " AND worker_id = 'w1' AND outcome = 'lost'")),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE finished_at IS NULL"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 20);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 2 * 4 * 20);
}

TEST_F(ControlPlaneTest, AQuarantinedBatchFailsItsTaskWithTheReasonAndItsRetryLandsIt) {
  Generate(Survey(1, 2, 20, 128));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  // Every batch made, none loaded yet.
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task WHERE state = 'done'") == 3; },
      absl::Seconds(60)))
      << daemon.Log() << w1.Log();
  const int64_t cu4 = Count("SELECT task_id FROM curation.task WHERE cu = 4");
  // The CU4 batch is damaged in staging (a bad disk): one byte flipped.
  const std::string damaged = DamageStagedBatch("-cu4-");
  ASSERT_FALSE(damaged.empty());
  testing::Process ingester = Ingester();
  // Refused: the task's attempt fails with the report's reason, and the
  // retry policy takes it from there, with no operator.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ",
                                  cu4, " AND outcome = 'quarantined' AND error LIKE 'batch % "
                                  "quarantined: %CRC-32C%'")) == 1;
      },
      absl::Seconds(60)))
      << daemon.Log() << ingester.Log();
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60))) << daemon.Log() << ingester.Log() << w1.Log();
  EXPECT_EQ(Count(absl::StrCat("SELECT attempts FROM curation.task WHERE task_id = ", cu4)), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 20);
  // The refused batch is kept in quarantine/ with its report; the log
  // shows both attempts.
  bool reported = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(archive_ + "/quarantine")) {
    if (e.path().filename() == "REPORT.txt") {
      reported = absl::StrContains(testing::ReadFileToString(e.path()), "CRC-32C");
    }
  }
  EXPECT_TRUE(reported);
  testing::CommandResult log = Ctl(absl::StrCat("log ", cu4));
  EXPECT_THAT(log.output, ::testing::ContainsRegex(
                              "attempt 1 on w1 at [^:]+:[^:]+:[^ ]+: "
                              "quarantined after [0-9.]+ m?s: batch "));
  EXPECT_THAT(log.output, ::testing::ContainsRegex("attempt 2 on w1 at [^:]+:[^:]+:[^ ]+: done"));
}

TEST_F(ControlPlaneTest, TwoWorkersMakeTheSameArchiveAsOne) {
  Generate(Survey(2, 3, 40, 128));
  // A second archive with the same nights, for the one-worker run.
  const std::string single = archive_dir_.Join("single");
  std::filesystem::create_directories(single);
  std::filesystem::copy(archive_ + "/incoming", single + "/incoming",
                        std::filesystem::copy_options::recursive);
  ASSERT_TRUE(server().CreateDatabase(dbname() + "_single").ok());
  const std::string single_db = server().ConnInfo(dbname() + "_single");
  auto run = [&](const std::string& db, const std::string& archive, int workers,
                 const std::string& tag) {
    WriteConfigFor(/*auto_approve=*/false, db, archive);
    testing::Process daemon = Start({Bin("daemon/curator-daemon"), "--config", config_}, tag + "-daemon.log");
    std::vector<testing::Process> ws;
    for (int i = 0; i < workers; ++i) {
      ws.push_back(Start({Bin("worker/curator-worker"), "serve", "--config", config_, "--worker_id",
                          absl::StrCat(tag, "-w", i)},
                         absl::StrCat(tag, "-w", i, ".log")));
    }
    testing::Process ingester = Start({Bin("ingester/curator-ingester"), "--config", config_}, tag + "-ingester.log");
    pqxx::connection c(db);
    auto holds = [&](const char* sql) {
      try {  // the daemon creates the schema when it starts
        pqxx::work tx(c);
        return tx.exec1(sql)[0].as<bool>();
      } catch (const std::exception&) {
        return false;
      }
    };
    // Every worker heard from and every task known, then approve.
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
          return holds(absl::StrCat("SELECT (SELECT count(*) FROM curation.task) = 6 AND (SELECT "
                                    "count(*) FROM curation.worker WHERE last_heartbeat > now() - "
                                    "interval '2 seconds') = ", workers).c_str());
        },
        absl::Seconds(60)));
    EXPECT_EQ(Ctl("approve --all").exit_code, 0);
    const bool done = testing::WaitUntil(
        [&] {
          return holds("SELECT (SELECT count(*) FROM curation.batch WHERE state = 'ingested') = 6 "
                       "AND (SELECT count(*) FROM curation.task WHERE state = 'ingested') = 6");
        },
        absl::Seconds(120));
    EXPECT_TRUE(done) << daemon.Log();
    return done;
  };
  ASSERT_TRUE(run(conninfo(), archive_, 2, "two"));
  EXPECT_EQ(Count("SELECT count(DISTINCT worker_id) FROM curation.task"), 2);
  ASSERT_TRUE(run(single_db, single, 1, "one"));
  const auto two = testing::ArchiveDigests(conninfo());
  const auto one = testing::ArchiveDigests(single_db);
  for (const auto& [table, digest] : two) {
    EXPECT_EQ(digest, one.at(table)) << table;
  }
  EXPECT_THAT(two.at("detection"), ::testing::EndsWith(" 960 960"));
  EXPECT_TRUE(server().DropDatabase(dbname() + "_single").ok());
}

}  // namespace
}  // namespace curator
