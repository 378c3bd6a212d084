// The Load Monitor: read-only web pages over the coordinator's state,
// served by curator-daemon on daemon.monitor_address.
//
//   /                 nights x CUs, each task's state colour-coded, and tasks
//   /workers          load, slots, running tasks, last heartbeat
//   /batches          ready, loading, waiting, ingested, quarantined
//   /tasks/<id>       one task's steps, errors and warnings
//   /api/nights, /api/tasks, /api/workers, /api/batches, /api/plan,
//   /api/cus, /api/tasks/<id>/log   the JSON behind each page (proto3 JSON of the
//                     matching Coordinator response, field names as in the
//                     .proto)
//   /metrics          Prometheus text format
//
// The pages refresh themselves every two seconds. Nothing here changes
// state: HttpServer answers every method but GET with 405.
#ifndef CURATOR_DAEMON_MONITOR_H_
#define CURATOR_DAEMON_MONITOR_H_

#include "server/http_server.h"
#include "daemon/daemon.h"

namespace curator::daemon {

// Adds the routes above to `http`; `daemon` must outlive it.
void AddMonitorRoutes(Daemon* daemon, HttpServer* http);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_MONITOR_H_
