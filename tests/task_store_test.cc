// The control plane's tasks in a real PostgreSQL: a night's task graph
// made from the CU registry, the state machine's conditional moves,
// retries with backoff (on a fake clock), operator retries that keep
// counting attempts, and the batches' outcomes reaching their tasks.
#include "daemon/task_store.h"

#include <map>

#include "archive/cu_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/pipeline_test.h"

namespace curator::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class TaskStoreTest : public testing::PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    pool_ = std::make_unique<pg::ConnectionPool>(pg::ConnectionPool::Options{conninfo(), 2});
    store_ = std::make_unique<TaskStore>(pool_.get(), &archive::CuRegistry::Default(), &clock_,
                                         TaskPolicy{3, absl::Seconds(10)});
    // The worker the tasks are dispatched to (a foreign key of the task).
    ASSERT_TRUE(conn_->Exec("INSERT INTO curation.worker (worker_id, address, slots) VALUES "
                            "('w1', 'pixel01:7401', 1)")
                    .ok());
  }
  void TearDown() override {
    store_.reset();
    pool_.reset();
    PipelineTest::TearDown();
  }
  int64_t TaskOf(v1::Cu cu) {
    auto tasks = store_->List();
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    for (const TaskRow& t : *tasks) {
      if (t.cu == cu) return t.task_id;
    }
    return 0;
  }
  TaskRow Row(int64_t id) { return **store_->Get(id); }
  // Approved, then on w1 and running: the attempt number.
  int RunOnW1(int64_t id) {
    absl::StatusOr<Claimed> c = store_->Claim(id, "w1");
    EXPECT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(store_->Started(id, c->attempt, "w1").ok());
    return c->attempt;
  }

  FakeClock clock_;
  std::unique_ptr<pg::ConnectionPool> pool_;
  std::unique_ptr<TaskStore> store_;
};

TEST(TaskStateTest, TheTransitionTable) {
  EXPECT_TRUE(IsAllowed(TaskEvent::kApprove, TaskState::kPending));
  EXPECT_TRUE(IsAllowed(TaskEvent::kFinish, TaskState::kRunning));
  EXPECT_TRUE(IsAllowed(TaskEvent::kIngest, TaskState::kDone));
  // A lost worker's or a failed attempt's task stays approved.
  EXPECT_EQ(MoveOf(TaskEvent::kRetryLater).to, TaskState::kApproved);
  EXPECT_TRUE(IsAllowed(TaskEvent::kRetryLater, TaskState::kRunning));
  EXPECT_FALSE(IsAllowed(TaskEvent::kDispatch, TaskState::kPending));  // needs approval
  EXPECT_FALSE(IsAllowed(TaskEvent::kApprove, TaskState::kRunning));  // an operator cannot
  EXPECT_FALSE(IsAllowed(TaskEvent::kRetry, TaskState::kDone));  // done is rerun, not retried
  EXPECT_TRUE(IsAllowed(TaskEvent::kRerun, TaskState::kIngested));
  EXPECT_FALSE(IsAllowed(TaskEvent::kCancel, TaskState::kDone));
  // Giving up on a failed task lets what waits for it settled go on.
  EXPECT_TRUE(IsAllowed(TaskEvent::kCancel, TaskState::kFailed));
  for (TaskState s : AllTaskStates()) {
    EXPECT_EQ(*ParseTaskState(TaskStateName(s)), s);
  }
  EXPECT_EQ(AllTaskStates().size(), 8u);
  EXPECT_FALSE(ParseTaskState("lost").has_value());
  // An unknown state in the database is an error, never 'pending'.
  EXPECT_EQ(TaskStateFromDatabase("lost").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Refusal(7, TaskState::kDone, TaskEvent::kRetry),
            "task 7 is done; it cannot become pending: only failed or cancelled tasks can be "
            "retried");
}

TEST_F(TaskStoreTest, ANightGetsItsTaskGraphFromTheRegistryOnce) {
  Generate(Survey(1, 3));
  EXPECT_EQ(*store_->CreateNightTasks("20071021"), 0);  // not registered: nothing
  Register("20071021");
  EXPECT_EQ(*store_->CreateNightTasks("20071021"), 3);
  EXPECT_EQ(*store_->CreateNightTasks("20071021"), 0);
  std::map<int, TaskRow> by_cu;
  const std::vector<TaskRow> all = *store_->List();
  for (const TaskRow& t : all) by_cu[t.cu] = t;
  ASSERT_EQ(by_cu.size(), 3u);
  EXPECT_EQ(by_cu[v1::CU3].files, 3);  // images
  EXPECT_EQ(by_cu[v1::CU2].files, 3);
  EXPECT_EQ(by_cu[v1::CU4].files, 3);  // catalogues
  for (const auto& [cu, t] : by_cu) {
    EXPECT_EQ(t.state, TaskState::kPending);
    EXPECT_EQ(t.night, "20071021");
  }
  // The registry's prerequisites, as rows: CU2's and CU4's ingests wait
  // for CU3's.
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_prerequisite WHERE "
                               "prerequisite = ", by_cu[v1::CU3].task_id,
                               " AND for_step = 'ingest' AND stage = 'ingested'")),
            2);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_prerequisite"), 2);
  auto waits = store_->WaitingFor();
  ASSERT_TRUE(waits.ok()) << waits.status();
  EXPECT_THAT((*waits)[by_cu[v1::CU4].task_id],
              ElementsAre(absl::StrCat("its ingest: CU3 of 20071021 ingested (task ",
                                       by_cu[v1::CU3].task_id, " is pending)")));
  EXPECT_THAT((*waits)[by_cu[v1::CU3].task_id], IsEmpty());
  // None waits before processing: all three may run at once.
  EXPECT_THAT(*store_->ProcessingPrerequisites(), IsEmpty());
  // curation.cu says what the numbers are.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu WHERE name IN ('CU2', 'CU3', 'CU4')"), 3);
}

TEST_F(TaskStoreTest, MovesAreConditionalAndRefusalsSayWhy) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*store_->CreateNightTasks("20071021"), 3);
  const int64_t id = TaskOf(v1::CU3);
  absl::StatusOr<Claimed> early = store_->Claim(id, "w1");
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(early.status().message()),
              HasSubstr("is pending; it cannot become dispatched"));
  EXPECT_THAT(store_->Approve({id})->changed, ElementsAre(id));
  // Approving twice (two operators at once): the second is refused.
  EXPECT_THAT(store_->Approve({id})->refused,
              ElementsAre(absl::StrCat("task ", id, " is approved; it cannot become approved: "
                                       "only pending tasks can be approved")));
  const int attempt = RunOnW1(id);
  EXPECT_EQ(attempt, 1);
  ASSERT_TRUE(store_->Finished(id, attempt, "w1", "20071021-cu3-1").ok());
  EXPECT_THAT(store_->Cancel({id}, nullptr)->refused,
              ElementsAre(HasSubstr("is done; it cannot become cancelled")));
  const TaskRow done = (*store_->List(TaskState::kDone))[0];
  EXPECT_EQ(done.task_id, id);
  EXPECT_EQ(done.attempts, 1);
  EXPECT_EQ(done.batch_id, "20071021-cu3-1");
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE outcome = 'done'"), 1);
  EXPECT_THAT(store_->Approve({999999})->refused, ElementsAre("no task 999999"));
  // A late report of another attempt, or from another worker, moves
  // nothing.
  EXPECT_TRUE(store_->Started(id, 7, "w1").ok());
  EXPECT_EQ(Row(id).state, TaskState::kDone);
}

TEST_F(TaskStoreTest, FailedAttemptsRetryWithBackoffStayApprovedThenGiveUp) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*store_->CreateNightTasks("20071021"), 3);
  const int64_t id = TaskOf(v1::CU4);
  ASSERT_THAT(store_->Approve({id})->changed, ElementsAre(id));
  std::vector<TaskState> after;
  std::vector<absl::Duration> backoff;
  for (int n = 1; n <= 3; ++n) {
    ASSERT_EQ(store_->Ready()->size(), 1u);
    const int attempt = RunOnW1(id);
    const absl::Time failed_at = clock_.Now();
    auto state = store_->FailAttempt(id, attempt, "w1", AttemptEnd::kFailed, "on w1: bad disk");
    ASSERT_TRUE(state.ok()) << state.status();
    after.push_back(*state);
    const TaskRow t = Row(id);
    if (t.not_before) {
      backoff.push_back(*t.not_before - failed_at);
      // Not ready until its backoff has passed.
      EXPECT_TRUE(store_->Ready()->empty());
      clock_.Advance(*t.not_before - failed_at);
    }
    if (*state == TaskState::kFailed) break;
  }
  EXPECT_THAT(after, ElementsAre(TaskState::kApproved, TaskState::kApproved, TaskState::kFailed));
  EXPECT_THAT(backoff, ElementsAre(absl::Seconds(10), absl::Seconds(20)));
  const TaskRow failed = Row(id);
  EXPECT_EQ(failed.last_error, "on w1: bad disk");
  EXPECT_EQ(failed.attempts, 3);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE outcome = 'failed'"), 3);
  // An operator's retry brings it back with a fresh budget; the attempt
  // count goes on, so the next attempt's id on a worker is new.
  EXPECT_THAT(store_->Retry({id})->changed, ElementsAre(id));
  EXPECT_EQ(Row(id).state, TaskState::kPending);
  EXPECT_EQ(Row(id).attempts, 3);
  EXPECT_EQ(Row(id).max_attempts, 6);
  ASSERT_THAT(store_->Approve({id})->changed, ElementsAre(id));
  EXPECT_EQ(store_->Claim(id, "w1")->attempt, 4);
}

TEST_F(TaskStoreTest, LostAttemptsCostNoAttemptButATaskLostTenTimesFails) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*store_->CreateNightTasks("20071021"), 3);
  const int64_t id = TaskOf(v1::CU3);
  ASSERT_THAT(store_->Approve({id})->changed, ElementsAre(id));
  // Its worker crashes under it again and again (killed, restarted).
  for (int n = 1; n <= 10; ++n) {
    const int attempt = RunOnW1(id);
    auto state = store_->FailAttempt(id, attempt, "w1", AttemptEnd::kLost,
                                     "worker w1 restarted and no longer has it");
    ASSERT_TRUE(state.ok()) << state.status();
    if (n < 10) {
      ASSERT_EQ(*state, TaskState::kApproved) << n;
      const TaskRow t = Row(id);
      EXPECT_EQ(*t.not_before, clock_.Now() + absl::Seconds(10));  // flat, not doubling
      EXPECT_EQ(t.max_attempts - t.attempts, 3);  // no attempt used up
      clock_.Advance(absl::Seconds(10));
    } else {
      EXPECT_EQ(*state, TaskState::kFailed);
    }
  }
  EXPECT_EQ(Row(id).last_error,
            "worker w1 restarted and no longer has it (lost 10 times: a task that kills its "
            "workers?)");
  // Every lost attempt's processing event ended as failed.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE status = 'failed' AND message = "
                  "'worker w1 restarted and no longer has it'"),
            10);
  // An operator's retry gives it a fresh budget of both.
  EXPECT_THAT(store_->Retry({id})->changed, ElementsAre(id));
  EXPECT_EQ(Count(absl::StrCat("SELECT lost_attempts FROM curation.task WHERE task_id = ", id)),
            0);
}

TEST_F(TaskStoreTest, AGivenBackAttemptCostsNothingAndALateReportChangesNothing) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*store_->CreateNightTasks("20071021"), 3);
  const int64_t id = TaskOf(v1::CU2);
  ASSERT_THAT(store_->Approve({id})->changed, ElementsAre(id));
  const int first = RunOnW1(id);
  ASSERT_TRUE(store_->GiveBack(id, first, "w1", "worker w1 stopped it (shutting down)").ok());
  TaskRow t = Row(id);
  EXPECT_EQ(t.state, TaskState::kApproved);
  EXPECT_EQ(t.max_attempts, 4);
  EXPECT_FALSE(t.not_before.has_value());  // at once
  const int second = RunOnW1(id);
  EXPECT_EQ(second, 2);
  // The first attempt's late "done" is not this attempt's.
  ASSERT_TRUE(store_->Finished(id, first, "w1", "late").ok());
  EXPECT_EQ(Row(id).state, TaskState::kRunning);
  EXPECT_EQ(store_->FailAttempt(id, first, "w1", AttemptEnd::kFailed, "late").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ", id,
                               " AND outcome = 'lost' AND error = 'worker w1 stopped it (shutting "
                               "down)'")),
            1);
}

TEST_F(TaskStoreTest, IngestedAndQuarantinedBatchesReachTheirTasks) {
  Generate(Survey(1, 1));
  Register("20071021");
  ASSERT_EQ(*store_->CreateNightTasks("20071021"), 3);
  const int64_t cu3 = TaskOf(v1::CU3), cu4 = TaskOf(v1::CU4);
  ASSERT_THAT(store_->Approve({cu3, cu4})->changed, ElementsAre(cu3, cu4));
  const int a3 = RunOnW1(cu3), a4 = RunOnW1(cu4);
  ASSERT_TRUE(store_->Finished(cu3, a3, "w1", "b3").ok());
  ASSERT_TRUE(store_->Finished(cu4, a4, "w1", "b4").ok());
  EXPECT_THAT(*store_->ApplyBatchOutcomes(), IsEmpty());  // nothing decided yet
  ASSERT_TRUE(conn_->Exec("INSERT INTO curation.batch (batch_id, cu, night, state, "
                          "ingest_finished_at) VALUES ('b3', 3, '2007-10-21', 'ingested', "
                          "clock_timestamp()), ('b4', 4, '2007-10-21', 'quarantined', "
                          "clock_timestamp())")
                  .ok());
  ASSERT_TRUE(conn_->Exec("UPDATE curation.batch SET report = 'b4/detection_1.pgcopy: CRC-32C "
                          "1, the manifest says 2' WHERE batch_id = 'b4'")
                  .ok());
  EXPECT_THAT(*store_->ApplyBatchOutcomes(), ElementsAre(cu3, cu4));
  EXPECT_EQ(Row(cu3).state, TaskState::kIngested);
  // The quarantine fails the attempt with the report; attempts are left,
  // so it is retried (still approved).
  const TaskRow t = Row(cu4);
  EXPECT_EQ(t.state, TaskState::kApproved);
  EXPECT_EQ(t.last_error,
            "batch b4 quarantined: b4/detection_1.pgcopy: CRC-32C 1, the manifest says 2");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ", cu4,
                               " AND outcome = 'quarantined' AND error LIKE 'batch b4 "
                               "quarantined: %'")),
            1);
  // The retry's own attempt is not failed by the old quarantine.
  clock_.Advance(absl::Minutes(1));
  const int again = RunOnW1(cu4);
  ASSERT_TRUE(store_->Finished(cu4, again, "w1", "b4").ok());
  EXPECT_THAT(*store_->ApplyBatchOutcomes(), IsEmpty());
  EXPECT_EQ(Row(cu4).state, TaskState::kDone);
  // Rerun: any finished task goes back to be processed again.
  EXPECT_THAT(store_->Rerun({cu3})->changed, ElementsAre(cu3));
  EXPECT_EQ(Row(cu3).state, TaskState::kPending);
}

// CU5's tasks wait for the night before's, in date order, also for a night
// registered after the nights around it.
TEST_F(TaskStoreTest, ANightsCu5WaitsForThePreviousNightsEvenWhenRegisteredLate) {
  TaskStore store(pool_.get(), &archive::CuRegistry::WithSources(), &clock_,
                  TaskPolicy{3, absl::Seconds(10)});
  Generate(Survey(3, 2));
  for (const char* night : {"20071021", "20071023", "20071022"}) {
    Register(night);
    EXPECT_EQ(*store.CreateNightTasks(night), 4) << night;
  }
  auto cu5 = [&](const char* night) {
    return Count(absl::StrCat("SELECT task_id FROM curation.task WHERE cu = 5 AND night = '",
                              night, "'"));
  };
  auto waits_for = [&](const char* night) {
    std::vector<int64_t> out;
    auto r = conn_->Exec(absl::StrCat(
        "SELECT prerequisite FROM curation.task_prerequisite WHERE task_id = ", cu5(night),
        " AND prerequisite IN (SELECT task_id FROM curation.task WHERE cu = 5) ORDER BY 1"));
    EXPECT_TRUE(r.ok()) << r.status();
    for (int i = 0; r.ok() && i < r->rows(); ++i) out.push_back(r->GetInt(i, 0));
    return out;
  };
  EXPECT_THAT(waits_for("20071021"), IsEmpty());
  EXPECT_THAT(waits_for("20071022"), ElementsAre(cu5("20071021")));
  // The 23rd, made before the 22nd, waits for both.
  EXPECT_THAT(waits_for("20071023"), ElementsAre(cu5("20071021"), cu5("20071022")));
  // And for its night's CU4 ingest.
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_prerequisite r JOIN "
                               "curation.task p ON p.task_id = r.prerequisite WHERE r.task_id = ",
                               cu5("20071022"), " AND p.cu = 4 AND p.night = '20071022' AND "
                               "r.for_step = 'process' AND r.stage = 'ingested'")),
            1);
  auto waits = store.WaitingFor();
  ASSERT_TRUE(waits.ok()) << waits.status();
  EXPECT_THAT((*waits)[cu5("20071022")],
              ::testing::Contains(
                  HasSubstr("CU5 of 20071021 ingested (or cancelled) (task ")));
  // An operator who gives up on the 21st's CU5 lets the 22nd's go on.
  std::vector<std::pair<std::string, std::string>> on_workers;
  ASSERT_TRUE(store.Cancel({cu5("20071021")}, &on_workers).ok());
  waits = store.WaitingFor();
  ASSERT_TRUE(waits.ok()) << waits.status();
  for (const std::string& w : (*waits)[cu5("20071022")]) {
    EXPECT_THAT(w, ::testing::Not(HasSubstr("CU5 of")));
  }
}

}  // namespace
}  // namespace curator::daemon
