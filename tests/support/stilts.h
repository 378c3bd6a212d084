// STILTS (Debian's `stilts`: the Starlink Tables Infrastructure Library
// Tool Set, in Java) as an independent reference for the zones cross-match
// (worker/zones_match.h), in tests and benchmarks.
//
// STILTS's sky matcher takes a pair when its haversine separation, in
// radians, is <= the radius, and reports the separation in arcsec; ours
// uses unit vectors and compares in arcsec. The two differ by rounding
// only (~1e-16 relative), i.e. only on a pair within rounding of the radius
// or on near-ties.
#ifndef CURATOR_TESTS_SUPPORT_STILTS_H_
#define CURATOR_TESTS_SUPPORT_STILTS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/zones_match.h"

namespace curator::testing {

// Whether `stilts` is on the PATH.
bool StiltsInstalled();

struct StiltsPair {
  int64_t query_id = 0, match_id = 0;
  double separation_arcsec = 0;  // as STILTS computed it
};

// `stilts tmatch2 matcher=sky find=best1 join=1and2` of `queries` (table 1)
// against `catalogue` (table 2): for each query with a catalogue point
// within `radius_arcsec`, the nearest, as STILTS chooses it. Both tables
// are written to `work_dir` as FITS binary tables (columns id 1K, ra 1D,
// dec 1D, degrees) with CFITSIO, and the pairs read back from STILTS's CSV
// output, in the order STILTS writes them. `java_heap` is
// passed to java as -Xmx (e.g. "4g"; "" for java's default). Errors:
// Unavailable if STILTS is not installed, Internal if it fails (its output
// in the message), and the FITS writer's errors.
absl::StatusOr<std::vector<StiltsPair>> StiltsBestMatchesWithSeparation(
    const std::vector<worker::match::Point>& queries,
    const std::vector<worker::match::Point>& catalogue, double radius_arcsec,
    const std::string& work_dir, const std::string& java_heap = "");

// The same pairs as (query id, match id).
absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> StiltsBestMatches(
    const std::vector<worker::match::Point>& queries,
    const std::vector<worker::match::Point>& catalogue, double radius_arcsec,
    const std::string& work_dir);

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_STILTS_H_
