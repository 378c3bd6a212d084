#include "base/histogram.h"

#include <vector>

#include "gtest/gtest.h"

namespace curator {
namespace {

TEST(HistogramTest, CountsEachObservationInEveryBucketAtOrAboveIt) {
  const double bounds[] = {1, 10};
  Histogram h(bounds);
  h.Observe(0.5);
  h.Observe(1);  // on a bound: in it (le is "less or equal")
  h.Observe(7);
  h.Observe(30);
  EXPECT_EQ(h.data().cumulative, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(h.data().count, 4);
  EXPECT_DOUBLE_EQ(h.data().sum, 38.5);
}

TEST(HistogramTest, DefaultBucketsAreTheDurationBuckets) {
  Histogram h;
  EXPECT_EQ(h.data().bounds.size(), std::size(kDurationBuckets));
  EXPECT_EQ(h.data().bounds.front(), 0.1);
  EXPECT_EQ(h.data().bounds.back(), 3600);
  EXPECT_EQ(h.data().count, 0);
}

}  // namespace
}  // namespace curator
