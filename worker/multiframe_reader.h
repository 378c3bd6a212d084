// Reads what CU3 needs from one image multiframe: the primary header and
// each detector extension's header, mapped to archive columns
// (worker/cu3_columns.h), plus every header card. Headers only: pixel data
// is never read, so a full-size Rice-compressed multiframe costs a few
// header blocks.
#ifndef CURATOR_WORKER_MULTIFRAME_READER_H_
#define CURATOR_WORKER_MULTIFRAME_READER_H_

#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "fits/fits.h"
#include "curator/v1/batch.pb.h"

namespace curator::worker {

// NULL, text, number, integer, date or timestamp.
using Value = std::variant<std::monostate, std::string, double, int64_t,
                           absl::CivilDay, absl::Time>;

struct DetectorRecord {
  int ext_num = 0;  // HDU number
  int bits_per_pix = 0;
  bool tile_compressed = false;
  int64_t axis1 = 0, axis2 = 0;
  std::vector<Value> values;  // parallel to DetectorKeywords()
};

struct MultiframeRecord {
  std::vector<Value> values;  // parallel to MultiframeKeywords()
  std::vector<DetectorRecord> detectors;
  struct HduCard {
    int hdu;
    int card_num;
    fits::Card card;
  };
  std::vector<HduCard> cards;
  std::vector<v1::FileProblem> warnings;
};

// An error (the file is left out of the batch) when the file cannot be
// opened, is truncated, or has no 2-D image extensions; keyword problems
// are warnings in the record.
absl::StatusOr<MultiframeRecord> ReadMultiframe(const std::string& path);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_MULTIFRAME_READER_H_
