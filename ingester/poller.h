// The ingester's loop: every poll interval (or at once when woken), load
// whatever batches are ready. Reconnects to the database after it was
// lost, backing off up to a minute; a systematic error leaves the batch in
// staging for the next pass.
//
// Lifecycle: Create, Start, Shutdown (finishes the batch in hand), Wait.
// Thread-safe.
#ifndef CURATOR_INGESTER_POLLER_H_
#define CURATOR_INGESTER_POLLER_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "curator/v1/config.pb.h"
#include "ingester/loader.h"

namespace curator::ingester {

class Poller {
 public:
  static absl::StatusOr<std::unique_ptr<Poller>> Create(const v1::Config& config,
                                                        LoaderOptions options);
  ~Poller();

  void Start();
  void Shutdown();
  void Wait();
  // Starts a pass now instead of at the next interval.
  void Wake();

  int64_t batches_ingested() const;
  // Prometheus text since this process started: batches by outcome, rows
  // ingested, the last batch's rate, errors and whether the database is
  // reachable.
  std::string Metrics() const;

 private:
  Poller(std::string conninfo, LoaderOptions options, absl::Duration interval)
      : conninfo_(std::move(conninfo)), options_(std::move(options)), interval_(interval) {}
  void Run();

  const std::string conninfo_;
  const LoaderOptions options_;
  const absl::Duration interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  int64_t ingested_ = 0;
  std::map<std::string, int64_t> outcomes_;  // by OutcomeName
  int64_t rows_ = 0;
  double seconds_ = 0;
  double last_rows_per_second_ = 0;
  int64_t errors_ = 0;  // batches left in staging by a systematic error
  bool connected_ = false;
  std::thread thread_;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_POLLER_H_
