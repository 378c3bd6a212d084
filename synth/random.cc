#include "synth/random.h"

#include <cmath>

namespace curator::synth {
namespace {

// Acklam's rational approximation of the normal quantile (rel. error
// < 1.2e-9), ample for a noise table.
double NormalQuantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  const double plow = 0.02425;
  if (p < plow) {
    double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q +
            c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - plow) return -NormalQuantile(1 - p);
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r +
          a[5]) *
         q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

}  // namespace

FastNormal::FastNormal() {
  for (int i = 0; i < 65536; ++i) {
    table_[i] = static_cast<float>(NormalQuantile((i + 0.5) / 65536.0));
  }
}

void FastNormal::Fill(Random& rng, float* out, int64_t n) const {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint64_t r = rng.Next();
    out[i] = table_[r & 0xFFFF];
    out[i + 1] = table_[(r >> 16) & 0xFFFF];
    out[i + 2] = table_[(r >> 32) & 0xFFFF];
    out[i + 3] = table_[r >> 48];
  }
  uint64_t r = rng.Next();
  for (; i < n; ++i, r >>= 16) out[i] = table_[r & 0xFFFF];
}

}  // namespace curator::synth
