// The CU4 ingest (docs/ARCHITECTURE.md, "Identifiers" and "Bad input";
// Pan-STARRS' switch-partition load):
//  1. Prepare, in its own short transaction under a lock: one block of
//     obj_ids for the batch, as many as the manifest's detections, stored
//     with it (curation.id_block), so loading the batch again never hands
//     out new ids.
//  2. Load, inside the transaction that claimed the batch: COPY every file
//     (one catalogue, of the manifest's multiframe_id) into a fresh table
//     holding exactly the block (CHECK obj_id in [base, base + count)),
//     each through a DetectionStream (ingester/detection_stream.h) that
//     turns temporary ids into global ones (obj_id = base - temp_id - 1)
//     and checks every row on the way, in the one read of the file: its
//     layout against the columns, its ids, its multiframe, its detector's
//     row in multiframe_detector, RA and Dec in range, and the file's row
//     count against the manifest's. Then build the primary key and the
//     Q3C index and attach the table as a partition of `detection`.
//
// A file's failure is the file's: a catalogue that fails a check is left
// out with its rows (those sent before its first bad row are deleted) and
// reported in LoadResult::left_out with its input file's path (the
// manifest's inputs, by multiframe_id), the HDU (the detector's ext_num)
// and what was wrong, e.g. "w20071021_00005_cat.fits HDU 3: 5 detections
// with RA outside [0, 360) (rows 12..16); its 3200 detections are left
// out". So is a catalogue whose image has no CU3 rows (its image failed
// CU3), unread. The rest of the night loads. The ids of a file left out
// stay unused: a gap in the batch's block, never a duplicate.
//
// What quarantines the batch (`problems`): a broken manifest or a batch
// this loader cannot take: a table other than `detection`, a column not in
// it or given twice, columns not starting with obj_id and ending with
// cu_event_id, no multiframe_id, ext_num, ra or dec, an id block other
// than the manifest's total, or more than a few files PostgreSQL refuses
// outright (see Load). Errors are systematic (database, disk) and leave
// the batch for later.
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
  // Drops the partitions of replaced batches, emptied by their
  // replacement's load, each with a short lock timeout.
  absl::Status AfterCommit(pg::Connection& conn, const v1::Manifest& manifest,
                           archive::shards::ShardSet* shards) override;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_DETECTION_LOADER_H_
