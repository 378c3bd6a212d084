// Loads ready batches into the archive (DESIGN.md, "Batches"): verifies the
// manifest and every file, then in ONE transaction copies into load
// tables, validates, publishes into the archive tables and records the
// batch as ingested with its timings; then moves the batch directory to
// ingested/. A batch that fails validation goes to quarantine/ with a
// readable REPORT.txt and its reason in curation.batch.
//
// Safe with several ingesters: a batch is claimed with a transaction-level
// advisory lock, so a second ingester skips it, and a batch already
// ingested changes nothing. A crash before COMMIT leaves the batch in
// staging to be loaded again; a crash after it leaves a batch whose row
// says 'ingested', which the next pass only moves.
#ifndef CURATOR_INGESTER_LOADER_H_
#define CURATOR_INGESTER_LOADER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/pg.h"

namespace curator::ingester {

struct LoaderOptions {
  std::string archive_root;
  // Test hook: just before COMMIT, create this file and stop (wait to be
  // killed). Empty in production.
  std::string pause_before_commit_file;
};

struct IngestOutcome {
  enum class Kind {
    kIngested,         // loaded by this call
    kAlreadyIngested,  // loaded before; moved out of staging if it was there
    kWaiting,          // its prerequisite (the night's CU3) is not ingested yet
    kQuarantined,      // failed verification or validation
    kBusy,             // another ingester is loading it
  };
  Kind kind = Kind::kIngested;
  std::string batch_id;
  int cu = 0;
  std::string night;
  int64_t rows = 0;
  double seconds = 0;
  std::string report;  // why, for quarantined or waiting batches
};

const char* OutcomeName(IngestOutcome::Kind kind);

class Loader {
 public:
  Loader(pg::Connection* conn, LoaderOptions options)
      : conn_(conn), options_(std::move(options)) {}

  // Loads one batch directory (staging/<night>/<batch_id>). Errors are
  // systematic (database gone, disk full): the batch stays in staging.
  absl::StatusOr<IngestOutcome> IngestBatch(const std::string& dir);

  // Every ready batch in staging, CU3 of a night before its other CUs.
  absl::StatusOr<std::vector<IngestOutcome>> IngestReady();

  // The ready batch directories in the order IngestReady takes them.
  std::vector<std::string> ReadyBatches() const;

 private:
  // In the open transaction: a failed ingest event and the batch's
  // 'quarantined' row with its report.
  absl::Status RecordQuarantine(const std::string& dir, const std::string& batch_id, int cu,
                                const std::string& night, const std::string& report);
  // REPORT.txt, then the directory to quarantine/<night>/.
  absl::Status MoveToQuarantine(const std::string& dir, const std::string& batch_id,
                                const std::string& night, const std::string& report);
  // Moves a batch directory out of staging, unless another ingester did.
  absl::Status MoveOut(const std::string& from, const std::string& to);

  pg::Connection* conn_;
  LoaderOptions options_;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_LOADER_H_
