// Histograms counted by PostgreSQL: for /metrics built from what the
// database records (task attempts, batch loads), so they survive a
// restart of the process that reports them and never go down while rows
// are only added.
#ifndef CURATOR_DB_HISTOGRAMS_H_
#define CURATOR_DB_HISTOGRAMS_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "base/histogram.h"
#include "db/pg.h"

namespace curator::pg {

// `values_sql` is a query without parameters whose rows are (key bigint,
// value float8), its columns named `key` and `value`; returns a histogram
// over `bounds` per key, counted as Histogram::Observe counts (a value on
// a bound is in that bound's bucket). Keys without rows are absent.
absl::StatusOr<std::map<int64_t, HistogramData>> Histograms(
    Connection& conn, const std::string& values_sql,
    std::span<const double> bounds = kDurationBuckets);

}  // namespace curator::pg

#endif  // CURATOR_DB_HISTOGRAMS_H_
