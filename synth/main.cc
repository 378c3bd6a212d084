// curator-synth: writes synthetic WFCAM-like survey nights (images,
// CASU catalogues, transfer markers) for tests, benchmarks and the demo.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/cli.h"
#include "synth/survey_generator.h"

ABSL_FLAG(std::string, out, "", "Archive root to write into (incoming/<night>/ under it)");
ABSL_FLAG(std::string, first_night, "20071021", "First night, YYYYMMDD");
ABSL_FLAG(int, nights, 1, "Number of consecutive nights");
ABSL_FLAG(int, frames, 8, "Multiframes (image + catalogue pairs) per night");
ABSL_FLAG(int, size, 512, "Pixels per side of each of the 4 detectors (WFCAM: 2048)");
ABSL_FLAG(int, sources, 200, "Stars per detector");
ABSL_FLAG(std::string, compress, "none", "Image storage: none, rice or gzip (tile-compressed)");
ABSL_FLAG(int, bitpix, -32, "Pixel type: -32 (float32) or 32 (int32)");
ABSL_FLAG(uint64_t, seed, 1, "Random seed: the same seed gives the same files");
ABSL_FLAG(std::string, defects, "",
          "Comma-separated faults to inject, or 'all': truncated-image, "
          "truncated-catalogue, missing-keyword, wrong-keyword-type, "
          "nan-columns, empty-table, wrong-column-type, orphan-catalogue, "
          "duplicated-file, ra-out-of-range, extra-tables, missing-tables, "
          "duplicate-seqnum, garbage-xtension, huge-image, bad-zbitpix");
ABSL_FLAG(int, threads, 0, "Worker threads (0: one per core)");
ABSL_FLAG(int, cadence, 1, "Days from one night to the next");
ABSL_FLAG(std::string, sky, "random",
          "random: every frame draws its own stars (one stripe of tiles a "
          "night). revisit: one fixed sky of stars, galaxies, variables, "
          "proper-motion stars and one-frame transients, whose --fields "
          "pointings every night observes again in each of --bands, with "
          "per-epoch noise; frame n of a night observes (field, band) pair "
          "(n - 1) mod (fields x bands), field by field, so --frames = fields "
          "x bands observes each pair once, more repeat the cycle, fewer leave "
          "the last pairs out. Truth: truth/objects.csv and "
          "truth/<night>_objects.csv (which object each catalogue row is)");
ABSL_FLAG(int, fields, 2, "--sky=revisit: pointings observed every night");
ABSL_FLAG(std::string, bands, "YJHK",
          "--sky=revisit: the bands each field is observed in, in order "
          "(letters of ZYJHK)");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "curator-synth: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  curator::InitCommandLine(
      "curator-synth",
      "Writes synthetic survey nights.\n"
      "  curator-synth --out DIR [--nights N] [--frames N] [--size PIX] ...");
  absl::ParseCommandLine(argc, argv);
  using namespace curator::synth;

  Options o;
  o.out_dir = absl::GetFlag(FLAGS_out);
  int y = 0, m = 0, d = 0;
  const std::string first = absl::GetFlag(FLAGS_first_night);
  if (first.size() != 8 || std::sscanf(first.c_str(), "%4d%2d%2d", &y, &m, &d) != 3) {
    return Fail("--first_night must be YYYYMMDD, not '" + first + "'");
  }
  o.first_night = absl::CivilDay(y, m, d);
  if (o.first_night.year() != y || o.first_night.month() != m || o.first_night.day() != d) {
    return Fail("--first_night is not a calendar date: " + first);
  }
  o.nights = absl::GetFlag(FLAGS_nights);
  o.frames_per_night = absl::GetFlag(FLAGS_frames);
  o.image_size = absl::GetFlag(FLAGS_size);
  o.sources_per_detector = absl::GetFlag(FLAGS_sources);
  o.bitpix = absl::GetFlag(FLAGS_bitpix);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.cadence_days = absl::GetFlag(FLAGS_cadence);
  o.fields = absl::GetFlag(FLAGS_fields);
  o.bands = absl::GetFlag(FLAGS_bands);
  const std::string sky = absl::GetFlag(FLAGS_sky);
  if (sky == "revisit") {
    o.sky = SkyMode::kRevisit;
  } else if (sky != "random") {
    return Fail("--sky must be random or revisit, not '" + sky + "'");
  }
  const std::string compress = absl::GetFlag(FLAGS_compress);
  if (compress == "rice") {
    o.compression = curator::fits::Compression::kRice;
  } else if (compress == "gzip") {
    o.compression = curator::fits::Compression::kGzip;
  } else if (compress != "none") {
    return Fail("--compress must be none, rice or gzip, not '" + compress + "'");
  }
  const std::string defects = absl::GetFlag(FLAGS_defects);
  if (defects == "all") {
    o.defects = AllDefects();
  } else {
    for (absl::string_view name : absl::StrSplit(defects, ',', absl::SkipEmpty())) {
      auto defect = ParseDefect(name);
      if (!defect.ok()) return Fail(std::string(defect.status().message()));
      o.defects.push_back(*defect);
    }
  }
  if (absl::Status s = ValidateOptions(o); !s.ok()) return Fail(std::string(s.message()));

  auto survey = GenerateSurvey(o);
  if (!survey.ok()) return Fail(survey.status().ToString());
  int64_t bytes = 0, images = 0, catalogues = 0, sources = 0;
  for (const NightRecord& n : survey->nights) {
    std::vector<std::string> spoiled;
    for (const FileRecord& f : n.files) {
      for (Defect d : f.defects) spoiled.push_back(f.name + ":" + DefectName(d));
    }
    std::printf("%s  %lld images, %lld catalogues, %lld stars, %.1f MB in %s\n",
                n.night.c_str(), static_cast<long long>(n.images),
                static_cast<long long>(n.catalogues),
                static_cast<long long>(n.sources), n.bytes / 1e6, n.dir.c_str());
    if (!spoiled.empty()) {
      std::printf("          defects: %s\n", absl::StrJoin(spoiled, ", ").c_str());
    }
    bytes += n.bytes;
    images += n.images;
    catalogues += n.catalogues;
    sources += n.sources;
  }
  std::printf("total     %zu nights, %lld images, %lld catalogues, %lld stars, "
              "%.1f MB in %.2f s (%.1f MB/s); truth in %s/truth/\n",
              survey->nights.size(), static_cast<long long>(images),
              static_cast<long long>(catalogues), static_cast<long long>(sources),
              bytes / 1e6, survey->seconds, bytes / 1e6 / survey->seconds,
              o.out_dir.c_str());
  return 0;
}
