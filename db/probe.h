// Whether a process reaches its database, for curator_database_up where
// nothing else keeps a connection in use (the worker: its tasks connect
// only while they run). A loop of its own, every `interval`, runs
// `SELECT 1` on a connection it keeps (and makes again when it breaks),
// so a scrape reads the last answer at once, however long a connect to a
// dead host takes.
//
// Lifecycle: Start (the first check at once, on the loop's thread), Stop
// (waits for the loop: at most one connect timeout). Thread-safe.
#ifndef CURATOR_DB_PROBE_H_
#define CURATOR_DB_PROBE_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "db/pg.h"

namespace curator::pg {

class DatabaseProbe {
 public:
  DatabaseProbe(std::string conninfo, absl::Duration interval)
      : conninfo_(std::move(conninfo)), interval_(interval) {}
  ~DatabaseProbe();  // Stop()

  void Start();
  void Stop();
  // The last check worked; false before the first.
  bool up() const { return up_; }

 private:
  void Run();

  const std::string conninfo_;
  const absl::Duration interval_;
  std::atomic<bool> up_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  // The loop's connection while it queries, for Stop; guarded by mu_.
  Connection* active_ = nullptr;
  std::thread thread_;
};

}  // namespace curator::pg

#endif  // CURATOR_DB_PROBE_H_
