// The Prometheus text that every process serves at /metrics.
#include "server/metrics.h"

#include <cmath>
#include <string>

#include "base/build_info.h"
#include "gtest/gtest.h"

namespace curator {
namespace {

TEST(MetricsTextTest, WritesHelpAndTypeOncePerMetricAndEscapesLabels) {
  MetricsText m;
  m.Add("curator_tasks", "gauge", "Tasks by state.", {{"state", "done"}}, 3);
  m.Add("curator_tasks", "gauge", "Tasks by state.", {{"state", "a\"b\\c\n"}},
        1);
  m.Add("curator_up", "gauge", "Up.", {}, 1);
  EXPECT_EQ(m.str(),
            "# HELP curator_tasks Tasks by state.\n"
            "# TYPE curator_tasks gauge\n"
            "curator_tasks{state=\"done\"} 3\n"
            "curator_tasks{state=\"a\\\"b\\\\c\\n\"} 1\n"
            "# HELP curator_up Up.\n# TYPE curator_up gauge\ncurator_up 1\n");
}

TEST(MetricsTextTest, WritesEveryDigitOfLargeCountsAndFractions) {
  MetricsText m;
  m.Add("curator_rows_total", "counter", "Rows.", {}, 2411917);
  m.Add("curator_big_total", "counter", "Big.", {}, 1234567890123.0);
  m.Add("curator_seconds_total", "counter", "Seconds.", {}, 140324.25);
  m.Add("curator_small", "gauge", "Small.", {}, 0.1);
  m.Add("curator_nan", "gauge", "NaN.", {}, std::nan(""));
  const std::string& t = m.str();
  EXPECT_NE(t.find("curator_rows_total 2411917\n"), std::string::npos) << t;
  EXPECT_NE(t.find("curator_big_total 1234567890123\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("curator_seconds_total 140324.25\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("curator_small 0.1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("curator_nan NaN\n"), std::string::npos) << t;
}

TEST(MetricsTextTest, WritesAHistogramAsBucketsSumAndCount) {
  const double bounds[] = {0.5, 2.5};
  Histogram h(bounds);
  h.Observe(0.25);
  h.Observe(3);
  MetricsText m;
  m.AddHistogram("curator_x_duration_seconds", "Durations.", {{"cu", "CU3"}},
                 h.data());
  m.AddHistogram("curator_x_duration_seconds", "Durations.", {{"cu", "CU4"}},
                 EmptyHistogram(bounds));
  EXPECT_EQ(m.str(),
            "# HELP curator_x_duration_seconds Durations.\n"
            "# TYPE curator_x_duration_seconds histogram\n"
            "curator_x_duration_seconds_bucket{cu=\"CU3\",le=\"0.5\"} 1\n"
            "curator_x_duration_seconds_bucket{cu=\"CU3\",le=\"2.5\"} 1\n"
            "curator_x_duration_seconds_bucket{cu=\"CU3\",le=\"+Inf\"} 2\n"
            "curator_x_duration_seconds_sum{cu=\"CU3\"} 3.25\n"
            "curator_x_duration_seconds_count{cu=\"CU3\"} 2\n"
            "curator_x_duration_seconds_bucket{cu=\"CU4\",le=\"0.5\"} 0\n"
            "curator_x_duration_seconds_bucket{cu=\"CU4\",le=\"2.5\"} 0\n"
            "curator_x_duration_seconds_bucket{cu=\"CU4\",le=\"+Inf\"} 0\n"
            "curator_x_duration_seconds_sum{cu=\"CU4\"} 0\n"
            "curator_x_duration_seconds_count{cu=\"CU4\"} 0\n");
}

TEST(MetricsTextTest, BuildInfoNamesTheVersionAndCommit) {
  MetricsText m;
  m.AddBuildInfo();
  EXPECT_NE(
      m.str().find(std::string("curator_build_info{version=\"") +
                   BuildVersion() + "\",commit=\"" + BuildCommit() + "\"} 1\n"),
      std::string::npos)
      << m.str();
  EXPECT_STRNE(BuildVersion(), "");
  EXPECT_STRNE(BuildCommit(), "");
}

}  // namespace
}  // namespace curator
