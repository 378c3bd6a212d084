#include "server/service_manager.h"

#include <systemd/sd-daemon.h>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace curator {

void NotifyReady(const std::string& status) {
  sd_notify(0, absl::StrCat("READY=1\nSTATUS=", status).c_str());
}

void NotifyStatus(const std::string& status) {
  sd_notify(0, absl::StrCat("STATUS=", status).c_str());
}

void NotifyStopping() { sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }

absl::Duration Watchdog::Interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return absl::ZeroDuration();
  return absl::Microseconds(static_cast<int64_t>(usec));
}

void Watchdog::Start() {
  const absl::Duration interval = Interval();
  if (interval <= absl::ZeroDuration()) return;
  CURATOR_LOG(INFO) << "systemd watchdog every " << interval << "; pinging at half that";
  thread_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      if (healthy_()) {
        sd_notify(0, "WATCHDOG=1");
      } else {
        CURATOR_LOG(ERROR) << "main loop stalled: withholding the watchdog ping";
      }
      cv_.wait_for(lock, absl::ToChronoMilliseconds(interval / 2), [this] { return stopping_; });
    }
  });
}

void Watchdog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace curator
