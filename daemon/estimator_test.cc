#include "daemon/estimator.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace curator::daemon {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMb = 1000000;

PastAttempt Attempt(int cu, const std::string& worker, int64_t bytes, int files,
                    double seconds, double estimated = -1) {
  return {.cu = cu,
          .worker_id = worker,
          .input_bytes = bytes,
          .input_files = files,
          .seconds = seconds,
          .estimated_seconds = estimated};
}

TEST(EstimatorTest, WithoutHistoryTheDefaultPerFile) {
  Estimator e;
  TaskEstimate t = e.Estimate(2, 40 * kMb, 8);
  EXPECT_DOUBLE_EQ(t.seconds, 8 * Estimator::kDefaultSecondsPerFile);
  EXPECT_THAT(t.basis, HasSubstr("default"));
  // A task without files still takes some time.
  EXPECT_GT(e.Estimate(5, 0, 0).seconds, 0);
  // History of another CU says nothing of this one.
  Estimator other({Attempt(4, "w", 10 * kMb, 2, 100)});
  EXPECT_DOUBLE_EQ(other.Estimate(2, 40 * kMb, 8).seconds,
                   8 * Estimator::kDefaultSecondsPerFile);
}

TEST(EstimatorTest, SecondsPerMbOfTheCuMedianOfItsAttempts) {
  // CU2 took 2 s/MB, 2 s/MB, 3 s/MB and once 50 s/MB (a cold cache, a
  // retry): the median ignores the outlier.
  Estimator e(
      {Attempt(2, "w1", 10 * kMb, 4, 20), Attempt(2, "w1", 5 * kMb, 2, 10),
       Attempt(2, "w2", 10 * kMb, 4, 30), Attempt(2, "w2", 10 * kMb, 4, 500),
       Attempt(3, "w1", 10 * kMb, 4, 1)});
  // Median of {2, 2, 3, 50} is 2.5 s/MB; a night of 8 MB: 20 s.
  TaskEstimate t = e.Estimate(2, 8 * kMb, 3);
  EXPECT_DOUBLE_EQ(t.seconds, 20);
  EXPECT_THAT(t.basis, HasSubstr("2.5 s/MB x 8 MB (median of 4 attempts)"));
  // Bigger detectors, more time: by bytes, not by file count.
  EXPECT_DOUBLE_EQ(e.Estimate(2, 16 * kMb, 3).seconds, 40);
  EXPECT_DOUBLE_EQ(e.Estimate(3, 20 * kMb, 8).seconds, 2);
}

TEST(EstimatorTest, ATaskWithoutInputTakesTheMedianOfItsCusTasks) {
  Estimator e({Attempt(5, "w1", 0, 0, 4), Attempt(5, "w1", 0, 0, 6),
               Attempt(5, "w2", 0, 0, 5)});
  TaskEstimate t = e.Estimate(5, 0, 0);
  EXPECT_DOUBLE_EQ(t.seconds, 5);
  EXPECT_THAT(t.basis, HasSubstr("s a task (median of 3 attempts)"));
}

TEST(EstimatorTest, AWorkerSpeedFactorOnceItHasEnoughHistory) {
  std::vector<PastAttempt> h;
  // w-fast: 1 s/MB, five times; w-slow: 2 s/MB, three times; w-new:
  // 4 s/MB twice, too few to judge it.
  for (int i = 0; i < 5; ++i)
    h.push_back(Attempt(4, "w-fast", 10 * kMb, 4, 10));
  for (int i = 0; i < 3; ++i)
    h.push_back(Attempt(4, "w-slow", 10 * kMb, 4, 20));
  for (int i = 0; i < 2; ++i) h.push_back(Attempt(4, "w-new", 10 * kMb, 4, 40));
  Estimator e(h);
  // The CU's median of ten rates (five at 1 s/MB, three at 2, two at 4):
  // 1.5 s/MB.
  const double base = e.Estimate(4, 10 * kMb, 4).seconds;
  EXPECT_DOUBLE_EQ(base, 15);
  EXPECT_NEAR(e.Estimate(4, 10 * kMb, 4, "w-fast").seconds, 10, 1e-9);
  TaskEstimate slow = e.Estimate(4, 10 * kMb, 4, "w-slow");
  EXPECT_NEAR(slow.seconds, 20, 1e-9);
  EXPECT_THAT(slow.basis, HasSubstr("(worker w-slow, 3 attempts)"));
  EXPECT_DOUBLE_EQ(e.Estimate(4, 10 * kMb, 4, "w-new").seconds, base);
  EXPECT_DOUBLE_EQ(e.Estimate(4, 10 * kMb, 4, "w-unknown").seconds, base);
}

TEST(EstimatorTest, AWorkersFactorIsBounded) {
  std::vector<PastAttempt> h;
  for (int i = 0; i < 9; ++i) h.push_back(Attempt(2, "w", 1 * kMb, 1, 1));
  for (int i = 0; i < 3; ++i)
    h.push_back(Attempt(2, "stuck", 1 * kMb, 1, 1000));
  Estimator e(h);
  EXPECT_DOUBLE_EQ(e.Estimate(2, 1 * kMb, 1, "stuck").seconds, 4);
}

// A task of 20 files estimated at 10 s that really takes 40 s (2 s a
// file), watched as a fake clock advances: the time left starts from the
// estimate and converges to the truth as files finish.
TEST(EstimatorTest, RemainingConvergesToTheRateSeen) {
  const int files = 20;
  const double estimated = 10;
  const double truth = 40;
  double last_error = 1e9;
  for (int done = 1; done < files; ++done) {
    const double elapsed = done * truth / files;
    const double left = Estimator::Remaining(estimated, elapsed, done, files);
    const double error =
        std::fabs(left - (truth - elapsed)) / (truth - elapsed);
    EXPECT_LT(error, last_error) << done;  // better at every file
    last_error = error;
  }
  EXPECT_LT(last_error, 0.25);  // within a quarter by the last file
  // Half way, nearer the truth (20 s left) than the estimate's 5 s.
  const double half = Estimator::Remaining(estimated, 20, 10, files);
  EXPECT_GT(half, 12);
  EXPECT_LT(half, 20);
  // Before the first file, the estimate less the time so far; once past
  // it with nothing done, unknown.
  EXPECT_DOUBLE_EQ(Estimator::Remaining(estimated, 4, 0, files), 6);
  EXPECT_EQ(Estimator::Remaining(estimated, 11, 0, files), -1);
  // No estimate: the rate seen alone, or unknown before a file is done.
  EXPECT_DOUBLE_EQ(Estimator::Remaining(-1, 10, 5, files), 30);
  EXPECT_EQ(Estimator::Remaining(-1, 10, 0, files), -1);
  // Every file done: nothing left but the batch's last writes.
  EXPECT_EQ(Estimator::Remaining(estimated, 39, files, files), 0);
  // A task without files (it reads the database): its estimate counts down.
  EXPECT_DOUBLE_EQ(Estimator::Remaining(8, 3, 0, 0), 5);
  EXPECT_EQ(Estimator::Remaining(8, 9, 0, 0), -1);
}

TEST(EstimatorTest, ErrorsOfPastEstimates) {
  // Actual 10 s each; estimated 5 (error +0.5), 10 (0), 12 (-0.2), 20
  // (-1.0), and two attempts that recorded none.
  std::vector<PastAttempt> h = {
      Attempt(2, "w", kMb, 1, 10, 5),  Attempt(2, "w", kMb, 1, 10, 10),
      Attempt(2, "w", kMb, 1, 10, 12), Attempt(2, "w", kMb, 1, 10, 20),
      Attempt(2, "w", kMb, 1, 10),     Attempt(2, "w", kMb, 1, 10)};
  EstimateErrors e = Estimator::Errors(h);
  EXPECT_EQ(e.compared, 4);
  EXPECT_DOUBLE_EQ(e.median, 0.35);  // of {0, 0.2, 0.5, 1}
  EXPECT_DOUBLE_EQ(e.p90, 1.0);
  EXPECT_DOUBLE_EQ(e.mean_signed, (0.5 + 0 - 0.2 - 1.0) / 4);
  // Only the most recent `limit`.
  EXPECT_EQ(Estimator::Errors(h, 2).compared, 2);
  EXPECT_DOUBLE_EQ(Estimator::Errors(h, 2).mean_signed, 0.25);
  EXPECT_EQ(Estimator::Errors({}).compared, 0);
}

}  // namespace
}  // namespace curator::daemon
