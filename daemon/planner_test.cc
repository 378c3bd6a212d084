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
  t.data_root = std::move(root);
  t.ready_since = kNow - absl::Minutes(id);
  return t;
}

TEST(PlannerTest, FillsFreeSlotsNowAndQueuesTheRestWithEstimates) {
  DurationModel d;
  d.Record(3, 100, absl::Seconds(10));  // 0.1 s per file
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
  Plan plan = MakePlan(tasks, {Worker("w", 1)}, DurationModel(), {}, kNow);
  std::vector<int64_t> order;
  for (const PlanEntry& e : plan.entries) order.push_back(e.task_id);
  EXPECT_THAT(order, ::testing::ElementsAre(4, 3, 1, 2));
}

TEST(PlannerTest, ATaskWaitingForAnotherStartsAfterItAndNeverNow) {
  DurationModel d;
  d.Record(4, 10, absl::Seconds(10));  // 1 s per file
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
  Plan plan = MakePlan(tasks, w, DurationModel(), {}, kNow);
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
  Plan plan = MakePlan(tasks, {Worker("w", 1, {"/a", "/b"})}, DurationModel(), {}, kNow);
  ASSERT_EQ(plan.entries.size(), 3u);
  for (size_t i = 1; i < plan.entries.size(); ++i) {
    EXPECT_GE(plan.entries[i].start, plan.entries[i - 1].finish) << i;
  }
  EXPECT_EQ(std::count_if(plan.entries.begin(), plan.entries.end(),
                          [](const PlanEntry& e) { return e.starts_now; }),
            1);
}

TEST(DurationModelTest, MedianSecondsPerFileAfterADefault) {
  DurationModel d;
  EXPECT_GT(d.Estimate(4, 100), absl::ZeroDuration());  // a default before any history
  d.Record(4, 10, absl::Seconds(1));
  d.Record(4, 10, absl::Seconds(2));
  d.Record(4, 10, absl::Seconds(100));  // an outlier does not move the median
  EXPECT_EQ(d.Estimate(4, 50), absl::Seconds(10));
}

}  // namespace
}  // namespace curator::daemon
