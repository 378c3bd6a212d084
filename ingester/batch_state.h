// Batch states as curation.batch records them, and the one table of
// allowed transitions. Every state change in the database is a
// conditional update: UPDATE ... WHERE state = ANY(AllowedFrom(new)).
//
//   new         -> waiting, ingested, quarantined
//   waiting     -> waiting, ingested, quarantined
//   quarantined -> ingested (fixed and requeued), quarantined
// Nothing leaves 'ingested': loading a batch again changes nothing.
#ifndef CURATOR_INGESTER_BATCH_STATE_H_
#define CURATOR_INGESTER_BATCH_STATE_H_

#include <string>
#include <vector>

namespace curator::ingester {

enum class BatchState { kWaiting, kIngested, kQuarantined };

const char* StateName(BatchState state);

// The states a batch may be in for a move to `to`; a batch without a row
// yet may always move.
std::vector<BatchState> AllowedFrom(BatchState to);

// A SQL array literal of AllowedFrom(to), e.g. '{waiting,quarantined}'.
std::string AllowedFromSql(BatchState to);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_BATCH_STATE_H_
