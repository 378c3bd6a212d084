// The control plane's tasks in a real PostgreSQL: a night's task graph,
// the state machine's conditional moves, retries with backoff.
#include "daemon/task_store.h"

#include <map>

#include "daemon/planner.h"
#include "archive/file_registry.h"
#include "daemon/worker_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/pipeline_test.h"

namespace curator::daemon {
namespace {

using ::testing::HasSubstr;

class TaskStoreTest : public testing::PipelineTest {
 protected:
  int64_t TaskOf(int cu) {
    auto tasks = ListTasks(*conn_);
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    for (const TaskRow& t : *tasks) {
      if (t.cu == cu) return t.task_id;
    }
    return 0;
  }
};

TEST(TaskStateTest, TheTransitionTable) {
  EXPECT_TRUE(IsAllowed(TaskState::kPending, TaskState::kApproved));
  EXPECT_TRUE(IsAllowed(TaskState::kRunning, TaskState::kDone));
  EXPECT_TRUE(IsAllowed(TaskState::kRunning, TaskState::kPending));  // worker lost
  EXPECT_FALSE(IsAllowed(TaskState::kPending, TaskState::kDispatched));  // needs approval
  EXPECT_FALSE(IsAllowed(TaskState::kDone, TaskState::kPending));  // done stays done
  EXPECT_FALSE(IsAllowed(TaskState::kDone, TaskState::kCancelled));
  for (const char* name : {"pending", "approved", "dispatched", "running", "done", "failed", "cancelled"}) {
    EXPECT_EQ(TaskStateName(*ParseTaskState(name)), std::string(name));
  }
  EXPECT_FALSE(ParseTaskState("lost").has_value());
}

TEST_F(TaskStoreTest, ANightGetsItsThreeTasksOnce) {
  Generate(Survey(1, 3));
  EXPECT_EQ(*CreateNightTasks(*conn_, "20071021"), 0);  // not registered: nothing
  Register("20071021");
  EXPECT_EQ(*CreateNightTasks(*conn_, "20071021"), 3);
  EXPECT_EQ(*CreateNightTasks(*conn_, "20071021"), 0);
  std::map<int, TaskRow> by_cu;
  auto tasks = ListTasks(*conn_);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  for (const TaskRow& t : *tasks) by_cu[t.cu] = t;
  ASSERT_EQ(by_cu.size(), 3u);
  EXPECT_EQ(by_cu[3].files, 3);  // images
  EXPECT_EQ(by_cu[2].files, 3);
  EXPECT_EQ(by_cu[4].files, 3);  // catalogues
  for (const auto& [cu, t] : by_cu) {
    EXPECT_EQ(t.state, TaskState::kPending);
    EXPECT_EQ(t.night, "20071021");
  }
}

TEST_F(TaskStoreTest, MovesAreConditionalAndRefusalsSayWhy) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*CreateNightTasks(*conn_, "20071021"), 3);
  const int64_t id = TaskOf(3);
  absl::Status early = Transition(*conn_, id, TaskState::kDispatched);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(early.message()), HasSubstr("is pending; it cannot become dispatched"));
  ASSERT_TRUE(Transition(*conn_, id, TaskState::kApproved).ok());
  // Approving twice (two operators at once): the second is refused.
  EXPECT_EQ(Transition(*conn_, id, TaskState::kApproved).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Transition(*conn_, id, TaskState::kDispatched,
                         {.worker_id = std::nullopt, .count_attempt = true})
                  .ok());
  ASSERT_TRUE(Transition(*conn_, id, TaskState::kRunning).ok());
  ASSERT_TRUE(Transition(*conn_, id, TaskState::kDone, {.batch_id = "20071021-cu3-1"}).ok());
  EXPECT_EQ(Transition(*conn_, id, TaskState::kCancelled).code(),
            absl::StatusCode::kFailedPrecondition);
  const TaskRow done = (*ListTasks(*conn_, TaskState::kDone))[0];
  EXPECT_EQ(done.task_id, id);
  EXPECT_EQ(done.attempts, 1);
  EXPECT_EQ(done.batch_id, "20071021-cu3-1");
  EXPECT_EQ(Transition(*conn_, 999999, TaskState::kApproved).code(), absl::StatusCode::kNotFound);
}

TEST_F(TaskStoreTest, FailedAttemptsRetryWithBackoffThenGiveUp) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*CreateNightTasks(*conn_, "20071021"), 3);
  const int64_t id = TaskOf(4);
  std::vector<TaskState> after;
  std::vector<absl::Duration> backoff;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_TRUE(Transition(*conn_, id, TaskState::kApproved).ok());
    ASSERT_TRUE(Transition(*conn_, id, TaskState::kDispatched, {.count_attempt = true}).ok());
    ASSERT_TRUE(Transition(*conn_, id, TaskState::kRunning).ok());
    const absl::Time before = absl::Now();
    auto state = FailAttempt(*conn_, id, "worker w1 lost", absl::Seconds(10));
    ASSERT_TRUE(state.ok()) << state.status();
    after.push_back(*state);
    const TaskRow t = (*ListTasks(*conn_))[2];
    if (t.not_before) backoff.push_back(*t.not_before - before);
    if (*state == TaskState::kFailed) break;
  }
  EXPECT_THAT(after, ::testing::ElementsAre(TaskState::kPending, TaskState::kPending,
                                            TaskState::kFailed));
  ASSERT_EQ(backoff.size(), 2u);
  EXPECT_NEAR(absl::ToDoubleSeconds(backoff[0]), 10, 2);  // 10 s, then 20 s
  EXPECT_NEAR(absl::ToDoubleSeconds(backoff[1]), 20, 2);
  const TaskRow failed = (*ListTasks(*conn_, TaskState::kFailed))[0];
  EXPECT_EQ(failed.last_error, "worker w1 lost");
  EXPECT_EQ(failed.attempts, 3);
  // An operator's retry brings it back.
  EXPECT_TRUE(Transition(*conn_, id, TaskState::kPending).ok());
}

TEST_F(TaskStoreTest, WorkersReportTheirStateAndSilentOnesLoseTheirTasks) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*CreateNightTasks(*conn_, "20071021"), 3);
  WorkerReport w1{"w1", "pixel01:7401", 2, 8, 1.5, 1 << 30, int64_t{50} << 30, 0, {archive_}};
  WorkerReport w2{"w2", "pixel02:7401", 4, 8, 0.5, 1 << 30, int64_t{50} << 30, 0, {archive_, "/b"}};
  ASSERT_TRUE(RecordWorker(*conn_, w1).ok());
  ASSERT_TRUE(RecordWorker(*conn_, w2).ok());
  w2.load_average = 3.0;  // a heartbeat updates the record
  ASSERT_TRUE(RecordWorker(*conn_, w2).ok());
  EXPECT_EQ(RecordWorker(*conn_, WorkerReport{}).code(), absl::StatusCode::kInvalidArgument);
  auto workers = Workers(*conn_, absl::Seconds(30));
  ASSERT_TRUE(workers.ok()) << workers.status();
  ASSERT_EQ(workers->size(), 2u);
  EXPECT_TRUE((*workers)[1].alive);
  EXPECT_EQ((*workers)[1].load_average, 3.0);
  EXPECT_THAT((*workers)[1].data_roots, ::testing::ElementsAre(archive_, "/b"));

  // CU3 runs on w1, CU4 on w2; then w1 goes silent.
  const int64_t on_w1 = TaskOf(3), on_w2 = TaskOf(4);
  for (auto [id, worker] : {std::pair{on_w1, "w1"}, std::pair{on_w2, "w2"}}) {
    ASSERT_TRUE(Transition(*conn_, id, TaskState::kApproved).ok());
    ASSERT_TRUE(Transition(*conn_, id, TaskState::kDispatched,
                           {.worker_id = std::string(worker), .count_attempt = true})
                    .ok());
  }
  ASSERT_TRUE(conn_->Exec("UPDATE curation.worker SET last_heartbeat = now() - interval '5 "
                          "minutes' WHERE worker_id = 'w1'")
                  .ok());
  workers = Workers(*conn_, absl::Seconds(30));
  EXPECT_FALSE((*workers)[0].alive);
  auto reclaimed = ReclaimLostWorkers(*conn_, absl::Seconds(30), absl::Seconds(1));
  ASSERT_TRUE(reclaimed.ok()) << reclaimed.status();
  EXPECT_THAT(*reclaimed, ::testing::ElementsAre(on_w1));
  auto tasks = ListTasks(*conn_);
  for (const TaskRow& t : *tasks) {
    if (t.task_id == on_w1) {
      EXPECT_EQ(t.state, TaskState::kPending);
      EXPECT_EQ(t.last_error, "worker w1 lost (no heartbeat)");
      EXPECT_TRUE(t.worker_id.empty());
    }
    if (t.task_id == on_w2) {
      EXPECT_EQ(t.state, TaskState::kDispatched);
    }
  }
  // A second pass finds nothing more to reclaim.
  EXPECT_TRUE(ReclaimLostWorkers(*conn_, absl::Seconds(30), absl::Seconds(1))->empty());

  // The planner, fed from the database, gives nothing to the silent worker.
  std::vector<PendingTask> pending;
  auto rows = ListTasks(*conn_, TaskState::kPending);
  for (const TaskRow& t : *rows) {
    PendingTask p;
    p.task_id = t.task_id;
    p.cu = t.cu;
    p.night = t.night;
    p.files = t.files;
    p.data_root = archive_;
    pending.push_back(p);
  }
  Plan plan = MakePlan(pending, *workers, DurationModel(), {}, absl::Now());
  ASSERT_EQ(plan.entries.size(), pending.size());
  for (const PlanEntry& e : plan.entries) EXPECT_EQ(e.worker_id, "w2");
}

}  // namespace
}  // namespace curator::daemon
