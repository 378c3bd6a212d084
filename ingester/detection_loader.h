// The CU4 ingest (docs/ARCHITECTURE.md, "Identifiers"; Pan-STARRS' switch-partition
// load):
//  1. Prepare, in its own short transaction under a lock: one block of
//     obj_ids for the batch, stored with it (curation.id_block), so
//     loading the batch again never hands out new ids.
//  2. Load, inside the transaction that claimed the batch:
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

#include "ingester/batch_loader.h"

namespace curator::ingester {

class DetectionLoader : public BatchLoader {
 public:
  // The batch's block of obj_ids (archive::BatchStore::ReserveIdBlock).
  absl::Status Prepare(pg::Connection& conn, const v1::Manifest& manifest) override;
  absl::StatusOr<LoadResult> Load(const LoadInput& in,
                                  std::vector<std::string>* problems) override;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_DETECTION_LOADER_H_
