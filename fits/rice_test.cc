// Curator's Rice decoder against CFITSIO's, on images CFITSIO compressed:
// the same float pixels bit for bit for 8-, 16- and 32-bit data, smooth and
// noisy, constant blocks (the low-entropy code), full-range noise (raw
// differences), row and 2-D tiles, odd sizes, BSCALE/BZERO and blanks;
// and corrupt tiles give an error naming the tile, never a crash.
#include "fits/rice.h"

#include <fitsio.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/cpu.h"
#include "fits/fits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

// fitsio2.h; exported by libcfitsio.
extern "C" int fits_rcomp(int a[], int nx, unsigned char* c, int clen, int nblock);

namespace curator::fits {
namespace {

using ::testing::HasSubstr;

struct Case {
  const char* name;
  int bitpix;
  long nx, ny, tile_x, tile_y;
  // Pixel (x, y) from a random generator.
  std::function<int64_t(long, long, std::mt19937&)> pixel;
  bool blanks = false;
};

// Writes `c` with CFITSIO's Rice compression; returns the path.
std::string Write(const std::string& dir, const Case& c) {
  const std::string path = absl::StrCat(dir, "/", c.name, ".fits");
  fitsfile* f = nullptr;
  int status = 0;
  fits_create_file(&f, path.c_str(), &status);
  fits_set_compression_type(f, RICE_1, &status);
  long tile[2] = {c.tile_x, c.tile_y};
  fits_set_tile_dim(f, 2, tile, &status);
  long axes[2] = {c.nx, c.ny};
  fits_create_img(f, c.bitpix, 2, axes, &status);
  long blank = c.bitpix == 8 ? 255 : -999;
  if (c.blanks) fits_write_key(f, TLONG, "BLANK", &blank, nullptr, &status);
  std::mt19937 rng(42);
  std::vector<int64_t> pixels(static_cast<size_t>(c.nx * c.ny));
  for (long y = 0; y < c.ny; ++y) {
    for (long x = 0; x < c.nx; ++x) {
      int64_t v = c.pixel(x, y, rng);
      if (c.blanks && (x * 7 + y * 3) % 101 == 0) v = blank;
      pixels[y * c.nx + x] = v;
    }
  }
  // In the image's own type (CFITSIO's compressor takes no conversions).
  const auto write = [&](auto type_tag, int datatype) {
    using T = decltype(type_tag);
    std::vector<T> typed(pixels.begin(), pixels.end());
    fits_write_img(f, datatype, 1, typed.size(), typed.data(), &status);
  };
  switch (c.bitpix) {
    case BYTE_IMG: write(static_cast<unsigned char>(0), TBYTE); break;
    case SHORT_IMG: write(static_cast<short>(0), TSHORT); break;
    case USHORT_IMG: write(static_cast<unsigned short>(0), TUSHORT); break;
    default: write(0, TINT);
  }
  fits_close_file(f, &status);
  EXPECT_EQ(status, 0) << c.name;
  return path;
}

std::vector<float> Read(const std::string& path, bool own, int64_t first_row, int64_t rows,
                        absl::Status* status) {
  auto file = FitsFile::Open(path);
  if (!file.ok() || !file->MoveToHdu(2).ok()) {
    *status = absl::InternalError("cannot open " + path);
    return {};
  }
  file->set_own_rice_decoder(own);
  auto info = file->GetImageInfo();
  std::vector<float> out(static_cast<size_t>(info->axes[0] * rows));
  *status = file->ReadRows(first_row, rows, out.data());
  return out;
}

class RiceTest : public ::testing::TestWithParam<Case> {};

void CheckAgainstCfitsio(const Case& c, const std::string& path);
void CheckTruncationsAndJunk();

TEST_P(RiceTest, EqualsCfitsioBitForBit) {
  const Case& c = GetParam();
  testing::TempDir dir("curator-rice-");
  const std::string path = Write(dir.path(), c);
  // Both builds of the decoder (base/cpu.h), whatever this CPU has.
  for (bool baseline : {false, true}) {
    SCOPED_TRACE(baseline ? "baseline x86-64 build" : "this CPU's build");
    cpu::ScopedBuildForTesting build(baseline);
    CheckAgainstCfitsio(c, path);
  }
}

void CheckAgainstCfitsio(const Case& c, const std::string& path) {
  absl::Status own_status, cfitsio_status;
  const std::vector<float> own = Read(path, true, 0, c.ny, &own_status);
  const std::vector<float> ref = Read(path, false, 0, c.ny, &cfitsio_status);
  ASSERT_TRUE(own_status.ok()) << own_status;
  ASSERT_TRUE(cfitsio_status.ok()) << cfitsio_status;
  {  // and it was Curator's decoder that read it
    auto file = FitsFile::Open(path);
    ASSERT_TRUE(file.ok() && file->MoveToHdu(2).ok());
    std::vector<float> pixels(static_cast<size_t>(c.nx * c.ny));
    absl::StatusOr<bool> handled = file->ReadRiceRows(0, c.ny, pixels.data());
    ASSERT_TRUE(handled.ok()) << handled.status();
    EXPECT_TRUE(*handled);
  }
  ASSERT_EQ(own.size(), ref.size());
  size_t differ = 0;
  for (size_t i = 0; i < own.size(); ++i) {
    differ += std::memcmp(&own[i], &ref[i], sizeof(float)) != 0;
  }
  EXPECT_EQ(differ, 0u) << "of " << own.size() << " pixels";
  {  // the stored integers: the same values, and the blanks counted
    auto file = FitsFile::Open(path);
    ASSERT_TRUE(file.ok() && file->MoveToHdu(2).ok());
    StoredImage stored;
    absl::StatusOr<bool> read = file->ReadStored(stored);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(*read);
    EXPECT_EQ(stored.type, StoredImage::Type::kInt32);
    ASSERT_EQ(stored.size(), ref.size());
    size_t stored_differ = 0, nan = 0, blank = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const float v = stored.Value(i);
      stored_differ += std::memcmp(&v, &ref[i], sizeof(float)) != 0;
      nan += std::isnan(ref[i]);
      blank += stored.IsBlank(i);
    }
    EXPECT_EQ(stored_differ, 0u) << "of " << ref.size() << " pixels";
    EXPECT_EQ(stored.blank_pixels, static_cast<int64_t>(nan));
    EXPECT_EQ(blank, nan);
    EXPECT_EQ(nan > 0, c.blanks);
  }
  // A band of rows in the middle, crossing tile boundaries.
  const int64_t first = c.ny / 3, rows = std::max<int64_t>(1, c.ny / 3);
  const std::vector<float> band = Read(path, true, first, rows, &own_status);
  ASSERT_TRUE(own_status.ok()) << own_status;
  EXPECT_EQ(std::memcmp(band.data(), ref.data() + first * c.nx, band.size() * sizeof(float)), 0);
}

int64_t Sky(long x, long y, std::mt19937& rng) {
  std::normal_distribution<double> noise(0, 12);
  const double star = 5000 * std::exp(-((x - 40) * (x - 40) + (y - 20) * (y - 20)) / 8.0);
  return static_cast<int64_t>(1000 + star + noise(rng));
}

INSTANTIATE_TEST_SUITE_P(
    Images, RiceTest,
    ::testing::Values(
        Case{"int32_sky_rows", LONG_IMG, 300, 64, 300, 1, Sky},
        Case{"int32_sky_2d_tiles", LONG_IMG, 257, 101, 64, 16, Sky},
        Case{"int32_constant", LONG_IMG, 200, 10, 200, 1,
             [](long, long, std::mt19937&) { return int64_t{-12345}; }},
        Case{"int32_full_range_noise", LONG_IMG, 130, 20, 130, 1,
             [](long, long, std::mt19937& r) {
               return static_cast<int64_t>(static_cast<int32_t>(r()));
             }},
        Case{"int32_mixed_blocks", LONG_IMG, 333, 12, 333, 1,
             [](long x, long y, std::mt19937& r) -> int64_t {
               if ((x / 32) % 3 == 0) return 7;  // constant blocks
               if ((x / 32) % 3 == 1) return static_cast<int32_t>(r());
               return Sky(x, y, r) - 100000;
             }},
        Case{"int32_blanks", LONG_IMG, 200, 30, 200, 1, Sky, true},
        Case{"int16_sky", SHORT_IMG, 211, 40, 211, 1, Sky},
        Case{"int16_full_range", SHORT_IMG, 100, 16, 100, 1,
             [](long, long, std::mt19937& r) {
               return static_cast<int64_t>(static_cast<int16_t>(r()));
             }},
        Case{"uint16_bzero", USHORT_IMG, 150, 30, 50, 10,
             [](long x, long y, std::mt19937& r) { return Sky(x, y, r) * 10 + 30000; }},
        Case{"uint8", BYTE_IMG, 99, 33, 99, 1,
             [](long x, long y, std::mt19937& r) { return (Sky(x, y, r) / 8) % 256; }},
        Case{"uint8_noise_blanks", BYTE_IMG, 120, 20, 40, 5,
             [](long, long, std::mt19937& r) { return static_cast<int64_t>(r() % 255); }, true}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(RiceDecodeTest, TruncatedOrCorruptStreamsAreErrorsNotCrashes) {
  for (bool baseline : {false, true}) {
    SCOPED_TRACE(baseline ? "baseline x86-64 build" : "this CPU's build");
    cpu::ScopedBuildForTesting build(baseline);
    CheckTruncationsAndJunk();
  }
}

void CheckTruncationsAndJunk() {
  // A tile CFITSIO wrote, then every truncation and many corruptions of it.
  std::vector<int> pixels(1000);
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 30);
  for (int& p : pixels) p = static_cast<int>(500 + noise(rng));
  std::vector<unsigned char> coded(8000);
  const int n = fits_rcomp(pixels.data(), 1000, coded.data(), 8000, 32);
  ASSERT_GT(n, 0);
  std::vector<int32_t> out(1000);
  std::vector<uint8_t> buffer(coded.begin(), coded.begin() + n);
  buffer.resize(n + kRicePadding, 0);
  ASSERT_TRUE(RiceDecode(buffer.data(), n, 4, 32, 1000, out.data()).ok());
  EXPECT_EQ(std::vector<int>(out.begin(), out.end()), pixels);
  int errors = 0;
  for (int len = 0; len < n - 4; len += 3) {
    std::vector<uint8_t> cut(buffer.begin(), buffer.begin() + len);
    cut.resize(len + kRicePadding, 0xff);
    absl::Status s = RiceDecode(cut.data(), len, 4, 32, 1000, out.data());
    EXPECT_FALSE(s.ok()) << "a stream cut to " << len << " of " << n << " bytes decoded";
    errors += !s.ok();
  }
  EXPECT_GT(errors, 0);
  for (int i = 0; i < 2000; ++i) {  // random bytes: an error or some pixels, never a crash
    std::vector<uint8_t> junk(64 + rng() % 512);
    for (uint8_t& b : junk) b = static_cast<uint8_t>(rng());
    const size_t len = junk.size() - kRicePadding;
    (void)RiceDecode(junk.data(), len, 1 << (rng() % 3), 32, 1000, out.data());
  }
  EXPECT_THAT(std::string(RiceDecode(buffer.data(), n, 3, 32, 10, out.data()).message()),
              HasSubstr("expected 1, 2 or 4"));
}

TEST(RiceDecodeTest, ACorruptTileInAFileIsNamed) {
  testing::TempDir dir("curator-rice-");
  const std::string path =
      Write(dir.path(), Case{"corrupt", LONG_IMG, 300, 40, 300, 1, Sky});
  // Overwrite the middle of the heap (the tiles' bytes) with zero bytes: a
  // run of zeros reads as ever longer unary codes until the tile ends.
  const auto size = std::filesystem::file_size(path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    const std::string zeros(4000, '\0');
    f.write(zeros.data(), zeros.size());
  }
  absl::Status status;
  Read(path, true, 0, 40, &status);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("corrupt.fits"));
  EXPECT_THAT(std::string(status.message()), HasSubstr(": tile "));
  // The same through the stored-pixel read CU2 uses.
  auto file = FitsFile::Open(path);
  ASSERT_TRUE(file.ok() && file->MoveToHdu(2).ok());
  StoredImage stored;
  absl::StatusOr<bool> read = file->ReadStored(stored);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("corrupt.fits"));
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(": tile "));
}

}  // namespace
}  // namespace curator::fits

namespace curator::fits {
namespace {

// CFITSIO's own conversion of a compressed HDU's header to the image's
// (fits_convert_hdr2str), as keywords in order.
std::vector<std::string> CfitsioImageKeywords(const std::string& path, int hdu) {
  fitsfile* f = nullptr;
  int status = 0, n = 0, type = 0;
  char* text = nullptr;
  fits_open_file(&f, path.c_str(), READONLY, &status);
  fits_movabs_hdu(f, hdu, &type, &status);
  fits_convert_hdr2str(f, 0, nullptr, 0, &text, &n, &status);
  std::vector<std::string> keys;
  for (int i = 0; status == 0 && i < n; ++i) {
    std::string key(text + 80 * i, 8);
    key.erase(key.find_last_not_of(' ') + 1);
    if (key != "END") keys.push_back(key);
  }
  if (text != nullptr) fits_free_memory(text, &status);
  fits_close_file(f, &status);
  return keys;
}

TEST(ImageCardsTest, ACompressedHeaderBecomesTheImagesAsCfitsioConvertsIt) {
  testing::TempDir dir("curator-cards-");
  const std::string path = absl::StrCat(dir.path(), "/cards.fits");
  fitsfile* f = nullptr;
  int status = 0;
  fits_create_file(&f, path.c_str(), &status);
  fits_create_img(f, 8, 0, nullptr, &status);
  fits_set_compression_type(f, RICE_1, &status);
  long axes[2] = {100, 40};
  fits_create_img(f, LONG_IMG, 2, axes, &status);
  fits_write_key_str(f, "EXTNAME", "DET1", "detector", &status);
  double zp = 23.1;
  fits_write_key(f, TDOUBLE, "MAGZPT", &zp, "zero point", &status);
  fits_write_history(f, "reduced by the CASU pipeline", &status);
  std::vector<int> pixels(4000, 7);
  fits_write_img(f, TINT, 1, pixels.size(), pixels.data(), &status);
  fits_write_chksum(f, &status);
  fits_close_file(f, &status);
  ASSERT_EQ(status, 0);

  auto file = FitsFile::Open(path);
  ASSERT_TRUE(file.ok() && file->MoveToHdu(2).ok());
  auto header = file->ReadHeader();
  ASSERT_TRUE(header.ok()) << header.status();
  const std::vector<Card> raw = header->cards();
  EXPECT_TRUE(std::any_of(raw.begin(), raw.end(),
                          [](const Card& c) { return c.keyword == "ZCMPTYPE"; }));
  const std::vector<Card> cards = ImageCards(std::move(*header).TakeCards());
  std::vector<std::string> ours;
  for (const Card& c : cards) ours.push_back(c.keyword);
  // CFITSIO converts into a new file's primary HDU, so it writes SIMPLE,
  // EXTEND and the two COMMENT cards of a primary header where the
  // extension has XTENSION, PCOUNT and GCOUNT; the rest must agree.
  std::vector<std::string> theirs = CfitsioImageKeywords(path, 2);
  ASSERT_GE(theirs.size(), 8u);
  EXPECT_EQ(theirs[0], "SIMPLE");
  EXPECT_EQ(std::vector<std::string>(theirs.begin() + 5, theirs.begin() + 8),
            (std::vector<std::string>{"EXTEND", "COMMENT", "COMMENT"}));
  theirs.erase(theirs.begin() + 5, theirs.begin() + 8);
  theirs[0] = "XTENSION";
  theirs.insert(theirs.begin() + 5, {"PCOUNT", "GCOUNT"});
  EXPECT_EQ(ours, theirs);
  // The values the image's header has.
  const auto value = [&](const std::string& key) {
    for (const Card& c : cards) {
      if (c.keyword == key) return c.value;
    }
    return std::string("(absent)");
  };
  EXPECT_EQ(value("XTENSION"), "IMAGE");
  EXPECT_EQ(value("BITPIX"), "32");
  EXPECT_EQ(value("NAXIS1"), "100");
  EXPECT_EQ(value("NAXIS2"), "40");
  EXPECT_EQ(value("EXTNAME"), "DET1");
  EXPECT_EQ(value("ZCMPTYPE"), "(absent)");
  EXPECT_EQ(value("TTYPE1"), "(absent)");
  // A plain header is left as it is.
  ASSERT_TRUE(file->MoveToHdu(1).ok());
  auto primary = file->ReadHeader();
  ASSERT_TRUE(primary.ok());
  EXPECT_EQ(ImageCards(primary->cards()).size(), primary->cards().size());
}

}  // namespace
}  // namespace curator::fits
