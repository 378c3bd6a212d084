#include "daemon/planner.h"

#include <algorithm>
#include <numeric>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace curator::daemon {
namespace {

// How long a busy slot is held when the time left of its task is
// unknown, and at least when known (a task past its estimate still holds
// its slot: nothing starts there now).
constexpr absl::Duration kUnknownBusy = absl::Minutes(1);
constexpr absl::Duration kMinBusy = absl::Seconds(1);

}  // namespace

Plan MakePlan(const std::vector<PendingTask>& tasks,
              const std::vector<WorkerState>& workers,
              const Estimator& estimator, const PlannerOptions& options,
              absl::Time now) {
  Plan plan;
  plan.finish = now;
  // Every slot of every usable worker and the time it is free: now for a
  // free slot; for a busy one when its task is estimated to finish; any
  // free slot of an overloaded worker a minute from now, as nothing
  // better is known.
  struct Slot {
    absl::Time free_at;
    double load;  // per core, for ties
    int worker;
    int index;    // into free_at
  };
  std::vector<absl::Time> free_at;
  auto later = [](const Slot& a, const Slot& b) {
    return a.free_at != b.free_at ? a.free_at > b.free_at : a.load > b.load;
  };
  // One heap per data root; a worker reading several roots has its slots
  // in several heaps, so entries are checked against free_at when popped.
  std::map<std::string, std::priority_queue<Slot, std::vector<Slot>, decltype(later)>> slots;
  for (size_t w = 0; w < workers.size(); ++w) {
    const WorkerState& ws = workers[w];
    // How long each task on the worker now holds its slot. They count
    // toward the plan's finish whatever the worker's state: a dead or
    // full one may still finish them, or they are done elsewhere.
    std::vector<absl::Duration> held;
    for (int s = 0; s < ws.running; ++s) {
      const bool known = s < static_cast<int>(ws.busy_for.size()) &&
                         ws.busy_for[s] >= absl::ZeroDuration();
      held.push_back(known ? std::max(ws.busy_for[s], kMinBusy) : kUnknownBusy);
      plan.finish = std::max(plan.finish, now + held.back());
    }
    if (!ws.alive || ws.free_disk_bytes < options.min_free_disk_bytes || ws.slots <= 0) continue;
    const double load = ws.load_average / std::max(1, ws.cores);
    const bool overloaded = load > options.max_load_per_core;
    const int first = static_cast<int>(free_at.size());
    for (int s = 0; s < ws.slots; ++s) {
      if (s < ws.running) {
        free_at.push_back(now + held[s]);
      } else {
        free_at.push_back(overloaded ? now + kUnknownBusy : now);
      }
    }
    for (const std::string& root : ws.data_roots) {
      auto& heap = slots.try_emplace(root, later).first->second;
      for (int s = 0; s < ws.slots; ++s) {
        heap.push({free_at[first + s], load, static_cast<int>(w), first + s});
      }
    }
  }
  // Planning order.
  std::vector<size_t> order(tasks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const PendingTask& x = tasks[a];
    const PendingTask& y = tasks[b];
    if (x.priority != y.priority) return x.priority > y.priority;
    if (x.rank != y.rank) return x.rank < y.rank;
    if (x.ready_since != y.ready_since) return x.ready_since < y.ready_since;
    return x.task_id < y.task_id;
  });
  plan.entries.reserve(tasks.size());
  // When each planned task is estimated to finish, for the tasks that
  // wait for it: kept only when some task waits for another (the common
  // case plans thousands of tasks with none).
  const bool any_after = std::any_of(tasks.begin(), tasks.end(),
                                     [](const PendingTask& t) { return !t.after.empty(); });
  std::unordered_map<int64_t, absl::Time> finishes;
  std::unordered_set<int64_t> in_plan;
  if (any_after) {
    finishes.reserve(tasks.size());
    for (const PendingTask& t : tasks) in_plan.insert(t.task_id);
  }
  // A task waiting for one planned later (a higher priority than its
  // prerequisite) goes round again once that one is placed.
  std::vector<size_t> deferred;
  const auto earliest = [&](const PendingTask& t, absl::Time* at) {
    *at = t.ready ? now : now + absl::Microseconds(1);
    for (int64_t p : t.after) {
      auto f = finishes.find(p);
      if (f != finishes.end()) {
        *at = std::max(*at, f->second);
      } else if (in_plan.count(p)) {
        return false;  // not placed yet
      }
    }
    return true;
  };
  for (size_t round = 0; round < 2 && !order.empty(); ++round) {
  for (size_t i : order) {
    const PendingTask& t = tasks[i];
    absl::Time not_before;
    if (!earliest(t, &not_before)) {
      if (round == 0) {
        deferred.push_back(i);
        continue;
      }
      not_before = now + absl::Microseconds(1);
    }
    auto it = slots.find(t.data_root);
    if (it == slots.end() || it->second.empty()) {
      plan.unplaceable.push_back(t.task_id);
      continue;
    }
    auto& heap = it->second;
    Slot slot = heap.top();
    heap.pop();
    while (slot.free_at != free_at[slot.index]) {  // booked through another root
      slot.free_at = free_at[slot.index];
      heap.push(slot);
      slot = heap.top();
      heap.pop();
    }
    PlanEntry e;
    e.task_id = t.task_id;
    e.worker_id = workers[slot.worker].id;
    e.start = std::max(slot.free_at, not_before);
    e.estimate = estimator.Estimate(t.cu, t.input_bytes,
                                    static_cast<int>(t.files), e.worker_id,
                                    /*explain=*/false);
    e.finish = e.start + absl::Seconds(e.estimate.seconds);
    e.starts_now = e.start <= now;
    plan.finish = std::max(plan.finish, e.finish);
    if (any_after) finishes[t.task_id] = e.finish;
    slot.free_at = free_at[slot.index] = e.finish;
    heap.push(slot);
    plan.entries.push_back(std::move(e));
  }
  order = std::move(deferred);
  deferred.clear();
  }
  return plan;
}

}  // namespace curator::daemon
