#include "daemon/dispatcher.h"

#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "archive/file_registry.h"
#include "base/log.h"
#include "base/status.h"

namespace curator::daemon {

Dispatcher::~Dispatcher() { WaitIdle(); }

void Dispatcher::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

absl::StatusOr<Plan> Dispatcher::PlanFor(
    const std::vector<TaskRow>& rows,
    const std::map<int64_t, std::vector<int64_t>>& waits, PlanBasis* basis) {
  PlanBasis local;
  if (basis == nullptr) basis = &local;
  CURATOR_ASSIGN_OR_RETURN(basis->history, estimates_.History());
  const Estimator estimator(basis->history);
  CURATOR_ASSIGN_OR_RETURN(auto on_workers, estimates_.OnWorkers());
  basis->on_workers = static_cast<int>(on_workers.size());
  std::map<std::string, std::vector<absl::Duration>> left;
  for (const auto& [id, p] : on_workers) {
    left[p.worker_id].push_back(absl::Seconds(p.remaining_seconds));
  }
  std::vector<WorkerState> workers = workers_->PlannerView();
  for (WorkerState& w : workers) {
    // The slots in use are the tasks the daemon has on the worker: its
    // heartbeats are reconciled with them, and the heartbeat's own count
    // lags by one beat (a slot just freed, a task just sent).
    auto l = left.find(w.id);
    if (l == left.end()) {
      w.running = 0;
      continue;
    }
    w.running = static_cast<int>(l->second.size());
    w.busy_for = std::move(l->second);
  }
  std::vector<int64_t> ids;
  for (const TaskRow& t : rows) ids.push_back(t.task_id);
  CURATOR_ASSIGN_OR_RETURN(basis->input_bytes, tasks_->InputBytes(ids));
  std::vector<PendingTask> pending;
  for (const TaskRow& t : rows) {
    PendingTask p;
    p.task_id = t.task_id;
    p.cu = t.cu;
    const archive::CuSpec* spec = registry_->Find(t.cu);
    p.rank = spec != nullptr ? spec->rank : 1 << 20;
    p.night = t.night;
    p.files = t.files;
    auto b = basis->input_bytes.find(t.task_id);
    p.input_bytes = b != basis->input_bytes.end() ? b->second : 0;
    p.priority = t.priority;
    p.data_root = options_.archive_root;
    p.ready_since = t.created;
    auto w = waits.find(t.task_id);
    if (w != waits.end() && !w->second.empty()) {
      p.ready = false;
      p.after = w->second;
    }
    pending.push_back(std::move(p));
  }
  PlannerOptions po;
  po.min_free_disk_bytes = 0;
  po.max_load_per_core = options_.max_load_per_core;
  Plan plan = MakePlan(pending, workers, estimator, po, clock_->Now());
  std::map<int64_t, const PendingTask*> by_id;
  for (const PendingTask& p : pending) by_id[p.task_id] = &p;
  for (PlanEntry& e : plan.entries) {
    if (!basis->explain_all && !e.starts_now) continue;
    const PendingTask& p = *by_id.at(e.task_id);
    e.estimate = estimator.Estimate(p.cu, p.input_bytes,
                                    static_cast<int>(p.files), e.worker_id);
  }
  return plan;
}

absl::StatusOr<v1::RunTaskRequest> Dispatcher::Request(const TaskRow& t, const Claimed& claim) {
  CURATOR_ASSIGN_OR_RETURN(const archive::CuSpec* spec, registry_->Get(t.cu));
  v1::RunTaskRequest r;
  r.set_task_id(TaskStore::AttemptId(t.task_id, claim.attempt));
  r.set_cu(spec->cu);
  r.set_night(t.night);
  r.set_cu_event_id(claim.cu_event_id);
  r.set_generation(claim.generation);
  for (const std::string& b : claim.replaces) r.add_replaces(b);
  if (spec->input == archive::CuInput::kDatabase) return r;  // it reads the database itself
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  if (spec->input == archive::CuInput::kCatalogues) {
    CURATOR_ASSIGN_OR_RETURN(std::vector<archive::CatalogueFile> cats,
                             archive::RegisteredCatalogues(*conn, t.night));
    for (const archive::CatalogueFile& c : cats) {
      v1::TaskFile* f = r.add_files();
      f->set_multiframe_id(c.multiframe_id);
      f->set_path(c.path);
      f->set_image_path(c.image_path);
    }
    return r;
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<archive::ImageFile> images,
                           archive::RegisteredImages(*conn, t.night));
  for (const archive::ImageFile& i : images) {
    v1::TaskFile* f = r.add_files();
    f->set_multiframe_id(i.multiframe_id);
    f->set_path(i.path);
    f->set_file_name(i.file_name);
    f->set_file_time_stamp_us(absl::ToUnixMicros(i.file_time_stamp));
    f->set_cat_name(i.cat_name);
  }
  return r;
}

absl::StatusOr<int> Dispatcher::RunOnce() {
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> ready, tasks_->Ready());
  if (ready.empty()) return 0;
  PlanBasis basis;
  basis.explain_all = false;
  CURATOR_ASSIGN_OR_RETURN(Plan plan, PlanFor(ready, {}, &basis));
  std::map<int64_t, const TaskRow*> by_id;
  for (const TaskRow& t : ready) by_id[t.task_id] = &t;
  int sent = 0;
  for (const PlanEntry& e : plan.entries) {
    if (!e.starts_now) continue;
    const TaskRow& t = *by_id.at(e.task_id);
    std::optional<std::string> address = workers_->AddressOf(e.worker_id);
    if (!address) continue;
    AttemptInputs inputs;
    inputs.files = t.files;
    inputs.bytes = basis.input_bytes[t.task_id];
    inputs.estimated_seconds = e.estimate.seconds;
    inputs.basis = e.estimate.basis;
    absl::StatusOr<Claimed> claim =
        tasks_->Claim(t.task_id, e.worker_id, inputs);
    if (!claim.ok()) {
      if (claim.status().code() == absl::StatusCode::kFailedPrecondition) continue;  // moved
      return claim.status();
    }
    absl::StatusOr<v1::RunTaskRequest> request = Request(t, *claim);
    if (!request.ok()) {
      // Not sent: back at once, then the error (the database is away).
      (void)tasks_->GiveBack(t.task_id, claim->attempt, e.worker_id,
                             absl::StrCat("not sent: ", request.status().message()));
      return request.status();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
    }
    std::thread([this, t, claim = *claim, worker = e.worker_id, address = *address,
                 request = *std::move(request)]() mutable {
      Send(std::move(t), claim, std::move(worker), std::move(address), std::move(request));
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;
      // Notified under the lock: once it is released, this thread touches
      // nothing of the dispatcher, which may then be destroyed.
      idle_.notify_all();
    }).detach();
    ++sent;
  }
  return sent;
}

void Dispatcher::Send(TaskRow t, Claimed claim, std::string worker, std::string address,
                      v1::RunTaskRequest request) {
  absl::StatusOr<v1::RunTaskResponse> answer = client_->RunTask(address, request);
  absl::Status applied;
  const std::string what = absl::StrCat("task ", t.task_id, " (", registry_->Name(t.cu), " ",
                                        t.night, ")");
  if (answer.ok()) {
    CURATOR_LOG(INFO) << what << " -> " << worker;
    applied = tasks_->Accepted(t.task_id, claim.attempt, answer->boot_id(), answer->accepted_seq());
  } else {
    const std::string why =
        absl::StrCat("dispatch to ", worker, " failed: ", answer.status().message());
    CURATOR_LOG(WARNING) << what << ": " << why;
    switch (answer.status().code()) {
      case absl::StatusCode::kUnavailable:
        // The worker is gone (stopped, or its machine down): the task never
        // started, so it does not use up an attempt and goes elsewhere.
        workers_->MarkUnreachable(worker, why);
        applied = tasks_->GiveBack(t.task_id, claim.attempt, worker, why);
        break;
      case absl::StatusCode::kDeadlineExceeded:
        // No answer: it may have the task or not. Either way not the task's
        // fault; if the worker does run it, its heartbeat shows an attempt
        // the daemon no longer expects there, and it is cancelled.
        applied = tasks_->GiveBack(t.task_id, claim.attempt, worker, why);
        break;
      default:
        applied = tasks_->FailAttempt(t.task_id, claim.attempt, worker, AttemptEnd::kFailed, why)
                      .status();
    }
  }
  if (!applied.ok() && applied.code() != absl::StatusCode::kFailedPrecondition) {
    // The heartbeats reconcile it later (an attempt never confirmed is
    // lost after the heartbeat timeout).
    CURATOR_LOG(WARNING) << what << ": the dispatch's outcome was not recorded: " << applied;
  }
}

}  // namespace curator::daemon
