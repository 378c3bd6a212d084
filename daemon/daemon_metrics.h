// The daemon's /metrics (Prometheus text): tasks and batches by state,
// rows ingested per CU, warnings and errors logged, whether dispatch is
// paused and the database reachable, and each worker's liveness and load
// as the worker registry sees it. While the database is away the
// database's metrics are left out, the rest is still served, and
// curator_database_up says 0.
#ifndef CURATOR_DAEMON_DAEMON_METRICS_H_
#define CURATOR_DAEMON_DAEMON_METRICS_H_

#include <string>

#include "archive/cu_registry.h"
#include "daemon/read_queries.h"
#include "db/pool.h"

namespace curator::daemon {

std::string DaemonMetrics(ReadQueries& queries, pg::ConnectionPool& pool,
                          const archive::CuRegistry& registry);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_DAEMON_METRICS_H_
