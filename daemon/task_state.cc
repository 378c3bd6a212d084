#include "daemon/task_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace curator::daemon {
namespace {

using S = TaskState;
using E = TaskEvent;

constexpr std::pair<TaskState, const char*> kNames[] = {
    {S::kPending, "pending"}, {S::kApproved, "approved"}, {S::kDispatched, "dispatched"},
    {S::kRunning, "running"}, {S::kDone, "done"},         {S::kIngested, "ingested"},
    {S::kFailed, "failed"},   {S::kCancelled, "cancelled"}};

const std::vector<TaskMove>& Moves() {
  static const std::vector<TaskMove>* moves = new std::vector<TaskMove>{
      {E::kApprove, "approve", "approved", {S::kPending}, S::kApproved},
      {E::kReject, "reject", "rejected", {S::kApproved}, S::kPending},
      {E::kDispatch, "dispatch", "dispatched", {S::kApproved}, S::kDispatched},
      {E::kStart, "start", "started", {S::kDispatched}, S::kRunning},
      {E::kFinish,
       "finish",
       "finished",
       {S::kDispatched, S::kRunning},
       S::kDone},
      {E::kIngest, "ingest", "ingested", {S::kDone}, S::kIngested},
      {E::kRetryLater,
       "retry later",
       "retried later",
       {S::kDispatched, S::kRunning, S::kDone},
       S::kApproved},
      {E::kFail,
       "fail",
       "failed",
       {S::kDispatched, S::kRunning, S::kDone},
       S::kFailed},
      {E::kGiveBack,
       "give back",
       "given back",
       {S::kDispatched, S::kRunning},
       S::kApproved},
      // A failed task too: an operator who gives up on it lets what waits
      // for it settled (the next night's CU5) go on.
      {E::kCancel,
       "cancel",
       "cancelled",
       {S::kPending, S::kApproved, S::kDispatched, S::kRunning, S::kFailed},
       S::kCancelled},
      {E::kRetry, "retry", "retried", {S::kFailed, S::kCancelled}, S::kPending},
      {E::kRerun,
       "rerun",
       "rerun",
       {S::kDone, S::kIngested, S::kFailed, S::kCancelled},
       S::kPending},
  };
  return *moves;
}

}  // namespace

const std::vector<TaskState>& AllTaskStates() {
  static const std::vector<TaskState>* all = [] {
    auto* v = new std::vector<TaskState>;
    for (const auto& [s, name] : kNames) v->push_back(s);
    return v;
  }();
  return *all;
}

const char* TaskStateName(TaskState state) {
  for (const auto& [s, name] : kNames) {
    if (s == state) return name;
  }
  return "unknown";
}

std::optional<TaskState> ParseTaskState(absl::string_view name) {
  for (const auto& [s, n] : kNames) {
    if (name == n) return s;
  }
  return std::nullopt;
}

absl::StatusOr<TaskState> TaskStateFromDatabase(absl::string_view name) {
  if (std::optional<TaskState> s = ParseTaskState(name)) return *s;
  return absl::InternalError(absl::StrCat("the database holds a task state '", name,
                                          "' that this program does not know"));
}

const TaskMove& MoveOf(TaskEvent event) {
  for (const TaskMove& m : Moves()) {
    if (m.event == event) return m;
  }
  return Moves().front();  // every event is in the table
}

bool IsAllowed(TaskEvent event, TaskState from) {
  const std::vector<TaskState>& f = MoveOf(event).from;
  return std::find(f.begin(), f.end(), from) != f.end();
}

std::string FromSql(TaskEvent event) {
  std::vector<std::string> names;
  for (TaskState s : MoveOf(event).from) names.push_back(TaskStateName(s));
  return "{" + absl::StrJoin(names, ",") + "}";
}

std::string Refusal(int64_t task_id, TaskState now, TaskEvent event) {
  const TaskMove& m = MoveOf(event);
  std::string from;
  for (size_t i = 0; i < m.from.size(); ++i) {
    absl::StrAppend(&from, i == 0 ? "" : i + 1 == m.from.size() ? " or " : ", ",
                    TaskStateName(m.from[i]));
  }
  return absl::StrCat("task ", task_id, " is ", TaskStateName(now), "; it cannot become ",
                      TaskStateName(m.to), ": only ", from, " tasks can be ", m.participle);
}

}  // namespace curator::daemon
