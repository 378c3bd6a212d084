// The CU5 ingest (worker/cu5_task.h; docs/ARCHITECTURE.md, "CU5"): a
// night's association applied in the transaction that claimed its batch.
//  1. COPY the batch's new sources, links and night summary into temporary
//     tables, under a lock that lets one CU5 load in at a time.
//  2. Check them against the archive. Each check that fails is the
//     batch's problem, and the batch is quarantined (its task's retry
//     matches again, against the archive as it is then): a link to a
//     detection that does not exist, a detection linked already (another
//     load of the night came first), a link to a source that neither
//     exists nor is new in the batch, a new source whose id is taken or
//     is not its founding detection's, a position out of range.
//  3. Drop the links of the night's detections that a CU4 rerun replaced
//     (their detections are gone).
//  4. Insert the new sources (in sky-cell order) and the links, then
//     recompute, from their links, the statistics of every source touched
//     (mean position and its error, detections, epochs, bands, first and
//     last MJD, per band the count, mean and scatter of aper_mag_3); a
//     source left with no link is deleted. Upsert the night's summary.
// Readers see the night's sources and links all at once at COMMIT.
// Batches a rerun's batch replaces keep their rows: CU5 is incremental (a
// rerun links only what has no link yet), so those rows are the same
// links. Every load bumps source_version, and a batch matched against an
// older version is refused as stale (the check above): two nights never
// match against the same sources at once.
#ifndef CURATOR_INGESTER_SOURCE_LOADER_H_
#define CURATOR_INGESTER_SOURCE_LOADER_H_

#include <string>
#include <vector>

#include "ingester/batch_loader.h"

namespace curator::ingester {

class SourceLoader : public BatchLoader {
 public:
  absl::StatusOr<LoadResult> Load(const LoadInput& in,
                                  std::vector<std::string>* problems) override;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_SOURCE_LOADER_H_
