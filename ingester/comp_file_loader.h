// The CU2 ingest: sets multiframe_detector.comp_file from a batch of
// (multiframe_id, ext_num, comp_file) rows, in the transaction that
// claimed the batch. Each comp_file must name an existing file under the
// archive root; previews of detectors with no CU3 row (the image failed
// CU3) are left out and named; the rest loads.
#ifndef CURATOR_INGESTER_COMP_FILE_LOADER_H_
#define CURATOR_INGESTER_COMP_FILE_LOADER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/pg.h"
#include "archive/task_log.h"
#include "curator/v1/batch.pb.h"

namespace curator::ingester {

struct CompFileLoad {
  int64_t rows = 0;
  std::vector<std::string> left_out;
  std::vector<tasklog::Step> steps;  // copy, validate, publish
};

absl::StatusOr<CompFileLoad> LoadCompFiles(pg::Connection& conn, const std::string& archive_root,
                                           const std::string& dir, const v1::Manifest& manifest,
                                           std::vector<std::string>* problems);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_COMP_FILE_LOADER_H_
