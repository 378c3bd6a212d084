// How long a task will take, learned from how long past attempts took
// (docs/ARCHITECTURE.md, "Estimates"). A pure value made from a history
// of finished attempts; the daemon makes one from curation.task_attempt
// (TaskStore::FinishedAttempts) whenever it plans, so a restarted daemon
// estimates as before.
//
// The model, per CU:
//  - seconds per MB of the task's input files (the median over the CU's
//    attempts that had input): CU2's JPEGs and CU4's detections cost in
//    proportion to pixels and rows, which is bytes, and nights differ in
//    detector size, so bytes predict a night better than a file count;
//  - for a task without input bytes (a CU reading the database), the
//    median seconds of the CU's attempts without input;
//  - times the worker's speed factor: the median over its past attempts
//    of actual / the CU's estimate, once it has kMinWorkerAttempts of
//    them (clamped to [1/4, 4]); 1 until then;
//  - without history of the CU, kDefaultSecondsPerFile per file.
// Medians, so one attempt slowed by a retry or a cold cache does not move
// the estimate.
//
// While a task runs, Remaining() blends the estimate with the rate the
// task shows, so the time left converges to what it takes.
//
// Thread-compatible (const methods may be called concurrently).
#ifndef CURATOR_DAEMON_ESTIMATOR_H_
#define CURATOR_DAEMON_ESTIMATOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace curator::daemon {

// One finished attempt (its processing done), as curation.task_attempt
// records it.
struct PastAttempt {
  int cu = 0;
  std::string worker_id;
  int64_t input_bytes = 0;
  int input_files = 0;
  double seconds = 0;             // from dispatch to the worker's done report
  double estimated_seconds = -1;  // recorded at dispatch; -1: none
};

struct TaskEstimate {
  double seconds = 0;
  std::string basis;  // what it was learned from, for the operator
};

// How good the recorded estimates were.
struct EstimateErrors {
  int compared = 0;
  double median = 0;       // of |actual - estimated| / actual
  double p90 = 0;          // its 90th percentile
  double mean_signed = 0;  // of (actual - estimated) / actual; > 0: too short
};

class Estimator {
 public:
  static constexpr double kDefaultSecondsPerFile = 0.05;
  static constexpr int kMinWorkerAttempts = 3;
  // Attempts kept per CU (the most recent).
  static constexpr size_t kHistoryPerCu = 1000;

  // `history` most recent first.
  explicit Estimator(const std::vector<PastAttempt>& history = {});

  // The task's processing time on `worker_id` (empty: a worker of average
  // speed). Without `explain`, no basis (a plan of thousands of tasks
  // spends most of its time formatting them otherwise).
  TaskEstimate Estimate(int cu, int64_t input_bytes, int files,
                        const std::string& worker_id = "",
                        bool explain = true) const;

  // What is left of a task on a worker: `estimated` its whole estimate
  // (-1: none), `elapsed` since its dispatch, `files_done` of `files`.
  // With files: the task's rate is a blend of the estimate's
  // (estimated / files, weighing as a quarter of the task's files, at
  // least one) and the rate seen (elapsed over the files done), times
  // the files left; before the first file, the estimate less the time
  // elapsed. -1 when unknown: no estimate and nothing done yet, or a task
  // past its estimate with no file done to tell its rate.
  static double Remaining(double estimated, double elapsed, int files_done,
                          int files);

  // Over the first `limit` attempts of `history` that recorded an
  // estimate (and took some time).
  static EstimateErrors Errors(const std::vector<PastAttempt>& history,
                               size_t limit = 200);

 private:
  struct CuModel {
    double seconds_per_mb = -1;  // -1: no attempt with input
    int with_input = 0;
    double seconds_without_input = -1;
    int without_input = 0;
  };
  // The CU's estimate at average speed, and its basis if `basis` is not
  // null; false without history.
  bool Base(int cu, int64_t input_bytes, double* seconds,
            std::string* basis) const;

  std::map<int, CuModel> cus_;
  struct WorkerFactor {
    double factor = 1;
    int attempts = 0;
  };
  std::map<std::string, WorkerFactor> workers_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_ESTIMATOR_H_
