// curator-synth's revisited sky (--sky=revisit), checked from its files as
// the cross-match's tests will use them: the catalogues read back with the
// project's FITS library, against truth/objects.csv and the nights'
// truth/<night>_objects.csv.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "archive/layout.h"
#include "fits/fits.h"
#include "fits/wcs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "synth/sky.h"
#include "synth/survey_generator.h"
#include "synth/truth.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace curator::synth {
namespace {

namespace fs = std::filesystem;
using fits::FitsFile;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::ReadFileToString;
using testing::RunCommand;

Options Revisit(const std::string& out) {
  Options o;
  o.out_dir = out;
  o.sky = SkyMode::kRevisit;
  o.nights = 2;
  o.frames_per_night = 8;  // 2 fields x YJHK
  o.image_size = 256;
  o.sources_per_detector = 60;
  o.threads = 2;
  return o;
}

// Great-circle separation, arcsec.
double Arcsec(double ra1, double dec1, double ra2, double dec2) {
  const double d = M_PI / 180;
  const double s = std::sin((dec2 - dec1) * d / 2),
               t = std::sin((ra2 - ra1) * d / 2);
  return 2 *
         std::asin(std::sqrt(s * s +
                             std::cos(dec1 * d) * std::cos(dec2 * d) * t * t)) /
         d * 3600;
}

// The lines of a truth file after its header, split at commas.
std::vector<std::vector<std::string>> ReadCsv(const std::string& path,
                                              const char* header) {
  const std::string text = ReadFileToString(path);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1), header) << path;
  std::vector<std::vector<std::string>> out;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (!first) out.push_back(absl::StrSplit(line, ','));
    first = false;
  }
  return out;
}

double Number(const std::string& s) {
  double v = NAN;
  EXPECT_TRUE(absl::SimpleAtod(s, &v)) << s;
  return v;
}

struct Object {
  int64_t id;
  double ra, dec, pm_ra, pm_dec;
  std::string kind;
  double mag[kNumBands];
  int field;
  double ref_mjd, var_amp, var_period, var_phase;
  std::string transient_catalogue;
};

struct Truth {
  int64_t object;
  double ra, dec, mag;
  std::string band, kind;
};

// A catalogue row as CU4 would load it, with its frame's facts.
struct Row {
  std::string file;
  int ext;
  int64_t seq;
  int night;
  double mjd;
  std::string band;
  double ra, dec;  // degrees
  float x, y, classification, sigma, aper_flux_3, peak;
  double mag_zpt, exp_time;
};

using Key = std::tuple<std::string, int, int64_t>;  // file, ext_num, seq_num

struct Survey {
  std::vector<Object> objects;  // objects[id - 1]
  std::map<Key, Truth> truth;
  int64_t truth_lines = 0;
  std::vector<Row> rows;
};

std::vector<Object> LoadObjects(const std::string& out) {
  std::vector<Object> objects;
  for (const auto& f : ReadCsv(out + "/truth/objects.csv", kObjectsHeader)) {
    EXPECT_EQ(f.size(), 18u);
    if (f.size() != 18) break;
    Object o;
    o.id = static_cast<int64_t>(Number(f[0]));
    o.ra = Number(f[1]);
    o.dec = Number(f[2]);
    o.pm_ra = Number(f[3]);
    o.pm_dec = Number(f[4]);
    o.kind = f[5];
    for (int b = 0; b < kNumBands; ++b) o.mag[b] = Number(f[6 + b]);
    o.field = static_cast<int>(Number(f[11]));
    o.ref_mjd = Number(f[12]);
    o.var_amp = Number(f[13]);
    o.var_period = Number(f[14]);
    o.var_phase = Number(f[15]);
    o.transient_catalogue = f[17];
    EXPECT_EQ(o.id, static_cast<int64_t>(objects.size()) + 1);
    objects.push_back(o);
  }
  return objects;
}

// Reads every catalogue of every night and the truth files. `skip`: files
// not to read (spoilt ones).
Survey Load(const Options& o, const std::set<std::string>& skip = {}) {
  Survey s;
  s.objects = LoadObjects(o.out_dir);
  for (int night = 0; night < o.nights; ++night) {
    const std::string name = NightName(o, night);
    for (const auto& f :
         ReadCsv(absl::StrCat(o.out_dir, "/truth/", name, "_objects.csv"),
                 kDetectionsHeader)) {
      EXPECT_EQ(f.size(), 9u);
      if (f.size() != 9) break;
      Truth t{static_cast<int64_t>(Number(f[3])),
              Number(f[4]),
              Number(f[5]),
              Number(f[6]),
              f[7],
              f[8]};
      const Key key{f[0], static_cast<int>(Number(f[1])),
                    static_cast<int64_t>(Number(f[2]))};
      EXPECT_TRUE(s.truth.emplace(key, t).second)
          << f[0] << " " << f[1] << " " << f[2];
      ++s.truth_lines;
    }
    std::vector<std::string> files;
    for (const auto& e :
         fs::directory_iterator(layout::IncomingNightDir(o.out_dir, name))) {
      const std::string file = e.path().filename();
      if (absl::EndsWith(file, "_cat.fits") && !skip.count(file))
        files.push_back(file);
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
      auto f = FitsFile::Open(layout::IncomingNightDir(o.out_dir, name) + "/" +
                              file);
      EXPECT_TRUE(f.ok()) << f.status();
      if (!f.ok()) continue;
      const std::string band = *f->ReadString("FILTER");
      const double mjd = *f->ReadDouble("MJD-OBS"),
                   exp_time = *f->ReadDouble("EXPTIME");
      const int hdus = *f->NumHdus();
      for (int hdu = 2; hdu <= hdus; ++hdu) {
        EXPECT_TRUE(f->MoveToHdu(hdu).ok());
        const double zpt = *f->ReadDouble("MAGZPT");
        const int64_t n = *f->NumRows();
        auto column = [&](const char* col) {
          std::vector<float> v(n);
          if (n > 0) {
            EXPECT_TRUE(
                f->ReadColumn(f->FindColumn(col)->number, 0, n, v.data()).ok());
          }
          return v;
        };
        const std::vector<float> seq = column("Sequence_number"),
                                 ra = column("RA"), dec = column("DEC"),
                                 x = column("X_coordinate"),
                                 y = column("Y_coordinate"),
                                 cls = column("Classification"),
                                 sigma = column("Gaussian_sigma"),
                                 ap3 = column("Aper_flux_3"),
                                 peak = column("Peak_height");
        for (int64_t i = 0; i < n; ++i) {
          // As CU4 converts them: float32 radians to degrees.
          s.rows.push_back({file, hdu, std::llround(seq[i]), night, mjd, band,
                            std::fmod(ra[i] * 180 / M_PI + 360, 360.0),
                            dec[i] * 180 / M_PI, x[i], y[i], cls[i], sigma[i],
                            ap3[i], peak[i], zpt, exp_time});
        }
      }
    }
  }
  return s;
}

int BandOf(const std::string& name) { return BandIndex(name[0]); }

TEST(SynthSkyTest, TruthNamesEveryCatalogueRowAndItsPlace) {
  testing::TempDir dir;
  const Options o = Revisit(dir.path());
  ASSERT_TRUE(GenerateSurvey(o).ok());
  const Survey s = Load(o);
  ASSERT_GT(s.rows.size(), 1000u);
  EXPECT_EQ(static_cast<int64_t>(s.rows.size()), s.truth_lines);
  EXPECT_EQ(s.rows.size(), s.truth.size());
  // About --sources a detector, fewer where faint objects fall below the
  // detection threshold (most in K).
  const double per_detector = s.rows.size() / (2.0 * 8 * 4);
  EXPECT_GT(per_detector, 0.6 * o.sources_per_detector);
  EXPECT_LT(per_detector, 1.1 * o.sources_per_detector);
  int bright = 0;
  for (const Row& r : s.rows) {
    auto it = s.truth.find({r.file, r.ext, r.seq});
    ASSERT_NE(it, s.truth.end()) << r.file << " " << r.ext << " " << r.seq;
    const Truth& t = it->second;
    ASSERT_GE(t.object, 1);
    ASSERT_LE(t.object, static_cast<int64_t>(s.objects.size()));
    const Object& obj = s.objects[t.object - 1];
    EXPECT_EQ(t.kind, obj.kind);
    EXPECT_EQ(t.band, r.band);
    EXPECT_EQ(r.classification, obj.kind == "galaxy" ? 1.0f : -1.0f);
    // The true position is the object's at the frame's epoch.
    const double years = (r.mjd - obj.ref_mjd) / 365.25;
    EXPECT_NEAR(t.dec, obj.dec + obj.pm_dec * years / 3600, 2e-9);
    EXPECT_NEAR(
        t.ra,
        obj.ra + obj.pm_ra * years / 3600 / std::cos(obj.dec * M_PI / 180),
        2e-9);
    const int band = BandOf(r.band);
    if (obj.kind == "variable") {
      const double phase =
          2 * M_PI * (r.mjd - obj.ref_mjd) / obj.var_period + obj.var_phase;
      EXPECT_NEAR(t.mag, obj.mag[band] + obj.var_amp * std::sin(phase), 2e-4);
    } else {
      EXPECT_NEAR(t.mag, obj.mag[band], 1e-4);
    }
    // The catalogue measured it there: 3 sigma of at most 0.5 arcsec a
    // side, and float32 radians.
    EXPECT_LT(Arcsec(r.ra, r.dec, t.ra, t.dec), 2.2)
        << r.file << " " << r.ext << " " << r.seq;
    if (t.mag < 15) {
      // ... and that bright: aperture 3 (radius 2.5 pixels) holds this
      // much of a Gaussian.
      const double fraction = 1 - std::exp(-6.25 / (2 * r.sigma * r.sigma));
      const double mag =
          r.mag_zpt - 2.5 * std::log10(r.aper_flux_3 / r.exp_time / fraction);
      EXPECT_NEAR(mag, t.mag, 0.1) << r.file << " " << r.ext << " " << r.seq;
      EXPECT_LT(Arcsec(r.ra, r.dec, t.ra, t.dec), 0.1);
      ++bright;
    }
  }
  EXPECT_GT(bright, 50);
  EXPECT_EQ(
      RunCommand(absl::StrCat("fitsverify -q -e ", dir.path(),
                              "/incoming/20071021/w20071021_00001_cat.fits"))
          .exit_code,
      0);
  EXPECT_EQ(RunCommand(absl::StrCat("fitsverify -q -e ", dir.path(),
                                    "/incoming/20071021/w20071021_00001.fit"))
                .exit_code,
            0);
}

TEST(SynthSkyTest, ImagesShowTheObjectsWhereTheCataloguesSay) {
  testing::TempDir dir;
  const Options o = Revisit(dir.path());
  ASSERT_TRUE(GenerateSurvey(o).ok());
  const int n = o.image_size;
  auto img =
      FitsFile::Open(dir.path() + "/incoming/20071022/w20071022_00006.fit");
  auto cat = FitsFile::Open(dir.path() +
                            "/incoming/20071022/w20071022_00006_cat.fits");
  ASSERT_TRUE(img.ok() && cat.ok());
  int checked = 0;
  for (int hdu = 2; hdu <= 5; ++hdu) {
    ASSERT_TRUE(img->MoveToHdu(hdu).ok());
    ASSERT_TRUE(cat->MoveToHdu(hdu).ok());
    const double sky = *img->ReadDouble("SKYLEVEL"),
                 noise = *img->ReadDouble("SKYNOISE");
    std::vector<float> px(n * n);
    ASSERT_TRUE(img->ReadRows(0, n, px.data()).ok());
    const int64_t rows = *cat->NumRows();
    std::vector<float> x(rows), y(rows), peak(rows);
    ASSERT_TRUE(cat->ReadColumn(3, 0, rows, x.data()).ok());
    ASSERT_TRUE(cat->ReadColumn(5, 0, rows, y.data()).ok());
    ASSERT_TRUE(cat->ReadColumn(18, 0, rows, peak.data()).ok());  // Peak_height
    for (int64_t i = 0; i < rows; ++i) {
      if (i > 0) {
        EXPECT_LE(y[i - 1], y[i]);  // catalogue order
      }
      if (peak[i] < 20 * noise) continue;
      const int ix = static_cast<int>(std::lround(x[i])) - 1;
      const int iy = static_cast<int>(std::lround(y[i])) - 1;
      EXPECT_GT(px[iy * n + ix] - sky, 0.3 * peak[i]) << hdu << " row " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(SynthSkyTest, BrightStarsAreSeenEveryNightInEveryBandInOnePlace) {
  testing::TempDir dir;
  Options o = Revisit(dir.path());
  o.nights = 3;
  ASSERT_TRUE(GenerateSurvey(o).ok());
  const Survey s = Load(o);
  std::map<int64_t, std::vector<const Row*>> seen;
  for (const Row& r : s.rows) {
    const Truth& t = s.truth.at({r.file, r.ext, r.seq});
    const Object& obj = s.objects[t.object - 1];
    if ((obj.kind == "star" || obj.kind == "variable") && obj.mag[2] < 17) {
      seen[t.object].push_back(&r);
    }
  }
  int everywhere = 0;
  for (const auto& [id, rows] : seen) {
    std::set<int> nights;
    std::set<std::string> bands;
    for (const Row* r : rows) {
      nights.insert(r->night);
      bands.insert(r->band);
      // Within 1 arcsec of each other: of the first detection, here.
      EXPECT_LT(Arcsec(r->ra, r->dec, rows[0]->ra, rows[0]->dec), 1.0)
          << "object " << id << ": " << r->file << " " << r->ext << " "
          << r->seq;
    }
    // Never twice in one frame.
    std::set<std::string> files;
    for (const Row* r : rows) EXPECT_TRUE(files.insert(r->file).second) << id;
    if (nights.size() == 3 && bands.size() == 4) ++everywhere;
  }
  EXPECT_GT(everywhere, 20);
}

TEST(SynthSkyTest, TransientsAreSeenInOneFrameOnly) {
  testing::TempDir dir;
  Options o = Revisit(dir.path());
  o.nights = 3;
  ASSERT_TRUE(GenerateSurvey(o).ok());
  const Survey s = Load(o);
  std::map<int64_t, std::vector<std::string>> files_of;
  for (const auto& [key, t] : s.truth)
    files_of[t.object].push_back(std::get<0>(key));
  int transients = 0;
  for (const Object& obj : s.objects) {
    if (obj.kind != "transient") {
      EXPECT_EQ(obj.transient_catalogue, "");
      continue;
    }
    ++transients;
    EXPECT_THAT(files_of[obj.id],
                ::testing::ElementsAre(obj.transient_catalogue))
        << obj.id;
  }
  EXPECT_GE(transients, 2);
}

TEST(SynthSkyTest, ProperMotionStarsMoveByTheirMotionOverTheYears) {
  testing::TempDir dir;
  Options o = Revisit(dir.path());
  o.nights = 3;
  o.cadence_days = 365;  // 2007-10-21, 2008-10-20, 2009-10-20
  o.sources_per_detector = 150;
  ASSERT_TRUE(GenerateSurvey(o).ok());
  EXPECT_TRUE(fs::exists(dir.path() + "/incoming/20091020"));
  const Survey s = Load(o);
  // J-band positions of each object on the first and the last night.
  std::map<int64_t, std::map<int, const Row*>> j;
  for (const Row& r : s.rows) {
    if (r.band == "J")
      j[s.truth.at({r.file, r.ext, r.seq}).object][r.night] = &r;
  }
  int moved = 0, still = 0;
  for (const auto& [id, by_night] : j) {
    const Object& obj = s.objects[id - 1];
    if (!by_night.count(0) || !by_night.count(2) || obj.mag[2] > 18 ||
        obj.kind == "galaxy") {
      continue;
    }
    const Row &a = *by_night.at(0), &b = *by_night.at(2);
    const double years = (b.mjd - a.mjd) / 365.25;
    const double cosd = std::cos(obj.dec * M_PI / 180);
    const double east = std::remainder(b.ra - a.ra, 360) * cosd * 3600,
                 north = (b.dec - a.dec) * 3600;
    EXPECT_NEAR(east, obj.pm_ra * years, 0.4) << id << " " << obj.kind;
    EXPECT_NEAR(north, obj.pm_dec * years, 0.4) << id << " " << obj.kind;
    if (obj.kind == "moving" && std::hypot(obj.pm_ra, obj.pm_dec) * years > 0.8)
      ++moved;
    if (obj.kind == "star") ++still;
  }
  EXPECT_GE(moved, 2);
  EXPECT_GT(still, 50);
}

// Every file under `root`, by path.
std::map<std::string, std::string> Files(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file())
      out[fs::relative(e.path(), root)] = ReadFileToString(e.path());
  }
  return out;
}

TEST(SynthSkyTest, SameSeedSameBytesAtAnyThreadCount) {
  testing::TempDir a, b, c;
  Options oa = Revisit(a.path()), ob = Revisit(b.path()),
          oc = Revisit(c.path());
  oa.threads = 1;
  ob.threads = 3;
  oc.seed = 2;
  oa.compression = ob.compression = oc.compression = fits::Compression::kRice;
  ASSERT_TRUE(GenerateSurvey(oa).ok());
  ASSERT_TRUE(GenerateSurvey(ob).ok());
  ASSERT_TRUE(GenerateSurvey(oc).ok());
  const auto fa = Files(a.path()), fb = Files(b.path()), fc = Files(c.path());
  ASSERT_EQ(fa.size(),
            2 * (16 + 1 + 2) + 1u);  // files, marker, truth; objects.csv
  for (const auto& [name, bytes] : fa) {
    ASSERT_TRUE(fb.count(name)) << name;
    EXPECT_TRUE(bytes == fb.at(name)) << name;
  }
  EXPECT_NE(fa.at("truth/objects.csv"), fc.at("truth/objects.csv"));
  EXPECT_NE(fa.at("incoming/20071021/w20071021_00001_cat.fits"),
            fc.at("incoming/20071021/w20071021_00001_cat.fits"));
}

TEST(SynthSkyTest, DefectsSpoilTheirFramesAsInTheRandomSky) {
  testing::TempDir dir;
  Options o = Revisit(dir.path());
  o.nights = 1;
  o.frames_per_night = 16;
  o.image_size = 128;
  o.sources_per_detector = 40;
  o.defects = AllDefects();
  auto survey = GenerateSurvey(o);
  ASSERT_TRUE(survey.ok()) << survey.status();
  const std::string n = dir.path() + "/incoming/20071021/";
  auto name = [](int run, bool cat) {
    return absl::StrFormat("w20071021_%05d%s", run, cat ? "_cat.fits" : ".fit");
  };
  const std::vector<std::vector<std::string>> truth =
      ReadCsv(dir.path() + "/truth/20071021_objects.csv", kDetectionsHeader);
  // The truth lists each catalogue's rows as written: as many as the
  // night's record says, for the tables the file has.
  std::map<std::string, int64_t> rows_of;
  std::map<std::string, std::map<int, std::vector<std::string>>>
      objects_of;  // file, ext
  std::map<std::string, std::map<int, std::vector<std::string>>> seq_of;
  for (const auto& f : truth) {
    ++rows_of[f[0]];
    objects_of[f[0]][std::stoi(f[1])].push_back(f[3]);
    seq_of[f[0]][std::stoi(f[1])].push_back(f[2]);
  }
  int catalogues = 0;
  for (const FileRecord& f : survey->nights[0].files) {
    if (!f.is_catalogue) continue;
    ++catalogues;
    EXPECT_EQ(rows_of[f.name], f.sources) << f.name;
    EXPECT_GT(f.sources, 0) << f.name;
  }
  EXPECT_EQ(catalogues, 17);  // 16 frames and the orphan
  {  // nan-columns (frame 12): every 10th RA/DEC of DET1
    auto f = FitsFile::Open(n + name(12, true));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->MoveToExtName("DET1").ok());
    std::vector<float> ra(*f->NumRows());
    ASSERT_FALSE(ra.empty());
    ASSERT_TRUE(
        f->ReadColumn(f->FindColumn("RA")->number, 0, ra.size(), ra.data())
            .ok());
    for (size_t i = 0; i < ra.size(); ++i)
      EXPECT_EQ(std::isnan(ra[i]), i % 10 == 0) << i;
  }
  {  // empty-table (frame 11): DET3 (HDU 4) has no rows, and no truth
    auto f = FitsFile::Open(n + name(11, true));
    ASSERT_TRUE(f->MoveToExtName("DET3").ok());
    EXPECT_EQ(*f->NumRows(), 0);
    EXPECT_EQ(objects_of[name(11, true)].count(4), 0u);
    EXPECT_EQ(objects_of[name(11, true)].count(5), 1u);
  }
  {  // extra-tables (frame 8): tables 5..8 (HDUs 6..9) repeat 1..4
    auto f = FitsFile::Open(n + name(8, true));
    EXPECT_EQ(*f->NumHdus(), 9);
    auto& ext = objects_of[name(8, true)];
    for (int k = 2; k <= 5; ++k) EXPECT_EQ(ext[k], ext[k + 4]) << k;
  }
  {  // missing-tables (frame 7): DET1 and DET2 only
    auto f = FitsFile::Open(n + name(7, true));
    EXPECT_EQ(*f->NumHdus(), 3);
    std::set<int> exts;
    for (const auto& [ext, ids] : objects_of[name(7, true)]) exts.insert(ext);
    EXPECT_EQ(exts, (std::set<int>{2, 3}));
  }
  {  // duplicate-seqnum (frame 6): the truth says what the file says
    auto f = FitsFile::Open(n + name(6, true));
    ASSERT_TRUE(f->MoveToExtName("DET1").ok());
    std::vector<float> seq(3);
    ASSERT_TRUE(f->ReadColumn(1, 0, 3, seq.data()).ok());
    EXPECT_EQ(seq, (std::vector<float>{1, 1, 3}));
    const auto& written = seq_of[name(6, true)][2];
    ASSERT_GE(written.size(), 3u);
    EXPECT_EQ(std::vector<std::string>(written.begin(), written.begin() + 3),
              (std::vector<std::string>{"1", "1", "3"}));
  }
  // Image defects as in the random sky.
  EXPECT_NE(RunCommand("fitsverify -q -e " + n + name(16, false)).exit_code,
            0);  // truncated
  for (int run = 3; run <= 5; ++run) {
    EXPECT_NE(RunCommand("fitsverify -q -e " + n + name(run, false)).exit_code,
              0)
        << run;
  }
  EXPECT_TRUE(fs::exists(n + name(17, true)));  // orphan-catalogue
  EXPECT_FALSE(fs::exists(n + name(17, false)));
  EXPECT_EQ(ReadFileToString(n + name(18, false)),
            ReadFileToString(n + name(1, false)));
  for (int run = 1; run <= 2; ++run) {
    EXPECT_EQ(RunCommand("fitsverify -q -e " + n + name(run, false)).exit_code,
              0);
    EXPECT_EQ(RunCommand("fitsverify -q -e " + n + name(run, true)).exit_code,
              0);
  }
  const std::string json =
      ReadFileToString(dir.path() + "/truth/20071021.json");
  EXPECT_THAT(json, HasSubstr("\"sky\": \"revisit\""));
  EXPECT_THAT(json, HasSubstr("\"detections\": \"20071021_objects.csv\""));
  EXPECT_THAT(
      json,
      HasSubstr(
          "\"name\": \"w20071021_00012_cat.fits\", \"kind\": \"catalogue\", "
          "\"run\": 12"));
  EXPECT_THAT(
      json,
      HasSubstr(
          "\"defects\": [\"nan-columns\"], \"field\": 0, \"band\": \"K\"}"));
}

TEST(SynthSkyTest, CloseObjectPairsAreRare) {
  Options o = Revisit("/tmp/unused");
  o.image_size = 512;
  o.sources_per_detector = 200;  // 16 times the density of real WFCAM frames
  ASSERT_TRUE(ValidateOptions(o).ok());
  const Sky sky = Sky::Build(o);
  std::vector<const SkyObject*> still;
  std::map<ObjectKind, int> kinds;
  for (const SkyObject& obj : sky.objects()) {
    ++kinds[obj.kind];
    if (obj.kind != ObjectKind::kTransient) still.push_back(&obj);
  }
  ASSERT_GT(still.size(), 4000u);
  std::sort(
      still.begin(), still.end(),
      [](const SkyObject* a, const SkyObject* b) { return a->dec < b->dec; });
  int close = 0;
  for (size_t i = 0; i < still.size(); ++i) {
    for (size_t k = i + 1;
         k < still.size() && (still[k]->dec - still[i]->dec) * 3600 < 3; ++k) {
      const double sep =
          Arcsec(still[i]->ra, still[i]->dec, still[k]->ra, still[k]->dec);
      EXPECT_GE(sep, 1.0);
      if (sep < 3) ++close;
    }
  }
  // Unchecked, this density would give 13% of objects a neighbour within 3".
  EXPECT_GT(close, 0);
  EXPECT_LT(close, 0.02 * still.size());
  const double all = sky.objects().size();
  EXPECT_NEAR(kinds[ObjectKind::kGalaxy] / all, 0.15, 0.03);
  EXPECT_NEAR(kinds[ObjectKind::kMoving] / all, 0.05, 0.015);
  EXPECT_NEAR(kinds[ObjectKind::kVariable] / all, 0.03, 0.01);
  EXPECT_GE(kinds[ObjectKind::kTransient], 2);
}

TEST(SynthSkyTest, FramesCycleThroughFieldsAndBandsWithJitteredPointings) {
  Options o = Revisit("/tmp/unused");
  o.frames_per_night = 10;
  const std::pair<int, const char*> expected[] = {
      {0, "Y"}, {0, "J"}, {0, "H"}, {0, "K"}, {1, "Y"},
      {1, "J"}, {1, "H"}, {1, "K"}, {0, "Y"}, {0, "J"}};
  for (int run = 1; run <= 10; ++run) {
    const FrameModel f = MakeFrame(o, 0, run);
    EXPECT_EQ(f.field, expected[run - 1].first) << run;
    EXPECT_EQ(f.filter, expected[run - 1].second) << run;
    EXPECT_TRUE(f.detectors[0].stars.empty());  // no sky given: geometry only
  }
  // The same field on two nights: the same name, pointings a few arcsec apart.
  const FrameModel a = MakeFrame(o, 0, 2), b = MakeFrame(o, 1, 2),
                   c = MakeFrame(o, 0, 6);
  EXPECT_EQ(a.object, b.object);
  EXPECT_NE(a.object, c.object);
  const double jitter = Arcsec(a.ra_base, a.dec_base, b.ra_base, b.dec_base);
  EXPECT_GT(jitter, 0.0);
  EXPECT_LT(jitter, 2 * 3 * std::sqrt(2.0));
  // Fields 0 and 1 side by side.
  EXPECT_NEAR(Arcsec(a.ra_base, a.dec_base, c.ra_base, c.dec_base),
              FieldSpacingArcsec(o), 10);

  o.bands = "JX";
  EXPECT_THAT(std::string(ValidateOptions(o).message()),
              HasSubstr("'X' is not one of ZYJHK"));
  o.bands = "JKJ";
  EXPECT_THAT(std::string(ValidateOptions(o).message()),
              HasSubstr("'J' is given twice"));
  o.bands = "J";
  o.fields = 0;
  EXPECT_THAT(std::string(ValidateOptions(o).message()), HasSubstr("--fields"));
  o.fields = 10000;
  o.image_size = 8192;
  EXPECT_THAT(std::string(ValidateOptions(o).message()),
              HasSubstr("do not fit"));
  o.fields = 2;
  o.nights = 30;
  o.cadence_days = 365;
  EXPECT_THAT(std::string(ValidateOptions(o).message()),
              HasSubstr("more than 25 years"));
}

TEST(SynthSkyCliTest, RevisitFlags) {
  testing::TempDir dir;
  CommandResult r = RunCommand(
      absl::StrCat(CURATOR_SYNTH_BIN, " --out ", dir.path(),
                   " --sky revisit --fields 1 --bands JK --nights 2"
                   " --cadence 3 --frames 2 --size 64 --sources 10"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("20071024  2 images, 2 catalogues"));
  EXPECT_TRUE(fs::exists(dir.path() + "/truth/objects.csv"));
  EXPECT_TRUE(fs::exists(dir.path() + "/truth/20071024_objects.csv"));
  r = RunCommand(
      absl::StrCat(CURATOR_SYNTH_BIN, " --out ", dir.path(), " --sky typo"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--sky must be random or revisit"));
  r = RunCommand(absl::StrCat(CURATOR_SYNTH_BIN, " --out ", dir.path(),
                              " --sky revisit --bands Q"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("'Q' is not one of ZYJHK"));
}

}  // namespace
}  // namespace curator::synth
