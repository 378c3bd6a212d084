#include "base/histogram.h"

namespace curator {

HistogramData EmptyHistogram(std::span<const double> bounds) {
  HistogramData h;
  h.bounds.assign(bounds.begin(), bounds.end());
  h.cumulative.assign(bounds.size(), 0);
  return h;
}

void Histogram::Observe(double value) {
  for (size_t i = 0; i < data_.bounds.size(); ++i) {
    if (value <= data_.bounds[i]) ++data_.cumulative[i];
  }
  data_.sum += value;
  ++data_.count;
}

}  // namespace curator
