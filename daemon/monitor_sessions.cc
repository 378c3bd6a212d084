#include "daemon/monitor_sessions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "base/log.h"

namespace curator::daemon {

std::string MonitorSessions::RandomSecret() {
  unsigned char bytes[32];
  CURATOR_CHECK(RAND_bytes(bytes, sizeof bytes) == 1)
      << "the CSPRNG gave no bytes";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

bool MonitorSessions::SameSecret(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && !a.empty() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string MonitorSessions::Start(const std::string& who, absl::Time now) {
  std::string id = RandomSecret();
  std::lock_guard<std::mutex> lock(mu_);
  Expire(now);
  sessions_[id] = Session{who, RandomSecret(), now + lifetime_};
  return id;
}

std::optional<MonitorSessions::Session> MonitorSessions::Find(
    const std::string& id, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  Expire(now);
  // The map's lookup compares ids byte by byte, but an id is 256 random
  // bits: timing can reveal no useful prefix of one that is not known.
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  return it->second;
}

void MonitorSessions::End(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(id);
}

bool MonitorSessions::MayTry(const std::string& client, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  Expire(now);
  auto it = failures_.find(client);
  return it == failures_.end() || it->second.size() < kMaxFailuresPerMinute;
}

void MonitorSessions::Failed(const std::string& client, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_[client].push_back(now);
}

void MonitorSessions::Expire(absl::Time now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires <= now ? sessions_.erase(it) : std::next(it);
  }
  for (auto it = failures_.begin(); it != failures_.end();) {
    while (!it->second.empty() &&
           it->second.front() <= now - absl::Minutes(1)) {
      it->second.pop_front();
    }
    it = it->second.empty() ? failures_.erase(it) : std::next(it);
  }
}

}  // namespace curator::daemon
