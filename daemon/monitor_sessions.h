// The signed-in operators of the HTTPS Load Monitor (monitor_https.h):
// sessions, each with its own CSRF token, that expire; the tokens that
// guard the sign-in form itself; and a throttle on failed sign-ins per
// client address. Every secret is 32 bytes from OpenSSL's CSPRNG, in hex.
// Time is passed in, so tests need no clock. Thread-safe.
#ifndef CURATOR_DAEMON_MONITOR_SESSIONS_H_
#define CURATOR_DAEMON_MONITOR_SESSIONS_H_

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace curator::daemon {

class MonitorSessions {
 public:
  struct Session {
    std::string who;   // "token" or "cert:<CN>"
    std::string csrf;  // required in X-CSRF-Token on each POST
    absl::Time expires;
  };

  // Failed sign-ins allowed per client address in one minute.
  static constexpr int kMaxFailuresPerMinute = 5;

  explicit MonitorSessions(absl::Duration lifetime) : lifetime_(lifetime) {}

  // 32 random bytes in hex; CHECK-fails if the CSPRNG cannot give them.
  static std::string RandomSecret();
  // Equal in constant time (for equal lengths; a length differs openly).
  static bool SameSecret(absl::string_view a, absl::string_view b);

  // A new session for `who`; returns its id (the cookie's value).
  std::string Start(const std::string& who, absl::Time now);
  // The session `id` names, unless unknown or expired.
  std::optional<Session> Find(const std::string& id, absl::Time now);
  void End(const std::string& id);
  absl::Duration lifetime() const { return lifetime_; }

  // Whether `client` may try to sign in now (fewer than
  // kMaxFailuresPerMinute failures in the last minute), and a failure.
  bool MayTry(const std::string& client, absl::Time now);
  void Failed(const std::string& client, absl::Time now);

 private:
  void Expire(absl::Time now);  // mu_ held

  const absl::Duration lifetime_;
  std::mutex mu_;
  std::map<std::string, Session> sessions_;                 // by id
  std::map<std::string, std::deque<absl::Time>> failures_;  // by client
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_MONITOR_SESSIONS_H_
