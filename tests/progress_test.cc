// Progress and estimates with real processes on loopback (curator-daemon,
// curator-worker, curator-ingester, a real PostgreSQL): what an operator
// reads in ListTasks and GetPlan while a task runs and after tasks end
// (docs/ARCHITECTURE.md, "Estimates").
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "curator/v1/services.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/command.h"
#include "tests/support/process.h"

namespace curator {
namespace {

using ::testing::HasSubstr;

class ProgressTest : public testing::ClusterTest {
 protected:
  std::unique_ptr<v1::Coordinator::Stub> Stub() {
    return v1::Coordinator::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }
  // ListTasks with its filters; fails the test on an error.
  v1::ListTasksResponse Tasks(const std::string& night = "",
                              v1::Cu cu = v1::CU_UNSPECIFIED,
                              grpc::StatusCode expect = grpc::StatusCode::OK) {
    v1::ListTasksRequest request;
    request.set_night(night);
    request.set_cu(cu);
    v1::ListTasksResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::Status s = Stub()->ListTasks(&context, request, &response);
    EXPECT_EQ(s.error_code(), expect) << s.error_message();
    return response;
  }
  v1::GetPlanResponse Plan() {
    v1::GetPlanResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::Status s = Stub()->GetPlan(&context, v1::GetPlanRequest(), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }
  v1::TaskInfo Task(const std::string& night, v1::Cu cu) {
    v1::ListTasksResponse r = Tasks(night, cu);
    EXPECT_EQ(r.tasks_size(), 1) << r.DebugString();
    return r.tasks_size() == 1 ? r.tasks(0) : v1::TaskInfo();
  }
  // The task once `done` holds for it (the last seen if never, with a
  // failure).
  v1::TaskInfo TaskOnce(const std::string& night, v1::Cu cu,
                        const std::function<bool(const v1::TaskInfo&)>& done) {
    v1::TaskInfo t;
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
          t = Task(night, cu);
          return done(t);
        },
        absl::Seconds(20)))
        << t.DebugString();
    return t;
  }
  std::string Night(int i) {
    return std::to_string(Count(absl::StrCat(
        "SELECT to_char(night, 'YYYYMMDD')::int FROM curation.night ORDER BY "
        "night OFFSET ",
        i, " LIMIT 1")));
  }
  // Until the hook has written `file` with a count of `files` files done.
  bool HeldAt(const std::string& file, int files) {
    return testing::WaitUntil(
        [&] {
          std::error_code ec;
          return std::filesystem::exists(file, ec) &&
                 absl::EndsWith(testing::ReadFileToString(file),
                                absl::StrCat(" ", files, "\n"));
        },
        absl::Seconds(60));
  }
};

TEST_F(ProgressTest,
       ARunningTaskShowsItsFilesDoneAndTimeLeftAndTheFinishedOneAllItsFiles) {
  Generate(Survey(1, 6, 20, 128));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process ingester = Ingester();
  // CU3 (6 images, one file at a time) held after its 2nd and 4th file.
  const std::string held = archive_dir_.Join("held");
  testing::Process w1 =
      HookedWorker("w1", {"--pause_after_files", absl::StrCat("3,2+4,", held)});
  ASSERT_TRUE(HeldAt(held, 2)) << daemon.Log() << w1.Log();
  const std::string night = Night(0);

  // The heartbeat that follows carries the count.
  v1::TaskInfo t;
  // (Its state may still read dispatched for a moment: the progress and
  // the start come with the same heartbeat.)
  t = TaskOnce(night, v1::CU3, [](const v1::TaskInfo& x) {
    return x.files_done() == 2 && x.state() == "running";
  });
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(t.state(), "running");
  EXPECT_EQ(t.files(), 6);
  EXPECT_EQ(t.worker_id(), "w1");
  EXPECT_EQ(t.started_at().size(),
            std::string("2026-12-01T21:40:00.000Z").size())
      << t.started_at();
  EXPECT_GT(t.elapsed_seconds(), 0);
  // No history yet: the default estimate, recorded at dispatch.
  EXPECT_GT(t.estimated_seconds(), 0);
  EXPECT_GT(t.remaining_seconds(), 0);
  const double left_at_2 = t.remaining_seconds();
  // Held: the task runs late, and the time left grows with it.
  t = TaskOnce(night, v1::CU3,
               [](const v1::TaskInfo& x) { return x.elapsed_seconds() > 2; });
  ASSERT_FALSE(HasFailure());
  EXPECT_GT(t.remaining_seconds(), left_at_2);
  // With a task running, the plan's finish is past its time left, and
  // the night's other tasks start on its worker's one slot only after it.
  v1::GetPlanResponse plan = Plan();
  EXPECT_EQ(plan.running_tasks(), 1);
  EXPECT_GT(plan.finish_in_seconds(), 0) << plan.DebugString();
  EXPECT_GE(plan.finish_in_seconds() + 0.5, t.remaining_seconds())
      << plan.DebugString();
  ASSERT_EQ(plan.entries_size(), 2) << plan.DebugString();
  for (const v1::PlanEntryInfo& e : plan.entries()) {
    EXPECT_FALSE(e.starts_now());
    EXPECT_GE(e.start_in_seconds() + 0.5, t.remaining_seconds());
    EXPECT_GT(e.estimated_seconds(), 0);
  }

  // On to the 4th file: the count rises, time is still left.
  std::filesystem::remove(held);
  ASSERT_TRUE(HeldAt(held, 4)) << w1.Log();
  t = TaskOnce(night, v1::CU3,
               [](const v1::TaskInfo& x) { return x.files_done() == 4; });
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(t.state(), "running");
  EXPECT_GT(t.remaining_seconds(), 0);
  // Two files left, at the rate seen (over 2 s for 4 files) more than
  // the whole task's estimate.
  EXPECT_GT(t.remaining_seconds(), t.estimated_seconds()) << t.DebugString();

  std::filesystem::remove(held);
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60))) << daemon.Log() << w1.Log();
  t = Task(night, v1::CU3);
  EXPECT_EQ(t.state(), "ingested");
  EXPECT_EQ(t.files_done(), 6);
  EXPECT_EQ(t.remaining_seconds(), -1);
  // What it took (held twice, so longer than estimated) and its estimate.
  EXPECT_GT(t.elapsed_seconds(), t.estimated_seconds());
  EXPECT_GT(t.estimated_seconds(), 0);
  // Nothing runs, nothing is planned: finish in 0 s is now true.
  plan = Plan();
  EXPECT_EQ(plan.running_tasks(), 0);
  EXPECT_EQ(plan.finish_in_seconds(), 0);
  // The three attempts' estimates checked against what they took.
  EXPECT_EQ(plan.estimates_compared(), 3) << plan.DebugString();
  EXPECT_GT(plan.estimate_error_p90(), 0);
  EXPECT_GE(plan.estimate_error_p90(), plan.estimate_error_median());
}

TEST_F(ProgressTest,
       EstimatesLearnFromPastTasksOfTheCuAndTheirErrorIsReported) {
  const int nights = 4;
  Generate(Survey(nights, 4, 60, 256));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  testing::Process ingester = Ingester();
  testing::Process w1 = Worker("w1");
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task") == 3 * nights; },
      absl::Seconds(30)))
      << daemon.Log();
  const std::string first = Night(0);
  const std::string last = Night(nights - 1);

  // Filters, in the daemon's query: a night, a CU, both.
  v1::ListTasksResponse of_night = Tasks(first);
  ASSERT_EQ(of_night.tasks_size(), 3);
  for (const v1::TaskInfo& t : of_night.tasks()) EXPECT_EQ(t.night(), first);
  v1::ListTasksResponse cu4 = Tasks("", v1::CU4);
  ASSERT_EQ(cu4.tasks_size(), nights);
  for (const v1::TaskInfo& t : cu4.tasks()) EXPECT_EQ(t.cu(), v1::CU4);
  EXPECT_EQ(Tasks(last, v1::CU2).tasks_size(), 1);
  EXPECT_EQ(Tasks("20000101").tasks_size(), 0);
  Tasks("2007-10-21", v1::CU_UNSPECIFIED, grpc::StatusCode::INVALID_ARGUMENT);
  Tasks("", static_cast<v1::Cu>(9), grpc::StatusCode::INVALID_ARGUMENT);
  // Waiting tasks are estimated too (the default: no history).
  EXPECT_GT(Tasks(first, v1::CU2).tasks(0).estimated_seconds(), 0);
  EXPECT_EQ(Tasks(first, v1::CU2).tasks(0).remaining_seconds(), -1);
  v1::GetPlanResponse before = Plan();
  ASSERT_EQ(before.entries_size(), 3 * nights);
  EXPECT_THAT(before.entries(0).estimate_basis(), HasSubstr("default"));
  EXPECT_EQ(before.estimates_compared(), 0);

  // One worker, one slot: the nights' tasks run one after the other, each
  // CU's first night's first, so a later night's task is estimated from
  // the earlier nights' of its CU.
  ASSERT_EQ(Ctl("approve --all").exit_code, 0);
  ASSERT_TRUE(AllIngested(3 * nights, absl::Seconds(120)))
      << daemon.Log() << w1.Log();
  for (v1::Cu cu : {v1::CU2, v1::CU3, v1::CU4}) {
    v1::TaskInfo t = Task(last, cu);
    absl::StatusOr<pg::Result> r = conn_->Exec(
        "SELECT estimate_basis FROM curation.task_attempt WHERE task_id = $1 "
        "ORDER BY "
        "attempt_id DESC LIMIT 1",
        {std::to_string(t.task_id())});
    ASSERT_TRUE(r.ok() && r->rows() == 1) << r.status();
    const std::string basis = r->Get(0, 0);
    std::cout << "CU" << cu << " of " << last << ": estimated "
              << t.estimated_seconds() << " s, took " << t.elapsed_seconds()
              << " s (" << basis << ")\n";
    EXPECT_THAT(basis, HasSubstr(absl::StrCat("(median of ", nights - 1,
                                              " attempts)")));
    EXPECT_GT(t.estimated_seconds(), t.elapsed_seconds() / 3) << basis;
    EXPECT_LT(t.estimated_seconds(), t.elapsed_seconds() * 3) << basis;
    EXPECT_EQ(t.files_done(), t.files());
  }
  v1::GetPlanResponse after = Plan();
  EXPECT_EQ(after.estimates_compared(), 3 * nights);
  std::cout << "past estimates: " << after.estimates_compared()
            << " compared, median |error| " << after.estimate_error_median()
            << ", p90 " << after.estimate_error_p90() << ", mean signed "
            << after.estimate_error_mean_signed() << "\n";
  EXPECT_GT(after.estimate_error_p90(), 0);
  EXPECT_GE(after.estimate_error_p90(), after.estimate_error_median());
  // Against the database: what was recorded at dispatch for every attempt.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE "
                  "estimated_seconds > 0 AND "
                  "input_bytes > 0 AND input_files = 4"),
            3 * nights);
}

}  // namespace
}  // namespace curator
