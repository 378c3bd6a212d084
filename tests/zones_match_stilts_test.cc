// BestMatches (worker/zones_match.h) against STILTS tmatch2 find=best1, an
// independent implementation (HEALPix bins, the haversine formula, Java),
// on random catalogues over RA = 0 and both poles.
//
// The two may differ only where floating-point rounding decides: a pair
// within rounding of the radius, or two candidates whose separations are
// equal to within rounding (the points exactly at a pole are all one
// place). Every difference is classified; any other fails the test.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/stilts.h"
#include "tests/support/temp_dir.h"
#include "worker/zones_match.h"

namespace curator::worker::match {
namespace {

// Far above double rounding in a separation (~1e-11 arcsec), far below
// any radius.
constexpr double kRoundingArcsec = 1e-8;

double WrapRa(double ra) {
  ra = std::fmod(ra, 360.0);
  if (ra < 0) ra += 360;
  return ra >= 360 ? 0 : ra;
}

// n points spread over `half_deg` of dec either side of `dec` (clamped to
// the poles) and an RA range that widens towards the poles, from `id`.
void Scatter(std::mt19937_64& rng, int n, double ra, double dec,
             double half_deg, int64_t id, std::vector<Point>* out) {
  std::uniform_real_distribution<double> u(-1, 1);
  for (int i = 0; i < n; ++i) {
    const double d = std::clamp(dec + half_deg * u(rng), -90.0, 90.0);
    const double c = std::cos(d * M_PI / 180);
    const double half_ra = c * 10 < half_deg ? 180 : half_deg / c;
    out->push_back({id + i, WrapRa(ra + half_ra * u(rng)), d});
  }
}

struct Regions {
  std::vector<Point> catalogue, queries;
};

// Four regions of 0.1 x 0.1 deg (about 0.1 catalogue points per arcsec^2):
// across RA = 0 at the equator, at dec 45, and the caps within 0.1 deg of
// each pole; with points exactly at the poles and at RA 359.9999.
Regions MakeRegions(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Regions r;
  const struct {
    double ra, dec;
  } centres[] = {{0, 0}, {200, 45}, {0, 89.95}, {123, -89.95}};
  int64_t id = 1;
  for (const auto& c : centres) {
    Scatter(rng, 12500, c.ra, c.dec, 0.05, id, &r.catalogue);
    Scatter(rng, 5000, c.ra, c.dec, 0.05, 10000000 + id, &r.queries);
    id += 100000;
  }
  for (double ra : {0.0, 120.0, 240.0, 359.9999}) {
    r.catalogue.push_back({id++, ra, 90});
    r.catalogue.push_back({id++, ra, -90});
    r.catalogue.push_back({id++, ra, 0.0001});
    r.queries.push_back({id++, ra, 89.9999});
    r.queries.push_back({id++, ra, -90});
  }
  return r;
}

class ZonesMatchStiltsTest : public ::testing::TestWithParam<double> {};

TEST_P(ZonesMatchStiltsTest, BestMatchesAgreesWithTmatch2Best1) {
  if (!testing::StiltsInstalled()) {
    GTEST_SKIP() << "stilts is not installed: apt-get install stilts "
                    "(deploy/install-deps.sh installs it)";
  }
  const double radius = GetParam();
  const Regions r = MakeRegions(7);
  testing::TempDir dir("curator-stilts-test-");
  const absl::Time t0 = absl::Now();
  auto theirs = testing::StiltsBestMatchesWithSeparation(r.queries, r.catalogue,
                                                         radius, dir.path());
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  const absl::Time t1 = absl::Now();
  auto index = ZoneIndex::Build(r.catalogue, radius);
  ASSERT_TRUE(index.ok()) << index.status();
  const std::vector<Pair> ours = BestMatches(*index, r.queries);
  std::printf(
      "radius %g\": STILTS %.2f s (with java's start and the FITS "
      "files), ours %.3f s\n",
      radius, absl::ToDoubleSeconds(t1 - t0),
      absl::ToDoubleSeconds(absl::Now() - t1));

  std::map<int64_t, const Point*> catalogue, queries;
  for (const Point& p : r.catalogue) catalogue[p.id] = &p;
  for (const Point& q : r.queries) queries[q.id] = &q;
  std::map<int64_t, Pair> our_pair;
  for (const Pair& p : ours) our_pair[p.query_id] = p;
  std::map<int64_t, testing::StiltsPair> their_pair;
  for (const testing::StiltsPair& p : *theirs) {
    EXPECT_TRUE(their_pair.emplace(p.query_id, p).second) << p.query_id;
  }
  auto separation = [&](int64_t q, int64_t c) {
    const Point &a = *queries.at(q), &b = *catalogue.at(c);
    return SeparationArcsec(a.ra, a.dec, b.ra, b.dec);
  };

  size_t same = 0, near_ties = 0, at_radius = 0;
  double max_separation_difference = 0;
  for (const Point& q : r.queries) {
    const auto o = our_pair.find(q.id);
    const auto t = their_pair.find(q.id);
    const bool in_ours = o != our_pair.end(), in_theirs = t != their_pair.end();
    if (!in_ours && !in_theirs) continue;
    if (in_ours && in_theirs && o->second.match_id == t->second.match_id) {
      ++same;
      max_separation_difference = std::max(
          max_separation_difference,
          std::abs(o->second.separation_arcsec - t->second.separation_arcsec));
      continue;
    }
    if (in_ours && in_theirs) {
      // Two different nearest points: only if they are as near as each
      // other to within rounding.
      const double mine = o->second.separation_arcsec;
      const double stilts = separation(q.id, t->second.match_id);
      EXPECT_LE(std::abs(mine - stilts), kRoundingArcsec)
          << "query " << q.id << " (" << q.ra << ", " << q.dec << "): ours "
          << o->second.match_id << " at " << mine << "\", STILTS's "
          << t->second.match_id << " at " << stilts << "\"";
      ++near_ties;
      continue;
    }
    // A pair only one side found: only at the radius, to within rounding.
    const int64_t match = in_ours ? o->second.match_id : t->second.match_id;
    const double s = separation(q.id, match);
    EXPECT_LE(std::abs(s - radius), kRoundingArcsec)
        << "query " << q.id << " (" << q.ra << ", " << q.dec << ") and "
        << match << " at " << s << "\" paired by "
        << (in_ours ? "us" : "STILTS") << " only";
    ++at_radius;
  }
  std::printf(
      "radius %g\": %zu queries, %zu same pairs (separations within "
      "%.2g\"), %zu near-ties, %zu pairs at the radius\n",
      radius, r.queries.size(), same, max_separation_difference, near_ties,
      at_radius);
  // Enough pairs to mean something, and STILTS's separations agree with
  // ours to rounding.
  EXPECT_GT(same, r.queries.size() / 2);
  EXPECT_LE(max_separation_difference, kRoundingArcsec);
}

INSTANTIATE_TEST_SUITE_P(Radii, ZonesMatchStiltsTest,
                         ::testing::Values(2.0, 10.0));

}  // namespace
}  // namespace curator::worker::match
