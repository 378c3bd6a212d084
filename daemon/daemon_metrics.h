// The daemon's /metrics (Prometheus text): the archive as the database
// records it (tasks and batches by state, task attempts by outcome and
// their durations, rows ingested and batch load durations per CU,
// warnings and errors logged), so a restarted daemon reports the same
// counters; whether dispatch is paused and the database reachable; each
// worker's liveness and load as the worker registry sees it; and the
// build. While the database is away the database's metrics are left out,
// the rest is still served, and curator_database_up says 0.
#ifndef CURATOR_DAEMON_DAEMON_METRICS_H_
#define CURATOR_DAEMON_DAEMON_METRICS_H_

#include <string>

#include "archive/cu_registry.h"
#include "daemon/read_queries.h"
#include "daemon/task_store.h"
#include "db/pool.h"

namespace curator::daemon {

std::string DaemonMetrics(ReadQueries& queries, TaskStore& tasks,
                          pg::ConnectionPool& pool,
                          const archive::CuRegistry& registry);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_DAEMON_METRICS_H_
