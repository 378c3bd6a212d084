// Display limits for turning detector pixels into 8 bits (CU2): IRAF's
// zscale, as astropy.visualization.ZScaleInterval implements it (sample up
// to n_samples finite pixels at a fixed stride, fit a line to the sorted
// samples with iterative k-sigma rejection, stretch by 1/contrast around
// the median), or linear min/max, or percentiles of the same sample.
// Non-finite pixels are ignored; nullopt when there are none.
#ifndef CURATOR_WORKER_SCALING_H_
#define CURATOR_WORKER_SCALING_H_

#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

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
// Percentiles (0..100) of a sample drawn as zscale's, of this size.
inline constexpr int kPercentileSamples = 10000;
std::optional<Limits> Percentile(const float* data, size_t n, double lo, double hi,
                                 int n_samples = kPercentileSamples);

// The same for pixels in another form (CU2's stored pixels):
// astropy's sample, values[finite][::stride][:n_samples] with stride =
// max(1, finite / n_samples), sorted, from `n` pixels of which `finite`
// are not blank; blank(i) and value(i) say what pixel i is.
template <typename IsBlank, typename Value>
std::vector<float> DrawSample(size_t n, size_t finite, int n_samples, IsBlank blank,
                              Value value) {
  std::vector<float> s;
  if (finite == 0 || n_samples < 1) return s;
  const size_t stride = std::max<size_t>(
      1, static_cast<size_t>(static_cast<double>(finite) / n_samples));
  const size_t want = std::min<size_t>(n_samples, (finite + stride - 1) / stride);
  s.reserve(want);
  if (finite == n) {
    // No blanks: every stride-th pixel, directly.
    for (size_t i = 0; i < n && s.size() < want; i += stride) s.push_back(value(i));
  } else {
    size_t skip = 0;  // finite pixels still to pass before the next sample
    for (size_t i = 0; i < n && s.size() < want; ++i) {
      if (blank(i)) continue;
      if (skip == 0) {
        s.push_back(value(i));
        skip = stride;
      }
      --skip;
    }
  }
  std::sort(s.begin(), s.end());
  return s;
}
// zscale and percentiles of a sample DrawSample made.
std::optional<Limits> ZScaleOfSample(const std::vector<float>& sorted, const ZScaleParams& p = {});
std::optional<Limits> PercentileOfSample(const std::vector<float>& sorted, double lo, double hi);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_SCALING_H_
