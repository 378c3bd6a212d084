// Finds nights whose transfer is complete (their TRANSFER_COMPLETE marker
// is there), registers their files (ids at once) and makes their task
// graph from the CU registry. Each night is scanned once per daemon run;
// at start every complete night is looked at again, so files and CUs
// added meanwhile get their ids and tasks. Not thread-safe: the daemon's
// loop calls it.
#ifndef CURATOR_DAEMON_NIGHT_SCANNER_H_
#define CURATOR_DAEMON_NIGHT_SCANNER_H_

#include <set>
#include <string>

#include "absl/status/status.h"
#include "daemon/task_store.h"
#include "db/pool.h"

namespace curator::daemon {

class NightScanner {
 public:
  NightScanner(std::string archive_root, pg::ConnectionPool* pool, TaskStore* tasks)
      : archive_root_(std::move(archive_root)), pool_(pool), tasks_(tasks) {}

  // One look at incoming/. A night that fails to register is tried again
  // at the next pass; errors are systematic (the database is away).
  absl::Status Scan();

 private:
  const std::string archive_root_;
  pg::ConnectionPool* const pool_;
  TaskStore* const tasks_;
  std::set<std::string> done_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_NIGHT_SCANNER_H_
