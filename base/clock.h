// Time, as the parts of Curator that decide by it see it: the daemon's
// heartbeat timeouts, retry backoff and plans. Production code uses
// Clock::Real(); unit tests use FakeClock and move time themselves, so
// nothing waits by sleeping. Thread-safe.
#ifndef CURATOR_BASE_CLOCK_H_
#define CURATOR_BASE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace curator {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The system's wall clock; never destroyed.
  static const Clock* Real();
};

// A clock that moves only when told to.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_;
};

}  // namespace curator

#endif  // CURATOR_BASE_CLOCK_H_
