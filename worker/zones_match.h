// The zones cross-match (Gray, Nieto-Santisteban and Szalay, "The Zones
// Algorithm for Finding Points-Near-a-Point or Cross-Matching Spatial
// Datasets", MSR-TR-2006-52): declination zones about one match radius
// high, each sorted by RA, and a search of the zones a radius reaches.
// CU5 associates a night's detections with the archive's sources with it
// (worker/cu5_task.h).
//
// Correct across RA = 0/360 and up to the poles (a zone whose RA window
// would reach half the circle is searched whole). Separations are true
// great-circle distances (from unit vectors), in arcseconds. "Within the
// radius" means separation <= radius, on the separation reported (the
// value SeparationArcsec gives for the two positions): a point exactly at
// the radius is within it.
//
// Deterministic: the same input gives the same output whatever
// `threads`, and whatever the order of the input vectors.
#ifndef CURATOR_WORKER_ZONES_MATCH_H_
#define CURATOR_WORKER_ZONES_MATCH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace curator::worker::match {

// A point of a catalogue: an id unique in its catalogue, degrees.
struct Point {
  int64_t id = 0;
  double ra = 0, dec = 0;
};

// A detection to associate: `frame` is the multiframe it comes from; two
// detections of one frame never join the same source. `epoch` orders the
// frames (MJD): a night's new sources are founded in epoch order.
struct Detection {
  int64_t id = 0;
  int64_t frame = 0;
  double epoch = 0;
  double ra = 0, dec = 0;
};

// Great-circle separation of two positions in degrees, in arcseconds.
double SeparationArcsec(double ra1, double dec1, double ra2, double dec2);

// The points of one catalogue in zones, for searches within `radius`.
// Immutable once built; thread-safe to search.
class ZoneIndex {
 public:
  // InvalidArgument for a radius that is not in (0, 3600] arcsec, or a
  // point with a non-finite position, dec outside [-90, 90] or RA outside
  // [0, 360) (the id is named; the smallest, if several are bad). Ids are
  // not checked for uniqueness: a repeated id is found as often as it is
  // there. `threads` (0: one per core) sorts the zones in parallel.
  static absl::StatusOr<ZoneIndex> Build(std::vector<Point> points, double radius_arcsec,
                                         int threads = 0);

  // The points within the index's radius of (ra, dec), nearest first (ties
  // by smaller id), with their separations in arcsec. A query with a
  // non-finite position or |dec| > 90 finds nothing; its RA is taken
  // modulo 360.
  struct Hit {
    int64_t id;
    double separation_arcsec;
  };
  std::vector<Hit> Within(double ra, double dec) const;
  // The nearest point within the radius (ties by smaller id); false if none.
  bool Nearest(double ra, double dec, Hit* hit) const;

  size_t size() const;
  double radius_arcsec() const;

  // A moved-from index may only be assigned to or destroyed.
  ZoneIndex(ZoneIndex&&) noexcept;
  ZoneIndex& operator=(ZoneIndex&&) noexcept;
  ~ZoneIndex();

 private:
  friend class ZoneSearch;  // zones_match.cc's bulk searches
  struct Impl;
  explicit ZoneIndex(Impl* impl);
  Impl* impl_;
};

// For each query point, its nearest point of `index` within the radius:
// STILTS tmatch2's find=best1 (every query row paired with its best
// match; a catalogue point may be the best match of several queries).
// Pairs in query order, queries without a match left out (each query is
// searched as Within does). `threads` (0: one per core).
struct Pair {
  int64_t query_id;
  int64_t match_id;
  double separation_arcsec;
};
std::vector<Pair> BestMatches(const ZoneIndex& index, const std::vector<Point>& queries,
                              int threads = 0);

// What Associate decided for one detection.
struct Link {
  int64_t detection_id = 0;
  int64_t source_id = 0;
  double separation_arcsec = 0;  // from the source's position (a new
                                 // source's founder: 0 for the founder)
  bool new_source = false;       // the source is founded tonight
};

struct Association {
  std::vector<Link> links;  // one per detection, by detection id
  // Tonight's new sources, by id: each has the id and position of the
  // detection that founded it.
  std::vector<Point> new_sources;
};

// Associates a night's detections with the sources of `existing`:
// 1. every detection is paired with its nearest existing source within
//    the radius; where several detections of one frame pair with one
//    source, the nearest (then smaller detection id) keeps it and the
//    others try their next-nearest sources, until each frame uses each
//    source at most once;
// 2. the detections left over found new sources in epoch order (then
//    frame, then detection id): a left-over detection joins the nearest
//    source founded by an earlier frame of the night within the radius
//    that has no detection of its frame yet (measured from the founder's
//    position), else it founds one, with its own id as the source id.
// InvalidArgument for a detection with a bad position (one Build would
// refuse) or a non-finite epoch (named: the smallest id, if several are
// bad), or two detections with one id. `threads` (0: one per core) runs
// the searches of both steps and step 1's per-frame rule in parallel;
// step 2's decisions are taken in order on one thread.
absl::StatusOr<Association> Associate(const ZoneIndex& existing,
                                      const std::vector<Detection>& detections,
                                      int threads = 0);

}  // namespace curator::worker::match

#endif  // CURATOR_WORKER_ZONES_MATCH_H_
