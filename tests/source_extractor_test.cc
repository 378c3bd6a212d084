// An independent check of curator-synth: source-extractor (SExtractor,
// with WCSLIB inside) runs on a synthetic detector image and must find the
// bright stars where the CASU catalogue says they are, at the sky
// positions the catalogue gives.
#include <cmath>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "fits/fits.h"
#include "gtest/gtest.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace curator::synth {
namespace {

using fits::FitsFile;

constexpr int kSize = 1024;

// Copies detector `cam` of a multiframe into a single-HDU image with its
// WCS: source-extractor measures one 2-D image.
void ExtractDetector(const std::string& mef, int cam, const std::string& out) {
  auto in = FitsFile::Open(mef);
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_TRUE(in->MoveToExtName(absl::StrCat("DET", cam)).ok());
  std::vector<float> px(kSize * kSize);
  ASSERT_TRUE(in->ReadRows(0, kSize, px.data()).ok());
  auto f = FitsFile::Create(out);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->CreateImage(-32, {kSize, kSize}).ok());
  ASSERT_TRUE(f->WritePixels(px.data(), px.size()).ok());
  for (const char* key : {"CTYPE1", "CTYPE2"}) {
    ASSERT_TRUE(f->WriteKey(key, *in->ReadString(key)).ok());
  }
  for (const char* key : {"CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2",
                          "CD2_1", "CD2_2", "PV2_1", "PV2_2", "PV2_3", "GAIN",
                          "SKYLEVEL"}) {
    ASSERT_TRUE(f->WriteKey(key, *in->ReadDouble(key)).ok()) << key;
  }
  ASSERT_TRUE(f->Close().ok());
}

std::vector<double> Read(FitsFile& f, const char* name) {
  auto col = f.FindColumn(name);
  EXPECT_TRUE(col.ok()) << col.status();
  std::vector<double> v(*f.NumRows());
  EXPECT_TRUE(f.ReadColumn(col->number, 0, v.size(), v.data()).ok());
  return v;
}

TEST(SourceExtractorTest, FindsTheBrightInjectedStarsAtTheirPositions) {
  if (testing::RunCommand("source-extractor -v").exit_code != 0) {
    GTEST_SKIP() << "source-extractor is not installed (deploy/install-deps.sh)";
  }
  testing::TempDir dir;
  Options o;
  o.out_dir = dir.path();
  o.frames_per_night = 1;
  o.image_size = kSize;
  o.sources_per_detector = 300;
  ASSERT_TRUE(GenerateSurvey(o).ok());
  const std::string night = dir.path() + "/incoming/20071021/";

  int bright = 0, found = 0, sky_checked = 0;
  double worst_sky_arcsec = 0;
  for (int cam = 1; cam <= 4; ++cam) {
    ExtractDetector(night + "w20071021_00001.fit", cam, dir.Join("det.fits"));
    ASSERT_EQ(testing::RunCommand(absl::StrCat("cd ", dir.path(),
                                               " && source-extractor -d > default.sex"))
                  .exit_code,
              0);
    std::ofstream(dir.Join("default.param"))
        << "NUMBER\nX_IMAGE\nY_IMAGE\nALPHA_J2000\nDELTA_J2000\nFLUX_AUTO\nFLAGS\n";
    testing::CommandResult run = testing::RunCommand(absl::StrCat(
        "cd ", dir.path(),
        " && source-extractor det.fits -c default.sex -CATALOG_NAME se.fits"
        " -CATALOG_TYPE FITS_1.0 -PARAMETERS_NAME default.param -FILTER N"
        " -DETECT_THRESH 3 -VERBOSE_TYPE QUIET"));
    ASSERT_EQ(run.exit_code, 0) << run.output;

    auto se = FitsFile::Open(dir.Join("se.fits"));
    ASSERT_TRUE(se.ok()) << se.status();
    ASSERT_TRUE(se->MoveToHdu(2).ok());
    std::vector<double> sx = Read(*se, "X_IMAGE"), sy = Read(*se, "Y_IMAGE"),
                        sra = Read(*se, "ALPHA_J2000"), sdec = Read(*se, "DELTA_J2000");

    auto cat = FitsFile::Open(night + "w20071021_00001_cat.fits");
    ASSERT_TRUE(cat->MoveToExtName(absl::StrCat("DET", cam)).ok());
    const double zp = *cat->ReadDouble("MAGZPT"), exptime = *cat->ReadDouble("EXPTIME");
    std::vector<double> x = Read(*cat, "X_coordinate"), y = Read(*cat, "Y_coordinate"),
                        ra = Read(*cat, "RA"), dec = Read(*cat, "DEC"),
                        flux = Read(*cat, "Aper_flux_13");
    for (size_t i = 0; i < x.size(); ++i) {
      const double mag = zp - 2.5 * std::log10(flux[i] / exptime);
      if (mag > 17.0) continue;  // bright stars only
      ++bright;
      double best = 1e9;
      size_t best_j = 0;
      for (size_t j = 0; j < sx.size(); ++j) {
        const double d = std::hypot(sx[j] - x[i], sy[j] - y[i]);
        if (d < best) best = d, best_j = j;
      }
      if (best > 1.0) continue;
      ++found;
      // WCSLIB's sky position of the detection against ours.
      const double cosd = std::cos(dec[i]);
      const double sep = std::hypot((sra[best_j] - ra[i] * 180 / M_PI) * cosd,
                                    sdec[best_j] - dec[i] * 180 / M_PI) * 3600;
      if (best < 0.1) {
        worst_sky_arcsec = std::max(worst_sky_arcsec, sep - best * 0.4);
        ++sky_checked;
      }
    }
  }
  const double fraction = static_cast<double>(found) / bright;
  std::printf("source-extractor found %d of %d stars brighter than mag 17 within "
              "1 pixel (%.1f%%); worst sky offset beyond the pixel offset %.3f "
              "arcsec over %d close matches\n",
              found, bright, 100 * fraction, worst_sky_arcsec, sky_checked);
  ASSERT_GT(bright, 100);
  // Blends of two stars can pull a centroid away; nearly all must match.
  EXPECT_GT(fraction, 0.9);
  EXPECT_GT(sky_checked, 20);
  EXPECT_LT(worst_sky_arcsec, 0.2);
}

}  // namespace
}  // namespace curator::synth
