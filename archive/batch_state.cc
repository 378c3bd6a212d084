#include "archive/batch_state.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace curator::archive {

const char* StateName(BatchState state) {
  switch (state) {
    case BatchState::kWaiting: return "waiting";
    case BatchState::kIngested: return "ingested";
    case BatchState::kQuarantined: return "quarantined";
    case BatchState::kReplaced:
      return "replaced";
  }
  return "unknown";
}

const std::vector<BatchState>& AllBatchStates() {
  static const std::vector<BatchState>* all = new std::vector<BatchState>{
      BatchState::kWaiting, BatchState::kIngested, BatchState::kQuarantined,
      BatchState::kReplaced};
  return *all;
}

absl::StatusOr<BatchState> BatchStateFromDatabase(absl::string_view name) {
  for (BatchState s : AllBatchStates()) {
    if (name == StateName(s)) return s;
  }
  return absl::InternalError(absl::StrCat("the database holds a batch state '", name,
                                          "' that this program does not know"));
}

std::vector<BatchState> AllowedFrom(BatchState to) {
  switch (to) {
    case BatchState::kWaiting: return {BatchState::kWaiting};
    case BatchState::kIngested: return {BatchState::kWaiting, BatchState::kQuarantined};
    case BatchState::kQuarantined: return {BatchState::kWaiting, BatchState::kQuarantined};
    case BatchState::kReplaced:
      return {BatchState::kWaiting, BatchState::kIngested,
              BatchState::kQuarantined};
  }
  return {};
}

std::string AllowedFromSql(BatchState to) {
  std::vector<std::string> names;
  for (BatchState s : AllowedFrom(to)) names.push_back(StateName(s));
  return "{" + absl::StrJoin(names, ",") + "}";
}

}  // namespace curator::archive
