// The batches as the archive records them: the only owner of
// curation.batch and curation.id_block, used by the ingester (claim,
// record, id blocks) and the daemon (listings, who is loading what, the
// tasks' outcomes). States move only as archive/batch_state.h allows.
//
// Functions take the caller's connection: the ingester makes its claim,
// its load and its record in one transaction.
#ifndef CURATOR_ARCHIVE_BATCH_STORE_H_
#define CURATOR_ARCHIVE_BATCH_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "archive/batch_state.h"
#include "archive/cu_registry.h"
#include "base/histogram.h"
#include "curator/v1/batch.pb.h"
#include "db/pg.h"

namespace curator::archive {

struct IdBlock {
  int64_t base = 0;
  int64_t count = 0;
};

// A batch's row, for listings.
struct BatchRecord {
  std::string batch_id;
  int cu = 0;
  std::string night;
  BatchState state = BatchState::kWaiting;
  std::string rows_per_table;  // JSON object, "" if none
  double ingest_ms = 0;
  std::string report;
  int64_t rows = 0;
};

// The session that holds a batch's claim.
struct BatchHolder {
  std::string session;  // "curator-ingester@pixel00:4242 from 10.0.0.5"
  std::string since;    // RFC 3339: when its transaction started
};

// What a batch's row says of it, for a rerun's batch that replaces it.
struct BatchRow {
  int cu = 0;
  std::string night;  // YYYYMMDD
  BatchState state = BatchState::kWaiting;
  int64_t cu_event_id =
      0;  // the worker's event, whose id its rows carry; 0 if none
  std::string replaced_by;  // for kReplaced
  int generation = 0;       // of its task's runs (docs/ARCHITECTURE.md, "Reruns")
};

// What an ingest recorded.
struct IngestRecord {
  int64_t ingest_event_id = 0;
  absl::Time started;
  double verify_ms = 0, copy_ms = 0, validate_ms = 0, publish_ms = 0;
  std::map<std::string, int64_t> rows_per_table;
  // The manifest's failures and the files taken out at ingest.
  std::vector<v1::FileProblem> failures;
};

class BatchStore {
 public:
  // In the connection's open transaction: the batch's claim, held until
  // it ends. False if another session holds it.
  static absl::StatusOr<bool> TryClaim(pg::Connection& conn, const std::string& batch_id);
  static absl::StatusOr<std::optional<BatchState>> StateOf(pg::Connection& conn,
                                                           const std::string& batch_id);
  static absl::StatusOr<std::optional<BatchRow>> Find(
      pg::Connection& conn, const std::string& batch_id);
  // The batch waits for `why` (its prerequisites).
  static absl::Status RecordWaiting(pg::Connection& conn, const v1::Manifest& m,
                                    const std::string& why);
  // Loaded: every time is the wall clock's (the ingest's transaction
  // started long before it ends). Internal if the batch changed state
  // while claimed.
  static absl::Status RecordIngested(pg::Connection& conn, const v1::Manifest& m,
                                     const IngestRecord& r);
  // Refused, with the report. `cu` 0 or a malformed night: nothing is
  // recorded (there is no usable manifest to name the batch by).
  static absl::Status RecordQuarantined(pg::Connection& conn, const std::string& batch_id, int cu,
                                        const std::string& night, int64_t cu_event_id,
                                        int64_t ingest_event_id, const std::string& report);

  // The ingested batches of CU `cu` for `night`, lowest generation first.
  struct Loaded {
    std::string batch_id;
    int64_t cu_event_id = 0;
    int generation = 0;
  };
  static absl::StatusOr<std::vector<Loaded>> LoadedOf(pg::Connection& conn, int cu,
                                                      const std::string& night);
  // `batch_id` (of CU `cu` for `night`) is replaced by `replaced_by`,
  // whose load has removed its rows. A batch without a row gets one.
  // Internal if it is replaced already or changed state while claimed.
  static absl::Status RecordReplaced(pg::Connection& conn,
                                     const std::string& batch_id, int cu,
                                     const std::string& night,
                                     const std::string& replaced_by);

  // The batch's block of `count` ids, reserved after every block handed
  // out so far, in a transaction of its own (the block outlives a failed
  // load; loading the batch again reuses it, so no id is ever given
  // twice).
  static absl::StatusOr<IdBlock> ReserveIdBlock(pg::Connection& conn, const v1::Manifest& m,
                                                int64_t count);
  static absl::StatusOr<std::optional<IdBlock>> IdBlockOf(pg::Connection& conn,
                                                          const std::string& batch_id);

  // What a batch of CU `cu` for `night` still waits for before it may be
  // loaded (the registry's before_ingest), e.g. "the CU3 ingest of night
  // 20071021 (task 4 is running)"; empty when it may load. A prerequisite is met when a batch
  // of that CU for the night is in the stage and no task of it for the
  // night is still to be (re)done.
  static absl::StatusOr<std::vector<std::string>> UnmetIngestPrerequisites(
      pg::Connection& conn, const CuRegistry& registry, int cu, const std::string& night);

  // Every batch with a row, by night and CU.
  static absl::StatusOr<std::vector<BatchRecord>> List(pg::Connection& conn);
  // Of `batch_ids`, those some session is loading now, with who and since.
  static absl::StatusOr<std::map<std::string, BatchHolder>> Holders(
      pg::Connection& conn, const std::vector<std::string>& batch_ids);

  // Every batch ever loaded, by CU (every CU of `registry` present), for
  // /metrics: the rows it published and the seconds its load took on the
  // ingester's clock (verify, copy, validate, publish). Batches replaced
  // since by a rerun's count too, so neither ever goes down: a batch's
  // load is recorded once (ingested leaves only for replaced).
  struct Loads {
    int64_t rows = 0;
    HistogramData seconds;
  };
  static absl::StatusOr<std::map<int, Loads>> LoadsByCu(
      pg::Connection& conn, const CuRegistry& registry);
};

}  // namespace curator::archive

#endif  // CURATOR_ARCHIVE_BATCH_STORE_H_
