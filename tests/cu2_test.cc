// CU2 previews: zscale against astropy's ZScaleInterval, orientation,
// sizes, bad input, and the whole night into multiframe_detector.comp_file.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "archive/file_registry.h"
#include "archive/task_log.h"
#include "base/cpu.h"
#include "base/crc32c.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "fits/fits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingester/ingest.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/temp_dir.h"
#include "worker/cu2_task.h"
#include "worker/cu3_task.h"
#include "worker/jpeg.h"
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

// A detector image (HDU 2) written with CFITSIO, for the stored-pixel
// path: float32 or int32, plain or Rice, with extra keywords.
template <typename T>
std::string WriteDetector(const std::string& dir, const std::string& name, int bitpix,
                          fits::Compression compression, const std::vector<T>& pixels,
                          int64_t nx, int64_t ny,
                          const std::vector<std::pair<std::string, double>>& keys = {}) {
  const std::string path = absl::StrCat(dir, "/", name, ".fits");
  auto f = fits::FitsFile::Create(path);
  EXPECT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->CreateImage(8, {}).ok());
  EXPECT_TRUE(f->CreateImage(bitpix, {nx, ny}, compression).ok());
  for (const auto& [key, value] : keys) {
    if (key == "BLANK") {
      EXPECT_TRUE(f->WriteKey(key, static_cast<int64_t>(value)).ok());
    }
  }
  const absl::Status written =
      f->WritePixels(pixels.data(), static_cast<int64_t>(pixels.size()));
  EXPECT_TRUE(written.ok()) << written;
  // Scaling keywords after the pixels: the bytes stay as written and
  // readers apply them.
  for (const auto& [key, value] : keys) {
    if (key != "BLANK") {
      EXPECT_TRUE(f->WriteKey(key, value).ok());
    }
  }
  EXPECT_TRUE(f->Close().ok());
  return path;
}

// Sky noise around `level` with a bright star, blanks where `blank` says.
template <typename T>
std::vector<T> Sky(int64_t nx, int64_t ny, double level, double sigma,
                   const std::function<bool(int64_t, int64_t)>& blank, T blank_value) {
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, sigma);
  std::vector<T> px(static_cast<size_t>(nx * ny));
  for (int64_t y = 0; y < ny; ++y) {
    for (int64_t x = 0; x < nx; ++x) {
      const double r2 = (x - 30) * (x - 30) + (y - 20) * (y - 20);
      const double v = level + 40 * sigma * std::exp(-r2 / 20.0) + noise(rng);
      px[y * nx + x] = blank(x, y) ? blank_value : static_cast<T>(std::lround(v));
    }
  }
  return px;
}

// MakePreview of one detector's stored pixels against the float path's;
// `picture` gets the stored path's 8 bits.
void CompareStoredWithFloat(const std::string& path, worker::JpegOptions::Scaling scaling,
                            bool one_grey, std::vector<uint8_t>* picture) {
  const int64_t nx = 300, ny = 200;
  auto f = fits::FitsFile::Open(path);
  ASSERT_TRUE(f.ok() && f->MoveToHdu(2).ok());
  fits::StoredImage stored;
  absl::StatusOr<bool> read = f->ReadStored(stored);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(*read);
  std::vector<float> pixels(nx * ny);
  ASSERT_TRUE(f->ReadRows(0, ny, pixels.data()).ok());
  size_t differ = 0, nonfinite = 0;
  for (size_t i = 0; i < pixels.size(); ++i) {
    const float v = stored.Value(i);
    differ += std::memcmp(&v, &pixels[i], sizeof v) != 0;
    nonfinite += !std::isfinite(pixels[i]);
  }
  EXPECT_EQ(differ, 0u) << "stored values that are not ReadRows'";
  EXPECT_EQ(stored.blank_pixels, static_cast<int64_t>(nonfinite));

  worker::JpegOptions o;
  o.scaling = scaling;
  worker::PreviewScratch from_stored, from_float;
  auto a = worker::MakePreview(stored, o, from_stored);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(a->ok()) << a->status();
  auto b = worker::MakePreview(pixels.data(), nx, ny, o, from_float);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)->limits.lo, b->limits.lo);
  EXPECT_EQ((*a)->limits.hi, b->limits.hi);
  EXPECT_EQ((*a)->all_blank, b->all_blank);
  ASSERT_EQ(from_stored.picture.size(), from_float.picture.size());
  int worst = 0;
  size_t off_by_one = 0;
  for (size_t i = 0; i < from_float.picture.size(); ++i) {
    const int d = std::abs(from_stored.picture[i] - from_float.picture[i]);
    worst = std::max(worst, d);
    off_by_one += d != 0;
  }
  EXPECT_LE(worst, 1) << "grey levels apart";
  EXPECT_LE(off_by_one, from_float.picture.size() / 200) << "pixels a grey level apart";
  // Stretched from black to white, or one grey.
  *picture = from_stored.picture;
  const auto [lo, hi] =
      std::minmax_element(from_stored.picture.begin(), from_stored.picture.end());
  if (one_grey) {
    EXPECT_EQ(*lo, *hi);
  } else {
    EXPECT_EQ(*lo, 0);
    EXPECT_EQ(*hi, 255);
  }
}

TEST(PreviewTest, StoredPixelsGiveTheFloatPathsPicture) {
  testing::TempDir dir("curator-cu2-stored-");
  const int64_t nx = 300, ny = 200;
  const auto none = [](int64_t, int64_t) { return false; };
  const auto holes = [](int64_t x, int64_t y) {
    return (x * 7 + y * 3) % 97 == 0 || (y == 150 && x < 100);
  };
  struct Image {
    std::string name;
    std::string path;
    bool one_grey = false;  // constant or all blank
    worker::JpegOptions::Scaling scaling = worker::JpegOptions::Scaling::kZScale;
  };
  std::vector<float> floats = Sky<float>(nx, ny, 500, 15, holes, NAN);
  floats[5] = INFINITY;
  std::vector<Image> images = {
      {"float32 with NaN holes, BSCALE and BZERO",
       WriteDetector(dir.path(), "float", -32, fits::Compression::kNone, floats, nx, ny,
                     {{"BSCALE", 2.0}, {"BZERO", 10.0}})},
      {"Rice int32 with blanks",
       WriteDetector(dir.path(), "rice_blank", 32, fits::Compression::kRice,
                     Sky<int32_t>(nx, ny, 1000, 12, holes, -999), nx, ny, {{"BLANK", -999}})},
      // Unsigned 32-bit (BITPIX 32, BZERO 2^31): stored values near -2^31,
      // where float has 256-count steps; every grey level must survive.
      {"Rice unsigned int32",
       WriteDetector(dir.path(), "rice_uint", 32, fits::Compression::kRice,
                     Sky<int32_t>(nx, ny, 1000.0 - 2147483648.0, 12, none, 0), nx, ny,
                     {{"BZERO", 2147483648.0}})},
      {"Rice int32, full-range noise",
       WriteDetector(dir.path(), "rice_wide", 32, fits::Compression::kRice,
                     Sky<int32_t>(nx, ny, 0, 1e9, none, 0), nx, ny)},
      {"float32 constant",
       WriteDetector(dir.path(), "flat", -32, fits::Compression::kNone,
                     std::vector<float>(nx * ny, 5.0f), nx, ny),
       true},
      {"float32 all NaN",
       WriteDetector(dir.path(), "nan", -32, fits::Compression::kNone,
                     std::vector<float>(nx * ny, NAN), nx, ny),
       true},
  };
  images.push_back(images[1]);
  images.back().name += ", percentiles";
  images.back().scaling = worker::JpegOptions::Scaling::kPercentile;

  // Both builds of the row loops (base/cpu.h) give the same picture.
  std::vector<std::vector<uint8_t>> pictures[2];
  for (bool baseline : {false, true}) {
    cpu::ScopedBuildForTesting build(baseline);
    for (const Image& image : images) {
      SCOPED_TRACE(image.name + (baseline ? ", baseline x86-64 build" : ", this CPU's build"));
      CompareStoredWithFloat(image.path, image.scaling, image.one_grey,
                             &pictures[baseline].emplace_back());
    }
  }
  EXPECT_TRUE(pictures[0] == pictures[1]) << "the two builds' pictures differ";
}

TEST(PreviewTest, StoredPixelsKeepFitsOrientation) {
  // Bright only in FITS rows 1..8, columns 1..8: the bottom left, through
  // the stored-pixel path (zscale) this time.
  testing::TempDir dir("curator-cu2-stored-");
  const int64_t nx = 64, ny = 32;
  std::vector<int32_t> px = Sky<int32_t>(nx, ny, 100, 3, [](int64_t, int64_t) { return false; }, 0);
  for (int64_t y = 0; y < 8; ++y) {
    for (int64_t x = 0; x < 8; ++x) px[y * nx + x] = 5000;
  }
  const std::string path =
      WriteDetector(dir.path(), "corner", 32, fits::Compression::kRice, px, nx, ny);
  auto f = fits::FitsFile::Open(path);
  ASSERT_TRUE(f.ok() && f->MoveToHdu(2).ok());
  fits::StoredImage stored;
  ASSERT_TRUE(*f->ReadStored(stored));
  worker::PreviewScratch scratch;
  auto p = worker::MakePreview(stored, worker::JpegOptions{}, scratch);
  ASSERT_TRUE(p.has_value() && p->ok());
  jpeg::Info info;
  auto gray = jpeg::DecodeGray((*p)->jpeg, &info);
  ASSERT_TRUE(gray.ok());
  EXPECT_EQ(info.width, 64);
  EXPECT_EQ(info.height, 32);
  auto at = [&](int x, int y) { return (*gray)[y * 64 + x]; };  // y = 0 at the top
  EXPECT_GT(at(3, 28), 200);  // bottom left: bright
  EXPECT_LT(at(3, 3), 200);   // top left: sky
  EXPECT_LT(at(60, 28), 200);  // bottom right: sky
  // Min/max and binning are the float path's: not taken here.
  worker::JpegOptions minmax;
  minmax.scaling = worker::JpegOptions::Scaling::kMinMax;
  EXPECT_FALSE(worker::MakePreview(stored, minmax, scratch).has_value());
  worker::JpegOptions binned;
  binned.max_size = 16;
  EXPECT_FALSE(worker::MakePreview(stored, binned, scratch).has_value());
}

TEST(PreviewTest, OtherImagesAreNotReadAsStored) {
  // Plain integers and gzip tiles go through ReadRows and float.
  testing::TempDir dir("curator-cu2-stored-");
  const std::vector<int32_t> px(40 * 30, 7);
  for (auto [name, bitpix, compression] :
       {std::tuple{"int16", 16, fits::Compression::kNone},
        std::tuple{"int32", 32, fits::Compression::kNone},
        std::tuple{"gzip", 32, fits::Compression::kGzip}}) {
    const std::string path = WriteDetector(dir.path(), name, bitpix, compression, px, 40, 30);
    auto f = fits::FitsFile::Open(path);
    ASSERT_TRUE(f.ok() && f->MoveToHdu(2).ok());
    fits::StoredImage stored;
    absl::StatusOr<bool> read = f->ReadStored(stored);
    ASSERT_TRUE(read.ok()) << name << ": " << read.status();
    EXPECT_FALSE(*read) << name;
  }
}

// Pixels with noise from a fixed integer hash (not <random>'s
// distributions, which a standard library may change), a star and a
// gradient, blank where `blank` says.
template <typename T>
std::vector<T> HashSky(int64_t nx, int64_t ny, double level, double sigma,
                       const std::function<bool(int64_t, int64_t)>& blank,
                       T blank_value) {
  std::vector<T> px(static_cast<size_t>(nx * ny));
  for (int64_t y = 0; y < ny; ++y) {
    for (int64_t x = 0; x < nx; ++x) {
      uint64_t h =
          static_cast<uint64_t>(y * nx + x + 1) * 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
      h *= 0xBF58476D1CE4E5B9ull;
      h ^= h >> 32;
      const double u =
          static_cast<double>(h % 100000) / 100000.0 - 0.5;  // -0.5..0.5
      const double r2 =
          (x - nx / 3) * (x - nx / 3) + (y - ny / 4) * (y - ny / 4);
      const double v = level + 3.5 * sigma * u +
                       40 * sigma * std::exp(-r2 / 20.0) +
                       0.01 * sigma * (x + 2 * y);
      px[y * nx + x] =
          blank(x, y) ? blank_value : static_cast<T>(std::lround(v));
    }
  }
  return px;
}

// The JPEG bytes CU2 writes for small images of every kind it reads, as
// CRC-32C, pinned: a change of the reading, sampling, scaling or encoding
// that alters one byte of any preview fails here. (Made by Debian 12's
// CFITSIO and libjpeg-turbo 2.1; another encoder version may differ.)
TEST(PreviewTest, TheJpegBytesOfEveryKindOfImageArePinned) {
  testing::TempDir dir("curator-cu2-pinned-");
  const auto none = [](int64_t, int64_t) { return false; };
  const auto holes = [](int64_t x, int64_t y) {
    return (x * 7 + y * 3) % 97 == 0 || (y == 50 && x < 40);
  };
  struct Image {
    std::string name;
    std::string path;
  };
  std::vector<float> floats = HashSky<float>(301, 203, 500, 15, holes, NAN);
  floats[5] = INFINITY;
  floats[6] = -INFINITY;
  const std::vector<Image> images = {
      {"float_nan",
       WriteDetector(dir.path(), "float_nan", -32, fits::Compression::kNone,
                     floats, 301, 203, {{"BSCALE", 2.0}, {"BZERO", 10.0}})},
      {"float_plain",
       WriteDetector(dir.path(), "float_plain", -32, fits::Compression::kNone,
                     HashSky<float>(517, 263, 1000, 20, none, 0.0f), 517, 263)},
      {"rice_blank",
       WriteDetector(dir.path(), "rice_blank", 32, fits::Compression::kRice,
                     HashSky<int32_t>(259, 131, 1000, 12, holes, -999), 259,
                     131, {{"BLANK", -999}})},
      {"rice_uint",
       WriteDetector(
           dir.path(), "rice_uint", 32, fits::Compression::kRice,
           HashSky<int32_t>(128, 96, 1000.0 - 2147483648.0, 12, none, 0), 128,
           96, {{"BZERO", 2147483648.0}})},
      {"rice_wide",
       WriteDetector(dir.path(), "rice_wide", 32, fits::Compression::kRice,
                     HashSky<int32_t>(77, 55, 0, 1e8, none, 0), 77, 55)},
      {"plain_int16",
       WriteDetector(dir.path(), "plain_int16", 16, fits::Compression::kNone,
                     HashSky<int32_t>(99, 45, 3000, 30, none, 0), 99, 45,
                     {{"BZERO", 32768.0}})},
      {"gzip_int32",
       WriteDetector(dir.path(), "gzip_int32", 32, fits::Compression::kGzip,
                     HashSky<int32_t>(64, 40, 100, 5, none, 0), 64, 40)},
      {"constant",
       WriteDetector(dir.path(), "constant", -32, fits::Compression::kNone,
                     std::vector<float>(33 * 17, 5.0f), 33, 17)},
      {"all_nan",
       WriteDetector(dir.path(), "all_nan", -32, fits::Compression::kNone,
                     std::vector<float>(40 * 24, NAN), 40, 24)},
      {"rice_all_blank",
       WriteDetector(dir.path(), "rice_all_blank", 32, fits::Compression::kRice,
                     std::vector<int32_t>(40 * 24, -1), 40, 24,
                     {{"BLANK", -1}})},
      {"one_pixel",
       WriteDetector(dir.path(), "one_pixel", -32, fits::Compression::kNone,
                     std::vector<float>{3.0f}, 1, 1)},
  };
  worker::JpegOptions zscale, percentile, minmax, binned;
  percentile.scaling = worker::JpegOptions::Scaling::kPercentile;
  minmax.scaling = worker::JpegOptions::Scaling::kMinMax;
  binned.max_size = 100;
  binned.quality = 70;
  const std::pair<const char*, worker::JpegOptions> options[] = {
      {"zscale", zscale},
      {"percentile", percentile},
      {"minmax", minmax},
      {"binned", binned}};
  std::map<std::string, uint32_t> crcs;
  for (bool baseline : {false, true}) {
    cpu::ScopedBuildForTesting build(baseline);
    for (const auto& [option_name, o] : options) {
      worker::Cu2Input in;
      in.archive_root =
          absl::StrCat(dir.path(), "/archive-", option_name, baseline);
      in.night = "20071021";
      in.threads = 1;
      in.jpeg = o;
      for (const Image& image : images) {
        in.images.push_back({static_cast<int64_t>(in.images.size() + 1),
                             image.path, image.name + ".fits",
                             absl::FromUnixSeconds(0), ""});
      }
      auto out = worker::RunCu2(in);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->manifest.failures_size(), 0)
          << out->manifest.failures(0).message();
      for (const Image& image : images) {
        const std::string jpeg = testing::ReadFileToString(
            absl::StrCat(out->batch_dir, "/previews/", image.name, "_2.jpg"));
        const uint32_t crc = Crc32c(0, jpeg.data(), jpeg.size());
        const std::string key = absl::StrCat(option_name, " ", image.name);
        if (baseline) {
          EXPECT_EQ(crc, crcs[key])
              << key << ": the baseline build's JPEG differs";
        } else {
          crcs[key] = crc;
        }
      }
    }
  }
  const std::map<std::string, uint32_t> expected = {
      {"binned all_nan", 0xc6fe17a0},
      {"binned constant", 0xda0aab36},
      {"binned float_nan", 0x0b783767},
      {"binned float_plain", 0x304f2b24},
      {"binned gzip_int32", 0x6012231e},
      {"binned one_pixel", 0x788e3168},
      {"binned plain_int16", 0x4ace810a},
      {"binned rice_all_blank", 0xc6fe17a0},
      {"binned rice_blank", 0x779283b2},
      {"binned rice_uint", 0x38bf3f14},
      {"binned rice_wide", 0x3040e319},
      {"minmax all_nan", 0xd571560d},
      {"minmax constant", 0x4ab047d7},
      {"minmax float_nan", 0x9b3b9c54},
      {"minmax float_plain", 0x7372dc85},
      {"minmax gzip_int32", 0x5d66d23c},
      {"minmax one_pixel", 0x9df48dc3},
      {"minmax plain_int16", 0x391303d3},
      {"minmax rice_all_blank", 0xd571560d},
      {"minmax rice_blank", 0x2ff6c664},
      {"minmax rice_uint", 0xa2340ca6},
      {"minmax rice_wide", 0x33a5695f},
      {"percentile all_nan", 0xd571560d},
      {"percentile constant", 0x4ab047d7},
      {"percentile float_nan", 0x666e1ef8},
      {"percentile float_plain", 0xc3c6276c},
      {"percentile gzip_int32", 0x113c814a},
      {"percentile one_pixel", 0x9df48dc3},
      {"percentile plain_int16", 0x4ef9b071},
      {"percentile rice_all_blank", 0xd571560d},
      {"percentile rice_blank", 0x1b40a9d7},
      {"percentile rice_uint", 0xa9b0574e},
      {"percentile rice_wide", 0x6cad6ae1},
      {"zscale all_nan", 0xd571560d},
      {"zscale constant", 0x4ab047d7},
      {"zscale float_nan", 0xc6a86519},
      {"zscale float_plain", 0xb6165672},
      {"zscale gzip_int32", 0xb012f085},
      {"zscale one_pixel", 0x9df48dc3},
      {"zscale plain_int16", 0x8b6db277},
      {"zscale rice_all_blank", 0xd571560d},
      {"zscale rice_blank", 0x48810ab4},
      {"zscale rice_uint", 0x102fb3b1},
      {"zscale rice_wide", 0xb33ae61c},
  };
  std::string got;
  for (const auto& [key, crc] : crcs)
    absl::StrAppendFormat(&got, "      {\"%s\", 0x%08x},\n", key, crc);
  EXPECT_TRUE(crcs == expected) << "the JPEG bytes changed; now:\n" << got;
}

class Cu2NightTest : public testing::PipelineTest {
 protected:
  static constexpr const char* kNight = "20071021";

  // CU2 of a night of `o` (16 frames) with every defect, registered: its
  // failures are the images it cannot read, frames 3, 4, 5 and 16 (a
  // BITPIX of 13, 2000000000^2 pixels, a garbage XTENSION, truncated),
  // returned by file name.
  std::map<std::string, std::string> Cu2OfANightWithDefects(synth::Options o,
                                                            worker::TaskOutput* cu2) {
    o.defects = synth::AllDefects();
    Generate(o);
    Register(kNight);
    *cu2 = Cu2(kNight);
    std::map<std::string, std::string> failures;
    for (const auto& f : cu2->manifest.failures()) {
      failures[fs::path(f.path()).filename().string()] = f.message();
    }
    EXPECT_EQ(failures.size(), 4u);
    const bool rice = o.compression == fits::Compression::kRice;
    EXPECT_THAT(failures["w20071021_00003.fit"],
                HasSubstr(absl::StrCat("w20071021_00003.fit HDU 3 (DET2): ", rice ? "Z" : "",
                                       "BITPIX = 13 is not a FITS data type")));
    EXPECT_THAT(failures["w20071021_00004.fit"],
                HasSubstr(absl::StrCat("w20071021_00004.fit HDU 5 (DET4): ", rice ? "ZNAXIS1 x ZNAXIS2" : "NAXIS1 x NAXIS2",
                                       " = 2000000000 x 2000000000 = 4e+18 pixels, more than the "
                                       "limit of 268435456")));
    EXPECT_THAT(failures["w20071021_00005.fit"],
                HasSubstr("w20071021_00005.fit HDU 4 (DET3): XTENSION = 'IM@G#~ 3' is not a "
                          "FITS extension type"));
    EXPECT_THAT(failures["w20071021_00016.fit"], HasSubstr("truncated: the file has"));
    return failures;
  }

  // The JPEGs a CU2 batch carries (published at its ingest), by file
  // name, checked to be grayscale pictures of size x size.
  std::set<std::string> Jpegs(const worker::TaskOutput& cu2, int size) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(cu2.batch_dir + "/previews")) {
      jpeg::Info info;
      auto gray = jpeg::DecodeGray(testing::ReadFileToString(entry.path().string()), &info);
      EXPECT_TRUE(gray.ok()) << entry.path();
      EXPECT_EQ(info.width, size);
      EXPECT_EQ(info.height, size);
      EXPECT_TRUE(info.grayscale);
      names.insert(entry.path().filename().string());
    }
    return names;
  }
};

TEST_F(Cu2NightTest, AnImageOfTwoBillionSquaredPixelsFailsAloneAndTheRestGetJpegs) {
  // Frame 3's DET4 header says NAXIS1 = NAXIS2 = 2000000000 (and the file
  // ends after it): in service mode this once killed the worker
  // (std::length_error) with all its tasks.
  synth::Options o = Survey(1, 4, 10, 96);
  o.defects = {synth::Defect::kHugeImage};
  Generate(o);
  Register(kNight);
  worker::TaskOutput cu2 = Cu2(kNight);
  ASSERT_FALSE(cu2.batch_dir.empty());  // RunCu2 returned OK
  ASSERT_EQ(cu2.manifest.failures_size(), 1);
  EXPECT_THAT(cu2.manifest.failures(0).path(), HasSubstr("w20071021_00004.fit"));
  EXPECT_THAT(cu2.manifest.failures(0).message(),
              HasSubstr("w20071021_00004.fit HDU 5 (DET4): NAXIS1 x NAXIS2 = 2000000000 x "
                        "2000000000 = 4e+18 pixels, more than the limit of 268435456"));
  // Every detector of the other files has its JPEG in the batch; the
  // failed file has none.
  std::set<std::string> expected;
  for (int run : {1, 2, 3}) {
    for (int hdu = 2; hdu <= 5; ++hdu) {
      expected.insert(absl::StrFormat("w20071021_%05d_%d.jpg", run, hdu));
    }
  }
  EXPECT_EQ(Jpegs(cu2, 96), expected);
  EXPECT_EQ(cu2.manifest.assets_size(), 12);
  int64_t rows = 0;
  for (const auto& in : cu2.manifest.inputs()) {
    const bool huge = fs::path(in.path()).filename() == "w20071021_00004.fit";
    EXPECT_EQ(in.errors(), huge ? 1 : 0) << in.path();
    EXPECT_EQ(in.rows(), huge ? 0 : 4) << in.path();
    rows += in.rows();
  }
  EXPECT_EQ(rows, 12);
}

TEST_F(Cu2NightTest, APlainFloatNightWithDefectsGetsItsJpegs) {
  // Plain float32 detectors take the stored-pixel path end to end; the
  // truncated file is named and the rest of the night goes on.
  const std::string night = kNight;
  worker::TaskOutput cu2;
  const std::map<std::string, std::string> failures =
      Cu2OfANightWithDefects(Survey(1, 16, 30, 200), &cu2);
  // Their first detectors were fine, but a failed file leaves no previews
  // in the batch.
  int jpegs = 0;
  for (const auto& entry : fs::directory_iterator(cu2.batch_dir + "/previews")) {
    for (const auto& [failed, message] : failures) {
      const std::string stem = fs::path(failed).stem().string();
      EXPECT_NE(entry.path().filename().string().rfind(stem + "_", 0), 0u) << entry.path();
    }
    jpeg::Info info;
    auto gray = jpeg::DecodeGray(testing::ReadFileToString(entry.path().string()), &info);
    ASSERT_TRUE(gray.ok()) << entry.path();
    EXPECT_EQ(info.width, 200);
    EXPECT_EQ(info.height, 200);
    EXPECT_TRUE(info.grayscale);
    // Sky stretched by zscale: mid-grey on average, neither black nor white.
    double mean = 0;
    for (uint8_t v : *gray) mean += v;
    mean /= static_cast<double>(gray->size());
    EXPECT_GT(mean, 40) << entry.path();
    EXPECT_LT(mean, 215) << entry.path();
    ++jpegs;
  }
  // Every detector of every readable image file (the four failed are
  // out).
  EXPECT_EQ(jpegs, 4 * (static_cast<int>(cu2.manifest.inputs_size()) - 4));
  EXPECT_GE(jpegs, 4 * 13);
}

TEST_F(Cu2NightTest, EveryDetectorGetsAJpegNamedInTheArchive) {
  synth::Options o = Survey(1, 16, 30, 200);
  o.compression = fits::Compression::kRice;
  o.bitpix = 32;
  const std::string night = kNight;
  worker::TaskOutput cu2;
  std::map<std::string, std::string> failures = Cu2OfANightWithDefects(o, &cu2);
  EXPECT_THAT(failures["w20071021_00016.fit"],
              HasSubstr("w20071021_00016.fit HDU 4 (DET3): truncated: the file has"));
  // CU2 waits for the night's CU3 ingest.
  ingester::Ingester loader(conn_.get(), ingester::DefaultIngestOptions(archive_));
  EXPECT_EQ(loader.IngestBatch(cu2.batch_dir)->kind, IK::kWaiting);
  Cu3(night);
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& oc : outcomes) EXPECT_EQ(oc.kind, IK::kIngested) << oc.report;

  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  // The 12 images CU3 loaded have all 4 previews; the duplicate's were
  // left out (named in the batch).
  pqxx::result rows = tx.exec("SELECT comp_file, axis1_length, axis2_length FROM "
                              "multiframe_detector ORDER BY multiframe_id, ext_num");
  ASSERT_EQ(rows.size(), 48u);
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
                     "'%w20071021_00018_2.jpg: detector%has no CU3 row%'")[0].as<int>(),
            1);
}

}  // namespace
}  // namespace curator
