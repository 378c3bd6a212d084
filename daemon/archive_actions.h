// Actions on what the archive holds, after the first load
// (docs/ARCHITECTURE.md, "Changing what is live"): a night's re-delivery
// shown and accepted, frames deprecated and undeprecated by hand, nights
// retired, restored and reloaded. Each is one transaction with its event
// (curation.cu_event: the action, the night, who asked), so a killed
// daemon or a restarted database leaves the archive as it was or as the
// action makes it; repeating an action that is done changes nothing and
// records nothing. An action on a night waits for nothing: it is refused,
// naming the tasks, while one of the night's tasks is in flight.
//
// Thread-safe.
#ifndef CURATOR_DAEMON_ARCHIVE_ACTIONS_H_
#define CURATOR_DAEMON_ARCHIVE_ACTIONS_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "curator/v1/services.pb.h"
#include "daemon/task_store.h"
#include "db/pool.h"

namespace curator::daemon {

class ArchiveActions {
 public:
  ArchiveActions(std::string archive_root, pg::ConnectionPool* pool,
                 TaskStore* tasks)
      : archive_root_(std::move(archive_root)), pool_(pool), tasks_(tasks) {}
  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }

  // Registers the night again (so its directory is read now), then lists
  // what its next delivery changes.
  absl::StatusOr<v1::ChangesResponse> Changes(const std::string& night);
  // Registers the night again and accepts its next delivery: the tasks of
  // the CUs it touches (every CU if an image changed, else those reading
  // catalogues or the database) are rerun. `who` asked (an operator's
  // "cert:<CN>" or "token", or "policy").
  absl::StatusOr<v1::ArchiveActionResponse> Accept(const std::string& night,
                                                   const std::string& who);
  absl::StatusOr<v1::ArchiveActionResponse> Deprecate(
      const v1::FilesRequest& request, const std::string& who);
  absl::StatusOr<v1::ArchiveActionResponse> Undeprecate(
      const v1::FilesRequest& request, const std::string& who);
  absl::StatusOr<v1::ArchiveActionResponse> Retire(const std::string& night,
                                                   const std::string& reason,
                                                   const std::string& who);
  absl::StatusOr<v1::ArchiveActionResponse> Restore(const std::string& night,
                                                    const std::string& who);
  absl::StatusOr<v1::ArchiveActionResponse> Reload(const std::string& night,
                                                   const std::string& who);

 private:
  struct Action;
  // What an action on a night needs: the night not retired and none of
  // its tasks in flight (kLive), or only the night (kAny).
  enum class NightNeeds { kLive, kAny };
  absl::StatusOr<Action> Begin();
  absl::StatusOr<Action> BeginOnNight(const std::string& night,
                                      NightNeeds needs);
  absl::Status Reregister(const std::string& night);
  absl::StatusOr<v1::ArchiveActionResponse> SetFrames(
      const v1::FilesRequest& request, const std::string& who, bool deprecate);
  void Wake() const {
    if (wake_) wake_();
  }

  const std::string archive_root_;
  pg::ConnectionPool* const pool_;
  TaskStore* const tasks_;
  std::function<void()> wake_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_ARCHIVE_ACTIONS_H_
