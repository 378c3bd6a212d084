// Time to plan 10,000 pending tasks over 100 workers (target: well under
// 100 ms). Prints figures; asserts nothing.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/time/clock.h"
#include "daemon/planner.h"

int main() {
  using namespace curator::daemon;
  const absl::Time now = absl::Now();
  std::vector<WorkerState> workers(100);
  for (int w = 0; w < 100; ++w) {
    workers[w].id = "pixel" + std::to_string(w);
    workers[w].slots = 4;
    workers[w].running = w % 3;
    workers[w].cores = 8;
    workers[w].load_average = (w % 7) * 1.5;
    workers[w].free_disk_bytes = int64_t{500} << 30;
    workers[w].data_roots = {w < 50 ? "/archive/a" : "/archive/b", "/archive/shared"};
  }
  std::vector<PendingTask> tasks(10000);
  const char* roots[] = {"/archive/a", "/archive/b", "/archive/shared"};
  for (int i = 0; i < 10000; ++i) {
    tasks[i].task_id = i + 1;
    tasks[i].cu = 2 + i % 3;
    tasks[i].night = "2007" + std::to_string(1000 + i / 30);
    tasks[i].files = 50 + i % 200;
    tasks[i].input_bytes = tasks[i].files * 8000000;
    tasks[i].data_root = roots[i % 3];
    tasks[i].ready_since = now - absl::Seconds(i);
  }
  // Three thousand past attempts, spread over the workers (each with a
  // speed factor).
  std::vector<PastAttempt> history;
  for (int i = 0; i < 3000; ++i) {
    history.push_back({.cu = 2 + i % 3,
                       .worker_id = "pixel" + std::to_string(i % 100),
                       .input_bytes = 800000000,
                       .input_files = 100,
                       .seconds = 50 + (i % 97) * 0.1});
  }
  const Estimator durations(history);
  std::vector<double> ms;
  Plan plan;
  for (int run = 0; run < 7; ++run) {
    const absl::Time t0 = absl::Now();
    plan = MakePlan(tasks, workers, durations, PlannerOptions(), now);
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  std::sort(ms.begin(), ms.end());
  int starts_now = 0;
  for (const PlanEntry& e : plan.entries) starts_now += e.starts_now;
  std::printf("plan of 10000 tasks over 100 workers (400 slots, 2 data roots each): median %.2f ms, "
              "best %.2f ms, worst %.2f ms of 7; %d start now, %zu unplaceable, estimated finish "
              "in %.0f s\n",
              ms[ms.size() / 2], ms.front(), ms.back(), starts_now, plan.unplaceable.size(),
              absl::ToDoubleSeconds(plan.finish - now));
  return 0;
}
