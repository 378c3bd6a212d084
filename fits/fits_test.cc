#include "fits/fits.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::fits {
namespace {

using ::testing::HasSubstr;

class FitsTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return dir_.Join(name); }
  testing::TempDir dir_;
};

// A primary header with every keyword type and one table of 1000 rows.
std::string WriteKeywordsAndTable(const std::string& path) {
  auto f = FitsFile::Create(path);
  EXPECT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->CreateImage(8, {}).ok());
  EXPECT_TRUE(f->WriteKey("TELESCOP", "UKIRT", "Telescope name").ok());
  EXPECT_TRUE(f->WriteKey("OBSNUM", int64_t{123}, "Observation number").ok());
  EXPECT_TRUE(f->WriteKey("MJD-OBS", 54394.25123456789, "MJD").ok());
  EXPECT_TRUE(f->WriteKey("CD1_1", -1.1111111111111112e-4).ok());
  EXPECT_TRUE(f->WriteKey("PHOTOM", true).ok());
  EXPECT_TRUE(f->WriteKey("OBJECT", "it''s a 'quote'").ok());
  EXPECT_TRUE(f->CreateTable("DET1", {{"Sequence_number", "1J", "Number"},
                                      {"RA", "1D", "Radians"},
                                      {"Peak_height", "1E", "ADU"},
                                      {"Name", "8A", ""}})
                  .ok());
  std::vector<int32_t> seq(1000);
  std::vector<double> ra(1000);
  std::vector<float> peak(1000);
  std::vector<std::string> names(1000);
  for (int i = 0; i < 1000; ++i) {
    seq[i] = i + 1;
    ra[i] = 0.5 + i * 1e-7;
    peak[i] = i % 100 == 7 ? NAN : 1000.0f + i;
    names[i] = "s" + std::to_string(i);
  }
  EXPECT_TRUE(f->WriteColumn(1, 0, 1000, seq.data()).ok());
  EXPECT_TRUE(f->WriteColumn(2, 0, 1000, ra.data()).ok());
  EXPECT_TRUE(f->WriteColumn(3, 0, 1000, peak.data()).ok());
  EXPECT_TRUE(f->WriteColumn(4, 0, names).ok());
  EXPECT_TRUE(f->Close().ok());
  return path;
}

TEST_F(FitsTest, KeywordsReadBackWithTheirTypes) {
  auto f = FitsFile::Open(WriteKeywordsAndTable(Path("k.fits")));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f->ReadString("TELESCOP"), "UKIRT");
  EXPECT_EQ(*f->ReadString("OBJECT"), "it''s a 'quote'");
  EXPECT_EQ(*f->ReadInt("OBSNUM"), 123);
  // Doubles are written so that they read back bit for bit.
  EXPECT_EQ(*f->ReadDouble("MJD-OBS"), 54394.25123456789);
  EXPECT_EQ(*f->ReadDouble("CD1_1"), -1.1111111111111112e-4);
  EXPECT_EQ(*f->ReadDouble("OBSNUM"), 123.0);  // an integer is a number
  EXPECT_TRUE(*f->ReadBool("PHOTOM"));
  EXPECT_EQ(*f->ReadKeyType("TELESCOP"), KeyType::kString);
  EXPECT_EQ(*f->ReadKeyType("MJD-OBS"), KeyType::kFloat);
  EXPECT_TRUE(*f->HasKeyword("OBSNUM"));
  EXPECT_FALSE(*f->HasKeyword("MAGZPT"));

  auto cards = f->ReadCards();
  ASSERT_TRUE(cards.ok());
  auto it = std::find_if(cards->begin(), cards->end(),
                         [](const Card& c) { return c.keyword == "OBSNUM"; });
  ASSERT_NE(it, cards->end());
  EXPECT_EQ(it->value, "123");
  EXPECT_EQ(it->comment, "Observation number");
}

TEST_F(FitsTest, KeywordErrorsNameFileHduAndKeyword) {
  const std::string path = WriteKeywordsAndTable(Path("k.fits"));
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(f.ok());
  auto missing = f->ReadDouble("MAGZPT");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(path + " HDU 1"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("keyword 'MAGZPT'"));

  // A string where a number belongs is bad input, not silently converted.
  auto wrong = f->ReadDouble("TELESCOP");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("keyword 'TELESCOP' is 'UKIRT', expected a number"));
  EXPECT_EQ(f->ReadInt("MJD-OBS").status().code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(f->MoveToExtName("DET1").ok());
  auto in_table = f->ReadString("MAGZPT");
  EXPECT_THAT(std::string(in_table.status().message()), HasSubstr("HDU 2 (DET1)"));
}

TEST_F(FitsTest, HduNavigation) {
  auto f = FitsFile::Open(WriteKeywordsAndTable(Path("k.fits")));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f->NumHdus(), 2);
  EXPECT_EQ(*f->CurrentHduType(), HduType::kImage);
  ASSERT_TRUE(f->MoveToHdu(2).ok());
  EXPECT_EQ(f->CurrentHdu(), 2);
  EXPECT_EQ(*f->CurrentHduType(), HduType::kBinaryTable);
  absl::Status past = f->MoveToHdu(5);
  EXPECT_EQ(past.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(past.message()), HasSubstr("only 2 HDUs"));
  absl::Status no_name = f->MoveToExtName("DET9");
  EXPECT_EQ(no_name.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_name.message()), HasSubstr("'DET9'"));
}

TEST_F(FitsTest, TableColumnsReadBackInOptimalChunks) {
  auto f = FitsFile::Open(WriteKeywordsAndTable(Path("k.fits")));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->MoveToExtName("DET1").ok());
  EXPECT_EQ(*f->NumRows(), 1000);
  auto columns = f->Columns();
  ASSERT_TRUE(columns.ok());
  ASSERT_EQ(columns->size(), 4u);
  EXPECT_EQ((*columns)[1].name, "RA");
  EXPECT_EQ((*columns)[1].unit, "Radians");
  EXPECT_EQ((*columns)[1].tform, "1D");
  auto peak_col = f->FindColumn("peak_HEIGHT");  // case-insensitive
  ASSERT_TRUE(peak_col.ok());
  EXPECT_EQ(peak_col->number, 3);

  auto chunk = f->OptimalRowChunk();
  ASSERT_TRUE(chunk.ok());
  EXPECT_GT(*chunk, 0);
  std::vector<int64_t> seq;
  std::vector<double> ra;
  std::vector<float> peak;
  for (int64_t first = 0; first < 1000; first += *chunk) {
    const int64_t n = std::min<int64_t>(*chunk, 1000 - first);
    std::vector<int64_t> s(n);
    std::vector<double> r(n);
    std::vector<float> p(n);
    ASSERT_TRUE(f->ReadColumn(1, first, n, s.data()).ok());
    ASSERT_TRUE(f->ReadColumn(2, first, n, r.data()).ok());
    ASSERT_TRUE(f->ReadColumn(3, first, n, p.data()).ok());
    seq.insert(seq.end(), s.begin(), s.end());
    ra.insert(ra.end(), r.begin(), r.end());
    peak.insert(peak.end(), p.begin(), p.end());
  }
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(seq[i], i + 1);
    EXPECT_EQ(ra[i], 0.5 + i * 1e-7);
    if (i % 100 == 7) {
      EXPECT_TRUE(std::isnan(peak[i])) << i;
    } else {
      EXPECT_EQ(peak[i], 1000.0f + i);
    }
  }
}

TEST_F(FitsTest, Int64ColumnsRoundTripBeyond32Bits) {
  const std::vector<int64_t> ids = {0, -1, int64_t{1} << 40,
                                    std::numeric_limits<int64_t>::max(),
                                    std::numeric_limits<int64_t>::min()};
  {
    auto f = FitsFile::Create(Path("k64.fits"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->CreateImage(8, {}).ok());
    ASSERT_TRUE(f->CreateTable("IDS", {{"id", "1K", ""}}).ok());
    ASSERT_TRUE(f->WriteColumn(1, 0, ids.size(), ids.data()).ok());
    ASSERT_TRUE(f->Close().ok());
  }
  auto f = FitsFile::Open(Path("k64.fits"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->MoveToExtName("IDS").ok());
  std::vector<int64_t> back(ids.size());
  ASSERT_TRUE(f->ReadColumn(1, 0, back.size(), back.data()).ok());
  EXPECT_EQ(back, ids);
}

TEST_F(FitsTest, ColumnErrorsNameTheColumn) {
  const std::string path = WriteKeywordsAndTable(Path("k.fits"));
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->MoveToHdu(2).ok());
  auto missing = f->FindColumn("MAG_AUTO");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr(path + " HDU 2 (DET1): no column 'MAG_AUTO'"));
  std::vector<float> out(10);
  absl::Status text = f->ReadColumn(4, 0, 10, out.data());
  EXPECT_EQ(text.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(text.message()), HasSubstr("column 4"));
}

TEST_F(FitsTest, ImagePixelsRoundTripPlainAndCompressed) {
  const int64_t nx = 300, ny = 200;
  std::vector<float> fl(nx * ny);
  std::vector<int32_t> in(nx * ny);
  for (int64_t i = 0; i < nx * ny; ++i) {
    fl[i] = 1000.0f + static_cast<float>((i * 7919) % 1013) * 0.25f;
    in[i] = static_cast<int32_t>(1000 + (i * 7919) % 1013);
  }
  fl[5] = NAN;  // a blank pixel
  const std::string path = Path("img.fits");
  {
    auto f = FitsFile::Create(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->CreateImage(8, {}).ok());
    ASSERT_TRUE(f->CreateImage(-32, {nx, ny}).ok());
    ASSERT_TRUE(f->WritePixels(fl.data(), fl.size()).ok());
    ASSERT_TRUE(f->CreateImage(32, {nx, ny}, Compression::kRice).ok());
    ASSERT_TRUE(f->WritePixels(in.data(), in.size()).ok());
    // CFITSIO's quantiser does not keep NaN written by fits_write_img, so
    // the compressed float image gets none.
    std::vector<float> no_nan = fl;
    no_nan[5] = 0;
    ASSERT_TRUE(f->CreateImage(-32, {nx, ny}, Compression::kRice, 7).ok());
    ASSERT_TRUE(f->WritePixels(no_nan.data(), no_nan.size()).ok());
    ASSERT_TRUE(f->Close().ok());
  }
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(f.ok());
  // Plain float32: exact, NaN preserved.
  ASSERT_TRUE(f->MoveToHdu(2).ok());
  auto info = f->GetImageInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->bitpix, -32);
  EXPECT_EQ(info->axes, (std::vector<int64_t>{nx, ny}));
  EXPECT_FALSE(info->tile_compressed);
  std::vector<float> back(nx * ny);
  ASSERT_TRUE(f->ReadRows(0, ny, back.data()).ok());
  EXPECT_TRUE(std::isnan(back[5]));
  for (int64_t i = 6; i < nx * ny; ++i) ASSERT_EQ(back[i], fl[i]) << i;
  // A band of rows from the middle.
  std::vector<float> band(nx * 3);
  ASSERT_TRUE(f->ReadRows(100, 3, band.data()).ok());
  EXPECT_EQ(band[0], fl[100 * nx]);
  EXPECT_EQ(f->ReadRows(199, 2, band.data()).code(),
            absl::StatusCode::kOutOfRange);

  // Rice int32: lossless.
  ASSERT_TRUE(f->MoveToHdu(3).ok());
  info = f->GetImageInfo();
  EXPECT_TRUE(info->tile_compressed);
  EXPECT_EQ(info->bitpix, 32);
  EXPECT_EQ(info->axes, (std::vector<int64_t>{nx, ny}));
  std::vector<int32_t> ints(nx * ny);
  ASSERT_TRUE(f->ReadRows(0, ny, ints.data()).ok());
  EXPECT_EQ(ints, in);

  // Rice float32: quantised, so equal within the quantisation step.
  ASSERT_TRUE(f->MoveToHdu(4).ok());
  EXPECT_TRUE(f->GetImageInfo()->tile_compressed);
  ASSERT_TRUE(f->ReadRows(0, ny, back.data()).ok());
  double worst = 0, mean_error = 0;
  for (int64_t i = 6; i < nx * ny; ++i) {
    worst = std::max<double>(worst, std::fabs(back[i] - fl[i]));
    mean_error += (back[i] - fl[i]) / (nx * ny);
  }
  // Quantised to a step set from the noise: close, unbiased, not exact.
  EXPECT_LT(worst, 40.0);
  EXPECT_LT(std::fabs(mean_error), 1.0);
}

TEST_F(FitsTest, BadFilesGiveClearErrors) {
  auto missing = FitsFile::Open(Path("nope.fit"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.fit"));

  const std::string text = Path("notes.fit");
  std::ofstream(text) << "this is not FITS\n";
  auto not_fits = FitsFile::Open(text);
  EXPECT_EQ(not_fits.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(not_fits.status().message()), HasSubstr("notes.fit: cannot open as FITS"));

  // Cut a two-HDU image inside the second HDU's pixels.
  const std::string cut = Path("cut.fit");
  {
    auto f = FitsFile::Create(cut);
    ASSERT_TRUE(f->CreateImage(8, {}).ok());
    ASSERT_TRUE(f->CreateImage(-32, {256, 256}).ok());
    std::vector<float> px(256 * 256, 1.0f);
    ASSERT_TRUE(f->WritePixels(px.data(), px.size()).ok());
    ASSERT_TRUE(f->Close().ok());
  }
  ASSERT_EQ(truncate(cut.c_str(), 2880 * 2 + 100000), 0);
  auto f = FitsFile::Open(cut);
  ASSERT_TRUE(f.ok()) << f.status();  // the primary header is intact
  absl::Status moved = f->MoveToHdu(2);
  std::vector<float> px(256 * 256);
  absl::Status read = moved.ok() ? f->ReadRows(0, 256, px.data()) : moved;
  EXPECT_EQ(read.code(), absl::StatusCode::kDataLoss) << read;
  EXPECT_THAT(std::string(read.message()), HasSubstr("cut.fit"));
}

TEST_F(FitsTest, HeaderReadOnceAnswersLikeTheFile) {
  const std::string path = WriteKeywordsAndTable(Path("k.fits"));
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(f.ok());
  auto h = f->ReadHeader();
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->cards().size(), f->ReadCards()->size());
  EXPECT_EQ(*h->GetString("TELESCOP"), "UKIRT");
  EXPECT_EQ(*h->GetString("OBJECT"), "it''s a 'quote'");
  EXPECT_EQ(*h->GetInt("OBSNUM"), 123);
  EXPECT_EQ(*h->GetDouble("MJD-OBS"), 54394.25123456789);
  EXPECT_EQ(*h->GetDouble("CD1_1"), -1.1111111111111112e-4);
  EXPECT_TRUE(*h->GetBool("PHOTOM"));
  EXPECT_EQ(*h->Type("MJD-OBS"), KeyType::kFloat);
  EXPECT_FALSE(h->Has("MAGZPT"));
  auto missing = h->GetDouble("MAGZPT");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr(path + " HDU 1: keyword 'MAGZPT'"));
  auto wrong = h->GetDouble("TELESCOP");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("keyword 'TELESCOP' is 'UKIRT', expected a number"));
  EXPECT_EQ(h->GetInt("MJD-OBS").status().code(), absl::StatusCode::kInvalidArgument);
  // The primary is an image without axes; the table is not an image.
  auto info = ImageInfoFromHeader(*h);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->axes.empty());
  ASSERT_TRUE(f->MoveToHdu(2).ok());
  EXPECT_EQ(ImageInfoFromHeader(*f->ReadHeader()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(FitsTest, ImageInfoFromHeaderMatchesCfitsioForPlainAndCompressed) {
  const std::string path = Path("img.fits");
  {
    auto f = FitsFile::Create(path);
    ASSERT_TRUE(f->CreateImage(8, {}).ok());
    std::vector<int32_t> px(64 * 32, 7);
    ASSERT_TRUE(f->CreateImage(32, {64, 32}).ok());
    ASSERT_TRUE(f->WritePixels(px.data(), px.size()).ok());
    ASSERT_TRUE(f->CreateImage(32, {64, 32}, Compression::kRice).ok());
    ASSERT_TRUE(f->WritePixels(px.data(), px.size()).ok());
    ASSERT_TRUE(f->Close().ok());
  }
  auto f = FitsFile::Open(path);
  int hdus = 1;
  while (true) {
    auto more = f->MoveToNextHdu();
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ++hdus;
    auto from_header = ImageInfoFromHeader(*f->ReadHeader());
    auto from_cfitsio = f->GetImageInfo();
    ASSERT_TRUE(from_header.ok()) << from_header.status();
    EXPECT_EQ(from_header->bitpix, from_cfitsio->bitpix);
    EXPECT_EQ(from_header->axes, from_cfitsio->axes);
    EXPECT_EQ(from_header->tile_compressed, from_cfitsio->tile_compressed);
  }
  EXPECT_EQ(hdus, 3);
}

TEST_F(FitsTest, MoveToNextHduTellsACleanEndFromACutHeader) {
  const std::string path = WriteKeywordsAndTable(Path("k.fits"));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  // Append half a header block, as a transfer cut inside a third HDU.
  {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out << std::string(1440, ' ');
  }
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(*f->MoveToNextHdu());
  auto end = f->MoveToNextHdu();
  EXPECT_EQ(end.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(end.status().message()), HasSubstr("truncated or damaged: the 1440 bytes after HDU 2"));
}

}  // namespace
}  // namespace curator::fits
