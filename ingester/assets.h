// Publishing a batch's assets (files that are not table rows, e.g. CU2's
// previews; archive/batch.h) into the archive, from the ingest that loads
// the batch: what the archive holds is decided by the batch that is
// ingested, never by which attempt of a task finished last.
#ifndef CURATOR_INGESTER_ASSETS_H_
#define CURATOR_INGESTER_ASSETS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "curator/v1/batch.pb.h"

namespace curator::ingester {

// Each asset of `assets` (verified with the batch in `dir`) is linked (or,
// across file systems, copied) to a temporary name of this process beside
// its destination under `archive_root`, then renamed over it: a reader sees
// the old file or the new one, never part of one. The batch keeps its
// copy, so a load that is rolled back and tried again publishes the same
// bytes again. InvalidArgument for a destination outside the archive;
// Unavailable for a full disk.
absl::Status PublishAssets(const std::string& archive_root, const std::string& dir,
                           const std::vector<v1::BatchAsset>& assets);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_ASSETS_H_
