// The zones cross-match (worker/zones_match.h) at survey size: an archive
// of 10 M sources over a 400 deg^2 band straddling RA = 0 (25 000 per
// deg^2), and a night of 3 M detections taken as frames of 0.5 x 0.5 deg
// tiles, each tile visited twice: 90% of a tile's sources seen again,
// 0.1-0.3" from where they were, and 2% new (transients and noise).
// Prints the index's build time and memory, BestMatches and Associate in
// detections/s (on one thread and on all, per core by the wall clock and
// per CPU-second) and the peak RSS; with --stilts, STILTS tmatch2 on a part
// of the same data beside our own time on that part. Asserts nothing.
//
//   cu5_match_bench [--sources 10000000] [--detections 3000000]
//                   [--radius 1] [--threads 0] [--stilts]
//                   [--stilts_sources 1000000] [--stilts_heap 8g]
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/stilts.h"
#include "tests/support/temp_dir.h"
#include "worker/zones_match.h"

ABSL_FLAG(int64_t, sources, 10000000, "Sources in the archive");
ABSL_FLAG(int64_t, detections, 3000000, "Detections in the night (about)");
ABSL_FLAG(double, radius, 1.0, "Match radius, arcsec");
ABSL_FLAG(int, threads, 0, "Threads for the 'all' runs (0: one per core)");
ABSL_FLAG(bool, stilts, false,
          "Also run STILTS tmatch2 (if installed) on a part of the data");
ABSL_FLAG(
    int64_t, stilts_sources, 1000000,
    "Sources in STILTS's part (whole tiles; their detections come with them)");
ABSL_FLAG(std::string, stilts_heap, "8g", "java -Xmx for STILTS");
ABSL_FLAG(uint64_t, seed, 1, "Random seed");

namespace {

using curator::worker::match::Association;
using curator::worker::match::BestMatches;
using curator::worker::match::Detection;
using curator::worker::match::Pair;
using curator::worker::match::Point;
using curator::worker::match::ZoneIndex;

constexpr double kDensity = 25000;  // sources per deg^2
constexpr double kTile = 0.5;       // deg, a frame's side
constexpr double kDecLow = -5, kDecHigh = 5;
constexpr double kCompleteness = 0.9, kNewFraction = 0.02;

int Die(const std::string& what) {
  std::fprintf(stderr, "cu5_match_bench: %s\n", what.c_str());
  return 1;
}

double Seconds(absl::Time since) {
  return absl::ToDoubleSeconds(absl::Now() - since);
}

double CpuSeconds() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

// Bytes malloc has handed out and not had back (RSS would not show an
// index built in memory another one freed).
double HeapMiB() {
  const struct mallinfo2 m = mallinfo2();
  return (m.uordblks + m.hblkhd) / 1048576.0;
}

// VmHWM or VmRSS from /proc/self/status, in MiB.
double StatusMiB(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, key)) {
      int64_t kb = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kb)) return kb / 1024.0;
    }
  }
  return -1;
}

double WrapRa(double ra) {
  ra = std::fmod(ra, 360.0);
  if (ra < 0) ra += 360;
  return ra >= 360 ? 0 : ra;
}

// The band: tiles of kTile x kTile deg in dec rows, RA from 360 - width/2
// to width/2; sources uniform on the sphere within each tile, tile by tile
// (so a tile's sources are contiguous).
struct Survey {
  int tiles_ra = 0, tiles_dec = 0;
  double ra0 = 0;  // RA of the band's western edge
  std::vector<size_t>
      tile_begin;  // sources of tile t: [tile_begin[t], tile_begin[t+1])
  std::vector<Point> sources;
  struct Tile {
    double ra, dec;  // south-western corner
  };
  Tile TileAt(int t) const {
    return {WrapRa(ra0 + (t % tiles_ra) * kTile),
            kDecLow + (t / tiles_ra) * kTile};
  }
};

Point RandomIn(std::mt19937_64& rng, const Survey::Tile& tile, int64_t id) {
  std::uniform_real_distribution<double> u(0, 1);
  const double s0 = std::sin(tile.dec * M_PI / 180),
               s1 = std::sin((tile.dec + kTile) * M_PI / 180);
  const double dec = std::asin(s0 + (s1 - s0) * u(rng)) * 180 / M_PI;
  return {id, WrapRa(tile.ra + kTile * u(rng)), dec};
}

Survey MakeSurvey(int64_t n, uint64_t seed) {
  Survey s;
  const double area = n / kDensity;
  s.tiles_dec = static_cast<int>((kDecHigh - kDecLow) / kTile);
  s.tiles_ra = std::max(
      1, static_cast<int>(std::round(area / (kDecHigh - kDecLow) / kTile)));
  s.ra0 = WrapRa(-s.tiles_ra * kTile / 2);
  const int tiles = s.tiles_ra * s.tiles_dec;
  std::mt19937_64 rng(seed);
  s.sources.reserve(n);
  for (int t = 0; t < tiles; ++t) {
    s.tile_begin.push_back(s.sources.size());
    const int64_t end = n * (t + 1) / tiles;
    const Survey::Tile tile = s.TileAt(t);
    while (static_cast<int64_t>(s.sources.size()) < end) {
      s.sources.push_back(
          RandomIn(rng, tile, 1 + static_cast<int64_t>(s.sources.size())));
    }
  }
  s.tile_begin.push_back(s.sources.size());
  return s;
}

// A detection 0.1-0.3" from `p` in a random direction.
Detection Near(std::mt19937_64& rng, const Point& p, int64_t id, int64_t frame,
               double epoch) {
  std::uniform_real_distribution<double> u(0, 1);
  const double r = (0.1 + 0.2 * u(rng)) / 3600, theta = 2 * M_PI * u(rng);
  const double dec = p.dec + r * std::sin(theta);
  const double ra =
      WrapRa(p.ra + r * std::cos(theta) / std::cos(p.dec * M_PI / 180));
  return {id, frame, epoch, ra, dec};
}

// Frames over tiles 0, 1, ... in two passes an hour apart, until about
// `n` detections; detection ids in frame order. Each frame sees 90% of its
// tile's sources and 2% new: in the first pass new objects, half of which
// the second pass sees again (they join the source the first founded),
// the rest noise.
std::vector<Detection> MakeNight(const Survey& s, int64_t n, uint64_t seed,
                                 int* frames_out, int* tiles_out) {
  std::mt19937_64 rng(seed + 1000);
  std::uniform_real_distribution<double> u(0, 1);
  const int tiles = static_cast<int>(s.tile_begin.size()) - 1;
  const double per_frame = static_cast<double>(s.sources.size()) / tiles *
                           (kCompleteness + kNewFraction);
  const int night_tiles =
      std::clamp(static_cast<int>(std::ceil(n / per_frame / 2)), 1, tiles);
  std::vector<Detection> dets;
  std::vector<std::vector<Point>> new_objects(night_tiles);
  int64_t id = 1000000000;
  int frames = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (int t = 0; t < night_tiles; ++t, ++frames) {
      const int64_t frame = 1 + frames;
      const double epoch = 55000.1 + pass / 24.0 + t * 40.0 / 86400;
      for (size_t i = s.tile_begin[t]; i < s.tile_begin[t + 1]; ++i) {
        if (u(rng) < kCompleteness) {
          dets.push_back(Near(rng, s.sources[i], id++, frame, epoch));
        }
      }
      const size_t fresh = static_cast<size_t>(
          (s.tile_begin[t + 1] - s.tile_begin[t]) * kNewFraction);
      for (size_t k = 0; k < fresh; ++k) {
        if (pass == 1 && k % 2 == 0 && k / 2 < new_objects[t].size()) {
          dets.push_back(Near(rng, new_objects[t][k / 2], id++, frame, epoch));
          continue;
        }
        const Point p = RandomIn(rng, s.TileAt(t), 0);
        if (pass == 0) new_objects[t].push_back(p);
        dets.push_back({id++, frame, epoch, p.ra, p.dec});
      }
    }
  }
  *frames_out = frames;
  *tiles_out = night_tiles;
  return dets;
}

std::vector<Point> AsPoints(const std::vector<Detection>& dets) {
  std::vector<Point> points;
  points.reserve(dets.size());
  for (const Detection& d : dets) points.push_back({d.id, d.ra, d.dec});
  return points;
}

struct Timed {
  double wall, cpu;
};
template <typename Fn>
Timed Time(const Fn& fn) {
  const double c0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  fn();
  return {Seconds(t0), CpuSeconds() - c0};
}

void PrintRate(int threads, size_t n, const Timed& t) {
  std::printf(
      "  %d thread%s: %6.2f s, %5.2f M detections/s = %5.2f M/s per core "
      "(%5.2f M per CPU-second)\n",
      threads, threads == 1 ? " " : "s", t.wall, n / t.wall / 1e6,
      n / t.wall / threads / 1e6, n / t.cpu / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const double radius = absl::GetFlag(FLAGS_radius);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const int all =
      absl::GetFlag(FLAGS_threads) > 0
          ? absl::GetFlag(FLAGS_threads)
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  std::ifstream loadavg("/proc/loadavg");
  std::string load;
  std::getline(loadavg, load);
  std::printf("machine: %u cores, load average %s\n",
              std::thread::hardware_concurrency(), load.c_str());
  absl::Time t0 = absl::Now();
  Survey survey = MakeSurvey(absl::GetFlag(FLAGS_sources), seed);
  int frames = 0, night_tiles = 0;
  const std::vector<Detection> night = MakeNight(
      survey, absl::GetFlag(FLAGS_detections), seed, &frames, &night_tiles);
  std::vector<Point> queries = AsPoints(night);
  const size_t n = night.size();
  std::printf(
      "archive: %zu sources in %d tiles of %.1f x %.1f deg (%.0f deg^2, RA "
      "%.1f..%.1f, "
      "dec %.0f..%.0f, %.0f per deg^2); night: %zu detections in %d frames (%d "
      "tiles "
      "visited twice); radius %.2f arcsec; made in %.1f s\n",
      survey.sources.size(), survey.tiles_ra * survey.tiles_dec, kTile, kTile,
      survey.tiles_ra * survey.tiles_dec * kTile * kTile, survey.ra0,
      WrapRa(survey.ra0 + survey.tiles_ra * kTile), kDecLow, kDecHigh, kDensity,
      n, frames, night_tiles, radius, Seconds(t0));

  // STILTS's part, taken before the sources move into the index: whole
  // tiles from the first, and their frames' detections.
  std::vector<Point> part_sources, part_queries;
  if (absl::GetFlag(FLAGS_stilts)) {
    const size_t want = std::min<size_t>(absl::GetFlag(FLAGS_stilts_sources),
                                         survey.sources.size());
    size_t tiles = 0;
    while (tiles + 1 < survey.tile_begin.size() &&
           survey.tile_begin[tiles] < want)
      ++tiles;
    part_sources.assign(survey.sources.begin(),
                        survey.sources.begin() + survey.tile_begin[tiles]);
    const int64_t last_frame_pass1 = std::min<int64_t>(tiles, night_tiles);
    for (const Detection& d : night) {
      const int64_t tile = (d.frame - 1) % night_tiles;
      if (tile < last_frame_pass1) part_queries.push_back({d.id, d.ra, d.dec});
    }
  }

  // The index on one thread, then on all from the same sources made again
  // (no copy of 10 M points in the peak RSS); the growth of the heap in use
  // over the second build is the index's size.
  std::printf("index build:\n");
  const size_t num_sources = survey.sources.size();
  absl::StatusOr<ZoneIndex> index = absl::UnknownError("not built");
  const Timed build1 = Time(
      [&] { index = ZoneIndex::Build(std::move(survey.sources), radius, 1); });
  if (!index.ok()) return Die(index.status().ToString());
  std::printf("  1 thread : %5.2f s (%.2f M sources/s)\n", build1.wall,
              num_sources / build1.wall / 1e6);
  index = absl::UnknownError("not built");
  survey = {};
  const double heap0 = HeapMiB();
  survey = MakeSurvey(absl::GetFlag(FLAGS_sources), seed);
  const Timed build_all = Time([&] {
    index = ZoneIndex::Build(std::move(survey.sources), radius, all);
  });
  if (!index.ok()) return Die(index.status().ToString());
  survey = {};
  const double heap1 = HeapMiB();
  std::printf(
      "  %d threads: %5.2f s (%.2f M sources/s); the index takes %.0f MiB "
      "(%.1f bytes per source); peak RSS so far %.0f MiB\n",
      all, build_all.wall, num_sources / build_all.wall / 1e6, heap1 - heap0,
      (heap1 - heap0) * 1048576 / num_sources, StatusMiB("VmHWM:"));

  std::printf(
      "BestMatches (step 1 alone: nearest source within the radius):\n");
  std::vector<Pair> pairs;
  for (int t : {1, all}) {
    pairs.clear();
    pairs.shrink_to_fit();
    const Timed timed = Time([&] { pairs = BestMatches(*index, queries, t); });
    PrintRate(t, n, timed);
  }
  std::printf(
      "  %zu of %zu detections matched (%.1f%%); peak RSS so far %.0f MiB\n",
      pairs.size(), n, 100.0 * pairs.size() / n, StatusMiB("VmHWM:"));
  pairs = {};
  queries = {};

  std::printf(
      "Associate (steps 1 and 2: one source per frame, new sources "
      "founded):\n");
  absl::StatusOr<Association> association = absl::UnknownError("not run");
  for (int t : {1, all}) {
    association = absl::UnknownError("not run");
    const Timed timed =
        Time([&] { association = Associate(*index, night, t); });
    if (!association.ok()) return Die(association.status().ToString());
    PrintRate(t, n, timed);
  }
  size_t to_existing = 0, joined_new = 0;
  for (const auto& l : association->links) {
    to_existing += !l.new_source;
    joined_new += l.new_source && l.source_id != l.detection_id;
  }
  std::printf(
      "  %zu detections linked to existing sources, %zu new sources founded, "
      "%zu detections joined a new source\n",
      to_existing, association->new_sources.size(), joined_new);
  association = absl::UnknownError("freed");
  index = absl::UnknownError("freed");
  {  // A survey's first night: no archive yet, every detection new.
    auto empty = ZoneIndex::Build({}, radius);
    if (!empty.ok()) return Die(empty.status().ToString());
    const Timed timed =
        Time([&] { association = Associate(*empty, night, all); });
    if (!association.ok()) return Die(association.status().ToString());
    std::printf(
        "  against an empty archive (all step 2), %d threads: %.2f s, "
        "%.2f M detections/s; %zu new sources\n",
        all, timed.wall, n / timed.wall / 1e6, association->new_sources.size());
    association = absl::UnknownError("freed");
  }
  std::printf("peak RSS (VmHWM) of the run, its own data included: %.0f MiB\n",
              StatusMiB("VmHWM:"));

  if (!absl::GetFlag(FLAGS_stilts)) return 0;
  if (!curator::testing::StiltsInstalled()) {
    std::printf("STILTS: not installed (apt-get install stilts); skipped\n");
    return 0;
  }
  std::printf(
      "STILTS tmatch2 find=best1 against ours on a part: %zu sources, %zu "
      "detections\n",
      part_sources.size(), part_queries.size());
  std::vector<Pair> ours;
  const Timed our_time = Time([&] {
    auto part_index = ZoneIndex::Build(part_sources, radius, all);
    if (part_index.ok()) ours = BestMatches(*part_index, part_queries, all);
  });
  std::printf("  ours (Build + BestMatches, %d threads): %.2f s\n", all,
              our_time.wall);
  curator::testing::TempDir dir("curator-cu5-bench-");
  std::vector<curator::testing::StiltsPair> theirs;
  absl::Status stilts_status;
  const Timed stilts_time = Time([&] {
    auto r = curator::testing::StiltsBestMatchesWithSeparation(
        part_queries, part_sources, radius, dir.path(),
        absl::GetFlag(FLAGS_stilts_heap));
    if (r.ok()) {
      theirs = *std::move(r);
    } else {
      stilts_status = r.status();
    }
  });
  if (!stilts_status.ok()) return Die(stilts_status.ToString());
  std::sort(theirs.begin(), theirs.end(), [](const auto& a, const auto& b) {
    return a.query_id < b.query_id;
  });
  std::sort(ours.begin(), ours.end(), [](const Pair& a, const Pair& b) {
    return a.query_id < b.query_id;
  });
  size_t same = 0;
  for (size_t i = 0, j = 0; i < ours.size() && j < theirs.size();) {
    if (ours[i].query_id < theirs[j].query_id) {
      ++i;
    } else if (ours[i].query_id > theirs[j].query_id) {
      ++j;
    } else {
      same += ours[i].match_id == theirs[j].match_id;
      ++i, ++j;
    }
  }
  std::printf(
      "  STILTS (writing both FITS tables, java start, tmatch2 with its "
      "default "
      "parallel runner, CSV out): %.2f s wall = %.1f x ours\n",
      stilts_time.wall, stilts_time.wall / our_time.wall);
  std::printf("  pairs: ours %zu, STILTS %zu, the same pair for %zu\n",
              ours.size(), theirs.size(), same);
  return 0;
}
