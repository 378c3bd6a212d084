// The daemon's record of its workers in PostgreSQL (curation.worker): what
// each reported when it last heartbeat (written when it changes, and at
// most every few seconds otherwise), so a restarted daemon knows its
// workers before they next call, and SQL readers see them. The live view
// (who is alive, their load this second) is the worker registry's
// (daemon/worker_registry.h). Thread-safe.
#ifndef CURATOR_DAEMON_WORKER_STORE_H_
#define CURATOR_DAEMON_WORKER_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "curator/v1/services.pb.h"
#include "db/pool.h"

namespace curator::daemon {

struct WorkerRecord {
  std::string worker_id;
  std::string address;  // host:port of its gRPC server
  std::string boot_id;
  v1::Load load;
  std::vector<std::string> data_roots;
};

class WorkerStore {
 public:
  explicit WorkerStore(pg::ConnectionPool* pool) : pool_(pool) {}

  // Inserts or updates the worker; its last heartbeat is now.
  // InvalidArgument without an id, an address or a slot.
  absl::Status Record(const WorkerRecord& worker);
  // Every worker ever recorded, by id.
  absl::StatusOr<std::vector<WorkerRecord>> All();

 private:
  pg::ConnectionPool* pool_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_WORKER_STORE_H_
