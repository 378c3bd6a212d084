// The ingester's loop: every poll interval (or at once when woken), load
// whatever batches are ready. Reconnects to the database after it was
// lost, backing off up to a minute; a systematic error leaves the batch in
// staging for the next pass. A pass with nothing to load checks the link
// with a query, so a lost database is noticed (and reported by Metrics)
// within a poll interval even while the ingester is idle.
//
// Ingested batches are pruned from ingested/ as `retention` says, at the
// first pass and hourly.
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
#include "base/histogram.h"
#include "db/pg.h"
#include "ingester/ingest.h"
#include "ingester/retention.h"

namespace curator::ingester {

class Poller {
 public:
  Poller(std::string conninfo, IngestOptions options, absl::Duration interval,
         Retention retention = {})
      : conninfo_(std::move(conninfo)),
        options_(std::move(options)),
        interval_(interval),
        retention_(retention) {
    // Every shard's series from the start, so that rate() sees the first.
    if (options_.shards != nullptr) {
      for (const archive::shards::Shard& s : options_.shards->shards())
        by_shard_[s.name];
    }
  }
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
  // and load durations by CU, errors, whether the database is reachable,
  // and the build.
  std::string Metrics() const;

 private:
  void Run();
  void Record(const IngestOutcome& o);
  // A batch another session holds: said when it has been held for a
  // minute, with who holds it since when, and every ten minutes after.
  void NoteBusy(pg::Connection& conn, const std::string& batch_id);

  struct Busy {
    absl::Time since;
    absl::Time said = absl::InfinitePast();
  };
  std::map<std::string, Busy> busy_;  // the loop's thread only

  const std::string conninfo_;
  const IngestOptions options_;
  const absl::Duration interval_;
  const Retention retention_;
  absl::Time last_pruned_ = absl::InfinitePast();
  int64_t pruned_batches_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  bool ended_ = false;
  pg::Connection* active_ = nullptr;  // the loop's connection, for Interrupt
  int64_t ingested_ = 0;
  std::map<std::string, int64_t> outcomes_;  // by OutcomeName
  struct Loaded {
    int64_t rows = 0;
    Histogram seconds;
  };
  std::map<int, Loaded> loaded_;  // by CU
  struct ShardCounts {
    int64_t rows = 0, batches = 0, waits = 0;
  };
  std::map<std::string, ShardCounts> by_shard_;  // every configured shard
  int64_t files_left_out_ = 0;
  int64_t errors_ = 0;  // batches left in staging by a systematic error
  bool connected_ = false;
  std::thread thread_;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_POLLER_H_
