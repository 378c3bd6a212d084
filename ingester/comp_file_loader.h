// The CU2 ingest: sets multiframe_detector.comp_file from a batch of
// (multiframe_id, ext_num, comp_file) rows, in the transaction that
// claimed the batch, and publishes the previews the batch carries (its
// assets) to where the rows say, before the rows are written. A row whose
// preview the batch does not carry (or, for an older batch without
// assets, that does not exist under the archive root), or two previews of
// one detector, take that image out of the batch, named; previews of
// detectors with no CU3 row (the image failed CU3) are left out and named;
// the rest loads.
#ifndef CURATOR_INGESTER_COMP_FILE_LOADER_H_
#define CURATOR_INGESTER_COMP_FILE_LOADER_H_

#include <string>
#include <vector>

#include "ingester/batch_loader.h"

namespace curator::ingester {

class CompFileLoader : public BatchLoader {
 public:
  absl::StatusOr<LoadResult> Load(const LoadInput& in,
                                  std::vector<std::string>* problems) override;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_COMP_FILE_LOADER_H_
