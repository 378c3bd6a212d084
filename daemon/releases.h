// Releases (docs/ARCHITECTURE.md, "Releases"): a frozen, consistent,
// read-only copy of the live archive in a schema of its own,
// release_<name>, with a manifest in curation.release and
// curation.release_table (deploy/migrations/0013_releases.sql): the
// nights it holds, per table its rows and content checksum, when it was
// made, by which software, at whose request.
//
// - Create copies, in ONE REPEATABLE READ transaction (so a killed daemon
//   or a restarted database leaves no release or a whole one, and every
//   table is of the same moment), the live frames of the nights up to
//   `until`, their detectors, header cards and detections, and the
//   sources linked to those detections with their links and nights'
//   summaries; then their keys and Q3C indexes, a trigger on each table
//   that refuses every write, and the checksums. It refuses, naming the
//   nights and tasks, while a task of a night it would hold is not settled
//   (ingested, failed or cancelled): Qserv publishes a database only when
//   no load is open, and so does this.
// - Verify recomputes every table's rows and checksum and compares them
//   with the manifest, naming each table that differs, is missing, is not
//   in the manifest, or has lost its write trigger.
// - Drop removes the schema and the per-table manifest in one
//   transaction; the release's row stays, 'dropped', with both events.
//
// Create and drop are events (curation.cu_event 'release create', 'release
// drop', cu NULL) whose producer is who asked. Repeating one is harmless:
// AlreadyExists for a name in use, NotFound for a release not there.
//
// Thread-safe: each call is one transaction on a connection of the pool.
#ifndef CURATOR_DAEMON_RELEASES_H_
#define CURATOR_DAEMON_RELEASES_H_

#include <string>

#include "absl/status/statusor.h"
#include "archive/cu_registry.h"
#include "curator/v1/services.pb.h"
#include "daemon/task_store.h"
#include "db/pool.h"

namespace curator::daemon {

class Releases {
 public:
  // `registry` names the CUs of the tasks a refusal lists.
  Releases(pg::ConnectionPool* pool, TaskStore* tasks,
           const archive::CuRegistry* registry)
      : pool_(pool), tasks_(tasks), registry_(registry) {}

  // InvalidArgument for a name not of [a-z0-9_]{1,40} or `until` not a
  // YYYYMMDD night (empty: every night); AlreadyExists for a release of
  // that name (or a schema release_<name> that is not one);
  // FailedPrecondition naming the nights and their tasks still loading,
  // or when there is no live frame to release. `who` asked: "cert:<CN>",
  // "token".
  absl::StatusOr<v1::ReleaseInfo> Create(const std::string& name,
                                         const std::string& until,
                                         const std::string& who);
  // The frozen releases, oldest first, with their tables' rows,
  // checksums and size on disk.
  absl::StatusOr<v1::ListReleasesResponse> List();
  // NotFound for no frozen release of that name; differences are in the
  // answer.
  absl::StatusOr<v1::VerifyReleaseResponse> Verify(const std::string& name);
  // NotFound for no frozen release of that name; Unavailable while a
  // query holds its tables past a lock timeout (try again).
  absl::StatusOr<v1::DropReleaseResponse> Drop(const std::string& name,
                                               const std::string& who);

  // "release_<name>".
  static std::string SchemaOf(const std::string& name);

 private:
  pg::ConnectionPool* const pool_;
  TaskStore* const tasks_;
  const archive::CuRegistry* const registry_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_RELEASES_H_
