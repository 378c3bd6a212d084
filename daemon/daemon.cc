#include "daemon/daemon.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "archive/file_registry.h"
#include "base/log.h"
#include "base/status.h"
#include "daemon/daemon_metrics.h"

namespace curator::daemon {

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Create(const DaemonOptions& o,
                                                       const archive::CuRegistry* registry,
                                                       const Clock* clock,
                                                       std::unique_ptr<WorkerClient> client) {
  std::unique_ptr<Daemon> d(new Daemon());
  d->options_ = o;
  d->registry_ = registry;
  d->clock_ = clock;
  d->pool_ = std::make_unique<pg::ConnectionPool>(
      pg::ConnectionPool::Options{o.conninfo, std::max(2, o.connections)});
  {
    CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, d->pool_->Get());
    CURATOR_RETURN_IF_ERROR(archive::MigrateArchive(*conn, *registry));
    // A shard that is down must not keep the daemon from starting: its
    // batches wait at ingest, and the next start or curatorctl migrate
    // brings it up to date.
    if (absl::Status s = archive::shards::MigrateShards(*conn, o.shards);
        s.code() == absl::StatusCode::kUnavailable) {
      CURATOR_LOG(WARNING) << s
                           << "; shards are migrated at the next start "
                              "or by curatorctl migrate";
    } else {
      CURATOR_RETURN_IF_ERROR(s);
    }
  }
  d->client_ = std::move(client);
  d->tasks_ = std::make_unique<TaskStore>(d->pool_.get(), registry, clock, o.policy);
  d->worker_store_ = std::make_unique<WorkerStore>(d->pool_.get());
  d->workers_ = std::make_unique<WorkerRegistry>(
      d->tasks_.get(), d->worker_store_.get(), clock,
      WorkerRegistry::Options{.heartbeat_timeout = o.heartbeat_timeout});
  CURATOR_RETURN_IF_ERROR(d->workers_->Load());
  d->dispatcher_ = std::make_unique<Dispatcher>(
      d->tasks_.get(), d->workers_.get(), d->client_.get(), d->pool_.get(), registry, clock,
      Dispatcher::Options{o.archive_root, o.max_load_per_core});
  d->commands_ = std::make_unique<OperatorCommands>(d->tasks_.get(), d->workers_.get(),
                                                    d->client_.get(), d->pool_.get());
  CURATOR_RETURN_IF_ERROR(d->commands_->Load());
  d->queries_ = std::make_unique<ReadQueries>(d->tasks_.get(), d->workers_.get(),
                                              d->dispatcher_.get(), d->commands_.get(),
                                              d->pool_.get(), registry, clock, o.archive_root);
  d->releases_ =
      std::make_unique<Releases>(d->pool_.get(), d->tasks_.get(), registry);
  d->audit_ = std::make_unique<AuditLog>(d->pool_.get());
  CURATOR_RETURN_IF_ERROR(d->audit_->CloseUnfinished());
  d->scanner_ = std::make_unique<NightScanner>(o.archive_root, d->pool_.get(), d->tasks_.get());
  d->actions_ = std::make_unique<ArchiveActions>(o.archive_root, d->pool_.get(),
                                                 d->tasks_.get());
  return d;
}

Daemon::~Daemon() {
  // Calls in flight apply their answers through the stores: they end
  // before the stores and the pool do.
  if (dispatcher_ != nullptr) dispatcher_->WaitIdle();
}

void Daemon::SetWake(std::function<void()> wake) {
  actions_->SetWake(wake);
  commands_->SetWake(std::move(wake));
}

absl::Status Daemon::AcceptWaiting() {
  std::vector<std::string> nights;
  {
    CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
    CURATOR_ASSIGN_OR_RETURN(nights, archive::NightsWaiting(*conn));
  }
  const absl::Time now = clock_->Now();
  for (const std::string& night : nights) {
    auto next = next_accept_.find(night);
    if (next != next_accept_.end() && now < next->second) continue;
    absl::StatusOr<v1::ArchiveActionResponse> a =
        actions_->Accept(night, "policy");
    if (a.ok()) {
      audit_->Record(AuditEntry{.who = "policy",
                                .via = "policy",
                                .command = "accept",
                                .target = absl::StrCat("night ", night),
                                .reason = "daemon.accept_redeliveries"},
                     AuditOutcome(*a));
      next_accept_.erase(night);
      continue;
    }
    // Busy (a task in flight) or broken: again later, not at every pass
    // (an accept registers the night again first).
    next_accept_[night] = now + absl::Seconds(10);
    if (a.status().code() != absl::StatusCode::kFailedPrecondition) {
      CURATOR_LOG(WARNING) << "night " << night
                           << ": not accepted: " << a.status();
    }
  }
  return absl::OkStatus();
}

absl::Status Daemon::Tick() {
  CURATOR_RETURN_IF_ERROR(scanner_->Scan());
  if (options_.accept_redeliveries) CURATOR_RETURN_IF_ERROR(AcceptWaiting());
  CURATOR_RETURN_IF_ERROR(workers_->ReclaimSilent().status());
  workers_->CheckLinks(*client_);
  CURATOR_ASSIGN_OR_RETURN(std::vector<int64_t> decided, tasks_->ApplyBatchOutcomes());
  if (!decided.empty()) CURATOR_LOG(INFO) << decided.size() << " task(s) moved by their batches";
  if (options_.auto_approve) {
    CURATOR_ASSIGN_OR_RETURN(MoveResult approved, tasks_->ApproveAllPending());
    if (!approved.changed.empty()) {
      audit_->Record(
          AuditEntry{.who = "policy",
                     .via = "policy",
                     .command = "approve",
                     .target = absl::StrCat(
                         "tasks ", absl::StrJoin(approved.changed, " ")),
                     .reason = "daemon.auto_approve"},
          absl::StrCat("ok, ", approved.changed.size(), " approved"));
    }
  }
  if (commands_->paused()) return absl::OkStatus();
  return dispatcher_->RunOnce().status();
}

std::string Daemon::Metrics() {
  return DaemonMetrics(*queries_, *tasks_, *pool_, *registry_);
}

}  // namespace curator::daemon
