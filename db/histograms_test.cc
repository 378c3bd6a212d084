#include "db/histograms.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/pg_test.h"

namespace curator {
namespace {

class HistogramsTest : public testing::PgTest {};

TEST_F(HistogramsTest, CountsPerKeyAsObserveDoes) {
  auto conn = pg::Connection::Connect(conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  const double bounds[] = {0.1, 1, 10};
  const std::vector<std::pair<int, double>> values = {
      {3, 0.05}, {3, 0.1}, {3, 0.5}, {3, 42}, {4, 1}, {4, 9.5}};
  std::map<int64_t, Histogram> expected;
  std::string sql = "VALUES ";
  for (size_t i = 0; i < values.size(); ++i) {
    auto [it, added] = expected.try_emplace(values[i].first, bounds);
    it->second.Observe(values[i].second);
    absl::StrAppend(&sql, i > 0 ? ", " : "", "(", values[i].first, ", ",
                    values[i].second, "::float8)");
  }
  absl::StatusOr<std::map<int64_t, HistogramData>> got = pg::Histograms(
      **conn, "SELECT column1 AS key, column2 AS value FROM (" + sql + ") x",
      bounds);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  for (const auto& [key, h] : expected) {
    SCOPED_TRACE(key);
    const HistogramData& g = got->at(key);
    EXPECT_EQ(g.bounds, h.data().bounds);
    EXPECT_EQ(g.cumulative, h.data().cumulative);
    EXPECT_EQ(g.count, h.data().count);
    EXPECT_DOUBLE_EQ(g.sum, h.data().sum);
  }
  // Key 3: 0.05 and 0.1 (on the bound) at or below 0.1, 0.5 below 1, 42
  // only in +Inf.
  EXPECT_EQ(got->at(3).cumulative, (std::vector<int64_t>{2, 3, 3}));
}

TEST_F(HistogramsTest, NoRowsNoKeys) {
  auto conn = pg::Connection::Connect(conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto got = pg::Histograms(
      **conn, "SELECT 1::bigint AS key, 1::float8 AS value WHERE false");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
}

}  // namespace
}  // namespace curator
