// The audit log (curation.audit, deploy/migrations/0014_audit.sql): who
// asked the daemon to change what, when, and what came of it. The gRPC
// service records every state-changing call (daemon/server.cc), the Load
// Monitor every action on its page, the daemon its own policy's accepts.
//
// A command is recorded before it runs (outcome "running") and finished
// after it answers, so a daemon killed in between leaves the request on
// record. Recording never stops a command: with the database away the
// command fails on its own, and a record that cannot be written is
// logged instead. Thread-safe.
#ifndef CURATOR_DAEMON_AUDIT_LOG_H_
#define CURATOR_DAEMON_AUDIT_LOG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "curator/v1/services.pb.h"
#include "db/pool.h"

namespace curator::daemon {

struct AuditEntry {
  std::string who;      // "cert:<CN>", "token", "policy"
  std::string via;      // "grpc", "page", "policy"
  std::string command;  // "approve", "cancel", "retire", "release create"
  std::string target;   // "tasks 42 43", "night 20071021", "files a.fit"
  std::string reason;
};

class AuditLog {
 public:
  explicit AuditLog(pg::ConnectionPool* pool) : pool_(pool) {}

  // Records that `entry` was asked for; returns its id (0 if it could not
  // be written, which is logged).
  int64_t Begin(const AuditEntry& entry);
  // Sets what came of entry `id`: "ok", "ok, 1 refused: ...", or the
  // error. Nothing for id 0.
  void Finish(int64_t id, const std::string& outcome);
  // At the daemon's start: entries a previous daemon began and never
  // finished get outcome "unknown: the daemon stopped before it answered".
  absl::Status CloseUnfinished();
  // Begin and Finish at once, for what is known only after it happened.
  void Record(const AuditEntry& entry, const std::string& outcome);

  // Newest first; InvalidArgument for a limit above 1000.
  absl::StatusOr<v1::ListAuditResponse> List(const v1::ListAuditRequest& r);

 private:
  pg::ConnectionPool* pool_;
};

// What came of a command, for its audit entry: "ok", with what it changed
// and refused where the answer says; or "refused: ..." or "failed: ..."
// with the status's message.
std::string AuditOutcome(const absl::Status& status);
std::string AuditOutcome(const v1::ApproveResponse& r);
std::string AuditOutcome(const v1::TaskIdsResponse& r);
std::string AuditOutcome(const v1::ArchiveActionResponse& r);
std::string AuditOutcome(const v1::DispatchState& r);
std::string AuditOutcome(const v1::ChangesResponse& r);
std::string AuditOutcome(const v1::ReleaseInfo& r);
std::string AuditOutcome(const v1::DropReleaseResponse& r);

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_AUDIT_LOG_H_
