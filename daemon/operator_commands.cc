#include "daemon/operator_commands.h"

#include <thread>

#include "base/log.h"
#include "base/status.h"

namespace curator::daemon {
namespace {

std::vector<int64_t> Ids(const v1::TaskIdsRequest& r) {
  return std::vector<int64_t>(r.task_ids().begin(), r.task_ids().end());
}

v1::TaskIdsResponse Answer(const MoveResult& m) {
  v1::TaskIdsResponse out;
  for (int64_t id : m.changed) out.add_changed(id);
  for (const std::string& why : m.refused) out.add_refused(why);
  return out;
}

}  // namespace

OperatorCommands::~OperatorCommands() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

absl::Status OperatorCommands::Load() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(pg::Result r, conn->Exec("SELECT paused FROM curation.dispatch_state"));
  paused_ = r.rows() == 1 && r.Get(0, 0) == "t";
  if (paused_) CURATOR_LOG(WARNING) << "dispatch is paused (curatorctl resume to go on)";
  return absl::OkStatus();
}

absl::StatusOr<v1::ApproveResponse> OperatorCommands::Approve(const v1::ApproveRequest& r) {
  MoveResult moved;
  if (!r.task_ids().empty()) {
    CURATOR_ASSIGN_OR_RETURN(
        moved, tasks_->Approve(std::vector<int64_t>(r.task_ids().begin(), r.task_ids().end())));
  }
  if (r.all()) {
    CURATOR_ASSIGN_OR_RETURN(MoveResult all, tasks_->ApproveAllPending());
    moved.changed.insert(moved.changed.end(), all.changed.begin(), all.changed.end());
  }
  Wake();
  v1::ApproveResponse out;
  for (int64_t id : moved.changed) out.add_approved(id);
  for (const std::string& why : moved.refused) out.add_refused(why);
  return out;
}

absl::StatusOr<v1::TaskIdsResponse> OperatorCommands::Reject(const v1::TaskIdsRequest& r) {
  CURATOR_ASSIGN_OR_RETURN(MoveResult moved, tasks_->Reject(Ids(r)));
  return Answer(moved);
}

absl::StatusOr<v1::TaskIdsResponse> OperatorCommands::Cancel(const v1::TaskIdsRequest& r) {
  std::vector<std::pair<std::string, std::string>> on_workers;
  CURATOR_ASSIGN_OR_RETURN(MoveResult moved, tasks_->Cancel(Ids(r), &on_workers));
  // Cancelled here already; now stop them where they run (the worker
  // removes what they wrote), without waiting for the workers.
  for (const auto& [worker, attempt] : on_workers) {
    std::optional<std::string> address = workers_->AddressOf(worker);
    if (!address) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
    }
    std::thread([this, worker = worker, attempt = attempt, address = *address] {
      absl::Status s = client_->CancelTask(address, attempt);
      if (!s.ok()) {
        CURATOR_LOG(WARNING) << attempt << " cancelled here; " << worker
                             << " did not answer (its next heartbeat will stop it): " << s;
      }
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;
      idle_.notify_all();  // under the lock: then this thread is done with *this
    }).detach();
  }
  return Answer(moved);
}

absl::StatusOr<v1::TaskIdsResponse> OperatorCommands::Retry(const v1::TaskIdsRequest& r) {
  CURATOR_ASSIGN_OR_RETURN(MoveResult moved, tasks_->Retry(Ids(r)));
  Wake();
  return Answer(moved);
}

absl::StatusOr<v1::TaskIdsResponse> OperatorCommands::Rerun(const v1::TaskIdsRequest& r) {
  CURATOR_ASSIGN_OR_RETURN(MoveResult moved, tasks_->Rerun(Ids(r)));
  Wake();
  return Answer(moved);
}

absl::StatusOr<bool> OperatorCommands::SetPaused(bool paused) {
  {
    CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
    CURATOR_RETURN_IF_ERROR(
        conn->Exec("UPDATE curation.dispatch_state SET paused = $1, changed_at = now()",
                   {paused ? "true" : "false"})
            .status());
  }
  if (paused != paused_.exchange(paused)) {
    CURATOR_LOG(WARNING) << "dispatch " << (paused ? "paused" : "resumed") << " by an operator";
  }
  Wake();
  return paused;
}

}  // namespace curator::daemon
