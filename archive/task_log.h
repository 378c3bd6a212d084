// The log of a task, per step and per file (SDSS sqlLoader's three levels),
// kept in curation.cu_event / step_log / file_log / log_message.
//
// A process or ingest creates its event with StartEvent, gathers steps as
// it works, and records them all with Finish, which also closes the event
// with its totals. Each event has one writer.
#ifndef CURATOR_ARCHIVE_TASK_LOG_H_
#define CURATOR_ARCHIVE_TASK_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/pg.h"

namespace curator::tasklog {

struct Message {
  std::string level;  // "info", "warning" or "error"
  std::string path;
  int hdu = 0;        // 0: not tied to one HDU
  std::string item;   // keyword or column
  std::string message;
};

struct FileEntry {
  std::string path;
  int64_t multiframe_id = 0;
  absl::Time started = {}, finished = {};
  int64_t rows = 0;
  int errors = 0, warnings = 0;
};

struct Step {
  std::string name;
  absl::Time started = {}, finished = {};
  int64_t rows = 0;
  int errors = 0, warnings = 0;
  std::vector<FileEntry> files = {};
  std::vector<Message> messages = {};
};

// Inserts a running event and returns its cu_event_id.
absl::StatusOr<int64_t> StartEvent(pg::Connection& conn, int cu,
                                   absl::string_view kind, absl::string_view night,
                                   absl::string_view producer);

// Records the steps (their files and messages) and closes the event:
// status 'done' or 'failed', errors and warnings summed over the steps,
// rows the most any step handled, `message`, and the wall-clock time.
// Atomic (in the caller's transaction, or one of its own). An event that
// is no longer running (the daemon ended a lost attempt's) is left as it
// is: FailedPrecondition, and no step is added.
absl::Status Finish(pg::Connection& conn, int64_t cu_event_id,
                    const std::vector<Step>& steps, bool failed,
                    absl::string_view message);

}  // namespace curator::tasklog

#endif  // CURATOR_ARCHIVE_TASK_LOG_H_
