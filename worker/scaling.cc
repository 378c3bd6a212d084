#include "worker/scaling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace curator::worker {
namespace {

bool NonFinite(const float* data, size_t i) {
  uint32_t bits;
  std::memcpy(&bits, &data[i], 4);
  return (bits & 0x7F800000u) == 0x7F800000u;
}

std::vector<float> Sample(const float* data, size_t n, int n_samples) {
  // Finite = exponent bits not all ones; as integer arithmetic this
  // vectorises, std::isfinite does not.
  size_t finite = 0;
  for (size_t i = 0; i < n; ++i) finite += !NonFinite(data, i);
  return DrawSample(
      n, finite, n_samples, [data](size_t i) { return NonFinite(data, i); },
      [data](size_t i) { return data[i]; });
}

double Median(const std::vector<float>& sorted) {
  const size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : 0.5 * (static_cast<double>(sorted[n / 2 - 1]) + sorted[n / 2]);
}

}  // namespace

std::optional<Limits> ZScale(const float* data, size_t n, const ZScaleParams& p) {
  return ZScaleOfSample(Sample(data, n, p.n_samples), p);
}

std::optional<Limits> ZScaleOfSample(const std::vector<float>& samples, const ZScaleParams& p) {
  if (samples.empty()) return std::nullopt;
  const int npix = static_cast<int>(samples.size());
  double vmin = samples.front(), vmax = samples.back();
  const int minpix = std::max(p.min_npixels, static_cast<int>(npix * p.max_reject));
  const int ngrow = std::max(1, static_cast<int>(npix * 0.01));
  std::vector<char> bad(npix, 0), grown(npix, 0);
  int ngood = npix, last_ngood = npix + 1;
  double slope = 0, intercept = 0;
  for (int iter = 0; iter < p.max_iterations; ++iter) {
    if (ngood >= last_ngood || ngood < minpix) break;
    // Least-squares line through the good samples (x = index).
    double sx = 0, sy = 0, sxx = 0, sxy = 0, w = 0;
    for (int i = 0; i < npix; ++i) {
      if (bad[i]) continue;
      sx += i;
      sy += samples[i];
      sxx += static_cast<double>(i) * i;
      sxy += static_cast<double>(i) * samples[i];
      w += 1;
    }
    const double denom = w * sxx - sx * sx;
    slope = denom != 0 ? (w * sxy - sx * sy) / denom : 0;
    intercept = (sy - slope * sx) / w;
    // Reject beyond krej sigma of the residuals of the good samples.
    double mean = 0;
    for (int i = 0; i < npix; ++i) {
      if (!bad[i]) mean += samples[i] - (intercept + slope * i);
    }
    mean /= w;
    double var = 0;
    for (int i = 0; i < npix; ++i) {
      if (!bad[i]) {
        const double d = samples[i] - (intercept + slope * i) - mean;
        var += d * d;
      }
    }
    const double threshold = p.krej * std::sqrt(var / w);
    for (int i = 0; i < npix; ++i) {
      const double flat = samples[i] - (intercept + slope * i);
      if (flat < -threshold || flat > threshold) bad[i] = 1;
    }
    // Dilate the mask like numpy.convolve(bad, ones(ngrow), "same").
    const int shift = (ngrow - 1) / 2;
    for (int i = 0; i < npix; ++i) {
      char any = 0;
      for (int j = i + shift - ngrow + 1; j <= i + shift && !any; ++j) {
        if (j >= 0 && j < npix) any = bad[j];
      }
      grown[i] = any;
    }
    bad.swap(grown);
    last_ngood = ngood;
    ngood = static_cast<int>(std::count(bad.begin(), bad.end(), 0));
  }
  if (ngood >= minpix) {
    if (p.contrast > 0) slope /= p.contrast;
    const int center = (npix - 1) / 2;
    const double median = Median(samples);
    vmin = std::max(vmin, median - (center - 1) * slope);
    vmax = std::min(vmax, median + (npix - center) * slope);
  }
  return Limits{vmin, vmax};
}

std::optional<Limits> MinMax(const float* data, size_t n) {
  bool any = false;
  float lo = 0, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(data[i])) continue;
    if (!any) {
      lo = hi = data[i];
      any = true;
    } else {
      lo = std::min(lo, data[i]);
      hi = std::max(hi, data[i]);
    }
  }
  if (!any) return std::nullopt;
  return Limits{lo, hi};
}

std::optional<Limits> Percentile(const float* data, size_t n, double lo, double hi,
                                 int n_samples) {
  return PercentileOfSample(Sample(data, n, n_samples), lo, hi);
}

std::optional<Limits> PercentileOfSample(const std::vector<float>& s, double lo, double hi) {
  if (s.empty()) return std::nullopt;
  auto at = [&](double pct) {
    const double pos = pct / 100.0 * (s.size() - 1);
    const size_t i = static_cast<size_t>(std::floor(pos));
    const double f = pos - i;
    return i + 1 < s.size() ? s[i] * (1 - f) + s[i + 1] * f : s[i];
  };
  return Limits{at(lo), at(hi)};
}

}  // namespace curator::worker
