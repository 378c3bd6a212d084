// Retention of ingested batches: ingested/<night>/<batch>/ is kept for a
// while (to inspect, or to load again by hand) and then removed; the
// database keeps each batch's record, rows and log. Quarantined batches
// are never removed: an operator must look at them.
#ifndef CURATOR_INGESTER_RETENTION_H_
#define CURATOR_INGESTER_RETENTION_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace curator::ingester {

struct Retention {
  absl::Duration max_age = absl::Hours(24 * 14);
  int64_t max_bytes = 0;  // 0: no limit
};

struct Pruned {
  int batches = 0;
  int64_t bytes = 0;
};

// Removes the ingested batches older than `max_age` at `now` (by when
// each was moved in), then the oldest while all of them take more than
// `max_bytes`, and the night directories left empty.
Pruned PruneIngested(const std::string& archive_root, const Retention& retention, absl::Time now);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_RETENTION_H_
