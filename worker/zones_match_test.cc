#include "worker/zones_match.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace curator::worker::match {
namespace {

using ::testing::HasSubstr;
using Hit = ZoneIndex::Hit;

bool HitBefore(const Hit& a, const Hit& b) {
  return a.separation_arcsec != b.separation_arcsec
             ? a.separation_arcsec < b.separation_arcsec
             : a.id < b.id;
}

// The reference: every point against every query, with the same
// separation function and the contract's `<=` and order.
std::vector<Hit> BruteWithin(const std::vector<Point>& points, double ra,
                             double dec, double radius) {
  std::vector<Hit> hits;
  for (const Point& p : points) {
    // A separation is at least the difference in dec: skipping the far
    // ones only saves time.
    if (std::abs(p.dec - dec) > 2 * radius / 3600) continue;
    const double s = SeparationArcsec(ra, dec, p.ra, p.dec);
    if (s <= radius) hits.push_back({p.id, s});
  }
  std::sort(hits.begin(), hits.end(), HitBefore);
  return hits;
}

std::vector<Pair> BruteBest(const std::vector<Point>& points,
                            const std::vector<Point>& queries, double radius) {
  std::vector<Pair> pairs;
  for (const Point& q : queries) {
    const std::vector<Hit> hits = BruteWithin(points, q.ra, q.dec, radius);
    if (!hits.empty()) {
      pairs.push_back({q.id, hits[0].id, hits[0].separation_arcsec});
    }
  }
  return pairs;
}

double WrapRa(double ra) {
  ra = std::fmod(ra, 360.0);
  if (ra < 0) ra += 360;
  return ra >= 360 ? 0 : ra;
}

// Points scattered within `extent_deg` of (ra, dec) (clamped at the poles,
// RA wrapped), ids from `first_id`.
std::vector<Point> Scatter(std::mt19937_64& rng, int n, double ra, double dec,
                           double extent_deg, int64_t first_id) {
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<Point> points;
  for (int i = 0; i < n; ++i) {
    const double d = std::clamp(dec + extent_deg * u(rng), -90.0, 90.0);
    const double c = std::max(std::cos(d * M_PI / 180), 1e-3);
    const double a = WrapRa(ra + extent_deg * u(rng) / std::min(1.0, 20 * c));
    points.push_back({first_id + i, a, d});
  }
  return points;
}

// A catalogue and queries over RA = 0 and both poles, with the awkward
// points: dec exactly +-90 (at several RAs: the same place), RA 359.9999
// and 0, duplicated positions (exact ties) and queries on catalogue points.
struct Sets {
  std::vector<Point> catalogue, queries;
};
Sets AwkwardSets(double radius, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double extent = 12 * radius / 3600;
  Sets s;
  struct Region {
    double ra, dec;
  };
  const Region regions[] = {{0, 0},       {359.9999, 45}, {0, 89.5},
                            {180, -89.3}, {90, 89.99},    {200, 10}};
  int64_t id = 1;
  for (const Region& r : regions) {
    for (Point p : Scatter(rng, 700, r.ra, r.dec, extent, id)) {
      s.catalogue.push_back(p);
    }
    id += 1000;
    for (Point p : Scatter(rng, 300, r.ra, r.dec, extent, 1000000 + id)) {
      s.queries.push_back(p);
    }
    id += 1000;
  }
  for (double ra : {0.0, 0.0001, 90.0, 180.0, 359.9999}) {
    s.catalogue.push_back({id++, ra, 90});
    s.catalogue.push_back({id++, ra, -90});
    s.catalogue.push_back({id++, ra, 0});
    s.queries.push_back({id++, ra, 90});
    s.queries.push_back({id++, ra, -90});
    s.queries.push_back({id++, ra, 0});
  }
  // Exact ties: the same position under two ids (the larger first).
  const size_t n = s.catalogue.size();
  for (size_t i = 0; i < n; i += 97) {
    s.catalogue.push_back({id++, s.catalogue[i].ra, s.catalogue[i].dec});
    std::swap(s.catalogue[i].id, s.catalogue.back().id);
    s.queries.push_back({id++, s.catalogue[i].ra, s.catalogue[i].dec});
  }
  return s;
}

void ExpectSameHits(const std::vector<Hit>& got, const std::vector<Hit>& want,
                    const Point& q) {
  ASSERT_EQ(got.size(), want.size())
      << "query " << q.id << " at " << q.ra << ", " << q.dec;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << "query " << q.id << " hit " << i;
    EXPECT_EQ(got[i].separation_arcsec, want[i].separation_arcsec)
        << "query " << q.id << " hit " << i;
  }
}

void ExpectSamePairs(const std::vector<Pair>& got,
                     const std::vector<Pair>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].query_id, want[i].query_id) << i;
    EXPECT_EQ(got[i].match_id, want[i].match_id)
        << "query " << want[i].query_id;
    EXPECT_EQ(got[i].separation_arcsec, want[i].separation_arcsec)
        << "query " << want[i].query_id;
  }
}

TEST(SeparationTest, KnownAngles) {
  EXPECT_NEAR(SeparationArcsec(10, 0, 10, 1), 3600, 1e-9);
  EXPECT_NEAR(SeparationArcsec(359.9999, 0, 0.0001, 0), 0.72, 1e-9);
  EXPECT_NEAR(SeparationArcsec(0, 89.9, 180, 89.9), 720, 1e-9);
  EXPECT_NEAR(SeparationArcsec(0, 90, 123, 90), 0, 1e-9);
  EXPECT_NEAR(SeparationArcsec(0, 0, 180, 0), 180 * 3600, 1e-6);
  EXPECT_NEAR(SeparationArcsec(0, 90, 0, -90), 180 * 3600, 1e-6);
  EXPECT_EQ(SeparationArcsec(12.5, -30, 12.5, -30), 0);
}

class AgainstBruteForceTest : public ::testing::TestWithParam<double> {};

TEST_P(AgainstBruteForceTest, WithinAndBestMatchesAgree) {
  const double radius = GetParam();
  const Sets s = AwkwardSets(radius, 17);
  auto index = ZoneIndex::Build(s.catalogue, radius, 2);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->size(), s.catalogue.size());
  EXPECT_EQ(index->radius_arcsec(), radius);
  size_t with_hits = 0, several = 0;
  std::vector<Pair> best;
  for (const Point& q : s.queries) {
    const std::vector<Hit> want = BruteWithin(s.catalogue, q.ra, q.dec, radius);
    if (!want.empty()) {
      best.push_back({q.id, want[0].id, want[0].separation_arcsec});
    }
    ExpectSameHits(index->Within(q.ra, q.dec), want, q);
    Hit nearest{};
    ASSERT_EQ(index->Nearest(q.ra, q.dec, &nearest), !want.empty());
    if (!want.empty()) {
      EXPECT_EQ(nearest.id, want[0].id);
      EXPECT_EQ(nearest.separation_arcsec, want[0].separation_arcsec);
    }
    with_hits += !want.empty();
    several += want.size() > 1;
  }
  // The sets are dense enough to test something.
  EXPECT_GT(with_hits, s.queries.size() / 2);
  EXPECT_GT(several, s.queries.size() / 10);
  ExpectSamePairs(BestMatches(*index, s.queries, 2), best);
}

INSTANTIATE_TEST_SUITE_P(Radii, AgainstBruteForceTest,
                         ::testing::Values(0.05, 1.0, 2.5, 60.0, 3600.0));

TEST(ZoneIndexTest, SameResultForAnyThreadsAndInputOrder) {
  const double radius = 2;
  const Sets s = AwkwardSets(radius, 5);
  auto reference = ZoneIndex::Build(s.catalogue, radius, 1);
  ASSERT_TRUE(reference.ok());
  const std::vector<Pair> want = BestMatches(*reference, s.queries, 1);
  std::mt19937_64 rng(3);
  for (int threads : {1, 2, 7, 0}) {
    std::vector<Point> catalogue = s.catalogue;
    std::shuffle(catalogue.begin(), catalogue.end(), rng);
    auto index = ZoneIndex::Build(catalogue, radius, threads);
    ASSERT_TRUE(index.ok());
    ExpectSamePairs(BestMatches(*index, s.queries, threads), want);
    for (size_t i = 0; i < s.queries.size(); i += 7) {
      ExpectSameHits(index->Within(s.queries[i].ra, s.queries[i].dec),
                     reference->Within(s.queries[i].ra, s.queries[i].dec),
                     s.queries[i]);
    }
  }
  // Shuffled queries: the same pairs, in the new query order.
  std::vector<Point> queries = s.queries;
  std::shuffle(queries.begin(), queries.end(), rng);
  std::vector<Pair> got = BestMatches(*reference, queries, 7);
  std::map<int64_t, size_t> position;
  for (size_t i = 0; i < queries.size(); ++i) position[queries[i].id] = i;
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_LT(position[got[i - 1].query_id], position[got[i].query_id]);
  }
  auto by_query = [](const Pair& a, const Pair& b) {
    return a.query_id < b.query_id;
  };
  std::vector<Pair> sorted_want = want;
  std::sort(got.begin(), got.end(), by_query);
  std::sort(sorted_want.begin(), sorted_want.end(), by_query);
  ExpectSamePairs(got, sorted_want);
}

TEST(ZoneIndexTest, LargerRandomSetAgainstBruteForceOnMoreThreads) {
  // Enough queries that BestMatches really splits them over threads.
  std::mt19937_64 rng(11);
  const double radius = 3;
  std::vector<Point> catalogue = Scatter(rng, 6000, 0, 0, 0.2, 1);
  std::vector<Point> queries = Scatter(rng, 40000, 0, 0, 0.2, 100000);
  auto index = ZoneIndex::Build(catalogue, radius, 7);
  ASSERT_TRUE(index.ok());
  const std::vector<Pair> want = BruteBest(catalogue, queries, radius);
  EXPECT_GT(want.size(), 1000u);
  ExpectSamePairs(BestMatches(*index, queries, 7), want);
  ExpectSamePairs(BestMatches(*index, queries, 1), want);
}

TEST(ZoneIndexTest, BuildOnSevenThreadsGivesTheSameIndex) {
  // Enough points that Build sorts on all seven threads.
  std::mt19937_64 rng(13);
  std::vector<Point> catalogue = Scatter(rng, 60000, 0, 0, 0.3, 1);
  for (Point p : Scatter(rng, 20000, 0, 89.9, 0.3, 100000)) {
    catalogue.push_back(p);
  }
  const std::vector<Point> queries = Scatter(rng, 30000, 0, 0, 0.3, 200000);
  auto one = ZoneIndex::Build(catalogue, 2, 1);
  std::shuffle(catalogue.begin(), catalogue.end(), rng);
  auto seven = ZoneIndex::Build(catalogue, 2, 7);
  ASSERT_TRUE(one.ok() && seven.ok());
  const std::vector<Pair> want = BestMatches(*one, queries, 1);
  EXPECT_GT(want.size(), 3000u);
  ExpectSamePairs(BestMatches(*seven, queries, 7), want);
  for (size_t i = 0; i < queries.size(); i += 101) {
    ExpectSameHits(seven->Within(queries[i].ra, queries[i].dec),
                   one->Within(queries[i].ra, queries[i].dec), queries[i]);
  }
}

TEST(ZoneIndexTest, PointExactlyAtTheRadiusIsWithin) {
  // Within means separation <= radius, on the separation reported.
  for (const auto& [q, p] : std::vector<std::pair<Point, Point>>{
           {{1, 10, 20}, {2, 10, 20 + 1.0 / 3600}},
           {{1, 0.0001, -5}, {2, 359.9999, -5}},
           {{1, 33, 89.9999}, {2, 213, 89.9999}},
           {{1, 0, 90}, {2, 0, 90 - 0.5 / 3600}}}) {
    const double s = SeparationArcsec(q.ra, q.dec, p.ra, p.dec);
    ASSERT_GT(s, 0);
    auto at = ZoneIndex::Build({p}, s);
    ASSERT_TRUE(at.ok());
    const std::vector<Hit> hits = at->Within(q.ra, q.dec);
    ASSERT_EQ(hits.size(), 1u) << "separation " << s;
    EXPECT_EQ(hits[0].separation_arcsec, s);
    auto below = ZoneIndex::Build({p}, std::nextafter(s, 0.0));
    ASSERT_TRUE(below.ok());
    EXPECT_TRUE(below->Within(q.ra, q.dec).empty()) << "separation " << s;
  }
}

TEST(ZoneIndexTest, TiesGoToTheSmallerId) {
  auto index = ZoneIndex::Build({{9, 10, 10}, {4, 10, 10}, {6, 10, 10}}, 1, 1);
  ASSERT_TRUE(index.ok());
  const std::vector<Hit> hits = index->Within(10, 10.0001);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].id, 4);
  EXPECT_EQ(hits[1].id, 6);
  EXPECT_EQ(hits[2].id, 9);
  const std::vector<Pair> best = BestMatches(*index, {{1, 10, 10.0001}});
  ASSERT_EQ(best.size(), 1u);
  EXPECT_EQ(best[0].match_id, 4);
}

TEST(ZoneIndexTest, QueriesOutsideTheSkyMatchNothingAndRaWraps) {
  auto index = ZoneIndex::Build({{1, 0.5, 0}, {2, 359.5, 0}}, 10, 1);
  ASSERT_TRUE(index.ok());
  EXPECT_TRUE(index->Within(0.5, 95).empty());
  EXPECT_TRUE(index->Within(NAN, 0).empty());
  EXPECT_TRUE(index->Within(0.5, INFINITY).empty());
  ASSERT_EQ(index->Within(360.5, 0).size(), 1u);
  EXPECT_EQ(index->Within(360.5, 0)[0].id, 1);
  ASSERT_EQ(index->Within(-0.5, 0).size(), 1u);
  EXPECT_EQ(index->Within(-0.5, 0)[0].id, 2);
  auto empty = ZoneIndex::Build({}, 10);
  ASSERT_TRUE(empty.ok());
  Hit hit;
  EXPECT_FALSE(empty->Nearest(0, 0, &hit));
  EXPECT_TRUE(BestMatches(*empty, {{1, 0, 0}}).empty());
}

TEST(ZoneIndexTest, BadRadiusOrPointIsAnError) {
  for (double r : {0.0, -1.0, 3600.001, double{NAN}, double{INFINITY}}) {
    auto index = ZoneIndex::Build({{1, 0, 0}}, r);
    EXPECT_EQ(index.status().code(), absl::StatusCode::kInvalidArgument) << r;
  }
  EXPECT_TRUE(ZoneIndex::Build({{1, 0, 0}}, 3600).ok());
  EXPECT_TRUE(ZoneIndex::Build({{1, 0, 0}}, 1e-6).ok());
  const std::vector<std::pair<Point, const char*>> bad = {
      {{42, 10, 90.5}, "point 42 has dec 90.5"},
      {{43, 360, 0}, "point 43 has RA 360"},
      {{44, -0.001, 0}, "point 44 has RA -0.001"},
      {{45, NAN, 0}, "point 45 has a non-finite position"},
      {{46, 0, -INFINITY}, "point 46 has a non-finite position"}};
  for (const auto& [p, message] : bad) {
    auto index = ZoneIndex::Build({{1, 0, 0}, p, {2, 1, 1}}, 1);
    EXPECT_EQ(index.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(index.status().message(), HasSubstr(message));
  }
  // Several bad points: the smallest id is named, whatever the order.
  auto two = ZoneIndex::Build({{9, 400, 0}, {7, 0, -91}}, 1);
  EXPECT_THAT(two.status().message(), HasSubstr("point 7 "));
  EXPECT_THAT(two.status().message(), HasSubstr("and 1 more"));
}

// ---------------------------------------------------------------------------
// Associate

// (dx, dy) arcsec from (10, 0): at the equator an RA offset is an angle.
double Ra(double dx) { return 10 + dx / 3600; }
double Dec(double dy) { return dy / 3600; }
Point Source(int64_t id, double dx, double dy) { return {id, Ra(dx), Dec(dy)}; }
Detection Det(int64_t id, int64_t frame, double epoch, double dx, double dy) {
  return {id, frame, epoch, Ra(dx), Dec(dy)};
}

Association MustAssociate(const std::vector<Point>& sources,
                          const std::vector<Detection>& detections,
                          double radius, int threads = 1) {
  auto index = ZoneIndex::Build(sources, radius, threads);
  EXPECT_TRUE(index.ok()) << index.status();
  auto a = Associate(*index, detections, threads);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *std::move(a) : Association{};
}

const Link& LinkOf(const Association& a, int64_t detection) {
  for (const Link& l : a.links) {
    if (l.detection_id == detection) return l;
  }
  ADD_FAILURE() << "no link for detection " << detection;
  static const Link none;
  return none;
}

// The rules of the header, written as plainly as possible: step 1 in
// rounds of proposals, step 2 against every source founded so far.
Association NaiveAssociate(const std::vector<Point>& sources,
                           std::vector<Detection> dets, double radius) {
  std::sort(dets.begin(), dets.end(),
            [](const Detection& a, const Detection& b) { return a.id < b.id; });
  const size_t n = dets.size();
  std::vector<std::vector<Hit>> hits(n);
  for (size_t i = 0; i < n; ++i) {
    hits[i] = BruteWithin(sources, dets[i].ra, dets[i].dec, radius);
  }
  std::vector<size_t> next(n, 0);
  std::vector<int> held(n, -1);  // the hit detection i holds
  std::map<std::pair<int64_t, int64_t>, size_t> holder;  // (frame, source)
  for (bool proposed = true; proposed;) {
    proposed = false;
    std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> proposals;
    for (size_t i = 0; i < n; ++i) {
      if (held[i] >= 0 || next[i] == hits[i].size()) continue;
      proposals[{dets[i].frame, hits[i][next[i]].id}].push_back(i);
      ++next[i];
      proposed = true;
    }
    for (auto& [key, who] : proposals) {
      if (auto h = holder.find(key); h != holder.end()) {
        who.push_back(h->second);
      }
      // Everyone's last proposal is to this source.
      auto sep = [&](size_t i) {
        return hits[i][next[i] - 1].separation_arcsec;
      };
      size_t best = who[0];
      for (size_t i : who) {
        if (sep(i) < sep(best) ||
            (sep(i) == sep(best) && dets[i].id < dets[best].id)) {
          best = i;
        }
      }
      for (size_t i : who) held[i] = -1;
      holder[key] = best;
      held[best] = static_cast<int>(next[best] - 1);
    }
  }
  std::vector<size_t> left;
  for (size_t i = 0; i < n; ++i) {
    if (held[i] < 0) left.push_back(i);
  }
  std::sort(left.begin(), left.end(), [&](size_t a, size_t b) {
    const Detection &x = dets[a], &y = dets[b];
    if (x.epoch != y.epoch) return x.epoch < y.epoch;
    if (x.frame != y.frame) return x.frame < y.frame;
    return x.id < y.id;
  });
  struct NewSource {
    size_t founder;
    std::set<int64_t> frames;
  };
  std::vector<NewSource> founded;
  std::map<size_t, std::pair<int64_t, double>> joined;  // i -> source, sep
  for (size_t i : left) {
    int best = -1;
    double best_sep = 0;
    for (size_t s = 0; s < founded.size(); ++s) {
      const Detection& f = dets[founded[s].founder];
      const double sep = SeparationArcsec(dets[i].ra, dets[i].dec, f.ra, f.dec);
      if (sep > radius || founded[s].frames.count(dets[i].frame)) continue;
      if (best < 0 || sep < best_sep ||
          (sep == best_sep && f.id < dets[founded[best].founder].id)) {
        best = static_cast<int>(s), best_sep = sep;
      }
    }
    if (best < 0) {
      founded.push_back({i, {dets[i].frame}});
      joined[i] = {dets[i].id, 0};
    } else {
      founded[best].frames.insert(dets[i].frame);
      joined[i] = {dets[founded[best].founder].id, best_sep};
    }
  }
  Association a;
  for (size_t i = 0; i < n; ++i) {
    if (held[i] >= 0) {
      a.links.push_back({dets[i].id, hits[i][held[i]].id,
                         hits[i][held[i]].separation_arcsec, false});
    } else {
      a.links.push_back({dets[i].id, joined[i].first, joined[i].second, true});
    }
  }
  for (const NewSource& s : founded) {
    const Detection& f = dets[s.founder];
    a.new_sources.push_back({f.id, f.ra, f.dec});
  }
  std::sort(a.new_sources.begin(), a.new_sources.end(),
            [](const Point& x, const Point& y) { return x.id < y.id; });
  return a;
}

void ExpectSameAssociation(const Association& got, const Association& want) {
  ASSERT_EQ(got.links.size(), want.links.size());
  for (size_t i = 0; i < got.links.size(); ++i) {
    const Link &g = got.links[i], &w = want.links[i];
    EXPECT_EQ(g.detection_id, w.detection_id) << i;
    EXPECT_EQ(g.source_id, w.source_id) << "detection " << w.detection_id;
    EXPECT_EQ(g.separation_arcsec, w.separation_arcsec)
        << "detection " << w.detection_id;
    EXPECT_EQ(g.new_source, w.new_source) << "detection " << w.detection_id;
  }
  ASSERT_EQ(got.new_sources.size(), want.new_sources.size());
  for (size_t i = 0; i < got.new_sources.size(); ++i) {
    EXPECT_EQ(got.new_sources[i].id, want.new_sources[i].id);
    EXPECT_EQ(got.new_sources[i].ra, want.new_sources[i].ra);
    EXPECT_EQ(got.new_sources[i].dec, want.new_sources[i].dec);
  }
}

TEST(AssociateTest, EachFrameUsesASourceOnceAndTheFartherFallsBack) {
  // S1 at 0, S2 1.5" east; radius 2". Frame 1's D1 (0.2" from S1) keeps
  // S1; D2 (0.5" from S1, 1.0" from S2) falls back to S2. Frame 2's D3 has
  // S1 to itself.
  const Association a =
      MustAssociate({Source(1, 0, 0), Source(2, 1.5, 0)},
                    {Det(11, 1, 100, 0.2, 0), Det(12, 1, 100, 0.5, 0),
                     Det(13, 2, 101, 0.5, 0)},
                    2);
  EXPECT_EQ(LinkOf(a, 11).source_id, 1);
  EXPECT_EQ(LinkOf(a, 12).source_id, 2);
  EXPECT_NEAR(LinkOf(a, 12).separation_arcsec, 1.0, 1e-6);
  EXPECT_FALSE(LinkOf(a, 12).new_source);
  EXPECT_EQ(LinkOf(a, 13).source_id, 1);
  EXPECT_TRUE(a.new_sources.empty());
}

TEST(AssociateTest, FallbackChainsAndADisplacedDetectionMovesOn) {
  // Sources S1, S2, S3 at 0, 1 and 2"; radius 1.5"; one frame:
  //   D21 (0.4, 0):   S1 0.4, S2 0.6
  //   D22 (0.1, 0):   S1 0.1, S2 0.9
  //   D23 (1.55, 0):  S3 0.45, S2 0.55
  //   D26 (1.05, 0.7): S2 0.70, S3 1.18, S1 1.26
  // D22 takes S1 from D21; D21 falls back to S2 and takes it from D26 (0.6 <
  // 0.7); D26 tries S3 (D23 is nearer) and S1 (D22 is), and is left over
  // to found a source. Detection ids do not follow the distances.
  const std::vector<Point> sources = {Source(1, 0, 0), Source(2, 1.0, 0),
                                      Source(3, 2.0, 0)};
  const std::vector<Detection> dets = {
      Det(26, 5, 1, 1.05, 0.7), Det(21, 5, 1, 0.4, 0), Det(22, 5, 1, 0.1, 0),
      Det(23, 5, 1, 1.55, 0)};
  const Association a = MustAssociate(sources, dets, 1.5);
  EXPECT_EQ(LinkOf(a, 22).source_id, 1);
  EXPECT_EQ(LinkOf(a, 21).source_id, 2);
  EXPECT_NEAR(LinkOf(a, 21).separation_arcsec, 0.6, 1e-6);
  EXPECT_EQ(LinkOf(a, 23).source_id, 3);
  EXPECT_TRUE(LinkOf(a, 26).new_source);
  EXPECT_EQ(LinkOf(a, 26).source_id, 26);
  ASSERT_EQ(a.new_sources.size(), 1u);
  ExpectSameAssociation(a, NaiveAssociate(sources, dets, 1.5));
}

TEST(AssociateTest, EqualDistancesGoToTheSmallerDetectionThenSourceId) {
  // Two detections of one frame at one place: the smaller id keeps S; the
  // other founds a source. Two sources at one place: the smaller id wins.
  const Association a =
      MustAssociate({Source(8, 0, 0), Source(3, 0, 0), Source(50, 30, 0)},
                    {Det(31, 1, 1, 0.3, 0), Det(30, 1, 1, 0.3, 0),
                     Det(40, 2, 1, 30.5, 0), Det(41, 2, 1, 30.5, 0)},
                    1);
  EXPECT_EQ(LinkOf(a, 30).source_id, 3);  // tie of sources 3 and 8
  EXPECT_EQ(LinkOf(a, 31).source_id, 8);  // falls back to the other copy
  EXPECT_EQ(LinkOf(a, 40).source_id, 50);
  EXPECT_TRUE(LinkOf(a, 41).new_source);
  EXPECT_EQ(LinkOf(a, 41).source_id, 41);
}

TEST(AssociateTest, LoneDetectionFoundsItsOwnSource) {
  const Association a = MustAssociate(
      {Source(1, 0, 0)},
      {Det(7, 1, 55000.5, 0.1, 0), Det(9, 1, 55000.5, 60, 60)}, 1);
  ASSERT_EQ(a.links.size(), 2u);
  EXPECT_EQ(a.links[0].detection_id, 7);
  EXPECT_EQ(a.links[1].detection_id, 9);
  EXPECT_EQ(LinkOf(a, 9).source_id, 9);
  EXPECT_TRUE(LinkOf(a, 9).new_source);
  EXPECT_EQ(LinkOf(a, 9).separation_arcsec, 0);
  ASSERT_EQ(a.new_sources.size(), 1u);
  EXPECT_EQ(a.new_sources[0].id, 9);
  EXPECT_EQ(a.new_sources[0].ra, Ra(60));
  EXPECT_EQ(a.new_sources[0].dec, Dec(60));
}

TEST(AssociateTest, NewSourcesAreFoundedInEpochOrderFromTheFounder) {
  // No existing source near. Frame 9 is first by epoch (though its number
  // is larger): its detection founds the source; the later frames' join it,
  // measured from the founder: at 1.5" one joins, at 2.5" (1.0" from the
  // joiner, but beyond the radius from the founder) one founds anew.
  const Association a = MustAssociate(
      {Source(1, 300, 0)},
      {Det(100, 2, 20, 1.5, 0), Det(200, 9, 10, 0, 0), Det(300, 3, 30, 2.5, 0)},
      2);
  EXPECT_EQ(LinkOf(a, 200).source_id, 200);
  EXPECT_EQ(LinkOf(a, 200).separation_arcsec, 0);
  EXPECT_EQ(LinkOf(a, 100).source_id, 200);
  EXPECT_NEAR(LinkOf(a, 100).separation_arcsec, 1.5, 1e-6);
  EXPECT_TRUE(LinkOf(a, 100).new_source);
  EXPECT_EQ(LinkOf(a, 300).source_id, 300);
  ASSERT_EQ(a.new_sources.size(), 2u);
  EXPECT_EQ(a.new_sources[0].id, 200);
  EXPECT_EQ(a.new_sources[1].id, 300);
  // Same epoch: the smaller frame number is earlier.
  const Association b =
      MustAssociate({}, {Det(100, 4, 10, 1.5, 0), Det(200, 9, 10, 0, 0)}, 2);
  EXPECT_EQ(LinkOf(b, 100).source_id, 100);
  EXPECT_EQ(LinkOf(b, 200).source_id, 100);
}

TEST(AssociateTest, NewSourceTakesOneDetectionPerFrame) {
  // Frame 1 has two detections 0.5" apart: each founds a source (the
  // second may not join the first's: that source has frame 1 already).
  // Frame 2's two detections join the nearest free ones; a third in frame
  // 2 finds both taken and founds its own.
  const Association a = MustAssociate(
      {},
      {Det(1, 1, 1, 0, 0), Det(2, 1, 1, 0.5, 0), Det(3, 2, 2, 0.45, 0),
       Det(4, 2, 2, 0.1, 0), Det(5, 2, 2, 0.2, 0)},
      1);
  EXPECT_EQ(LinkOf(a, 1).source_id, 1);
  EXPECT_EQ(LinkOf(a, 2).source_id, 2);
  EXPECT_EQ(LinkOf(a, 3).source_id, 2);  // 0.05" from 2
  EXPECT_EQ(LinkOf(a, 4).source_id, 1);  // 0.1" from 1
  EXPECT_EQ(LinkOf(a, 5).source_id, 5);  // 1 and 2 have frame 2 already
  ASSERT_EQ(a.new_sources.size(), 3u);
}

TEST(AssociateTest, EqualDistancesToNewSourcesGoToTheSmallerFounderId) {
  // Frame 1's D7 founds source 7 at P; frame 2's D6 joins it, so frame 2's
  // D8, also at P, founds source 8 there. Frame 3's D9 and D10, 0.3" from
  // P, are as far from 7 as from 8: D9 (first) joins 7, D10 then 8.
  const Association a =
      MustAssociate({},
                    {Det(7, 1, 1, 0, 0), Det(6, 2, 2, 0, 0), Det(8, 2, 2, 0, 0),
                     Det(10, 3, 3, 0.3, 0), Det(9, 3, 3, 0.3, 0)},
                    1);
  EXPECT_EQ(LinkOf(a, 6).source_id, 7);
  EXPECT_EQ(LinkOf(a, 8).source_id, 8);
  EXPECT_EQ(LinkOf(a, 9).source_id, 7);
  EXPECT_EQ(LinkOf(a, 10).source_id, 8);
  EXPECT_EQ(LinkOf(a, 9).separation_arcsec, LinkOf(a, 10).separation_arcsec);
  ASSERT_EQ(a.new_sources.size(), 2u);
}

// A crowded night over RA = 0: frames revisiting the same field, epochs
// out of frame order and some equal, sources closer than the radius,
// repeated transients.
struct Night {
  std::vector<Point> sources;
  std::vector<Detection> detections;
};
Night CrowdedNight(uint64_t seed, int frames, int per_frame) {
  std::mt19937_64 rng(seed);
  Night night;
  night.sources = Scatter(rng, 600, 0, 30, 40.0 / 3600, 1);
  const std::vector<Point> transients = Scatter(rng, 80, 0, 30, 40.0 / 3600, 0);
  std::normal_distribution<double> jitter(0, 0.5 / 3600);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int64_t> ids;
  for (int i = 0; i < frames * per_frame; ++i) ids.push_back(1000 + 3 * i);
  std::shuffle(ids.begin(), ids.end(), rng);
  size_t next_id = 0;
  for (int f = 0; f < frames; ++f) {
    const int64_t frame = 700 - 13 * f;
    const double epoch = 55000 + std::floor(u(rng) * frames / 2);
    for (int k = 0; k < per_frame; ++k) {
      const double pick = u(rng);
      Point at = pick < 0.8   ? night.sources[rng() % night.sources.size()]
                 : pick < 0.9 ? transients[rng() % transients.size()]
                              : Scatter(rng, 1, 0, 30, 40.0 / 3600, 0)[0];
      const double dec = std::clamp(at.dec + jitter(rng), -90.0, 90.0);
      night.detections.push_back({ids[next_id++], frame, epoch,
                                  WrapRa(at.ra + jitter(rng) / 0.866), dec});
    }
  }
  return night;
}

TEST(AssociateTest, AgreesWithThePlainRulesOnACrowdedNight) {
  for (uint64_t seed : {1, 2, 3}) {
    const Night night = CrowdedNight(seed, 12, 400);
    const double radius = 1.5;
    const Association want =
        NaiveAssociate(night.sources, night.detections, radius);
    const Association got =
        MustAssociate(night.sources, night.detections, radius, 2);
    ExpectSameAssociation(got, want);
    // And step 2 alone, with no archive.
    ExpectSameAssociation(MustAssociate({}, night.detections, radius, 2),
                          NaiveAssociate({}, night.detections, radius));
    // The night exercises the rules.
    size_t fallbacks = 0, joined_new = 0;
    for (const Link& l : want.links) {
      joined_new += l.new_source && l.source_id != l.detection_id;
    }
    for (size_t i = 0; i < night.detections.size(); ++i) {
      const Detection& d = night.detections[i];
      auto nearest = BruteWithin(night.sources, d.ra, d.dec, radius);
      const Link& l = LinkOf(want, d.id);
      fallbacks +=
          !nearest.empty() && !l.new_source && l.source_id != nearest[0].id;
    }
    EXPECT_GT(fallbacks, 20u) << seed;
    EXPECT_GT(joined_new, 50u) << seed;
    EXPECT_GT(want.new_sources.size(), 50u) << seed;
  }
}

TEST(AssociateTest, SameResultForAnyThreadsAndInputOrder) {
  const Night night = CrowdedNight(9, 20, 1500);
  const Association want =
      MustAssociate(night.sources, night.detections, 1.5, 1);
  std::mt19937_64 rng(4);
  for (int threads : {2, 7, 0}) {
    std::vector<Detection> shuffled = night.detections;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::vector<Point> sources = night.sources;
    std::shuffle(sources.begin(), sources.end(), rng);
    ExpectSameAssociation(MustAssociate(sources, shuffled, 1.5, threads), want);
  }
  // With no archive, step 2 has all 30 000 detections, enough for seven
  // threads' searches.
  const Association all_new = MustAssociate({}, night.detections, 1.5, 1);
  EXPECT_GT(all_new.new_sources.size(), 500u);
  std::vector<Detection> shuffled = night.detections;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  ExpectSameAssociation(MustAssociate({}, shuffled, 1.5, 7), all_new);
  // And its invariants: links by detection id, one source per frame.
  std::map<int64_t, int64_t> frame_of;
  for (const Detection& d : night.detections) frame_of[d.id] = d.frame;
  std::set<std::pair<int64_t, int64_t>> used;
  for (size_t i = 0; i < want.links.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(want.links[i - 1].detection_id, want.links[i].detection_id);
    }
    const Link& l = want.links[i];
    EXPECT_TRUE(used.insert({frame_of[l.detection_id], l.source_id}).second)
        << "frame " << frame_of[l.detection_id] << " uses source "
        << l.source_id << " twice";
    EXPECT_LE(l.separation_arcsec, 1.5);
  }
}

TEST(AssociateTest, BadDetectionsAreNamed) {
  auto index = ZoneIndex::Build({Source(1, 0, 0)}, 1);
  ASSERT_TRUE(index.ok());
  const std::vector<std::pair<std::vector<Detection>, const char*>> bad = {
      {{Det(5, 1, 1, 0, 0), {42, 1, 1, 10, 95}},
       "detection 42 (frame 1) has dec 95"},
      {{{43, 2, 1, 360, 0}, Det(5, 1, 1, 0, 0)},
       "detection 43 (frame 2) has RA 360"},
      {{{44, 2, 1, NAN, 0}},
       "detection 44 (frame 2) has a non-finite position"},
      {{{45, 2, NAN, 10, 0}}, "detection 45 (frame 2) has a non-finite epoch"},
      {{Det(7, 1, 1, 0, 0), Det(8, 1, 1, 0, 0), Det(7, 2, 1, 5, 0)},
       "two detections with id 7 (frames 1 and 2)"}};
  for (const auto& [dets, message] : bad) {
    auto a = Associate(*index, dets);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_THAT(a.status().message(), HasSubstr(message));
  }
}

}  // namespace
}  // namespace curator::worker::match
