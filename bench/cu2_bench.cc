// CU2 speed on one core for full-size WFCAM multiframes (4 x 2048 x 2048),
// plain float32 and Rice-compressed int32, from page cache; with astropy's
// ZScaleInterval + Pillow on the same files as the reference. Prints
// megapixels/s and the ratios; asserts nothing.
//
//   cu2_bench [--frames 4] [--size 2048] [--only plain|rice] [--baseline]
//             [--keep DIR]  (the previews, to compare two builds by md5)
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/cpu.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"
#include "worker/cu2_task.h"

ABSL_FLAG(int, frames, 4, "Multiframes of each kind");
ABSL_FLAG(int, size, 2048, "Pixels per detector side");
ABSL_FLAG(std::string, only, "", "Only this kind: plain or rice (e.g. under perf)");
ABSL_FLAG(int, runs, 3, "Timed runs after a warm-up; the median is reported");
ABSL_FLAG(bool, reference, true, "Also time astropy + Pillow on the same files");
ABSL_FLAG(bool, baseline, false,
          "Run the baseline x86-64 build of the hot loops even if this CPU has x86-64-v3 "
          "(what a pre-Haswell server would run)");
ABSL_FLAG(std::string, keep, "",
          "Copy the last run's previews into <keep>/plain or <keep>/rice, "
          "to compare their bytes with another build's");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace curator;
  cpu::ForceBaselineForTesting(absl::GetFlag(FLAGS_baseline));
  const char* build = cpu::UseX86_64V3() ? "x86-64-v3 build" : "baseline x86-64 build";
  struct Kind {
    const char* name;
    int bitpix;
    fits::Compression compression;
  } kinds[] = {{"plain float32", -32, fits::Compression::kNone},
               {"Rice int32", 32, fits::Compression::kRice}};
  for (const Kind& k : kinds) {
    const std::string only = absl::GetFlag(FLAGS_only);
    if (!only.empty() && !absl::StartsWithIgnoreCase(k.name, only)) continue;
    testing::TempDir dir("curator-cu2-bench-");
    synth::Options o;
    o.out_dir = dir.path();
    o.frames_per_night = absl::GetFlag(FLAGS_frames);
    o.image_size = absl::GetFlag(FLAGS_size);
    o.sources_per_detector = 1000;
    o.bitpix = k.bitpix;
    o.compression = k.compression;
    auto survey = synth::GenerateSurvey(o);
    if (!survey.ok()) {
      std::fprintf(stderr, "%s\n", survey.status().ToString().c_str());
      return 1;
    }
    worker::Cu2Input in;
    in.archive_root = dir.path();
    in.night = survey->nights[0].night;
    in.threads = 1;
    std::vector<std::string> paths;
    for (const auto& f : survey->nights[0].files) {
      if (f.is_catalogue) continue;
      const std::string path = survey->nights[0].dir + "/" + f.name;
      in.images.push_back({static_cast<int64_t>(in.images.size() + 1), path, f.name, absl::Now(), ""});
      paths.push_back(path);
    }
    const double mpix = static_cast<double>(in.images.size()) * 4 * o.image_size * o.image_size / 1e6;
    // Three runs after a warm-up; the median.
    std::vector<double> secs;
    for (int run = 0; run < 1 + std::max(1, absl::GetFlag(FLAGS_runs)); ++run) {
      std::filesystem::remove_all(dir.path() + "/staging");
      const absl::Time t0 = absl::Now();
      auto out = worker::RunCu2(in);
      const double s = absl::ToDoubleSeconds(absl::Now() - t0);
      if (!out.ok() || out->manifest.failures_size() > 0) {
        std::fprintf(stderr, "CU2 failed\n");
        return 1;
      }
      if (run > 0) secs.push_back(s);
      if (run == std::max(1, absl::GetFlag(FLAGS_runs)) &&
          !absl::GetFlag(FLAGS_keep).empty()) {
        const std::string to = absl::StrCat(absl::GetFlag(FLAGS_keep), "/",
                                            k.bitpix == 32 ? "rice" : "plain");
        std::filesystem::remove_all(to);
        std::filesystem::create_directories(to);
        std::filesystem::copy(out->batch_dir + "/previews", to);
      }
    }
    std::sort(secs.begin(), secs.end());
    const double ours = mpix / secs[secs.size() / 2];
    const std::string script = std::string(CURATOR_SOURCE_DIR) + "/bench/astropy_jpeg.py";
    // The reference's median of three passes too: one pass alone varied
    // by 20% between runs here.
    double theirs = 0;
    if (absl::GetFlag(FLAGS_reference)) {
      std::vector<double> refs;
      for (int run = 0; run < 3; ++run) {
        testing::CommandResult ref =
            testing::RunCommand("/usr/bin/python3 " + script + " " + absl::StrJoin(paths, " "));
        double mpx = 0;
        std::sscanf(ref.output.c_str(), "%lf", &mpx);
        refs.push_back(mpx);
      }
      std::sort(refs.begin(), refs.end());
      theirs = refs[1];
    }
    std::printf("CU2, %s, %zu multiframes of 4 x %d^2, 1 thread, %s: %.0f Mpx/s; astropy "
                "ZScaleInterval + Pillow: %.0f Mpx/s; ratio %.1fx\n",
                k.name, in.images.size(), o.image_size, build, ours, theirs,
                theirs > 0 ? ours / theirs : 0.0);
  }
  return 0;
}
