// The CU4 ingest (DESIGN.md, "Identifiers"; Pan-STARRS' switch-partition
// load):
//  1. ReserveIdBlock, in its own short transaction under a lock: one block
//     of obj_ids for the batch, stored with it (curation.id_block), so
//     loading the batch again never hands out new ids.
//  2. LoadDetections, inside the transaction that claimed the batch:
//     COPY every file into a fresh table holding exactly the block
//     (CHECK obj_id in [base, base + count)), turning temporary ids into
//     global ones on the way (obj_id = base - temp_id - 1), validate in one
//     scan (foreign key to multiframe_detector, RA/Dec ranges), build the
//     primary key and the Q3C index, and attach the table as a partition
//     of `detection`.
// A catalogue whose multiframe has no CU3 rows (its image failed CU3) is
// left out and named; the rest of the night loads.
#ifndef CURATOR_INGESTER_DETECTION_LOADER_H_
#define CURATOR_INGESTER_DETECTION_LOADER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/pg.h"
#include "archive/task_log.h"
#include "curator/v1/batch.pb.h"

namespace curator::ingester {

struct IdBlock {
  int64_t base = 0;
  int64_t count = 0;
};

// Finds the batch's block, or reserves the next one after every block
// handed out so far. Commits on its own.
absl::StatusOr<IdBlock> ReserveIdBlock(pg::Connection& conn, const v1::Manifest& manifest);

struct DetectionLoad {
  int64_t rows = 0;
  std::string partition;                // empty if nothing was loaded
  std::vector<std::string> left_out;    // catalogues skipped, with why
  std::vector<tasklog::Step> steps;     // copy, validate, index and attach
};

// In the open transaction. Validation problems go to `problems` (the
// caller quarantines the batch); errors are systematic.
absl::StatusOr<DetectionLoad> LoadDetections(pg::Connection& conn, const std::string& dir,
                                             const v1::Manifest& manifest,
                                             std::vector<std::string>* problems);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_DETECTION_LOADER_H_
