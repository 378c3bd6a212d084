// Loads ready batches into the archive (docs/ARCHITECTURE.md, "Batches").
// The ingest of one batch reads as its steps:
//   claim          the batch's advisory lock, in the load's transaction, so
//                  a second ingester skips it; one already ingested
//                  changes nothing;
//   verify         the manifest and every file against it (sizes, CRCs,
//                  names), and a loader for its CU;
//   prerequisites  what the registry says its CU's ingest waits for (e.g.
//                  the night's CU3): if unmet, it is recorded as waiting;
//   replace        for a rerun's batch, the batches it replaces: each
//                  claimed too, of the same CU and night (else the batch
//                  is quarantined), handed to the loader, which removes
//                  their rows in the same transaction (docs/
//                  ARCHITECTURE.md, "Reruns");
//   load           by its CU's loader (ingester/batch_loader.h), in the
//                  same transaction;
//   record         the batch ingested, with its timings, rows and the
//                  files left out, the replaced ones 'replaced'; then
//                  COMMIT;
//   move           the directory to ingested/ (quarantine/ with a
//                  readable REPORT.txt if verification or validation
//                  refused it, recorded with its reason in the same way).
// A crash before COMMIT leaves the batch in staging to be loaded again; a
// crash after it leaves a batch whose row says 'ingested', which the next
// pass only moves.
#ifndef CURATOR_INGESTER_INGEST_H_
#define CURATOR_INGESTER_INGEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "archive/cu_registry.h"
#include "db/pg.h"
#include "ingester/batch_loader.h"

namespace curator::ingester {

// Test hooks: an interface only tests install (tests/support); none in
// production.
class IngestHooks {
 public:
  virtual ~IngestHooks() = default;
  // Just before COMMIT of a loaded batch, after its shards' transactions
  // are prepared; may block (a test kills the process there).
  virtual void BeforeCommit(const std::string& batch_id) = 0;
};

struct IngestOptions {
  std::string archive_root;
  const archive::CuRegistry* registry = &archive::CuRegistry::WithSources();
  const LoaderTable* loaders = nullptr;  // not owned; must cover the registry
  IngestHooks* hooks = nullptr;
  // The shard servers of the detections (not owned; used by one thread);
  // null where the archive has none.
  archive::shards::ShardSet* shards = nullptr;
};

// The default registry and loaders, for `archive_root`.
IngestOptions DefaultIngestOptions(const std::string& archive_root);

struct IngestOutcome {
  enum class Kind {
    kIngested,         // loaded by this call
    kAlreadyIngested,  // loaded before; moved out of staging if it was there
    kWaiting,          // its prerequisites are not in yet
    kQuarantined,      // failed verification or validation
    kBusy,      // another ingester is loading it (or a batch it replaces)
    kReplaced,  // a rerun's batch replaced it first; moved out unloaded
  };
  Kind kind = Kind::kIngested;
  std::string batch_id;
  int cu = 0;
  std::string night;
  int64_t rows = 0;
  double seconds = 0;
  std::string report;  // why, for quarantined or waiting batches
  int files_left_out = 0;
  // The shard its rows went to (kIngested), or that it waits for
  // (kWaiting); "" for the head.
  std::string shard;
};

const char* OutcomeName(IngestOutcome::Kind kind);
// Every outcome, for metrics.
const std::vector<IngestOutcome::Kind>& AllOutcomes();

class Ingester {
 public:
  Ingester(pg::Connection* conn, IngestOptions options)
      : conn_(conn), options_(std::move(options)) {}

  // Loads one batch directory (staging/<night>/<batch_id>). Errors are
  // systematic (database gone, disk full): the batch stays in staging.
  absl::StatusOr<IngestOutcome> IngestBatch(const std::string& dir);

  // Every ready batch in staging, each night's in the registry's order of
  // CUs (a CU others wait for first).
  absl::StatusOr<std::vector<IngestOutcome>> IngestReady();

  // The ready batch directories in the order IngestReady takes them.
  std::vector<std::string> ReadyBatches() const;

 private:
  // A shard the load needs is down: the load undone, the batch recorded
  // as waiting for it (not quarantined), to be loaded on a later pass.
  absl::StatusOr<IngestOutcome> WaitForShard(
      IngestOutcome outcome, const v1::Manifest& m,
      archive::shards::ShardTransactions& txs);
  absl::StatusOr<IngestOutcome> Quarantine(const std::string& dir, IngestOutcome outcome,
                                           int64_t cu_event_id, const std::string& report);
  // REPORT.txt, then the directory to quarantine/<night>/.
  absl::Status MoveToQuarantine(const std::string& dir, const std::string& batch_id,
                                const std::string& night, const std::string& report);
  // Moves a batch directory out of staging (unless another ingester did),
  // and removes its night's staging directory once it is empty.
  absl::Status MoveOut(const std::string& from, const std::string& to);

  pg::Connection* conn_;
  IngestOptions options_;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_INGEST_H_
