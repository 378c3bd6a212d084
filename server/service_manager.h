// Talking to systemd when it started us (Type=notify units in
// deploy/systemd): readiness, status, stopping, and the watchdog. Every
// call does nothing when NOTIFY_SOCKET is not set, so the same binaries run
// by hand, in tests and under systemd.
#ifndef CURATOR_SERVER_SERVICE_MANAGER_H_
#define CURATOR_SERVER_SERVICE_MANAGER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace curator {

// READY=1 with a STATUS= line: the service is up and serving.
void NotifyReady(const std::string& status);
// STATUS= only.
void NotifyStatus(const std::string& status);
// STOPPING=1: a graceful shutdown has begun.
void NotifyStopping();

// Pings the systemd watchdog (WATCHDOG=1) at half the unit's WatchdogSec
// for as long as `healthy` says the process is doing its work; when it
// says not, pings stop and systemd restarts the service once WatchdogSec
// has passed. Without a watchdog configured it starts no thread.
// Start/Stop; Stop is idempotent and called by the destructor.
class Watchdog {
 public:
  explicit Watchdog(std::function<bool()> healthy) : healthy_(std::move(healthy)) {}
  ~Watchdog() { Stop(); }
  void Start();
  void Stop();
  // WatchdogSec of the unit; zero without a watchdog.
  static absl::Duration Interval();

 private:
  std::function<bool()> healthy_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// For a Watchdog's `healthy`: a loop calls Beat() every pass, and
// Recent(limit) says whether the last beat is younger than `limit`.
class LoopBeat {
 public:
  LoopBeat() { Beat(); }
  void Beat() { last_ns_.store(absl::GetCurrentTimeNanos(), std::memory_order_relaxed); }
  bool Recent(absl::Duration limit) const {
    return absl::Nanoseconds(absl::GetCurrentTimeNanos() -
                             last_ns_.load(std::memory_order_relaxed)) < limit;
  }

 private:
  std::atomic<int64_t> last_ns_{0};
};

}  // namespace curator

#endif  // CURATOR_SERVER_SERVICE_MANAGER_H_
