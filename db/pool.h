// A bounded set of connections to one database, shared by the threads of
// a server, that survives the database going away and coming back: a
// connection found broken (pg::Connection::IsBroken) when it is returned
// is dropped, and a new one is made on the next Get, with backoff between
// failed attempts (200 ms doubling up to max_backoff), so a restarted
// PostgreSQL is used again within a backoff of coming back, with no
// restart of Curator. A connection returned inside a transaction is
// rolled back first.
//
// Thread-safe.
#ifndef CURATOR_DB_POOL_H_
#define CURATOR_DB_POOL_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/pg.h"

namespace curator::pg {

class ConnectionPool {
 public:
  struct Options {
    std::string conninfo;
    int size = 4;
    absl::Duration max_backoff = absl::Seconds(5);
    // How long Get waits for a connection another thread holds.
    absl::Duration wait = absl::Seconds(30);
  };

  // A connection on loan; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    ConnectionPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  explicit ConnectionPool(Options options);
  ~ConnectionPool();  // every Lease must be gone

  // A connection. Unavailable, saying why and when the next attempt is,
  // while the database cannot be reached (at once during a backoff, not
  // after another connect timeout); DeadlineExceeded if every connection
  // stays on loan for `wait`.
  absl::StatusOr<Lease> Get();

  // Whether the last attempt to use or reach the database worked.
  bool up() const;

  // Unblocks every connection on loan that waits on the network
  // (pg::Connection::Interrupt): for a shutdown with a dead peer.
  void InterruptAll();

 private:
  void Return(std::unique_ptr<Connection> conn);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::set<Connection*> leased_;
  int connecting_ = 0;
  bool up_ = true;
  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time next_attempt_ = absl::InfinitePast();
  std::string last_error_;
};

}  // namespace curator::pg

#endif  // CURATOR_DB_POOL_H_
