#include "db/probe.h"

#include <memory>

#include "base/log.h"

namespace curator::pg {

DatabaseProbe::~DatabaseProbe() { Stop(); }

void DatabaseProbe::Start() {
  thread_ = std::thread([this] { Run(); });
}

void DatabaseProbe::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // A query blocked on a dead peer returns at once.
    if (active_ != nullptr) active_->Interrupt();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DatabaseProbe::Run() {
  std::unique_ptr<Connection> conn;
  bool first = true;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    absl::Status s;
    if (conn == nullptr) {
      absl::StatusOr<std::unique_ptr<Connection>> c =
          Connection::Connect(conninfo_);
      if (c.ok()) conn = *std::move(c);
      s = c.status();
    }
    if (conn != nullptr) {
      {
        std::lock_guard<std::mutex> active(mu_);
        active_ = conn.get();
      }
      s = conn->Exec("SELECT 1").status();
      std::lock_guard<std::mutex> active(mu_);
      active_ = nullptr;
    }
    if (!s.ok()) conn.reset();
    lock.lock();
    if (stopping_) break;  // interrupted by Stop: says nothing of the database
    if (!s.ok() && (up_ || first))
      CURATOR_LOG(WARNING) << "the database is unreachable: " << s;
    if (s.ok() && !up_ && !first)
      CURATOR_LOG(INFO) << "the database is reachable again";
    up_ = s.ok();
    first = false;
    cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_),
                 [this] { return stopping_; });
  }
}

}  // namespace curator::pg
