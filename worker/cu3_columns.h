// CU3's mapping of FITS header keywords to archive columns, in one place.
//
// A keyword that is missing or of the wrong type gives the column's
// default when it has one (the FITS standard's BSCALE = 1, BZERO = 0, and
// no warning), otherwise NULL and a warning naming file, HDU and keyword.
// Values outside a column's range (RA in [0, 360), Dec in [-90, 90]) give
// NULL and a warning too: one bad keyword never loses the file.
#ifndef CURATOR_WORKER_CU3_COLUMNS_H_
#define CURATOR_WORKER_CU3_COLUMNS_H_

#include <optional>
#include <vector>

namespace curator::worker {

enum class ColumnType {
  kText,       // string keyword
  kFloat64,    // number
  kInt32,      // integer
  kDate,       // 'YYYYMMDD' or 'YYYY-MM-DD' string -> date
  kTimestamp,  // ISO 8601 'YYYY-MM-DDThh:mm:ss[.s]' string (UTC) -> timestamp
};

struct KeywordColumn {
  const char* column;
  const char* keyword;
  ColumnType type;
  std::optional<double> default_value = std::nullopt;  // used silently when absent
  std::optional<double> min = std::nullopt;  // inclusive
  std::optional<double> max = std::nullopt;  // exclusive when max_exclusive
  bool max_exclusive = false;
};

// Primary header -> multiframe.
const std::vector<KeywordColumn>& MultiframeKeywords();
// Each detector extension header -> multiframe_detector.
const std::vector<KeywordColumn>& DetectorKeywords();

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CU3_COLUMNS_H_
