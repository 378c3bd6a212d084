// What is live in the archive (docs/ARCHITECTURE.md, "Changing what is
// live"): each frame's deprecation code (multiframe.deprecated, 0 = live;
// every change logged in curation.deprecation), the switch of a night to a
// re-delivered version, and retired nights. Users query the live views
// (live_multiframe, live_multiframe_detector, live_detection), which leave
// out every frame with a code and its rows. Every function runs in the
// caller's transaction.
#ifndef CURATOR_ARCHIVE_LIVE_H_
#define CURATOR_ARCHIVE_LIVE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/pg.h"

namespace curator::archive::live {

// curation.deprecation_code.
enum Code : int {
  kLive = 0,
  kSuperseded = 10,  // a re-delivery replaced the file
  kRemoved = 11,     // a re-delivery no longer has it
  kOperator = 20,    // curatorctl deprecate
  kRetired = 30,     // its night is retired
  kPending = 90,     // a re-delivered version, live with its detections
};

// CU3's ingest, after its rows are in: the night's frames of a delivery
// newer than the one its detections are of wait, pending, so that a
// reader never sees two versions of a frame.
absl::Status HoldNewVersions(pg::Connection& conn, const std::string& night);

// CU4's ingest, once the night's detections of its delivery are in (the
// replaced ones out): the frames the delivery superseded or removed leave
// the live archive and the pending ones join it, in the same transaction.
// Returns how many frames changed; 0 when the night was published.
absl::StatusOr<int64_t> PublishDelivery(pg::Connection& conn,
                                        const std::string& night,
                                        int64_t cu_event_id);

// Sets `code` on those of `multiframe_ids` whose code is one of `from`,
// with `reason`, logged under the event; returns the frames changed.
absl::StatusOr<std::vector<int64_t>> SetCode(
    pg::Connection& conn, const std::vector<int64_t>& multiframe_ids,
    const std::vector<int>& from, Code code, const std::string& reason,
    int64_t cu_event_id);

// What the metrics show of it (daemon/daemon_metrics.h).
struct Counts {
  std::map<std::string, int64_t> frames_by_code;  // every code's name, live too
  int64_t files_waiting = 0;  // registered for a next delivery, or missing
  int64_t nights_retired = 0;
};
absl::StatusOr<Counts> Count(pg::Connection& conn);

}  // namespace curator::archive::live

#endif  // CURATOR_ARCHIVE_LIVE_H_
