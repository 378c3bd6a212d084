#include "daemon/worker_registry.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status.h"

namespace curator::daemon {
namespace {

bool Ended(v1::TaskStatus::State s) {
  return s == v1::TaskStatus::DONE || s == v1::TaskStatus::FAILED ||
         s == v1::TaskStatus::CANCELLED;
}

// A refusal from the task store because the task moved on meanwhile: the
// report is of an attempt that is no longer current, and changes nothing.
absl::Status IgnoreMoved(absl::Status s) {
  return s.code() == absl::StatusCode::kFailedPrecondition ? absl::OkStatus() : s;
}

}  // namespace

absl::Status WorkerRegistry::Load() {
  CURATOR_ASSIGN_OR_RETURN(std::vector<WorkerRecord> known, store_->All());
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : known) {
    Entry& e = workers_[w.worker_id];
    if (e.last_heard != absl::Time()) continue;  // heard from already
    e.record = std::move(w);
    e.last_heard = now;
    e.last_persisted = now;
  }
  return absl::OkStatus();
}

bool WorkerRegistry::AliveLocked(const Entry& e, absl::Time now) const {
  return e.reachable && now - e.last_heard <= options_.heartbeat_timeout;
}

absl::StatusOr<v1::HeartbeatResponse> WorkerRegistry::Heartbeat(const v1::HeartbeatRequest& r) {
  if (r.worker_id().empty() || r.address().empty() || r.load().slots() < 1) {
    return absl::InvalidArgumentError("a worker needs an id, an address and at least one slot");
  }
  const absl::Time now = clock_->Now();
  WorkerRecord record;
  record.worker_id = r.worker_id();
  record.address = r.address();
  record.boot_id = r.boot_id();
  record.load = r.load();
  record.data_roots.assign(r.data_roots().begin(), r.data_roots().end());
  bool persist = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = workers_[r.worker_id()];
    if (!e.record.boot_id.empty() && e.record.boot_id != r.boot_id()) {
      CURATOR_LOG(WARNING) << "worker " << r.worker_id() << " restarted (was " << e.record.boot_id
                           << ", now " << r.boot_id() << ")";
    }
    persist = e.record.address != record.address || e.record.boot_id != record.boot_id ||
              e.record.load.slots() != record.load.slots() ||
              now - e.last_persisted >= options_.persist_every;
    if (!e.reachable) CURATOR_LOG(INFO) << "worker " << r.worker_id() << " is back";
    e.record = record;
    e.last_heard = now;
    e.reachable = true;
    e.down_reason.clear();
    e.tasks.clear();
    for (const v1::TaskStatus& t : r.tasks()) e.tasks[t.task_id()] = t;
    if (persist) e.last_persisted = now;
  }
  if (persist) {
    if (absl::Status s = store_->Record(record); !s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      workers_[r.worker_id()].last_persisted = absl::InfinitePast();
      return s;
    }
  }

  // The daemon's view of this worker, against what it reports.
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskOnWorker> mine, tasks_->OnWorker(r.worker_id()));
  std::map<std::string, const v1::TaskStatus*> reported;
  for (const v1::TaskStatus& t : r.tasks()) reported[t.task_id()] = &t;
  v1::HeartbeatResponse out;
  std::set<std::string> expected;
  for (const TaskOnWorker& t : mine) {
    const std::string id = TaskStore::AttemptId(t.task_id, t.attempt);
    expected.insert(id);
    auto it = reported.find(id);
    if (it != reported.end()) {
      CURATOR_ASSIGN_OR_RETURN(bool recorded, Apply(r.worker_id(), t.task_id,
                                                    t.attempt, *it->second));
      if (recorded) out.add_acknowledged(id);
      continue;
    }
    std::string why;
    if (!t.boot_id.empty() && t.boot_id != r.boot_id()) {
      why = absl::StrCat("worker ", r.worker_id(), " restarted and no longer has it");
    } else if (!t.boot_id.empty() && t.seq <= r.seq()) {
      why = absl::StrCat("worker ", r.worker_id(), " no longer lists it");
    } else if (t.boot_id.empty() && now - t.dispatched_at > options_.heartbeat_timeout) {
      why = absl::StrCat("worker ", r.worker_id(), " never confirmed it");
    }
    if (why.empty()) continue;  // on its way: sent, not yet in a heartbeat
    CURATOR_LOG(WARNING) << "task " << t.task_id << ": " << why << "; taking it back";
    CURATOR_RETURN_IF_ERROR(IgnoreMoved(
        tasks_->FailAttempt(t.task_id, t.attempt, r.worker_id(), AttemptEnd::kLost, why)
            .status()));
  }
  for (const auto& [id, status] : reported) {
    if (expected.count(id)) continue;
    // Not the daemon's there (any more): a finished one was recorded
    // before (or belongs to an attempt that was taken over); a running
    // one must stop.
    if (Ended(status->state())) {
      out.add_acknowledged(id);
    } else {
      CURATOR_LOG(WARNING) << "worker " << r.worker_id() << " runs " << id
                           << ", which is not the daemon's there; cancelling it";
      out.add_cancel(id);
    }
  }
  return out;
}

absl::StatusOr<bool> WorkerRegistry::Apply(const std::string& worker_id,
                                           int64_t task_id, int attempt,
                                           const v1::TaskStatus& t) {
  switch (t.state()) {
    case v1::TaskStatus::RUNNING:
      CURATOR_RETURN_IF_ERROR(tasks_->Started(task_id, attempt, worker_id));
      return false;
    case v1::TaskStatus::DONE: {
      CURATOR_RETURN_IF_ERROR(
          tasks_->Finished(task_id, attempt, worker_id, t.batch_id()));
      return true;
    }
    case v1::TaskStatus::FAILED:
      CURATOR_RETURN_IF_ERROR(IgnoreMoved(
          tasks_->FailAttempt(task_id, attempt, worker_id, AttemptEnd::kFailed,
                              absl::StrCat("on ", worker_id, ": ", t.error()))
              .status()));
      return true;
    case v1::TaskStatus::CANCELLED: {
      // Cancelled on the worker while still the daemon's there: not an
      // operator's cancel (that moves the task first), so the worker
      // stopped it to shut down. Not the task's fault: it goes elsewhere
      // at once, the attempt not counted against it.
      const std::string why = absl::StrCat("worker ", worker_id, " stopped it (shutting down)");
      CURATOR_LOG(WARNING) << "task " << task_id << ": " << why << "; giving it back";
      CURATOR_RETURN_IF_ERROR(IgnoreMoved(tasks_->GiveBack(task_id, attempt, worker_id, why)));
      MarkUnreachable(worker_id, "it is shutting down");
      return true;
    }
    default:
      return false;
  }
}

absl::StatusOr<bool> WorkerRegistry::ReportResult(const std::string& worker_id,
                                                  const v1::TaskStatus& status) {
  int64_t task_id = 0;
  int attempt = 0;
  if (!TaskStore::ParseAttemptId(status.task_id(), &task_id, &attempt)) return true;  // not ours
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskOnWorker> mine, tasks_->OnWorker(worker_id));
  for (const TaskOnWorker& t : mine) {
    if (t.task_id == task_id && t.attempt == attempt) {
      return Apply(worker_id, task_id, attempt, status);
    }
  }
  return Ended(status.state());  // recorded before, or taken over meanwhile
}

absl::StatusOr<std::vector<int64_t>> WorkerRegistry::ReclaimSilent() {
  const absl::Time now = clock_->Now();
  std::vector<std::string> silent;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, e] : workers_) {
      if (now - e.last_heard > options_.heartbeat_timeout) silent.push_back(id);
    }
  }
  std::vector<int64_t> reclaimed;
  for (const std::string& worker : silent) {
    CURATOR_ASSIGN_OR_RETURN(std::vector<TaskOnWorker> mine, tasks_->OnWorker(worker));
    for (const TaskOnWorker& t : mine) {
      const std::string why = absl::StrCat("worker ", worker, " lost (no heartbeat)");
      absl::StatusOr<TaskState> s =
          tasks_->FailAttempt(t.task_id, t.attempt, worker, AttemptEnd::kLost, why);
      if (s.ok()) {
        CURATOR_LOG(WARNING) << "task " << t.task_id << " taken back: " << why;
        reclaimed.push_back(t.task_id);
      } else if (s.status().code() != absl::StatusCode::kFailedPrecondition) {
        return s.status();
      }
    }
  }
  return reclaimed;
}

void WorkerRegistry::CheckLinks(WorkerClient& client) {
  std::vector<std::pair<std::string, std::string>> addresses;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, e] : workers_) {
      if (e.reachable) addresses.emplace_back(id, e.record.address);
    }
  }
  for (const auto& [id, address] : addresses) {
    if (client.LooksDown(address)) MarkUnreachable(id, "its link is down");
  }
}

void WorkerRegistry::MarkUnreachable(const std::string& worker_id, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || !it->second.reachable) return;
  CURATOR_LOG(WARNING) << "worker " << worker_id << " is unreachable (" << why
                       << "): no new tasks until it calls again";
  it->second.reachable = false;
  it->second.down_reason = why;
}

std::vector<WorkerView> WorkerRegistry::Snapshot() const {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WorkerView> out;
  for (const auto& [id, e] : workers_) {
    WorkerView v;
    v.record = e.record;
    v.since_heard = now - e.last_heard;
    v.alive = AliveLocked(e, now);
    v.down_reason = !e.reachable ? e.down_reason : v.alive ? "" : "no heartbeat";
    v.tasks = e.tasks;
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<WorkerState> WorkerRegistry::PlannerView() const {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WorkerState> out;
  for (const auto& [id, e] : workers_) {
    WorkerState w;
    w.id = id;
    w.address = e.record.address;
    w.slots = std::max(1, e.record.load.slots());
    w.running = e.record.load.running_tasks() + e.record.load.queued_tasks();
    w.load_average = e.record.load.load_average_1m();
    w.cores = std::max(1, e.record.load.cores());
    w.free_disk_bytes = e.record.load.free_disk_bytes();
    w.data_roots = e.record.data_roots;
    w.alive = AliveLocked(e, now);
    out.push_back(std::move(w));
  }
  return out;
}

std::optional<std::string> WorkerRegistry::AddressOf(const std::string& worker_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return std::nullopt;
  return it->second.record.address;
}

std::map<std::string, int> WorkerRegistry::FilesDone() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int> out;
  for (const auto& [id, e] : workers_) {
    for (const auto& [attempt, status] : e.tasks)
      out[attempt] = status.files_done();
  }
  return out;
}

}  // namespace curator::daemon
