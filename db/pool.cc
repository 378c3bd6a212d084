#include "db/pool.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"

namespace curator::pg {

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)) {}

ConnectionPool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Return(std::move(conn_));
}

ConnectionPool::ConnectionPool(Options options) : options_(std::move(options)) {}

ConnectionPool::~ConnectionPool() {
  std::lock_guard<std::mutex> lock(mu_);
  CURATOR_CHECK(leased_.empty()) << leased_.size() << " database connections still on loan";
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto free = [&] {
    return !idle_.empty() ||
           static_cast<int>(leased_.size()) + connecting_ < options_.size;
  };
  if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.wait), free)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "all ", options_.size, " database connections busy for ", absl::FormatDuration(options_.wait)));
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    leased_.insert(conn.get());
    return Lease(this, std::move(conn));
  }
  const absl::Time now = absl::Now();
  if (now < next_attempt_) {
    return absl::UnavailableError(absl::StrCat("the database is unreachable (", last_error_,
                                               "); next attempt in ",
                                               absl::FormatDuration(absl::Trunc(next_attempt_ - now, absl::Milliseconds(1)))));
  }
  ++connecting_;
  lock.unlock();
  absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Connect(options_.conninfo);
  lock.lock();
  --connecting_;
  if (!conn.ok()) {
    backoff_ = std::min(options_.max_backoff,
                        std::max(absl::Milliseconds(200), backoff_ * 2));
    next_attempt_ = absl::Now() + backoff_;
    if (up_ || last_error_ != conn.status().message()) {
      CURATOR_LOG(WARNING) << conn.status() << " (retrying with backoff)";
    }
    last_error_ = std::string(conn.status().message());
    up_ = false;
    cv_.notify_one();
    return conn.status();
  }
  if (!up_) CURATOR_LOG(INFO) << "connected to the database again";
  up_ = true;
  backoff_ = absl::ZeroDuration();
  next_attempt_ = absl::InfinitePast();
  leased_.insert(conn->get());
  return Lease(this, *std::move(conn));
}

void ConnectionPool::Return(std::unique_ptr<Connection> conn) {
  // A transaction left open (an error between BEGIN and COMMIT) must not
  // reach the next user.
  if (!conn->IsBroken() && conn->InTransaction()) (void)conn->Rollback();
  std::lock_guard<std::mutex> lock(mu_);
  leased_.erase(conn.get());
  if (conn->IsBroken()) {
    if (up_) CURATOR_LOG(WARNING) << "lost a database connection; reconnecting on next use";
    up_ = false;
    conn.reset();
  } else {
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

bool ConnectionPool::up() const {
  std::lock_guard<std::mutex> lock(mu_);
  return up_;
}

void ConnectionPool::InterruptAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Connection* c : leased_) c->Interrupt();
}

}  // namespace curator::pg
