// The daemon's worker registry and dispatcher as plain classes: a fake
// worker client (no processes, no network), a fake clock (no sleeping),
// the real task store on a real PostgreSQL.
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "archive/cu_registry.h"
#include "daemon/dispatcher.h"
#include "daemon/task_store.h"
#include "daemon/worker_registry.h"
#include "daemon/worker_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/process.h"

namespace curator::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Workers as the dispatcher sees them: each address answers RunTask as
// its behaviour says; a held address blocks its calls until released.
class FakeWorkers : public WorkerClient {
 public:
  using Answer = std::function<absl::StatusOr<v1::RunTaskResponse>(const v1::RunTaskRequest&)>;

  void Behave(const std::string& address, Answer answer) {
    std::lock_guard<std::mutex> lock(mu_);
    behaviour_[address] = std::move(answer);
  }
  // Accepts as worker process `boot`, numbering the tasks 1, 2, ...
  void Accept(const std::string& address, const std::string& boot) {
    auto seq = std::make_shared<int64_t>(0);
    Behave(address, [boot, seq](const v1::RunTaskRequest&) {
      v1::RunTaskResponse r;
      r.set_accepted(true);
      r.set_boot_id(boot);
      r.set_accepted_seq(++*seq);
      return r;
    });
  }
  void Hold(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    held_.insert(address);
  }
  void Release(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    held_.erase(address);
    cv_.notify_all();
  }
  // Blocks until `n` calls to `address` have been answered.
  void WaitAnswered(const std::string& address, int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return answered_[address] >= n; });
  }
  std::vector<v1::RunTaskRequest> Sent(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_[address];
  }

  absl::StatusOr<v1::RunTaskResponse> RunTask(const std::string& address,
                                              const v1::RunTaskRequest& request) override {
    std::unique_lock<std::mutex> lock(mu_);
    sent_[address].push_back(request);
    cv_.wait(lock, [&] { return !held_.count(address); });
    Answer answer = behaviour_[address];
    lock.unlock();
    absl::StatusOr<v1::RunTaskResponse> out =
        answer ? answer(request) : absl::UnavailableError("nobody there");
    lock.lock();
    ++answered_[address];
    cv_.notify_all();
    return out;
  }
  absl::Status CancelTask(const std::string&, const std::string&) override {
    return absl::OkStatus();
  }
  bool LooksDown(const std::string&) override { return false; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Answer> behaviour_;
  std::set<std::string> held_;
  std::map<std::string, std::vector<v1::RunTaskRequest>> sent_;
  std::map<std::string, int> answered_;
};

class DispatchTest : public testing::PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    pool_ = std::make_unique<pg::ConnectionPool>(pg::ConnectionPool::Options{conninfo(), 4});
    tasks_ = std::make_unique<TaskStore>(pool_.get(), &registry_, &clock_,
                                         TaskPolicy{3, absl::Seconds(10)});
    store_ = std::make_unique<WorkerStore>(pool_.get());
    workers_ = std::make_unique<WorkerRegistry>(tasks_.get(), store_.get(), &clock_,
                                                WorkerRegistry::Options{absl::Seconds(30)});
    dispatcher_ = std::make_unique<Dispatcher>(tasks_.get(), workers_.get(), &fake_, pool_.get(),
                                               &registry_, &clock_,
                                               Dispatcher::Options{archive_, 1e9});
    Generate(Survey(1, 2, 10, 64));
    Register("20071021");
    ASSERT_EQ(*tasks_->CreateNightTasks("20071021"), 3);
    ASSERT_EQ(tasks_->ApproveAllPending()->changed.size(), 3u);
  }
  void TearDown() override {
    dispatcher_.reset();
    workers_.reset();
    store_.reset();
    tasks_.reset();
    pool_.reset();
    PipelineTest::TearDown();
  }

  // A heartbeat of `worker` (one slot, at "<worker>:7401").
  v1::HeartbeatResponse Beat(const std::string& worker, const std::string& boot, int64_t seq,
                             std::vector<v1::TaskStatus> tasks = {}) {
    v1::HeartbeatRequest r;
    r.set_worker_id(worker);
    r.set_address(worker + ":7401");
    r.mutable_load()->set_slots(1);
    r.mutable_load()->set_cores(4);
    r.mutable_load()->set_free_disk_bytes(int64_t{1} << 40);
    r.add_data_roots(archive_);
    r.set_boot_id(boot);
    r.set_seq(seq);
    for (v1::TaskStatus& t : tasks) *r.add_tasks() = std::move(t);
    absl::StatusOr<v1::HeartbeatResponse> out = workers_->Heartbeat(r);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : v1::HeartbeatResponse();
  }
  static v1::TaskStatus Status(const std::string& attempt, v1::TaskStatus::State state,
                               const std::string& batch = "") {
    v1::TaskStatus t;
    t.set_task_id(attempt);
    t.set_state(state);
    t.set_batch_id(batch);
    t.set_cu(v1::CU3);
    t.set_files_total(2);
    return t;
  }
  TaskRow Task(v1::Cu cu) {
    const std::vector<TaskRow> all = *tasks_->List();
    for (const TaskRow& t : all) {
      if (t.cu == cu) return t;
    }
    ADD_FAILURE() << "no task of CU " << cu;
    return {};
  }
  std::string BootOf(int64_t task) {
    return conn_->Exec("SELECT coalesce(worker_boot, '') FROM curation.task WHERE task_id = $1",
                       {std::to_string(task)})
        ->Get(0, 0);
  }
  int Dispatch() {
    absl::StatusOr<int> sent = dispatcher_->RunOnce();
    EXPECT_TRUE(sent.ok()) << sent.status();
    dispatcher_->WaitIdle();
    return sent.ok() ? *sent : -1;
  }

  const archive::CuRegistry& registry_ = archive::CuRegistry::Default();
  FakeClock clock_;
  FakeWorkers fake_;
  std::unique_ptr<pg::ConnectionPool> pool_;
  std::unique_ptr<TaskStore> tasks_;
  std::unique_ptr<WorkerStore> store_;
  std::unique_ptr<WorkerRegistry> workers_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatchTest, ReadyTasksGoToFreeSlotsByRankWithTheirFiles) {
  fake_.Accept("w1:7401", "boot-1");
  fake_.Accept("w2:7401", "boot-2");
  Beat("w1", "boot-1", 0);
  Beat("w2", "boot-2", 0);
  EXPECT_EQ(Dispatch(), 2);  // two free slots: CU3 and CU4 (by rank), CU2 later
  const TaskRow cu3 = Task(v1::CU3), cu4 = Task(v1::CU4), cu2 = Task(v1::CU2);
  EXPECT_EQ(cu3.state, TaskState::kDispatched);
  EXPECT_EQ(cu4.state, TaskState::kDispatched);
  EXPECT_EQ(cu2.state, TaskState::kApproved);
  // Who accepted each attempt is on record, for the heartbeats.
  EXPECT_THAT((std::set<std::string>{BootOf(cu3.task_id), BootOf(cu4.task_id)}),
              UnorderedElementsAre("boot-1", "boot-2"));
  // CU3 reads images (with their names), CU4 catalogues (with their
  // images).
  std::vector<v1::RunTaskRequest> all = fake_.Sent("w1:7401");
  for (const auto& r : fake_.Sent("w2:7401")) all.push_back(r);
  ASSERT_EQ(all.size(), 2u);
  for (const v1::RunTaskRequest& r : all) {
    ASSERT_EQ(r.files_size(), 2);
    EXPECT_EQ(r.night(), "20071021");
    if (r.cu() == v1::CU3) {
      EXPECT_EQ(r.task_id(), TaskStore::AttemptId(cu3.task_id, 1));
      EXPECT_THAT(r.files(0).file_name(), HasSubstr(".fit"));
    } else {
      EXPECT_EQ(r.cu(), v1::CU4);
      EXPECT_THAT(r.files(0).image_path(), HasSubstr(".fit"));
    }
  }
  // Full: nothing more goes out.
  EXPECT_EQ(Dispatch(), 0);
}

TEST_F(DispatchTest, AnUnreachableWorkerGivesTheTaskBackAtOnceAndGetsNoMore) {
  fake_.Behave("w1:7401", [](const v1::RunTaskRequest&) -> absl::StatusOr<v1::RunTaskResponse> {
    return absl::UnavailableError("connection refused");
  });
  Beat("w1", "boot-1", 0);
  EXPECT_EQ(Dispatch(), 1);
  const TaskRow cu3 = Task(v1::CU3);
  EXPECT_EQ(cu3.state, TaskState::kApproved);
  EXPECT_EQ(cu3.attempts, 1);
  EXPECT_EQ(cu3.max_attempts, 4);  // not counted against it
  EXPECT_FALSE(cu3.not_before.has_value());
  EXPECT_THAT(cu3.last_error, HasSubstr("dispatch to w1 failed: connection refused"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE outcome = 'lost'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE status = 'failed'"), 1);
  // w1 gets nothing until it calls again.
  EXPECT_FALSE(workers_->Snapshot()[0].alive);
  EXPECT_EQ(Dispatch(), 0);
  fake_.Accept("w1:7401", "boot-1");
  Beat("w1", "boot-1", 0);
  EXPECT_EQ(Dispatch(), 1);
  EXPECT_EQ(Task(v1::CU3).state, TaskState::kDispatched);
  EXPECT_EQ(Task(v1::CU3).attempts, 2);
}

TEST_F(DispatchTest, AFrozenWorkerDelaysNoOtherDispatch) {
  fake_.Accept("w1:7401", "boot-1");
  fake_.Accept("w2:7401", "boot-2");
  fake_.Hold("w1:7401");
  Beat("w1", "boot-1", 0);
  Beat("w2", "boot-2", 0);
  // The pass returns while w1's call is still blocked...
  absl::StatusOr<int> sent = dispatcher_->RunOnce();
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 2);
  // ... and w2's answer is applied meanwhile.
  fake_.WaitAnswered("w2:7401", 1);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count("SELECT count(*) FROM curation.task WHERE worker_boot = 'boot-2'") == 1;
      },
      absl::Seconds(30)));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE worker_boot = 'boot-1'"), 0);
  // The registry answers heartbeats meanwhile, too.
  EXPECT_THAT(Beat("w2", "boot-2", 1).cancel(), IsEmpty());
  fake_.Release("w1:7401");
  dispatcher_->WaitIdle();
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE worker_boot = 'boot-1'"), 1);
}

TEST_F(DispatchTest, ADispatchWithoutAnAnswerIsGivenBackAndARefusedOneFails) {
  fake_.Behave("w1:7401", [](const v1::RunTaskRequest& r) -> absl::StatusOr<v1::RunTaskResponse> {
    if (r.cu() == v1::CU3) return absl::DeadlineExceededError("Deadline Exceeded");
    return absl::InvalidArgumentError("file '/elsewhere/x.fits' is not inside the archive root");
  });
  Beat("w1", "boot-1", 0);
  EXPECT_EQ(Dispatch(), 1);  // CU3 first: no answer in time
  TaskRow cu3 = Task(v1::CU3);
  EXPECT_EQ(cu3.state, TaskState::kApproved);
  EXPECT_EQ(cu3.max_attempts, 4);  // not the task's fault
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE status = 'running'"), 0);
  // Refused by the worker: a failed attempt, retried after the backoff.
  ASSERT_TRUE(conn_->Exec("UPDATE curation.task SET priority = 9 WHERE cu = 4").ok());
  EXPECT_EQ(Dispatch(), 1);
  const TaskRow cu4 = Task(v1::CU4);
  EXPECT_EQ(cu4.state, TaskState::kApproved);
  EXPECT_EQ(cu4.max_attempts, 3);
  EXPECT_EQ(*cu4.not_before, clock_.Now() + absl::Seconds(10));
  EXPECT_THAT(cu4.last_error, HasSubstr("is not inside the archive root"));
}

TEST_F(DispatchTest, HeartbeatsAreReconciledWithTheDaemonsView) {
  fake_.Accept("w1:7401", "boot-1");
  Beat("w1", "boot-1", 0);
  ASSERT_EQ(Dispatch(), 1);
  const int64_t cu3 = Task(v1::CU3).task_id;
  const std::string attempt1 = TaskStore::AttemptId(cu3, 1);
  // Reported running: running.
  EXPECT_THAT(Beat("w1", "boot-1", 1, {Status(attempt1, v1::TaskStatus::RUNNING)}).acknowledged(),
              IsEmpty());
  EXPECT_EQ(Task(v1::CU3).state, TaskState::kRunning);
  // The worker restarted (a new boot id) and no longer has it: lost at
  // once, not after the heartbeat timeout.
  v1::HeartbeatResponse after_restart = Beat("w1", "boot-9", 0);
  TaskRow t = Task(v1::CU3);
  EXPECT_EQ(t.state, TaskState::kApproved);
  EXPECT_EQ(t.last_error, "worker w1 restarted and no longer has it");
  EXPECT_EQ(*t.not_before, clock_.Now() + absl::Seconds(10));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE outcome = 'lost'"), 1);
  // The old attempt, reported late after all, is not the daemon's there:
  // a running one is cancelled, a finished one acknowledged (and changes
  // nothing).
  v1::HeartbeatResponse late = Beat("w1", "boot-9", 0,
                                    {Status(attempt1, v1::TaskStatus::RUNNING),
                                     Status("task-999-1", v1::TaskStatus::DONE, "b")});
  EXPECT_THAT(late.cancel(), ElementsAre(attempt1));
  EXPECT_THAT(late.acknowledged(), ElementsAre("task-999-1"));
  EXPECT_EQ(Task(v1::CU3).state, TaskState::kApproved);
  // Retried after the backoff: done, acknowledged, and the slot is free.
  fake_.Accept("w1:7401", "boot-9");
  clock_.Advance(absl::Seconds(10));
  ASSERT_EQ(Dispatch(), 1);
  const std::string attempt2 = TaskStore::AttemptId(cu3, 2);
  v1::HeartbeatResponse done =
      Beat("w1", "boot-9", 1, {Status(attempt2, v1::TaskStatus::DONE, "20071021-cu3-x")});
  EXPECT_THAT(done.acknowledged(), ElementsAre(attempt2));
  EXPECT_EQ(Task(v1::CU3).state, TaskState::kDone);
  EXPECT_EQ(Task(v1::CU3).batch_id, "20071021-cu3-x");
  // A worker that still runs but no longer lists an attempt it accepted
  // (same process, its sequence number past the attempt's) lost it.
  ASSERT_EQ(Dispatch(), 1);  // CU4
  const int64_t cu4 = Task(v1::CU4).task_id;
  Beat("w1", "boot-9", 2);
  EXPECT_EQ(Task(v1::CU4).state, TaskState::kApproved);
  EXPECT_EQ(Task(v1::CU4).last_error, "worker w1 no longer lists it");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task_attempt WHERE task_id = ", cu4,
                               " AND outcome = 'lost'")),
            1);
}

TEST_F(DispatchTest, AnAttemptNeverConfirmedIsLostAfterTheTimeout) {
  fake_.Accept("w1:7401", "boot-1");
  fake_.Hold("w1:7401");
  Beat("w1", "boot-1", 0);
  ASSERT_EQ(*dispatcher_->RunOnce(), 1);
  // Sent, not yet answered: heartbeats without it are not a loss ...
  Beat("w1", "boot-1", 0);
  EXPECT_EQ(Task(v1::CU3).state, TaskState::kDispatched);
  // ... until it is older than the heartbeat timeout.
  clock_.Advance(absl::Seconds(31));
  Beat("w1", "boot-1", 0);
  EXPECT_EQ(Task(v1::CU3).state, TaskState::kApproved);
  EXPECT_EQ(Task(v1::CU3).last_error, "worker w1 never confirmed it");
  // Its answer, when it comes, changes nothing.
  fake_.Release("w1:7401");
  dispatcher_->WaitIdle();
  EXPECT_EQ(Task(v1::CU3).state, TaskState::kApproved);
}

TEST_F(DispatchTest, ASilentWorkerLosesItsTasksAfterTheTimeoutAndGetsNoMore) {
  fake_.Accept("w1:7401", "boot-1");
  fake_.Accept("w2:7401", "boot-2");
  Beat("w1", "boot-1", 0);
  Beat("w2", "boot-2", 0);
  ASSERT_EQ(Dispatch(), 2);
  clock_.Advance(absl::Seconds(20));
  const int64_t on_w2 = Count("SELECT task_id FROM curation.task WHERE worker_id = 'w2'");
  Beat("w2", "boot-2", 1, {Status(TaskStore::AttemptId(on_w2, 1), v1::TaskStatus::RUNNING)});
  EXPECT_THAT(*workers_->ReclaimSilent(), IsEmpty());  // 20 s: within the timeout
  clock_.Advance(absl::Seconds(11));
  const std::vector<int64_t> reclaimed = *workers_->ReclaimSilent();
  ASSERT_EQ(reclaimed.size(), 1u);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.task WHERE task_id = ",
                               reclaimed[0],
                               " AND state = 'approved' AND last_error = 'worker w1 lost (no "
                               "heartbeat)'")),
            1);
  EXPECT_THAT(*workers_->ReclaimSilent(), IsEmpty());  // once
  for (const WorkerState& w : workers_->PlannerView()) EXPECT_EQ(w.alive, w.id == "w2") << w.id;
}

}  // namespace
}  // namespace curator::daemon
