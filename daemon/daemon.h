// The data daemon's parts, made and wired in one place (Kudu's master):
// the database pool, the task and worker stores, the worker registry
// (heartbeats), the dispatcher, the operator commands, the read queries
// (gRPC, Load Monitor, metrics) and the night scanner; and one pass of the
// daemon's loop (Tick). Everything is injected that a test replaces: the
// CU registry, the clock and the worker client.
//
// Thread-safe: Tick runs on the loop's thread while the gRPC and HTTP
// threads call the parts.
#ifndef CURATOR_DAEMON_DAEMON_H_
#define CURATOR_DAEMON_DAEMON_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "archive/cu_registry.h"
#include "archive/shards.h"
#include "base/clock.h"
#include "daemon/archive_actions.h"
#include "daemon/audit_log.h"
#include "daemon/dispatcher.h"
#include "daemon/night_scanner.h"
#include "daemon/operator_commands.h"
#include "daemon/read_queries.h"
#include "daemon/releases.h"
#include "daemon/task_store.h"
#include "daemon/worker_client.h"
#include "daemon/worker_registry.h"
#include "daemon/worker_store.h"
#include "db/pool.h"

namespace curator::daemon {

struct DaemonOptions {
  std::string archive_root;
  std::string conninfo;
  // The detections' shard servers, brought to the head's schema at start
  // (archive/shards.h); none: the head holds everything.
  std::vector<archive::shards::Shard> shards;
  int connections = 4;
  bool auto_approve = false;
  bool accept_redeliveries = false;  // the policy accepts re-deliveries
  absl::Duration heartbeat_timeout = absl::Seconds(30);
  TaskPolicy policy;
  double max_load_per_core = 1.5;
};

class Daemon {
 public:
  // Connects, brings the schema up to date (and curation.cu to the
  // registry), and loads the workers and the pause the database knows.
  // `registry` and `clock` must outlive the daemon.
  static absl::StatusOr<std::unique_ptr<Daemon>> Create(const DaemonOptions& options,
                                                        const archive::CuRegistry* registry,
                                                        const Clock* clock,
                                                        std::unique_ptr<WorkerClient> client);
  ~Daemon();

  // One pass of the loop: find and register complete nights, take tasks
  // back from silent workers, note workers whose link is down, move tasks
  // whose batches were ingested or quarantined, approve pending tasks if
  // the policy says so, and dispatch what can start (unless paused).
  // Errors are systematic (the database is away); the next pass retries.
  absl::Status Tick();
  // Called when something may let work start now (an approval, a freed
  // slot), so the loop runs at once instead of at its next interval.
  void SetWake(std::function<void()> wake);

  WorkerRegistry& workers() { return *workers_; }
  OperatorCommands& commands() { return *commands_; }
  ArchiveActions& actions() { return *actions_; }
  ReadQueries& queries() { return *queries_; }
  // Releases: frozen copies of the live archive (daemon/releases.h).
  Releases& releases() { return *releases_; }
  // Who asked for what (daemon/audit_log.h).
  AuditLog& audit() { return *audit_; }
  Dispatcher& dispatcher() { return *dispatcher_; }
  TaskStore& tasks() { return *tasks_; }
  const archive::CuRegistry& registry() const { return *registry_; }
  // Prometheus text (daemon/daemon_metrics.h).
  std::string Metrics();
  // Unblocks every database call waiting on the network (they fail):
  // for a shutdown whose deadline passed with a dead database link.
  void InterruptDatabase() { pool_->InterruptAll(); }

 private:
  Daemon() = default;
  DaemonOptions options_;
  const archive::CuRegistry* registry_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<pg::ConnectionPool> pool_;
  std::unique_ptr<WorkerClient> client_;
  std::unique_ptr<TaskStore> tasks_;
  std::unique_ptr<WorkerStore> worker_store_;
  std::unique_ptr<WorkerRegistry> workers_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<OperatorCommands> commands_;
  std::unique_ptr<ReadQueries> queries_;
  std::unique_ptr<Releases> releases_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<NightScanner> scanner_;
  std::unique_ptr<ArchiveActions> actions_;
  // Nights with files waiting, accepted by the policy
  // (accept_redeliveries), each tried again no sooner than this.
  absl::Status AcceptWaiting();
  std::map<std::string, absl::Time> next_accept_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_DAEMON_H_
