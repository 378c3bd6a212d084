#include "daemon/night_scanner.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "archive/file_registry.h"
#include "archive/layout.h"
#include "base/log.h"
#include "base/status.h"

namespace curator::daemon {

absl::Status NightScanner::Scan() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(
           absl::StrCat(archive_root_, "/", layout::kIncoming), ec)) {
    const std::string night = e.path().filename();
    if (!archive::IsNightName(night)) continue;
    const fs::file_time_type marked =
        fs::last_write_time(e.path() / layout::kTransferMarker, ec);
    if (ec) continue;  // no marker: the transfer goes on
    const int64_t mtime = marked.time_since_epoch().count();
    auto seen = done_.find(night);
    if (seen != done_.end() && seen->second == mtime) continue;
    const bool again = seen != done_.end();
    absl::StatusOr<archive::NightRegistration> registered;
    {
      CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
      registered = archive::RegisterNight(*conn, archive_root_, night);
    }
    if (!registered.ok()) {
      // This night only: the others go on, and it is tried again.
      CURATOR_LOG(WARNING) << "night " << night
                           << " not registered: " << registered.status();
      continue;
    }
    const archive::NightRegistration& reg = *registered;
    CURATOR_ASSIGN_OR_RETURN(int created, tasks_->CreateNightTasks(night));
    CURATOR_LOG(INFO) << "night " << night << ": " << reg.files.size() << " files registered ("
                      << reg.new_files << " new), " << created << " tasks created";
    for (const std::string& p : reg.problems) CURATOR_LOG(WARNING) << p;
    if (again) CURATOR_LOG(INFO) << "night " << night << " sent again";
    done_[night] = mtime;
  }
  return absl::OkStatus();
}

}  // namespace curator::daemon
