// Counts of observations in fixed buckets, as a Prometheus histogram
// wants them (server/metrics.h writes them): the observations at or below
// each upper bound (cumulative), their sum and their number. Kept in
// memory by Histogram, or read from the database by pg::Histograms
// (db/histograms.h), which counts the same way.
#ifndef CURATOR_BASE_HISTOGRAM_H_
#define CURATOR_BASE_HISTOGRAM_H_

#include <cstdint>
#include <span>
#include <vector>

namespace curator {

// Upper bounds (seconds) of the buckets of every duration Curator
// reports: from a CU3 task of a few frames to a night's CU4 ingest on a
// busy server. (+Inf is the count.)
inline constexpr double kDurationBuckets[] = {0.1, 0.25, 0.5, 1,   2.5, 5,
                                              10,  30,   60,  300, 900, 3600};

struct HistogramData {
  std::vector<double> bounds;       // ascending
  std::vector<int64_t> cumulative;  // per bound: observations <= it
  double sum = 0;
  int64_t count = 0;
};

// No observations yet, over `bounds`.
HistogramData EmptyHistogram(std::span<const double> bounds = kDurationBuckets);

// Not thread-safe: the owner's lock guards it.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds = kDurationBuckets)
      : data_(EmptyHistogram(bounds)) {}
  void Observe(double value);
  const HistogramData& data() const { return data_; }

 private:
  HistogramData data_;
};

}  // namespace curator

#endif  // CURATOR_BASE_HISTOGRAM_H_
