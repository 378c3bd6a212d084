#include "daemon/task_state.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_join.h"

namespace curator::daemon {
namespace {

using S = TaskState;

constexpr std::pair<TaskState, const char*> kNames[] = {
    {S::kPending, "pending"},   {S::kApproved, "approved"}, {S::kDispatched, "dispatched"},
    {S::kRunning, "running"},   {S::kDone, "done"},         {S::kFailed, "failed"},
    {S::kCancelled, "cancelled"}};

}  // namespace

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

const std::vector<TaskState>& AllowedFrom(TaskState to) {
  static const std::map<TaskState, std::vector<TaskState>>* table =
      new std::map<TaskState, std::vector<TaskState>>{
          {S::kPending, {S::kApproved, S::kDispatched, S::kRunning, S::kFailed, S::kCancelled}},
          {S::kApproved, {S::kPending}},
          {S::kDispatched, {S::kApproved}},
          {S::kRunning, {S::kDispatched}},
          {S::kDone, {S::kRunning}},
          {S::kFailed, {S::kDispatched, S::kRunning}},
          {S::kCancelled, {S::kPending, S::kApproved, S::kDispatched, S::kRunning}},
      };
  return table->at(to);
}

bool IsAllowed(TaskState from, TaskState to) {
  const std::vector<TaskState>& from_states = AllowedFrom(to);
  return std::find(from_states.begin(), from_states.end(), from) != from_states.end();
}

std::string AllowedFromSql(TaskState to) {
  std::vector<std::string> names;
  for (TaskState s : AllowedFrom(to)) names.push_back(TaskStateName(s));
  return "{" + absl::StrJoin(names, ",") + "}";
}

}  // namespace curator::daemon
