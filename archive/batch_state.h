// Batch states as curation.batch records them, and the one table of
// allowed transitions. Every state change in the database is a
// conditional update: UPDATE ... WHERE state = ANY(AllowedFrom(new)).
//
//   new         -> waiting, ingested, quarantined, replaced
//   waiting     -> waiting, ingested, quarantined, replaced
//   quarantined -> ingested (fixed and requeued), quarantined, replaced
//   ingested    -> replaced (a rerun's batch loaded in its place)
// Nothing leaves 'replaced', and 'ingested' leaves only for it: loading a
// batch again changes nothing (docs/ARCHITECTURE.md, "Reruns").
#ifndef CURATOR_ARCHIVE_BATCH_STATE_H_
#define CURATOR_ARCHIVE_BATCH_STATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace curator::archive {

enum class BatchState { kWaiting, kIngested, kQuarantined, kReplaced };

const char* StateName(BatchState state);
// Every state, in the order above.
const std::vector<BatchState>& AllBatchStates();
// A state read from the database: an unknown one is an error.
absl::StatusOr<BatchState> BatchStateFromDatabase(absl::string_view name);

// The states a batch may be in for a move to `to`; a batch without a row
// yet may always move.
std::vector<BatchState> AllowedFrom(BatchState to);

// A SQL array literal of AllowedFrom(to), e.g. '{waiting,quarantined}'.
std::string AllowedFromSql(BatchState to);

}  // namespace curator::archive

#endif  // CURATOR_ARCHIVE_BATCH_STATE_H_
