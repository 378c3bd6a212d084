// The Load Monitor: web pages over the coordinator's state, served by
// curator-daemon on daemon.monitor_address (plain HTTP, read-only) and,
// when daemon.monitor_actions turns it on, on its HTTPS address with the
// operator's actions (monitor_https.h).
//
//   /                 a pause banner, the nights x CUs, the plan, the tasks
//                     (progress bars and ETAs), ingest rows/s over time
//   /workers          load, slots, running tasks, last heartbeat
//   /batches          ready, loading, waiting, ingested, quarantined
//   /tasks/<id>       one task: progress, attempts, steps, errors and
//                     warnings, and its per-file log
//   /timeline         a night's task attempts and ingests on a time axis
//   /audit            who did what (operator commands from any client)
//   /api/nights, /api/workers, /api/plan, /api/cus, /api/tasks/<id>/log
//                     proto3 JSON of the matching Coordinator response
//                     (field names as in the .proto)
//   /api/tasks, /api/batches   the same, bounded: ?limit= (default 1000,
//                     at most 5000) and ?offset=, with "total" (the count
//                     before the bound) and "offset"; /api/tasks also
//                     takes ?state=
//   /api/status       {"paused", "database_up"}
//   /api/task_errors  {"<task id>": errors in its log} for tasks with any
//   /api/throughput   {"batches": [{"batch_id", "cu", "night", "finished"
//                     (epoch seconds), "rows", "seconds", "rows_per_second"}]}
//                     newest first, ?limit= (default 500, at most 5000)
//   /api/timeline     ?night=YYYYMMDD (default: the newest):
//                     {"night", "now", "attempts": [{"task_id", "cu",
//                     "worker_id", "start", "end", "outcome"}], "ingests":
//                     [{"batch_id", "cu", "start", "end", "state"}]}
//   /api/tasks/<id>/files   the per-file log: {"task_id", "total",
//                     "offset", "files": [{"step", "path", "multiframe_id",
//                     "started", "seconds", "rows", "errors", "warnings"}]},
//                     ?limit= (default 500) and ?offset=
//   /api/audit        proto3 JSON of ListAuditResponse (newest first),
//                     ?limit= (default 100, at most 1000), ?before_id=,
//                     ?command=
//   /metrics          Prometheus text format
//
// Without JavaScript the page is a server-rendered summary (<noscript>):
// dispatch paused or not, tasks and batches per state. The pages refresh
// every two seconds. Nothing here changes state: HttpServer answers every
// method but GET with 405.
#ifndef CURATOR_DAEMON_MONITOR_H_
#define CURATOR_DAEMON_MONITOR_H_

#include <string>
#include <vector>

#include "daemon/daemon.h"
#include "server/http_server.h"

namespace curator::daemon {

struct MonitorRoute {
  std::string pattern;  // as HttpServer::Get takes it
  HttpServer::Handler handler;
};

// The read-only routes above, for the plain monitor and the HTTPS one;
// `daemon` must outlive them.
std::vector<MonitorRoute> MonitorRoutes(Daemon* daemon);

// Adds MonitorRoutes(daemon) to `http`.
void AddMonitorRoutes(Daemon* daemon, HttpServer* http);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_MONITOR_H_
