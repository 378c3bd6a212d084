// Display limits for turning detector pixels into 8 bits (CU2): IRAF's
// zscale, as astropy.visualization.ZScaleInterval implements it (sample up
// to n_samples finite pixels at a fixed stride, fit a line to the sorted
// samples with iterative k-sigma rejection, stretch by 1/contrast around
// the median), or linear min/max, or percentiles of the same sample.
// Non-finite pixels are ignored; nullopt when there are none.
#ifndef CURATOR_WORKER_SCALING_H_
#define CURATOR_WORKER_SCALING_H_

#include <cstddef>
#include <optional>

namespace curator::worker {

struct Limits {
  double lo = 0;
  double hi = 0;
};

struct ZScaleParams {
  int n_samples = 1000;
  double contrast = 0.25;
  double max_reject = 0.5;
  int min_npixels = 5;
  double krej = 2.5;
  int max_iterations = 5;
};

std::optional<Limits> ZScale(const float* data, size_t n, const ZScaleParams& p = {});
std::optional<Limits> MinMax(const float* data, size_t n);
// Percentiles (0..100) of the zscale sample.
std::optional<Limits> Percentile(const float* data, size_t n, double lo, double hi,
                                 int n_samples = 10000);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_SCALING_H_
