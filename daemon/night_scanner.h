// Finds nights whose transfer is complete (their TRANSFER_COMPLETE marker
// is there), registers their files (ids at once) and makes their task
// graph from the CU registry. Each night is scanned once per daemon run,
// and again when its marker's time stamp changes (a re-delivery sends it
// again): the files that changed are registered for the night's next
// delivery (archive/file_registry.h). A night that fails to register is
// logged and tried again at the next pass, the others go on. At start
// every complete night is looked at again, so files and CUs added
// meanwhile get their ids and tasks. Not thread-safe: the daemon's loop
// calls it.
#ifndef CURATOR_DAEMON_NIGHT_SCANNER_H_
#define CURATOR_DAEMON_NIGHT_SCANNER_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "daemon/task_store.h"
#include "db/pool.h"

namespace curator::daemon {

class NightScanner {
 public:
  NightScanner(std::string archive_root, pg::ConnectionPool* pool, TaskStore* tasks)
      : archive_root_(std::move(archive_root)), pool_(pool), tasks_(tasks) {}

  // One look at incoming/. Errors are systematic (the database is away).
  absl::Status Scan();

 private:
  const std::string archive_root_;
  pg::ConnectionPool* const pool_;
  TaskStore* const tasks_;
  std::map<std::string, int64_t> done_;  // night -> its marker's mtime (ns)
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_NIGHT_SCANNER_H_
