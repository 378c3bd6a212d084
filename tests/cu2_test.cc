// CU2 previews: zscale against astropy's ZScaleInterval, orientation,
// sizes, bad input, and the whole night into multiframe_detector.comp_file.
#include <cmath>
#include <filesystem>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/fits.h"
#include "common/jpeg.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "common/task_log.h"
#include "daemon/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingester/loader.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/temp_dir.h"
#include "worker/cu2_task.h"
#include "worker/cu3_task.h"
#include "worker/scaling.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using IK = ingester::IngestOutcome::Kind;

std::vector<float> ReadDetector(const std::string& path, int hdu, int64_t* nx, int64_t* ny) {
  auto f = fits::FitsFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->MoveToHdu(hdu).ok());
  auto info = f->GetImageInfo();
  *nx = info->axes[0];
  *ny = info->axes[1];
  std::vector<float> px(*nx * *ny);
  EXPECT_TRUE(f->ReadRows(0, *ny, px.data()).ok());
  return px;
}

// astropy.visualization.ZScaleInterval().get_limits() on the detectors of
// curator-synth --frames 1 --size 256 --sources 60 --seed 7, computed once
// (python3-astropy) and kept here.
TEST(ZScaleTest, AgreesWithAstropyWithinAFewPercent) {
  testing::TempDir dir;
  synth::Options o;
  o.out_dir = dir.path();
  o.frames_per_night = 1;
  o.image_size = 256;
  o.sources_per_detector = 60;
  o.seed = 7;
  ASSERT_TRUE(synth::GenerateSurvey(o).ok());
  struct Expected { int hdu; double lo, hi; } expected[] = {
      {2, 498.690918, 622.003040},
      {3, 535.540833, 658.788823},
      {4, 589.431091, 711.060313},
      {5, 548.275208, 665.223813},
  };
  for (const Expected& e : expected) {
    int64_t nx, ny;
    std::vector<float> px = ReadDetector(dir.path() + "/incoming/20071021/w20071021_00001.fit",
                                         e.hdu, &nx, &ny);
    auto z = worker::ZScale(px.data(), px.size());
    ASSERT_TRUE(z.has_value());
    const double range = e.hi - e.lo;
    EXPECT_NEAR(z->lo, e.lo, 0.03 * range) << "HDU " << e.hdu;
    EXPECT_NEAR(z->hi, e.hi, 0.03 * range) << "HDU " << e.hdu;
  }
}

TEST(ZScaleTest, OtherScalingsAndDegenerateData) {
  std::vector<float> ramp(1000);
  for (int i = 0; i < 1000; ++i) ramp[i] = static_cast<float>(i);
  auto mm = worker::MinMax(ramp.data(), ramp.size());
  EXPECT_EQ(mm->lo, 0);
  EXPECT_EQ(mm->hi, 999);
  auto pc = worker::Percentile(ramp.data(), ramp.size(), 10, 90);
  EXPECT_NEAR(pc->lo, 99.9, 0.2);
  EXPECT_NEAR(pc->hi, 899.1, 0.2);
  std::vector<float> nan(100, NAN);
  EXPECT_FALSE(worker::ZScale(nan.data(), nan.size()).has_value());
  std::vector<float> flat(100, 7.0f);
  auto z = worker::ZScale(flat.data(), flat.size());
  EXPECT_EQ(z->lo, 7.0);
  EXPECT_EQ(z->hi, 7.0);
}

TEST(PreviewTest, KeepsFitsOrientationAndSize) {
  // 64 x 32, bright only in FITS rows 1..8, columns 1..8: the bottom left.
  const int64_t nx = 64, ny = 32;
  std::vector<float> px(nx * ny, 100.0f);
  for (int64_t y = 0; y < 8; ++y) {
    for (int64_t x = 0; x < 8; ++x) px[y * nx + x] = 1000.0f;
  }
  worker::JpegOptions o;
  o.scaling = worker::JpegOptions::Scaling::kMinMax;
  o.quality = 95;
  worker::PreviewScratch scratch;
  auto p = worker::MakePreview(px.data(), nx, ny, o, scratch);
  ASSERT_TRUE(p.ok()) << p.status();
  jpeg::Info info;
  auto gray = jpeg::DecodeGray(p->jpeg, &info);
  ASSERT_TRUE(gray.ok());
  EXPECT_EQ(info.width, 64);
  EXPECT_EQ(info.height, 32);
  EXPECT_TRUE(info.grayscale);
  auto at = [&](int x, int y) { return (*gray)[y * 64 + x]; };  // y = 0 at the top
  EXPECT_GT(at(3, 28), 200);  // bottom left: bright
  EXPECT_LT(at(3, 3), 40);    // top left: dark
  EXPECT_LT(at(60, 28), 40);  // bottom right: dark
  // Binned to at most 16 pixels a side: a factor of 4.
  o.max_size = 16;
  p = worker::MakePreview(px.data(), nx, ny, o, scratch);
  info = *jpeg::ReadInfo(p->jpeg);
  EXPECT_EQ(info.width, 16);
  EXPECT_EQ(info.height, 8);
  // All NaN: black, and said so; constant: grey.
  std::vector<float> nan(nx * ny, NAN);
  p = worker::MakePreview(nan.data(), nx, ny, worker::JpegOptions{}, scratch);
  EXPECT_TRUE(p->all_blank);
  EXPECT_LT((*jpeg::DecodeGray(p->jpeg, nullptr))[100], 5);
  std::vector<float> flat(nx * ny, 5.0f);
  p = worker::MakePreview(flat.data(), nx, ny, worker::JpegOptions{}, scratch);
  EXPECT_NEAR((*jpeg::DecodeGray(p->jpeg, nullptr))[100], 128, 3);
}

class Cu2NightTest : public testing::PipelineTest {};

TEST_F(Cu2NightTest, EveryDetectorGetsAJpegNamedInTheArchive) {
  synth::Options o = Survey(1, 10, 30, 200);
  o.compression = fits::Compression::kRice;
  o.bitpix = 32;
  o.defects = synth::AllDefects();
  Generate(o);
  const std::string night = "20071021";
  Register(night);
  worker::TaskOutput cu2 = Cu2(night);
  ASSERT_EQ(cu2.manifest.failures_size(), 1);
  EXPECT_THAT(cu2.manifest.failures(0).message(),
              HasSubstr("w20071021_00010.fit HDU 4 (DET3): truncated: the file has"));
  // CU2 waits for the night's CU3 ingest.
  ingester::Loader loader(conn_.get(), {archive_, ""});
  EXPECT_EQ(loader.IngestBatch(cu2.batch_dir)->kind, IK::kWaiting);
  Cu3(night);
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& oc : outcomes) EXPECT_EQ(oc.kind, IK::kIngested) << oc.report;

  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  // The 9 images CU3 loaded have all 4 previews; the duplicate's were
  // left out (named in the batch).
  pqxx::result rows = tx.exec("SELECT comp_file, axis1_length, axis2_length FROM "
                              "multiframe_detector ORDER BY multiframe_id, ext_num");
  ASSERT_EQ(rows.size(), 36u);
  for (const auto& r : rows) {
    ASSERT_FALSE(r[0].is_null());
    const std::string path = archive_ + "/" + r[0].as<std::string>();
    ASSERT_TRUE(fs::exists(path)) << path;
    auto info = jpeg::ReadInfo(testing::ReadFileToString(path));
    ASSERT_TRUE(info.ok()) << path;
    EXPECT_EQ(info->width, r[1].as<int>());
    EXPECT_EQ(info->height, r[2].as<int>());
    EXPECT_TRUE(info->grayscale);
  }
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM curation.batch WHERE cu = 2 AND failures::text LIKE "
                     "'%w20071021_00012_2.jpg: detector%has no CU3 row%'")[0].as<int>(),
            1);
}

}  // namespace
}  // namespace curator
