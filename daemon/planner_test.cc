#include "daemon/planner.h"

#include <map>
#include <set>

#include "archive/cu_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace curator::daemon {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

WorkerState Worker(const std::string& id, int slots, std::vector<std::string> roots = {"/a"}) {
  WorkerState w;
  w.id = id;
  w.slots = slots;
  w.cores = 4;
  w.free_disk_bytes = int64_t{100} << 30;
  w.data_roots = std::move(roots);
  return w;
}

PendingTask Task(int64_t id, int cu, int64_t files = 10, std::string root = "/a") {
  PendingTask t;
  t.task_id = id;
  t.cu = cu;
  // The rank the CU registry gives the CU: CU3 first.
  t.rank = archive::CuRegistry::Default().Find(cu)->rank;
  t.night = "20071021";
  t.files = files;
  t.input_bytes = files * 1000000;  // 1 MB a file
  t.data_root = std::move(root);
  t.ready_since = kNow - absl::Minutes(id);
  return t;
}

// An estimator that learned `seconds_per_mb` for `cu` (1 MB a file, as
// Task makes them).
Estimator Learned(int cu, double seconds_per_mb) {
  PastAttempt a;
  a.cu = cu;
  a.input_bytes = 100000000;
  a.input_files = 100;
  a.seconds = 100 * seconds_per_mb;
  return Estimator({a});
}

TEST(PlannerTest, FillsFreeSlotsNowAndQueuesTheRestWithEstimates) {
  Estimator d = Learned(3, 0.1);
  std::vector<WorkerState> workers = {Worker("w1", 2), Worker("w2", 1)};
  std::vector<PendingTask> tasks;
  for (int i = 1; i <= 6; ++i) tasks.push_back(Task(i, 3, 100));  // 10 s each
  Plan plan = MakePlan(tasks, workers, d, {}, kNow);
  ASSERT_EQ(plan.entries.size(), 6u);
  int now = 0;
  std::map<std::string, int> per_worker;
  for (const PlanEntry& e : plan.entries) {
    now += e.starts_now;
    per_worker[e.worker_id]++;
    EXPECT_EQ(e.finish - e.start, absl::Seconds(10));
  }
  EXPECT_EQ(now, 3);  // three free slots
  EXPECT_EQ(per_worker["w1"], 4);
  EXPECT_EQ(per_worker["w2"], 2);
  EXPECT_EQ(plan.finish, kNow + absl::Seconds(20));
}

TEST(PlannerTest, Cu3GoesFirstThenPriorityAndAge) {
  std::vector<PendingTask> tasks = {Task(1, 4), Task(2, 2), Task(3, 3), Task(4, 4)};
  tasks[3].priority = 5;  // an urgent CU4 beats everything
  Plan plan = MakePlan(tasks, {Worker("w", 1)}, Estimator(), {}, kNow);
  std::vector<int64_t> order;
  for (const PlanEntry& e : plan.entries) order.push_back(e.task_id);
  EXPECT_THAT(order, ::testing::ElementsAre(4, 3, 1, 2));
}

TEST(PlannerTest, ATaskWaitingForAnotherStartsAfterItAndNeverNow) {
  Estimator d = Learned(4, 1.0);
  // Task 2 (a CU that reads CU4's output) waits for task 1, and has a
  // higher priority, so it is looked at first; task 3 waits for a task
  // outside this plan (running already).
  std::vector<PendingTask> tasks = {Task(1, 4), Task(2, 3), Task(3, 3)};
  tasks[1].priority = 9;
  tasks[1].ready = false;
  tasks[1].after = {1};
  tasks[2].ready = false;
  tasks[2].after = {77};
  Plan plan = MakePlan(tasks, {Worker("w1", 2), Worker("w2", 2)}, d, {}, kNow);
  ASSERT_EQ(plan.entries.size(), 3u);
  std::map<int64_t, PlanEntry> by_id;
  for (const PlanEntry& e : plan.entries) by_id[e.task_id] = e;
  EXPECT_TRUE(by_id[1].starts_now);
  EXPECT_FALSE(by_id[2].starts_now);
  EXPECT_GE(by_id[2].start, by_id[1].finish);
  EXPECT_FALSE(by_id[3].starts_now);  // free slots, but its prerequisite is not met
}

TEST(PlannerTest, RespectsLoadDiskLivenessAndLocality) {
  std::vector<WorkerState> w = {Worker("busy", 2), Worker("full", 2), Worker("dead", 2),
                                Worker("b-only", 2, {"/b"}), Worker("ok", 1)};
  w[0].load_average = 20;  // 5 per core
  w[1].free_disk_bytes = 10;
  w[2].alive = false;
  std::vector<PendingTask> tasks = {Task(1, 3), Task(2, 3, 10, "/b"), Task(3, 3, 10, "/c")};
  Plan plan = MakePlan(tasks, w, Estimator(), {}, kNow);
  std::map<int64_t, PlanEntry> by_task;
  for (const PlanEntry& e : plan.entries) by_task[e.task_id] = e;
  EXPECT_EQ(by_task[1].worker_id, "ok");
  EXPECT_TRUE(by_task[1].starts_now);
  EXPECT_EQ(by_task[2].worker_id, "b-only");
  EXPECT_THAT(plan.unplaceable, ::testing::ElementsAre(3));  // nobody reads /c
  // The overloaded worker only gets work later, if at all.
  for (const PlanEntry& e : plan.entries) {
    if (e.worker_id == "busy") {
      EXPECT_FALSE(e.starts_now);
    }
    EXPECT_NE(e.worker_id, "full");
    EXPECT_NE(e.worker_id, "dead");
  }
}

TEST(PlannerTest, ASlotIsNeverBookedTwiceThroughTwoRoots) {
  // One worker, one slot, two roots: the tasks must queue, not overlap.
  std::vector<PendingTask> tasks = {Task(1, 3, 10, "/a"), Task(2, 3, 10, "/b"),
                                    Task(3, 3, 10, "/a")};
  Plan plan =
      MakePlan(tasks, {Worker("w", 1, {"/a", "/b"})}, Estimator(), {}, kNow);
  ASSERT_EQ(plan.entries.size(), 3u);
  for (size_t i = 1; i < plan.entries.size(); ++i) {
    EXPECT_GE(plan.entries[i].start, plan.entries[i - 1].finish) << i;
  }
  EXPECT_EQ(std::count_if(plan.entries.begin(), plan.entries.end(),
                          [](const PlanEntry& e) { return e.starts_now; }),
            1);
}

TEST(PlannerTest, TasksOnWorkersHoldTheirSlotsAndCountTowardTheFinish) {
  Estimator d = Learned(3, 1.0);  // 10 s a task of 10 files
  // w1 has one slot, busy for 15 s more; w2 one slot, busy for as long as
  // nobody knows (a minute is assumed).
  std::vector<WorkerState> workers = {Worker("w1", 1), Worker("w2", 1)};
  workers[0].running = 1;
  workers[0].busy_for = {absl::Seconds(15)};
  workers[1].running = 1;
  workers[1].busy_for = {absl::Seconds(-1)};
  // Nothing to plan: the finish is that of the tasks running, not now.
  Plan idle = MakePlan({}, workers, d, {}, kNow);
  EXPECT_EQ(idle.finish, kNow + absl::Minutes(1));
  workers[1].running = 0;
  workers[1].busy_for.clear();
  EXPECT_EQ(MakePlan({}, workers, d, {}, kNow).finish,
            kNow + absl::Seconds(15));
  // A task goes to the free slot now; the next to the slot free soonest:
  // w2 again at 10 s, then w1 once its task is done at 15 s.
  Plan plan =
      MakePlan({Task(1, 3), Task(2, 3), Task(3, 3)}, workers, d, {}, kNow);
  ASSERT_EQ(plan.entries.size(), 3u);
  EXPECT_EQ(plan.entries[0].worker_id, "w2");
  EXPECT_TRUE(plan.entries[0].starts_now);
  EXPECT_EQ(plan.entries[1].worker_id, "w2");
  EXPECT_EQ(plan.entries[1].start, kNow + absl::Seconds(10));
  EXPECT_EQ(plan.entries[2].worker_id, "w1");
  EXPECT_EQ(plan.entries[2].start, kNow + absl::Seconds(15));
  EXPECT_FALSE(plan.entries[2].starts_now);
  EXPECT_EQ(plan.finish, kNow + absl::Seconds(25));
  // A task past its estimate with nothing left by the count still holds
  // its slot: nothing is sent to a full worker.
  workers[1].running = 1;
  workers[1].busy_for = {absl::ZeroDuration()};
  Plan full = MakePlan({Task(4, 3)}, workers, d, {}, kNow);
  ASSERT_EQ(full.entries.size(), 1u);
  EXPECT_FALSE(full.entries[0].starts_now);
  EXPECT_GT(full.finish, kNow);
}

TEST(PlannerTest, EachEntryIsEstimatedForItsWorker) {
  // w-slow took three times the CU's estimate on 3 attempts.
  std::vector<PastAttempt> history;
  for (int i = 0; i < 3; ++i) {
    history.push_back({.cu = 3,
                       .worker_id = "w-slow",
                       .input_bytes = 10000000,
                       .input_files = 10,
                       .seconds = 30});
    history.push_back({.cu = 3,
                       .worker_id = "w-fast",
                       .input_bytes = 10000000,
                       .input_files = 10,
                       .seconds = 10});
    history.push_back({.cu = 3,
                       .worker_id = "w-fast",
                       .input_bytes = 10000000,
                       .input_files = 10,
                       .seconds = 10});
  }
  Estimator d(history);
  Plan plan = MakePlan({Task(1, 3), Task(2, 3)},
                       {Worker("w-fast", 1), Worker("w-slow", 1)}, d, {}, kNow);
  ASSERT_EQ(plan.entries.size(), 2u);
  std::map<std::string, double> took;
  for (const PlanEntry& e : plan.entries)
    took[e.worker_id] = e.estimate.seconds;
  EXPECT_NEAR(took["w-fast"], 10, 1e-9);
  EXPECT_NEAR(took["w-slow"], 30, 1e-9);
  EXPECT_THAT(d.Estimate(3, 10000000, 10, "w-slow").basis,
              ::testing::HasSubstr("s/MB x 10 MB (median of 9 attempts) x 3 "
                                   "(worker w-slow, 3 attempts)"));
  EXPECT_EQ(d.Estimate(3, 10000000, 10, "w-slow", /*explain=*/false).seconds,
            took["w-slow"]);
}

}  // namespace
}  // namespace curator::daemon
