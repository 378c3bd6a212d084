#include "db/histograms.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"

namespace curator::pg {

absl::StatusOr<std::map<int64_t, HistogramData>> Histograms(
    Connection& conn, const std::string& values_sql,
    std::span<const double> bounds) {
  std::vector<std::string> texts;
  for (double b : bounds) texts.push_back(absl::StrFormat("%.17g", b));
  // Bucket 0 carries each key's count and sum; bucket i its observations
  // at or below bounds[i - 1].
  CURATOR_ASSIGN_OR_RETURN(
      Result r,
      conn.Exec(absl::StrCat("WITH v AS (", values_sql,
                             ") SELECT key, 0, count(*), "
                             "coalesce(sum(value), 0) FROM v GROUP BY key "
                             "UNION ALL SELECT v.key, b.i, count(*) FILTER "
                             "(WHERE v.value <= b.le), 0 FROM v CROSS JOIN "
                             "unnest($1::float8[]) WITH ORDINALITY AS b(le, "
                             "i) GROUP BY v.key, b.i"),
                {TextArray(texts)}));
  std::map<int64_t, HistogramData> out;
  for (int row = 0; row < r.rows(); ++row) {
    auto [it, added] =
        out.try_emplace(r.GetInt(row, 0), EmptyHistogram(bounds));
    HistogramData& h = it->second;
    const int64_t bucket = r.GetInt(row, 1);
    if (bucket == 0) {
      h.count = r.GetInt(row, 2);
      h.sum = r.GetDouble(row, 3);
    } else if (bucket <= static_cast<int64_t>(h.cumulative.size())) {
      h.cumulative[bucket - 1] = r.GetInt(row, 2);
    }
  }
  return out;
}

}  // namespace curator::pg
