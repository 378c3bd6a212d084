// curator-synth's output checked as a user of the files would: by
// fitsverify, by reading them back, and by source-extractor, a tool
// nobody here wrote.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "archive/layout.h"
#include "base/crc32c.h"
#include "fits/casu_catalogue.h"
#include "fits/fits.h"
#include "fits/wcs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace curator::synth {
namespace {

namespace fs = std::filesystem;
using fits::FitsFile;
using ::testing::HasSubstr;

using testing::CommandResult;
using testing::ReadFileToString;
using testing::RunCommand;

Options Small(const std::string& out) {
  Options o;
  o.out_dir = out;
  o.frames_per_night = 3;
  o.image_size = 128;
  o.sources_per_detector = 20;
  return o;
}

// The detector WCS as a reader of the image header sees it.
Wcs ReadWcs(FitsFile& f) {
  Wcs w;
  w.projection = *f.ReadString("CTYPE1") == "RA---ZPN" ? Wcs::Projection::kZpn
                                                       : Wcs::Projection::kTan;
  w.crval1 = *f.ReadDouble("CRVAL1");
  w.crval2 = *f.ReadDouble("CRVAL2");
  w.crpix1 = *f.ReadDouble("CRPIX1");
  w.crpix2 = *f.ReadDouble("CRPIX2");
  w.cd1_1 = *f.ReadDouble("CD1_1");
  w.cd1_2 = *f.ReadDouble("CD1_2");
  w.cd2_1 = *f.ReadDouble("CD2_1");
  w.cd2_2 = *f.ReadDouble("CD2_2");
  for (int m = 1; m <= 3; ++m) {
    auto pv = f.ReadDouble(absl::StrCat("PV2_", m));
    if (pv.ok()) w.pv2[m] = *pv;
  }
  return w;
}

std::vector<float> Column(FitsFile& f, const std::string& name) {
  auto col = f.FindColumn(name);
  EXPECT_TRUE(col.ok()) << col.status();
  std::vector<float> v(*f.NumRows());
  EXPECT_TRUE(f.ReadColumn(col->number, 0, v.size(), v.data()).ok());
  return v;
}

class SynthStorageTest
    : public ::testing::TestWithParam<std::pair<int, fits::Compression>> {};

TEST_P(SynthStorageTest, EveryFilePassesFitsverify) {
  testing::TempDir dir;
  Options o = Small(dir.path());
  o.nights = 2;
  o.bitpix = GetParam().first;
  o.compression = GetParam().second;
  auto survey = GenerateSurvey(o);
  ASSERT_TRUE(survey.ok()) << survey.status();
  ASSERT_EQ(survey->nights.size(), 2u);
  int checked = 0;
  for (const NightRecord& night : survey->nights) {
    EXPECT_EQ(night.images, 3);
    EXPECT_EQ(night.catalogues, 3);
    for (const FileRecord& file : night.files) {
      const std::string path = night.dir + "/" + file.name;
      CommandResult r = RunCommand("fitsverify -q -e " + path);
      EXPECT_EQ(r.exit_code, 0) << r.output;
      EXPECT_THAT(r.output, HasSubstr("verification OK")) << path;
      ++checked;
    }
    EXPECT_TRUE(fs::exists(night.dir + "/" + layout::kTransferMarker));
  }
  EXPECT_EQ(checked, 12);
}

INSTANTIATE_TEST_SUITE_P(
    Storage, SynthStorageTest,
    ::testing::Values(std::make_pair(-32, fits::Compression::kNone),
                      std::make_pair(32, fits::Compression::kRice),
                      std::make_pair(-32, fits::Compression::kRice),
                      std::make_pair(32, fits::Compression::kGzip)));

TEST(SynthTest, ImagesLookLikeWfcamFrames) {
  testing::TempDir dir;
  Options o = Small(dir.path());
  o.compression = fits::Compression::kRice;
  o.bitpix = 32;
  ASSERT_TRUE(GenerateSurvey(o).ok());
  auto f = FitsFile::Open(dir.path() + "/incoming/20071021/w20071021_00002.fit");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f->NumHdus(), 5);
  EXPECT_EQ(*f->ReadString("TELESCOP"), "UKIRT");
  EXPECT_EQ(*f->ReadString("INSTRUME"), "WFCAM");
  EXPECT_EQ(*f->ReadString("UTDATE"), "20071021");
  EXPECT_EQ(*f->ReadInt("OBSNUM"), 2);
  EXPECT_EQ(*f->ReadString("RUNID"), "w20071021_00002");
  // Frame 2 starts a minute after 06:00 UT on MJD 54394.
  EXPECT_NEAR(*f->ReadDouble("MJD-OBS"), 54394.25 + 60.0 / 86400, 1e-9);
  EXPECT_EQ(*f->ReadString("DATE-OBS"), "2007-10-21T06:01:00.000");
  for (const char* key : {"PROJECT", "SURVEY", "OBJECT", "OBSTYPE", "FILTER"}) {
    EXPECT_TRUE(f->ReadString(key).ok()) << key;
  }
  for (const char* key : {"EXPTIME", "RABASE", "DECBASE"}) {
    EXPECT_TRUE(f->ReadDouble(key).ok()) << key;
  }
  for (int cam = 1; cam <= 4; ++cam) {
    ASSERT_TRUE(f->MoveToExtName(absl::StrCat("DET", cam)).ok());
    EXPECT_EQ(*f->ReadInt("CAMNUM"), cam);
    auto info = f->GetImageInfo();
    EXPECT_TRUE(info->tile_compressed);
    EXPECT_EQ(info->bitpix, 32);
    EXPECT_EQ(info->axes, (std::vector<int64_t>{128, 128}));
    EXPECT_EQ(*f->ReadString("CTYPE1"), "RA---ZPN");
    EXPECT_EQ(*f->ReadDouble("PV2_3"), 220.0);
    const double sky = *f->ReadDouble("SKYLEVEL");
    const double noise = *f->ReadDouble("SKYNOISE");
    std::vector<float> px(128 * 128);
    ASSERT_TRUE(f->ReadRows(0, 128, px.data()).ok());
    std::vector<float> sorted = px;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    // The median pixel is sky: within a fifth of the noise.
    EXPECT_NEAR(sorted[sorted.size() / 2], sky, 0.2 * noise + 0.5) << "DET" << cam;
  }
}

TEST(SynthTest, CatalogueListsTheStarsDrawnWithPositionsFromTheWcs) {
  testing::TempDir dir;
  Options o = Small(dir.path());
  o.image_size = 256;
  o.sources_per_detector = 60;
  ASSERT_TRUE(GenerateSurvey(o).ok());
  const std::string night = dir.path() + "/incoming/20071021/";
  auto img = FitsFile::Open(night + "w20071021_00001.fit");
  auto cat = FitsFile::Open(night + "w20071021_00001_cat.fits");
  ASSERT_TRUE(img.ok() && cat.ok());
  for (int cam = 1; cam <= 4; ++cam) {
    const std::string ext = absl::StrCat("DET", cam);
    ASSERT_TRUE(img->MoveToExtName(ext).ok());
    ASSERT_TRUE(cat->MoveToExtName(ext).ok());
    auto columns = cat->Columns();
    ASSERT_EQ(columns->size(), 80u);
    EXPECT_EQ((*columns)[0].name, "Sequence_number");
    EXPECT_EQ((*columns)[58].name, "RA");
    EXPECT_EQ((*columns)[58].unit, "Radians");
    EXPECT_EQ((*columns)[79].name, "Blank80");
    EXPECT_EQ(*cat->NumRows(), 60);

    const Wcs wcs = ReadWcs(*img);
    const double sky = *img->ReadDouble("SKYLEVEL"), noise = *img->ReadDouble("SKYNOISE");
    std::vector<float> px(256 * 256);
    ASSERT_TRUE(img->ReadRows(0, 256, px.data()).ok());
    std::vector<float> x = Column(*cat, "X_coordinate"), y = Column(*cat, "Y_coordinate"),
                       ra = Column(*cat, "RA"), dec = Column(*cat, "DEC"),
                       peak = Column(*cat, "Peak_height");
    for (size_t i = 0; i < x.size(); ++i) {
      SkyPosition p = PixelToSky(wcs, x[i], y[i]);
      const double cosd = std::cos(p.dec * M_PI / 180);
      const double sep = std::hypot((ra[i] * 180 / M_PI - p.ra) * cosd,
                                    dec[i] * 180 / M_PI - p.dec) * 3600;
      // float32 radians carry about 0.05 arcsec.
      EXPECT_LT(sep, 0.1) << ext << " row " << i;
      if (peak[i] > 20 * noise) {
        // A bright star is visible in the image where the catalogue says.
        const int ix = static_cast<int>(std::lround(x[i])) - 1;
        const int iy = static_cast<int>(std::lround(y[i])) - 1;
        EXPECT_GT(px[iy * 256 + ix] - sky, 0.3 * peak[i]) << ext << " row " << i;
      }
    }
  }
}

TEST(SynthTest, SameSeedSameBytesAtAnyThreadCount) {
  testing::TempDir a, b, c;
  Options oa = Small(a.path()), ob = Small(b.path()), oc = Small(c.path());
  oa.compression = ob.compression = oc.compression = fits::Compression::kRice;
  oa.defects = ob.defects = {Defect::kNanColumns, Defect::kDuplicatedFile};
  oc.defects = oa.defects;
  oa.threads = 1;
  ob.threads = 3;
  oc.seed = 2;
  ASSERT_TRUE(GenerateSurvey(oa).ok());
  ASSERT_TRUE(GenerateSurvey(ob).ok());
  ASSERT_TRUE(GenerateSurvey(oc).ok());
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(a.path() + "/incoming/20071021")) {
    const std::string name = entry.path().filename();
    EXPECT_EQ(ReadFileToString(entry.path()), ReadFileToString(b.path() + "/incoming/20071021/" + name))
        << name;
    ++compared;
  }
  EXPECT_EQ(compared, 3 + 3 + 1 + 1);  // images, catalogues, duplicate, marker
  EXPECT_NE(ReadFileToString(a.path() + "/incoming/20071021/w20071021_00001.fit"),
            ReadFileToString(c.path() + "/incoming/20071021/w20071021_00001.fit"));
}

TEST(SynthTest, EachInjectedDefectIsReal) {
  testing::TempDir dir;
  Options o = Small(dir.path());
  o.frames_per_night = 16;
  o.defects = AllDefects();
  auto survey = GenerateSurvey(o);
  ASSERT_TRUE(survey.ok()) << survey.status();
  const std::string n = dir.path() + "/incoming/20071021/";
  auto path = [&](int run, bool cat) {
    return absl::StrFormat("%sw20071021_%05d%s", n, run, cat ? "_cat.fits" : ".fit");
  };
  // Spoiling defects take frames 16, 15, ... in AllDefects() order.
  {  // truncated-image (frame 16): pixels cannot be read, the file is named
    auto f = FitsFile::Open(path(16, false));
    ASSERT_TRUE(f.ok());
    absl::Status s;
    std::vector<float> px(128 * 128);
    for (int hdu = 2; hdu <= 5 && s.ok(); ++hdu) {
      s = f->MoveToHdu(hdu);
      if (s.ok()) s = f->ReadRows(0, 128, px.data());
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("w20071021_00016.fit"));
    EXPECT_NE(RunCommand("fitsverify -q -e " + path(16, false)).exit_code, 0);
  }
  {  // truncated-catalogue (frame 15)
    auto f = FitsFile::Open(path(15, true));
    ASSERT_TRUE(f.ok());
    absl::Status s;
    std::vector<float> v(20);
    for (int hdu = 2; hdu <= 5 && s.ok(); ++hdu) {
      s = f->MoveToHdu(hdu);
      for (int c = 1; c <= 80 && s.ok(); ++c) s = f->ReadColumn(c, 0, 20, v.data());
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  }
  {  // missing-keyword (frame 14)
    auto f = FitsFile::Open(path(14, false));
    EXPECT_EQ(f->ReadDouble("MJD-OBS").status().code(), absl::StatusCode::kNotFound);
    ASSERT_TRUE(f->MoveToExtName("DET2").ok());
    EXPECT_EQ(f->ReadDouble("MAGZPT").status().code(), absl::StatusCode::kNotFound);
    ASSERT_TRUE(f->MoveToExtName("DET1").ok());
    EXPECT_TRUE(f->ReadDouble("MAGZPT").ok());
  }
  {  // wrong-keyword-type (frame 13)
    auto f = FitsFile::Open(path(13, false));
    EXPECT_EQ(f->ReadDouble("EXPTIME").status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  {  // nan-columns (frame 12): every 10th RA/DEC of DET1
    auto f = FitsFile::Open(path(12, true));
    ASSERT_TRUE(f->MoveToExtName("DET1").ok());
    std::vector<float> ra = Column(*f, "RA"), dec = Column(*f, "DEC");
    for (size_t i = 0; i < ra.size(); ++i) {
      EXPECT_EQ(std::isnan(ra[i]), i % 10 == 0) << i;
      EXPECT_EQ(std::isnan(dec[i]), i % 10 == 0) << i;
    }
  }
  {  // empty-table (frame 11): DET3 has no rows, the others do
    auto f = FitsFile::Open(path(11, true));
    ASSERT_TRUE(f->MoveToExtName("DET3").ok());
    EXPECT_EQ(*f->NumRows(), 0);
    ASSERT_TRUE(f->MoveToExtName("DET4").ok());
    EXPECT_EQ(*f->NumRows(), 20);
  }
  {  // wrong-column-type (frame 10)
    auto f = FitsFile::Open(path(10, true));
    ASSERT_TRUE(f->MoveToExtName("DET1").ok());
    auto col = f->FindColumn("X_coordinate");
    EXPECT_EQ(col->tform, "12A");
    std::vector<float> v(20);
    EXPECT_EQ(f->ReadColumn(col->number, 0, 20, v.data()).code(),
              absl::StatusCode::kInvalidArgument);
  }
  {  // ra-out-of-range (frame 9): the last 5 RA of DET2 are 1e6 radians
    auto f = FitsFile::Open(path(9, true));
    ASSERT_TRUE(f->MoveToExtName("DET2").ok());
    std::vector<float> ra = Column(*f, "RA");
    ASSERT_EQ(ra.size(), 20u);
    for (size_t i = 0; i < ra.size(); ++i) EXPECT_EQ(ra[i] == 1e6f, i >= 15) << i;
  }
  {  // extra-tables (frame 8): 8 tables of the 4 detectors' rows, twice
    auto f = FitsFile::Open(path(8, true));
    EXPECT_EQ(*f->NumHdus(), 9);
    ASSERT_TRUE(f->MoveToExtName("DET8").ok());
    EXPECT_EQ(*f->NumRows(), 20);
  }
  {  // missing-tables (frame 7): DET1 and DET2 only
    auto f = FitsFile::Open(path(7, true));
    EXPECT_EQ(*f->NumHdus(), 3);
    EXPECT_TRUE(f->MoveToExtName("DET2").ok());
  }
  {  // duplicate-seqnum (frame 6): rows 1 and 2 of DET1 both number 1
    auto f = FitsFile::Open(path(6, true));
    ASSERT_TRUE(f->MoveToExtName("DET1").ok());
    std::vector<float> seq = Column(*f, "Sequence_number");
    EXPECT_EQ(seq[0], 1);
    EXPECT_EQ(seq[1], 1);
    EXPECT_EQ(seq[2], 3);
  }
  {  // garbage-xtension (frame 5): DET3's header does not say what it is
    auto f = FitsFile::Open(path(5, false));
    absl::Status s = f->MoveToHdu(4);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("w20071021_00005.fit HDU 4 (DET3): XTENSION = 'IM@G#~ 3' is not a FITS "
                          "extension type"));
    EXPECT_TRUE(f->MoveToHdu(3).ok());  // the detectors before it are fine
  }
  {  // huge-image (frame 4): DET4 of 2000000000 x 2000000000 pixels, no data
    auto f = FitsFile::Open(path(4, false));
    absl::Status s = f->MoveToHdu(5);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("w20071021_00004.fit HDU 5 (DET4): NAXIS1 x NAXIS2 = 2000000000 x "
                          "2000000000"));
    EXPECT_LT(fs::file_size(path(4, false)), fs::file_size(path(1, false)));
  }
  {  // bad-zbitpix (frame 3): BITPIX = 13 in DET2 (not compressed here)
    auto f = FitsFile::Open(path(3, false));
    absl::Status s = f->MoveToHdu(3);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("w20071021_00003.fit HDU 3 (DET2): BITPIX = 13 is not a FITS data type"));
  }
  for (int run = 3; run <= 5; ++run) {
    EXPECT_NE(RunCommand("fitsverify -q -e " + path(run, false)).exit_code, 0) << run;
  }
  // orphan-catalogue and duplicated-file come after the last frame.
  EXPECT_TRUE(fs::exists(path(17, true)));
  EXPECT_FALSE(fs::exists(path(17, false)));
  EXPECT_EQ(ReadFileToString(path(18, false)), ReadFileToString(path(1, false)));
  // Frames 1 and 2 are clean.
  for (int run = 1; run <= 2; ++run) {
    EXPECT_EQ(RunCommand("fitsverify -q -e " + path(run, false)).exit_code, 0);
    EXPECT_EQ(RunCommand("fitsverify -q -e " + path(run, true)).exit_code, 0);
  }
  // The truth file names every defect with its file.
  const std::string truth = ReadFileToString(dir.path() + "/truth/20071021.json");
  for (Defect d : AllDefects()) EXPECT_THAT(truth, HasSubstr(DefectName(d)));
  EXPECT_THAT(truth, HasSubstr("\"name\": \"w20071021_00018.fit\", \"kind\": \"image\", "
                               "\"run\": 18"));
  // Each file lists its own defects: an image defect's catalogue is clean,
  // and the catalogues' rows are what they hold.
  EXPECT_THAT(truth, HasSubstr("\"name\": \"w20071021_00005.fit\", \"kind\": \"image\", "
                               "\"run\": 5, \"sources\": 80"));
  EXPECT_THAT(truth, HasSubstr("\"name\": \"w20071021_00005_cat.fits\", \"kind\": "
                               "\"catalogue\", \"run\": 5, \"sources\": 80"));
  EXPECT_THAT(truth, HasSubstr("\"run\": 7, \"sources\": 40"));   // missing-tables
  EXPECT_THAT(truth, HasSubstr("\"run\": 8, \"sources\": 160"));  // extra-tables
}

// Every file under `root` (relative path, size, CRC-32C), sorted by path.
std::string Digest(const std::string& root) {
  std::vector<std::string> lines;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::string bytes = ReadFileToString(e.path());
    lines.push_back(
        absl::StrFormat("%s %d %08x", fs::relative(e.path(), root).string(),
                        bytes.size(), Crc32c(0, bytes.data(), bytes.size())));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const std::string& l : lines) absl::StrAppend(&out, l, "\n");
  return out;
}

// The random sky (the default) makes the same files, byte for byte, as it
// did before the revisited sky was added: digests of the output of that
// binary (commit 27d98c9) for two option sets, one with every defect. They
// also depend on CFITSIO and libm: a new toolchain that changes them needs
// the digests made again from a build of that commit, not of this one.
TEST(SynthTest, RandomSkyFilesAreUnchanged) {
  struct Case {
    int nights, frames;
    std::vector<Defect> defects;
    uint32_t crc;
  } cases[] = {{2, 3, {}, 3233917656u}, {1, 16, AllDefects(), 3250273634u}};
  for (const Case& c : cases) {
    testing::TempDir dir;
    Options o = Small(dir.path());
    o.nights = c.nights;
    o.frames_per_night = c.frames;
    o.defects = c.defects;
    o.threads = 2;
    ASSERT_TRUE(GenerateSurvey(o).ok());
    const std::string digest = Digest(dir.path());
    EXPECT_EQ(Crc32c(0, digest.data(), digest.size()), c.crc) << digest;
  }
}

TEST(SynthTest, RejectsOptionsThatCannotMakeASurvey) {
  Options o = Small("/tmp/unused");
  o.frames_per_night = 3;
  o.defects = AllDefects();
  auto s = GenerateSurvey(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("at least 15 frames"));
  o.defects = {};
  o.bitpix = 16;
  EXPECT_THAT(std::string(GenerateSurvey(o).status().message()),
              HasSubstr("--bitpix must be -32 or 32"));
}

TEST(SynthCliTest, WritesNightsAndReportsWhatItMade) {
  testing::TempDir dir;
  CommandResult r = RunCommand(absl::StrCat(CURATOR_SYNTH_BIN, " --out ", dir.path(),
                                     " --nights 2 --frames 2 --size 64 --sources 5"
                                     " --first_night 20071231"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("20071231  2 images, 2 catalogues, 40 stars"));
  EXPECT_THAT(r.output, HasSubstr("20080101  2 images"));
  EXPECT_TRUE(fs::exists(dir.path() + "/incoming/20080101/w20080101_00002_cat.fits"));

  r = RunCommand(absl::StrCat(CURATOR_SYNTH_BIN, " --out ", dir.path(), " --bitpix 8"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--bitpix must be -32 or 32"));
  r = RunCommand(absl::StrCat(CURATOR_SYNTH_BIN, " --out ", dir.path(), " --defects typo"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown defect 'typo'"));
  r = RunCommand(absl::StrCat(CURATOR_SYNTH_BIN, " --out ", dir.path(), " --first_night 20070231"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("not a calendar date"));
}

}  // namespace
}  // namespace curator::synth
