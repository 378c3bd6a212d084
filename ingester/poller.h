// The ingester's loop: every poll interval (or at once when woken), load
// whatever batches are ready. Reconnects to the database after it was
// lost, backing off up to a minute; a systematic error leaves the batch in
// staging for the next pass.
//
// Lifecycle: Start, Shutdown (finishes the batch in hand), Interrupt (for a
// shutdown whose deadline passed: a load blocked on a dead database link
// fails at once and its batch stays in staging), Wait. Thread-safe.
#ifndef CURATOR_INGESTER_POLLER_H_
#define CURATOR_INGESTER_POLLER_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/pg.h"
#include "ingester/ingest.h"

namespace curator::ingester {

class Poller {
 public:
  Poller(std::string conninfo, IngestOptions options, absl::Duration interval)
      : conninfo_(std::move(conninfo)), options_(std::move(options)), interval_(interval) {}
  ~Poller();

  void Start();
  void Shutdown();
  void Interrupt();
  // True once the loop has ended.
  bool WaitFor(absl::Duration timeout);
  void Wait();
  // Starts a pass now instead of at the next interval.
  void Wake();

  int64_t batches_ingested() const;
  // Prometheus text since this process started: batches by outcome, rows
  // ingested, the last batch's rate, errors and whether the database is
  // reachable.
  std::string Metrics() const;

 private:
  void Run();
  void Record(const IngestOutcome& o);

  const std::string conninfo_;
  const IngestOptions options_;
  const absl::Duration interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  bool ended_ = false;
  pg::Connection* active_ = nullptr;  // the loop's connection, for Interrupt
  int64_t ingested_ = 0;
  std::map<std::string, int64_t> outcomes_;  // by OutcomeName
  int64_t rows_ = 0;
  int64_t files_left_out_ = 0;
  double seconds_ = 0;
  double last_rows_per_second_ = 0;
  int64_t errors_ = 0;  // batches left in staging by a systematic error
  bool connected_ = false;
  std::thread thread_;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_POLLER_H_
