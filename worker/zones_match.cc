#include "worker/zones_match.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace curator::worker::match {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kRadPerDeg = kPi / 180;
constexpr double kArcsecPerRad = 180 * 3600 / kPi;
// Zones are one radius high, but never more than this many: a tiny radius
// gets zones higher than itself (still correct, the search spans the zones
// the radius reaches) instead of an offset table of millions of entries.
constexpr int kMaxZones = 1 << 20;
// The search window (dec band, RA window, chord) is widened by this much so
// that rounding in the window never drops a point whose separation is
// within the radius; the decision itself is `separation <= radius` on the
// separation reported.
constexpr double kRelativeSlack = 1e-9;
constexpr double kSlackDeg = 1e-10;
// Below this many queries (or points) per thread, threads cost more than
// they save.
constexpr size_t kMinPerThread = 4096;

struct Vec3 {
  double x, y, z;
};

Vec3 UnitVector(double ra_deg, double dec_deg, double* cos_dec = nullptr) {
  const double a = ra_deg * kRadPerDeg, d = dec_deg * kRadPerDeg;
  const double cd = std::cos(d);
  if (cos_dec != nullptr) *cos_dec = cd;
  return {cd * std::cos(a), cd * std::sin(a), std::sin(d)};
}

// atan2(|a x b|, a . b): accurate at every angle, unlike acos of the dot
// product near 0 or the chord's asin near 180 degrees.
double SeparationRad(const Vec3& a, const Vec3& b) {
  const double cx = a.y * b.z - a.z * b.y;
  const double cy = a.z * b.x - a.x * b.z;
  const double cz = a.x * b.y - a.y * b.x;
  const double dot = a.x * b.x + a.y * b.y + a.z * b.z;
  return std::atan2(std::sqrt(cx * cx + cy * cy + cz * cz), dot);
}

double Chord2(const Vec3& a, const Vec3& b) {
  const double dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z;
  return dx * dx + dy * dy + dz * dz;
}

// Why a position is not one the index takes, or "" if it is.
std::string PositionProblem(double ra, double dec) {
  if (!std::isfinite(ra) || !std::isfinite(dec)) {
    return absl::StrFormat("has a non-finite position (RA %g, dec %g)", ra,
                           dec);
  }
  if (dec < -90 || dec > 90) {
    return absl::StrFormat("has dec %.10g, outside [-90, 90]", dec);
  }
  if (ra < 0 || ra >= 360) {
    return absl::StrFormat("has RA %.10g, outside [0, 360)", ra);
  }
  return "";
}

int Threads(int requested, size_t work) {
  size_t t = requested > 0 ? static_cast<size_t>(requested)
                           : std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(
      std::max<size_t>(1, std::min(t, work / kMinPerThread)));
}

// fn(chunk, begin, end) for `chunks` contiguous chunks of [0, n), one
// thread each (the last on the calling thread). Chunk c is
// [n * c / chunks, n * (c + 1) / chunks).
template <typename Fn>
void ForChunks(size_t n, int chunks, const Fn& fn) {
  std::vector<std::thread> threads;
  for (int c = 0; c + 1 < chunks; ++c) {
    threads.emplace_back(fn, c, n * c / chunks, n * (c + 1) / chunks);
  }
  fn(chunks - 1, n * (chunks - 1) / chunks, n);
  for (std::thread& t : threads) t.join();
}

// std::sort on `threads` threads: nth_element splits the range in
// proportion to the threads each side gets. The result is the same as
// std::sort's for a comparator that is a total order.
template <typename It, typename Less>
void ParallelSort(It begin, It end, const Less& less, int threads) {
  const size_t n = end - begin;
  if (threads <= 1 || n < 2 * kMinPerThread) {
    std::sort(begin, end, less);
    return;
  }
  const int left = threads / 2;
  const It mid = begin + n * left / threads;
  std::nth_element(begin, mid, end, less);
  std::thread t([&] { ParallelSort(begin, mid, less, left); });
  ParallelSort(mid, end, less, threads - left);
  t.join();
}

bool HitBefore(const ZoneIndex::Hit& a, const ZoneIndex::Hit& b) {
  return a.separation_arcsec != b.separation_arcsec
             ? a.separation_arcsec < b.separation_arcsec
             : a.id < b.id;
}

}  // namespace

double SeparationArcsec(double ra1, double dec1, double ra2, double dec2) {
  return SeparationRad(UnitVector(ra1, dec1), UnitVector(ra2, dec2)) *
         kArcsecPerRad;
}

struct ZoneIndex::Impl {
  double radius_arcsec = 0;
  double search_deg = 0;    // the radius and the slack, in degrees
  double sin_search = 0;    // sin of search_deg
  double chord2_limit = 0;  // squared chord of search_deg
  int num_zones = 0;
  double zones_per_deg = 0;
  int first_zone = 0;              // of the first point
  std::vector<size_t> zone_begin;  // zone first_zone + k is points
                                   // [zone_begin[k], zone_begin[k + 1])
  std::vector<Point> points;       // by (zone, ra, dec, id)

  int Zone(double dec) const {
    // Truncation is floor here (z >= 0), and one instruction where floor
    // is a call on baseline x86-64: this is in Build's sort comparator.
    const double z = (dec + 90) * zones_per_deg;
    if (!(z > 0)) return 0;
    return z < num_zones ? static_cast<int>(z) : num_zones - 1;
  }
  bool Less(const Point& a, const Point& b) const {
    const int za = Zone(a.dec), zb = Zone(b.dec);
    if (za != zb) return za < zb;
    if (a.ra != b.ra) return a.ra < b.ra;
    if (a.dec != b.dec) return a.dec < b.dec;
    return a.id < b.id;
  }
  // A key that orders queries zone by zone, then by RA (to 0.09 deg),
  // so that queries next to each other search the same zones; query
  // `local` (< 2^32) of a chunk in the low 32 bits.
  uint64_t LocalityKey(double ra, double dec, uint32_t local) const {
    static_assert(kMaxZones <= 1 << 20, "zone numbers take 20 bits");
    uint64_t key = 0;
    if (dec >= -90 && dec <= 90 && ra >= 0 && ra < 360) {
      key = static_cast<uint64_t>(Zone(dec)) << 12 |
            static_cast<uint64_t>(ra * (4096 / 360.0));
    }
    return key << 32 | local;
  }

  // on_hit(index of the point, separation in arcsec) for every point within
  // the radius of (ra, dec), in no particular order.
  template <typename OnHit>
  void Search(double ra, double dec, const OnHit& on_hit) const;
};

template <typename OnHit>
void ZoneIndex::Impl::Search(double ra, double dec, const OnHit& on_hit) const {
  if (points.empty() || !std::isfinite(ra) || !(dec >= -90 && dec <= 90)) {
    return;
  }
  if (ra < 0 || ra >= 360) {
    ra = std::fmod(ra, 360.0);
    if (ra < 0) ra += 360;
    if (ra >= 360) ra = 0;
  }
  double cos_dec;
  const Vec3 q = UnitVector(ra, dec, &cos_dec);
  const int last_zone = first_zone + static_cast<int>(zone_begin.size()) - 2;
  const int z0 = std::max(first_zone, Zone(dec - search_deg));
  const int z1 = std::min(last_zone, Zone(dec + search_deg));
  if (z0 > z1) return;

  // The RA half-window: the circle of radius r around dec spans
  // asin(sin r / cos dec) of RA either side (a right spherical triangle
  // pole-centre-tangent point), unless it reaches the pole. Near that, the
  // window is about half the circle: search whole zones. Otherwise
  // tan(asin s) = s / sqrt(1 - s^2), just above asin s (by s^3 / 3), bounds
  // it without a call to asin where s is small (0.33% wider at most).
  double windows[2][2];
  int num_windows = 0;
  const double s = sin_search / cos_dec;
  const bool whole = std::abs(dec) + search_deg >= 90 || !(s < 1 - 1e-6);
  if (!whole) {
    const double alpha = (s < 0.1 ? s / std::sqrt(1 - s * s) : std::asin(s)) /
                             kRadPerDeg * (1 + kRelativeSlack) +
                         kSlackDeg;
    const double lo = ra - alpha, hi = ra + alpha;
    if (lo < 0) {
      windows[num_windows][0] = 0, windows[num_windows++][1] = hi;
      windows[num_windows][0] = lo + 360, windows[num_windows++][1] = 360;
    } else if (hi >= 360) {
      windows[num_windows][0] = lo, windows[num_windows++][1] = 360;
      windows[num_windows][0] = 0, windows[num_windows++][1] = hi - 360;
    } else {
      windows[num_windows][0] = lo, windows[num_windows++][1] = hi;
    }
  }
  const auto check = [&](size_t i) {
    const Point& p = points[i];
    if (std::abs(p.dec - dec) > search_deg) return;
    const Vec3 v = UnitVector(p.ra, p.dec);
    if (Chord2(q, v) > chord2_limit) return;
    const double sep = SeparationRad(q, v) * kArcsecPerRad;
    if (sep <= radius_arcsec) on_hit(i, sep);
  };
  for (int z = z0; z <= z1; ++z) {
    const size_t b = zone_begin[z - first_zone];
    const size_t e = zone_begin[z - first_zone + 1];
    if (whole) {
      for (size_t i = b; i < e; ++i) check(i);
      continue;
    }
    for (int w = 0; w < num_windows; ++w) {
      const double lo = windows[w][0], hi = windows[w][1];
      size_t i =
          std::lower_bound(points.begin() + b, points.begin() + e, lo,
                           [](const Point& p, double v) { return p.ra < v; }) -
          points.begin();
      for (; i < e && points[i].ra <= hi; ++i) check(i);
    }
  }
}

absl::StatusOr<ZoneIndex> ZoneIndex::Build(std::vector<Point> points,
                                           double radius_arcsec, int threads) {
  if (!(radius_arcsec > 0 && radius_arcsec <= 3600)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "zones match: a radius of %g arcsec is not in (0, 3600]",
        radius_arcsec));
  }
  // The smallest bad id is named, so the message does not depend on the
  // order of the input.
  const Point* bad = nullptr;
  size_t num_bad = 0;
  for (const Point& p : points) {
    if (PositionProblem(p.ra, p.dec).empty()) continue;
    ++num_bad;
    if (bad == nullptr || p.id < bad->id) bad = &p;
  }
  if (bad != nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "zones match: point %d %s%s", bad->id,
        PositionProblem(bad->ra, bad->dec),
        num_bad > 1 ? absl::StrFormat(" (and %d more bad points)", num_bad - 1)
                    : ""));
  }

  auto impl = std::make_unique<Impl>();
  impl->radius_arcsec = radius_arcsec;
  const double radius_deg = radius_arcsec / 3600;
  impl->search_deg = radius_deg * (1 + kRelativeSlack) + kSlackDeg;
  impl->sin_search = std::sin(impl->search_deg * kRadPerDeg);
  const double chord = 2 * std::sin(impl->search_deg * kRadPerDeg / 2);
  impl->chord2_limit = chord * chord * (1 + kRelativeSlack);
  impl->num_zones = static_cast<int>(
      std::clamp(std::ceil(180 / radius_deg), 1.0, double{kMaxZones}));
  impl->zones_per_deg = impl->num_zones / 180.0;

  const Impl& in = *impl;
  ParallelSort(
      points.begin(), points.end(),
      [&in](const Point& a, const Point& b) { return in.Less(a, b); },
      Threads(threads, points.size()));
  if (!points.empty()) {
    impl->first_zone = in.Zone(points.front().dec);
    const int last_zone = in.Zone(points.back().dec);
    impl->zone_begin.assign(last_zone - impl->first_zone + 2, points.size());
    for (size_t i = points.size(); i-- > 0;) {
      impl->zone_begin[in.Zone(points[i].dec) - impl->first_zone] = i;
    }
    // Empty zones start where the next non-empty one does.
    for (size_t k = impl->zone_begin.size() - 1; k-- > 0;) {
      impl->zone_begin[k] =
          std::min(impl->zone_begin[k], impl->zone_begin[k + 1]);
    }
  }
  impl->points = std::move(points);
  return ZoneIndex(impl.release());
}

ZoneIndex::ZoneIndex(Impl* impl) : impl_(impl) {}
ZoneIndex::ZoneIndex(ZoneIndex&& other) noexcept : impl_(other.impl_) {
  other.impl_ = nullptr;
}
ZoneIndex& ZoneIndex::operator=(ZoneIndex&& other) noexcept {
  if (this != &other) {
    delete impl_;
    impl_ = other.impl_;
    other.impl_ = nullptr;
  }
  return *this;
}
ZoneIndex::~ZoneIndex() { delete impl_; }

size_t ZoneIndex::size() const { return impl_->points.size(); }
double ZoneIndex::radius_arcsec() const { return impl_->radius_arcsec; }

std::vector<ZoneIndex::Hit> ZoneIndex::Within(double ra, double dec) const {
  std::vector<Hit> hits;
  impl_->Search(ra, dec, [&](size_t i, double sep) {
    hits.push_back({impl_->points[i].id, sep});
  });
  std::sort(hits.begin(), hits.end(), HitBefore);
  return hits;
}

bool ZoneIndex::Nearest(double ra, double dec, Hit* hit) const {
  bool found = false;
  impl_->Search(ra, dec, [&](size_t i, double sep) {
    const Hit h{impl_->points[i].id, sep};
    if (!found || HitBefore(h, *hit)) *hit = h, found = true;
  });
  return found;
}

// The index's internals for the bulk searches of BestMatches and
// Associate (a friend of ZoneIndex).
class ZoneSearch {
 public:
  static const ZoneIndex::Impl& Of(const ZoneIndex& index) {
    return *index.impl_;
  }
};

namespace {

// Sorts keys whose low 32 bits are ascending already (LocalityKey's query
// numbers): a stable LSD radix sort on the high 32 bits, three passes of 11
// bits, several times faster than std::sort here.
void SortLocalityKeys(std::vector<uint64_t>* keys) {
  std::vector<uint64_t> other(keys->size());
  for (int shift = 32; shift < 64; shift += 11) {
    std::vector<size_t> at(2049, 0);
    for (uint64_t k : *keys) ++at[((k >> shift) & 2047) + 1];
    for (size_t d = 0; d < 2048; ++d) at[d + 1] += at[d];
    for (uint64_t k : *keys) other[at[(k >> shift) & 2047]++] = k;
    keys->swap(other);
  }
}

// Calls fn(chunk, i) for every query i of [0, n), split into `chunks`
// contiguous chunks, one thread each; within a chunk, in zone-then-RA
// order of the queries' positions (pos(i) -> {ra, dec}), so that
// consecutive searches read the same zones from the cache.
template <typename IndexImpl, typename Pos, typename Fn>
void ForQueries(const IndexImpl& index, size_t n, int chunks, const Pos& pos,
                const Fn& fn) {
  ForChunks(n, chunks, [&](int chunk, size_t begin, size_t end) {
    if (end - begin > std::numeric_limits<uint32_t>::max()) {
      for (size_t i = begin; i < end; ++i) fn(chunk, i);  // in input order
      return;
    }
    std::vector<uint64_t> order(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const auto [ra, dec] = pos(i);
      order[i - begin] =
          index.LocalityKey(ra, dec, static_cast<uint32_t>(i - begin));
    }
    SortLocalityKeys(&order);
    for (uint64_t key : order) fn(chunk, begin + (key & 0xFFFFFFFFu));
  });
}

}  // namespace

std::vector<Pair> BestMatches(const ZoneIndex& index,
                              const std::vector<Point>& queries, int threads) {
  const size_t n = queries.size();
  std::vector<ZoneIndex::Hit> best(n);
  std::vector<char> found(n, 0);
  const auto& impl = ZoneSearch::Of(index);
  ForQueries(
      impl, n, Threads(threads, n),
      [&](size_t i) { return std::make_pair(queries[i].ra, queries[i].dec); },
      [&](int, size_t i) {
        bool any = false;
        ZoneIndex::Hit& b = best[i];
        impl.Search(queries[i].ra, queries[i].dec, [&](size_t p, double sep) {
          const ZoneIndex::Hit h{impl.points[p].id, sep};
          if (!any || HitBefore(h, b)) b = h, any = true;
        });
        found[i] = any;
      });
  std::vector<Pair> pairs;
  for (size_t i = 0; i < n; ++i) {
    if (found[i]) {
      pairs.push_back({queries[i].id, best[i].id, best[i].separation_arcsec});
    }
  }
  return pairs;
}

namespace {

using Hit = ZoneIndex::Hit;

// A search's hits for each query of [0, n), nearest first (ties by smaller
// id), kept in per-chunk stores.
struct HitLists {
  std::vector<std::vector<Hit>> stores;  // one per chunk
  std::vector<const Hit*> first;         // query i's hits are
  std::vector<uint32_t> count;           // first[i] .. first[i] + count[i]
};

// The hits within the index's radius of each query, keeping only those for
// which keep(i, hit) holds, ordered by less(i, a, b).
template <typename IndexImpl, typename Pos, typename Keep, typename Less>
HitLists SearchAll(const IndexImpl& index, size_t n, int threads,
                   const Pos& pos, const Keep& keep, const Less& less) {
  HitLists lists;
  lists.stores.resize(threads);
  for (int c = 0; c < threads && !index.points.empty(); ++c) {
    // Room for one hit a query.
    lists.stores[c].reserve(n * (c + 1) / threads - n * c / threads);
  }
  lists.count.resize(n);
  std::vector<size_t> at(n);
  ForQueries(index, n, threads, pos, [&](int chunk, size_t i) {
    std::vector<Hit>& store = lists.stores[chunk];
    const size_t begin = store.size();
    const auto [ra, dec] = pos(i);
    index.Search(ra, dec, [&](size_t p, double sep) {
      const Hit h{index.points[p].id, sep};
      if (keep(i, h)) store.push_back(h);
    });
    std::sort(store.begin() + begin, store.end(),
              [&](const Hit& a, const Hit& b) { return less(i, a, b); });
    at[i] = begin;
    lists.count[i] = static_cast<uint32_t>(store.size() - begin);
  });
  lists.first.resize(n);
  ForChunks(n, threads, [&](int chunk, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      lists.first[i] = lists.stores[chunk].data() + at[i];
    }
  });
  return lists;
}

// Step 1's rule within one frame (`members`: detection indices in id
// order): each detection proposes to its hits nearest first; a source keeps
// the nearest proposer (then the smaller detection id) and the others
// propose to their next. This is Gale-Shapley's deferred acceptance, whose
// result does not depend on the order of the proposals. Writes the links
// of the detections that keep a source.
void ResolveFrame(const std::vector<Detection>& dets, const HitLists& hits,
                  const uint32_t* members, size_t m, std::vector<Link>* links) {
  std::vector<uint32_t> next(m, 0);
  std::vector<uint32_t> free;
  free.reserve(m);
  for (size_t k = m; k-- > 0;) {
    if (hits.count[members[k]] > 0) free.push_back(static_cast<uint32_t>(k));
  }
  absl::flat_hash_map<int64_t, uint32_t> holder;  // source id -> member
  holder.reserve(free.size());
  while (!free.empty()) {
    const uint32_t k = free.back();
    free.pop_back();
    const size_t i = members[k];
    if (next[k] == hits.count[i]) continue;  // left over for step 2
    const Hit& h = hits.first[i][next[k]++];
    auto [it, inserted] = holder.try_emplace(h.id, k);
    if (inserted) continue;
    const uint32_t j = it->second;
    const size_t ij = members[j];
    const Hit& hj = hits.first[ij][next[j] - 1];
    const bool k_wins = h.separation_arcsec != hj.separation_arcsec
                            ? h.separation_arcsec < hj.separation_arcsec
                            : dets[i].id < dets[ij].id;
    if (k_wins) it->second = k;
    free.push_back(k_wins ? j : k);
  }
  for (const auto& [source, k] : holder) {
    const Hit& h = hits.first[members[k]][next[k] - 1];
    Link& link = (*links)[members[k]];
    link.source_id = h.id;
    link.separation_arcsec = h.separation_arcsec;
    link.new_source = false;
  }
}

}  // namespace

absl::StatusOr<Association> Associate(const ZoneIndex& existing,
                                      const std::vector<Detection>& detections,
                                      int threads) {
  const size_t n = detections.size();
  if (n >= std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("zones match: %d detections, more than 2^32 - 1", n));
  }
  // Bad input: the smallest bad id is named, whatever the input order.
  const Detection* bad = nullptr;
  std::string why;
  size_t num_bad = 0;
  for (const Detection& d : detections) {
    std::string problem = PositionProblem(d.ra, d.dec);
    if (problem.empty() && !std::isfinite(d.epoch)) {
      problem = absl::StrFormat("has a non-finite epoch (%g)", d.epoch);
    }
    if (problem.empty()) continue;
    ++num_bad;
    if (bad == nullptr || d.id < bad->id ||
        (d.id == bad->id && d.frame < bad->frame)) {
      bad = &d, why = problem;
    }
  }
  if (bad != nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "zones match: detection %d (frame %d) %s%s", bad->id, bad->frame, why,
        num_bad > 1
            ? absl::StrFormat(" (and %d more bad detections)", num_bad - 1)
            : ""));
  }
  const int t = Threads(threads, n);

  // Everything below works on the detections in id order, so that the
  // result does not depend on the input's order (CU5's come in id order:
  // no copy then).
  const auto by_id = [](const Detection& a, const Detection& b) {
    if (a.id != b.id) return a.id < b.id;
    if (a.frame != b.frame) return a.frame < b.frame;
    if (a.epoch != b.epoch) return a.epoch < b.epoch;
    return a.ra != b.ra ? a.ra < b.ra : a.dec < b.dec;
  };
  std::vector<Detection> sorted;
  if (!std::is_sorted(detections.begin(), detections.end(), by_id)) {
    sorted = detections;
    ParallelSort(sorted.begin(), sorted.end(), by_id, t);
  }
  const std::vector<Detection>& dets = sorted.empty() ? detections : sorted;
  for (size_t i = 1; i < n; ++i) {
    if (dets[i].id == dets[i - 1].id) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "zones match: two detections with id %d (frames %d and %d)",
          dets[i].id, dets[i - 1].frame, dets[i].frame));
    }
  }
  const auto pos = [&](size_t i) {
    return std::make_pair(dets[i].ra, dets[i].dec);
  };
  Association out;
  out.links.resize(n);
  for (size_t i = 0; i < n; ++i) {
    out.links[i].detection_id = dets[i].id;
    out.links[i].new_source = true;  // until step 1 finds it a source
  }

  // Step 1: every detection's existing sources within the radius, then the
  // one-source-per-frame rule frame by frame.
  absl::flat_hash_map<int64_t, uint32_t> frame_number;  // by first detection
  std::vector<uint32_t> frame_of(n);
  for (size_t i = 0; i < n; ++i) {
    frame_of[i] = frame_number
                      .try_emplace(dets[i].frame,
                                   static_cast<uint32_t>(frame_number.size()))
                      .first->second;
  }
  {
    const HitLists hits = SearchAll(
        ZoneSearch::Of(existing), n, t, pos,
        [](size_t, const Hit&) { return true; },
        [](size_t, const Hit& a, const Hit& b) { return HitBefore(a, b); });
    const size_t num_frames = frame_number.size();
    std::vector<size_t> frame_begin(num_frames + 1, 0);
    std::vector<uint32_t> members(n);
    for (size_t i = 0; i < n; ++i) ++frame_begin[frame_of[i] + 1];
    for (size_t f = 0; f < num_frames; ++f) {
      frame_begin[f + 1] += frame_begin[f];
    }
    {
      std::vector<size_t> fill(frame_begin.begin(), frame_begin.end() - 1);
      for (size_t i = 0; i < n; ++i) {
        members[fill[frame_of[i]]++] = static_cast<uint32_t>(i);
      }
    }
    ForChunks(num_frames, std::min<int>(t, std::max<size_t>(1, num_frames)),
              [&](int, size_t begin, size_t end) {
                for (size_t f = begin; f < end; ++f) {
                  ResolveFrame(dets, hits, members.data() + frame_begin[f],
                               frame_begin[f + 1] - frame_begin[f], &out.links);
                }
              });
  }

  // Step 2: the detections left over, in (epoch, frame, id) order, join or
  // found tonight's sources. Every new source sits at a left-over
  // detection's position, so a zone index of the left-over detections
  // (with their rank in that order as the id) finds the candidates; the
  // searches run in parallel, the decisions in order.
  std::vector<uint32_t> left;
  for (size_t i = 0; i < n; ++i) {
    if (out.links[i].new_source) left.push_back(static_cast<uint32_t>(i));
  }
  ParallelSort(
      left.begin(), left.end(),
      [&](uint32_t a, uint32_t b) {
        const Detection &x = dets[a], &y = dets[b];
        if (x.epoch != y.epoch) return x.epoch < y.epoch;
        if (x.frame != y.frame) return x.frame < y.frame;
        return x.id < y.id;
      },
      t);
  const size_t num_left = left.size();
  std::vector<Point> left_points(num_left);
  for (size_t r = 0; r < num_left; ++r) {
    left_points[r] = {static_cast<int64_t>(r), dets[left[r]].ra,
                      dets[left[r]].dec};
  }
  absl::StatusOr<ZoneIndex> left_index =
      ZoneIndex::Build(std::move(left_points), existing.radius_arcsec(), t);
  if (!left_index.ok()) return left_index.status();  // validated above
  // Candidates: left-over detections earlier in the order, nearest first,
  // ties by the smaller detection id (the id of the source each may found).
  const HitLists earlier = SearchAll(
      ZoneSearch::Of(*left_index), num_left, Threads(threads, num_left),
      [&](size_t r) { return pos(left[r]); },
      [](size_t r, const Hit& h) { return static_cast<size_t>(h.id) < r; },
      [&](size_t, const Hit& a, const Hit& b) {
        return a.separation_arcsec != b.separation_arcsec
                   ? a.separation_arcsec < b.separation_arcsec
                   : dets[left[a.id]].id < dets[left[b.id]].id;
      });
  std::vector<char> founder(num_left, 0);
  std::vector<uint32_t> founders;  // detection indices
  // (founder's rank, frame number) of every detection of a new source.
  absl::flat_hash_set<uint64_t> has_frame;
  has_frame.reserve(num_left);
  const auto key = [](size_t rank, uint32_t frame) {
    return static_cast<uint64_t>(rank) << 32 | frame;
  };
  for (size_t r = 0; r < num_left; ++r) {
    const uint32_t frame = frame_of[left[r]];
    Link& link = out.links[left[r]];
    bool joined = false;
    for (uint32_t k = 0; k < earlier.count[r] && !joined; ++k) {
      const Hit& h = earlier.first[r][k];
      const size_t s = static_cast<size_t>(h.id);
      if (!founder[s] || !has_frame.insert(key(s, frame)).second) continue;
      link.source_id = dets[left[s]].id;
      link.separation_arcsec = h.separation_arcsec;
      joined = true;
    }
    if (!joined) {
      founder[r] = 1;
      has_frame.insert(key(r, frame));
      link.source_id = link.detection_id;
      link.separation_arcsec = 0;
      founders.push_back(left[r]);
    }
  }
  std::sort(founders.begin(), founders.end());  // id order, as dets
  out.new_sources.reserve(founders.size());
  for (uint32_t i : founders) {
    out.new_sources.push_back({dets[i].id, dets[i].ra, dets[i].dec});
  }
  return out;
}

}  // namespace curator::worker::match
