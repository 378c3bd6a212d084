// Untrusted sizes in headers crafted byte by byte (80-character cards in
// 2880-byte blocks): every limit of fits/limits.h, bad BITPIX/ZBITPIX and
// garbage structure give a clear error naming the file, HDU and keyword
// before anything is allocated from them, whichever call reaches the HDU.
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fits/fits.h"
#include "fits/limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::fits {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// One header card: a value card "KEYWORD = value" (strings quoted, other
// values as written, right-aligned to column 30) or, with `raw`, the 80
// characters as given.
std::string CardText(const std::string& key, const std::string& value) {
  const bool quoted = !value.empty() && value[0] == '\'';
  std::string card = absl::StrFormat("%-8s= %s", key, quoted ? absl::StrFormat("%-20s", value)
                                                              : absl::StrFormat("%20s", value));
  card.resize(80, ' ');
  return card;
}

struct Kv {
  std::string key, value;
};

// A header of `cards` and END, padded to whole blocks; then `data_bytes`
// zero bytes, padded too.
std::string Hdu(const std::vector<Kv>& cards, int64_t data_bytes = 0) {
  std::string h;
  for (const Kv& c : cards) h += c.key == "RAW" ? c.value : CardText(c.key, c.value);
  h += std::string("END").append(77, ' ');
  h.resize((h.size() + 2879) / 2880 * 2880, ' ');
  h.append(static_cast<size_t>((data_bytes + 2879) / 2880 * 2880), '\0');
  return h;
}

std::string Primary() {
  return Hdu({{"SIMPLE", "T"}, {"BITPIX", "8"}, {"NAXIS", "0"}, {"EXTEND", "T"}});
}

std::vector<Kv> Image(const std::string& bitpix, const std::vector<std::string>& axes) {
  std::vector<Kv> c = {{"XTENSION", "'IMAGE'"}, {"BITPIX", bitpix},
                       {"NAXIS", std::to_string(axes.size())}};
  for (size_t i = 0; i < axes.size(); ++i) c.push_back({absl::StrCat("NAXIS", i + 1), axes[i]});
  c.push_back({"PCOUNT", "0"});
  c.push_back({"GCOUNT", "1"});
  c.push_back({"EXTNAME", "'DET1'"});
  return c;
}

std::vector<Kv> Table(const std::string& row_bytes, const std::string& rows,
                      const std::string& pcount = "0", const std::string& tfields = "1") {
  return {{"XTENSION", "'BINTABLE'"}, {"BITPIX", "8"},      {"NAXIS", "2"},
          {"NAXIS1", row_bytes},      {"NAXIS2", rows},     {"PCOUNT", pcount},
          {"GCOUNT", "1"},            {"TFIELDS", tfields}, {"TTYPE1", "'A'"},
          {"TFORM1", "'2J'"},         {"EXTNAME", "'CAT'"}};
}

// A Rice-compressed 2-D image's table: `rows` tiles of one row each by
// default, the descriptors all zero.
std::vector<Kv> Compressed(const std::string& zbitpix, const std::string& nx,
                           const std::string& ny, const std::string& rows) {
  return {{"XTENSION", "'BINTABLE'"}, {"BITPIX", "8"},       {"NAXIS", "2"},
          {"NAXIS1", "8"},            {"NAXIS2", rows},      {"PCOUNT", "0"},
          {"GCOUNT", "1"},            {"TFIELDS", "1"},      {"TTYPE1", "'COMPRESSED_DATA'"},
          {"TFORM1", "'1PB(0)'"},     {"ZIMAGE", "T"},       {"ZBITPIX", zbitpix},
          {"ZNAXIS", "2"},            {"ZNAXIS1", nx},       {"ZNAXIS2", ny},
          {"ZTILE1", nx},             {"ZTILE2", "1"},       {"ZCMPTYPE", "'RICE_1'"},
          {"ZNAME1", "'BLOCKSIZE'"},  {"ZVAL1", "32"},       {"EXTNAME", "'DET1'"}};
}

// `cards` with `key` set to `value` (added at the end if absent).
std::vector<Kv> With(std::vector<Kv> cards, const std::string& key, const std::string& value) {
  for (Kv& c : cards) {
    if (c.key == key) {
      c.value = value;
      return cards;
    }
  }
  cards.push_back({key, value});
  return cards;
}

class FitsLimitsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_.Join(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // A file of a primary header and `second` as HDU 2: reaching HDU 2 by
  // MoveToHdu, by MoveToNextHdu and by NumHdus all fail with one error,
  // whose code is `code` and whose message names the file, HDU 2 and
  // `what`. Returns the message.
  std::string ExpectHdu2Fails(const std::string& name, const std::string& second,
                              absl::StatusCode code, const std::string& what) {
    const std::string path = Write(name, Primary() + second);
    auto f = FitsFile::Open(path);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok()) return "";
    absl::Status moved = f->MoveToHdu(2);
    EXPECT_EQ(moved.code(), code) << moved;
    EXPECT_THAT(std::string(moved.message()), AllOf(HasSubstr(path + " HDU 2"), HasSubstr(what)));
    EXPECT_EQ(f->CurrentHdu(), 1);  // it stayed where it was
    absl::StatusOr<bool> next = f->MoveToNextHdu();
    EXPECT_EQ(next.status(), moved);
    EXPECT_EQ(f->NumHdus().status(), moved);
    EXPECT_EQ(f->MoveToExtName("DET1").code(), code);
    return std::string(moved.message());
  }

  testing::TempDir dir_;
};

TEST_F(FitsLimitsTest, ACraftedFileWithinTheLimitsReads) {
  // The helpers make FITS CFITSIO reads: the errors below are the limits'.
  const std::string path = Write("ok.fits", Primary() + Hdu(Image("-32", {"10", "20"}), 800) +
                                                Hdu(Table("8", "3"), 24));
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f->NumHdus(), 3);
  ASSERT_TRUE(f->MoveToExtName("det1").ok());
  auto info = f->GetImageInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->axes, (std::vector<int64_t>{10, 20}));
  std::vector<float> px(200);
  EXPECT_TRUE(f->ReadRows(0, 20, px.data()).ok());
  ASSERT_TRUE(f->MoveToHdu(3).ok());
  EXPECT_EQ(*f->NumRows(), 3);
}

TEST_F(FitsLimitsTest, ImageOfTwoBillionSquaredPixels) {
  // The header alone: its data would be 16 EB.
  const std::string message =
      ExpectHdu2Fails("huge.fits", Hdu(Image("-32", {"2000000000", "2000000000"})),
                      absl::StatusCode::kInvalidArgument,
                      "NAXIS1 x NAXIS2 = 2000000000 x 2000000000 = 4e+18 pixels, more than the "
                      "limit of 268435456");
  EXPECT_THAT(message, HasSubstr("HDU 2 (DET1)"));
  // Just over the limit, the size a buffer would have.
  ExpectHdu2Fails("over.fits", Hdu(Image("16", {"16385", "16384"})),
                  absl::StatusCode::kInvalidArgument, "16385 x 16384");
}

TEST_F(FitsLimitsTest, AxisLongerThanTheLimit) {
  // 10^8 pixels is within the image limit, but not in one row.
  ExpectHdu2Fails("axis.fits", Hdu(Image("8", {"100000000", "1"})),
                  absl::StatusCode::kInvalidArgument,
                  "NAXIS1 = 100000000, more than the limit of 16777216 pixels an axis");
  // Without pixels any axis goes: AIPS marks UV data so in the primary.
  const std::string aips =
      Write("aips.fits", Hdu({{"SIMPLE", "T"}, {"BITPIX", "8"}, {"NAXIS", "2"},
                              {"NAXIS1", "777777701"}, {"NAXIS2", "0"}, {"EXTEND", "T"}}) +
                             Hdu(Table("8", "1"), 8));
  auto f = FitsFile::Open(aips);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f->NumHdus(), 2);
  EXPECT_EQ(f->GetImageInfo()->num_pixels(), 0);
  ExpectHdu2Fails("negative.fits", Hdu(Image("8", {"10", "-5"})),
                  absl::StatusCode::kInvalidArgument, "NAXIS2 = -5 is negative");
}

TEST_F(FitsLimitsTest, MoreThan999Axes) {
  std::vector<std::string> axes(1000, "1");
  ExpectHdu2Fails("axes.fits", Hdu(Image("8", axes)), absl::StatusCode::kInvalidArgument,
                  "NAXIS = 1000, expected 0..999");
}

TEST_F(FitsLimitsTest, InvalidBitpix) {
  ExpectHdu2Fails("bitpix.fits", Hdu(Image("13", {"10", "10"}), 100),
                  absl::StatusCode::kInvalidArgument,
                  "BITPIX = 13 is not a FITS data type (8, 16, 32, 64, -32 or -64)");
  // A table's BITPIX must be 8.
  ExpectHdu2Fails("table_bitpix.fits", Hdu(With(Table("8", "1"), "BITPIX", "-32"), 8),
                  absl::StatusCode::kInvalidArgument, "BITPIX = -32, but a BINTABLE needs 8");
}

TEST_F(FitsLimitsTest, InvalidZbitpixOfACompressedImage) {
  // CFITSIO itself takes ZBITPIX = 13 and reports it as the image's BITPIX.
  ExpectHdu2Fails("zbitpix.fits", Hdu(Compressed("13", "100", "10", "10"), 80),
                  absl::StatusCode::kInvalidArgument,
                  "ZBITPIX = 13 is not a FITS data type (8, 16, 32, 64, -32 or -64)");
  // The same from a header held in memory, as CU3 reads it.
  std::vector<Card> cards;
  std::vector<KeyType> types;
  for (const Kv& kv : Compressed("13", "100", "10", "10")) {
    const bool text = kv.value[0] == '\'';
    cards.push_back({kv.key, text ? kv.value.substr(1, kv.value.size() - 2) : kv.value, ""});
    types.push_back(text                ? KeyType::kString
                    : kv.value == "T"   ? KeyType::kLogical
                                        : KeyType::kInteger);
  }
  auto info = ImageInfoFromHeader(Header("x.fits HDU 3 (DET2)", cards, types));
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(info.status().message()),
              HasSubstr("x.fits HDU 3 (DET2): ZBITPIX = 13 is not a FITS data type"));
}

TEST_F(FitsLimitsTest, CompressedImageOfTwoBillionSquaredPixels) {
  ExpectHdu2Fails("zhuge.fits", Hdu(Compressed("32", "2000000000", "2000000000", "2000000000")),
                  absl::StatusCode::kInvalidArgument,
                  "ZNAXIS1 x ZNAXIS2 = 2000000000 x 2000000000 = 4e+18 pixels, more than the "
                  "limit of 268435456");
  ExpectHdu2Fails("zaxis.fits", Hdu(Compressed("32", "20000000", "1", "1"), 8),
                  absl::StatusCode::kInvalidArgument,
                  "ZNAXIS1 = 20000000, more than the limit of 16777216");
}

TEST_F(FitsLimitsTest, TilesLargerThanTheLimit) {
  // One tile of 2^40 pixels for a 100 x 10 image: CFITSIO would allocate
  // it whole for the first tile it decompresses.
  ExpectHdu2Fails(
      "ztile.fits",
      Hdu(With(With(Compressed("32", "100", "10", "1"), "ZTILE1", "1048576"), "ZTILE2", "1048576"),
          8),
      absl::StatusCode::kInvalidArgument,
      "ZTILE1 x ZTILE2 = 1048576 x 1048576 = 1.1e+12 pixels a tile, more than the limit of "
      "268435456");
  ExpectHdu2Fails("ztile0.fits", Hdu(With(Compressed("32", "100", "10", "10"), "ZTILE1", "0"), 80),
                  absl::StatusCode::kInvalidArgument,
                  "ZTILE1 = 0, expected a tile size of 1 or more");
  // The tile count must be the table's rows.
  ExpectHdu2Fails("zrows.fits", Hdu(Compressed("32", "100", "10", "7"), 56),
                  absl::StatusCode::kDataLoss,
                  "the tile table has NAXIS2 = 7 rows, but 100 x 10 pixels in tiles of 100 x 1 "
                  "need 10");
}

TEST_F(FitsLimitsTest, RiceBlockSize) {
  ExpectHdu2Fails("block.fits",
                  Hdu(With(Compressed("32", "100", "10", "10"), "ZVAL1", "1000000000"), 80),
                  absl::StatusCode::kInvalidArgument,
                  "ZVAL1 (ZNAME1 = 'BLOCKSIZE') = 1000000000, expected a Rice block size in "
                  "1..65536");
}

TEST_F(FitsLimitsTest, MoreThan999Columns) {
  // CFITSIO alone spends 15 GB and half a minute on this header before it
  // finds the TFORMs missing; the limit answers at once.
  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  ExpectHdu2Fails("tfields.fits", Hdu(Table("8", "1", "0", "100000000"), 8),
                  absl::StatusCode::kInvalidArgument, "TFIELDS = 100000000, expected 0..999");
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 100 * 1024) << "KB more memory";
  ExpectHdu2Fails("tfields2.fits", Hdu(Table("8", "1", "0", "1000"), 8),
                  absl::StatusCode::kInvalidArgument, "TFIELDS = 1000");
}

TEST_F(FitsLimitsTest, RowWiderThanTheLimit) {
  ExpectHdu2Fails("row.fits", Hdu(Table("1000000000", "1")), absl::StatusCode::kInvalidArgument,
                  "NAXIS1 = 1000000000 bytes a row, more than the limit of 67108864");
}

TEST_F(FitsLimitsTest, RowsBeyondWhatTheFileHolds) {
  // 8 PB of rows in a file of four blocks: the move is fine (the header is),
  // the row count is not.
  const std::string path = Write("rows.fits", Primary() + Hdu(Table("8", "1000000000000000"), 8));
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->MoveToHdu(2).ok());
  auto rows = f->NumRows();
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rows.status().message()),
              AllOf(HasSubstr(path + " HDU 2 (CAT): truncated: NAXIS1 x NAXIS2 + PCOUNT = 8 x "
                              "1000000000000000 + 0 bytes of table, but the file holds 2880")));
  EXPECT_EQ(f->CheckCurrentHduComplete().code(), absl::StatusCode::kDataLoss);
  // So many that the bytes overflow: no file holds them.
  ExpectHdu2Fails("overflow.fits", Hdu(Table("65536", "1000000000000000000"), 8),
                  absl::StatusCode::kInvalidArgument,
                  "NAXIS1 x NAXIS2 + PCOUNT = 65536 x 1000000000000000000 + 0 = 6.55e+22 bytes: "
                  "more than a file can hold");
}

TEST_F(FitsLimitsTest, HeapBeyondWhatTheFileHolds) {
  ExpectHdu2Fails("pcount.fits", Hdu(Table("8", "1", "9000000000000000000"), 8),
                  absl::StatusCode::kInvalidArgument, "PCOUNT = 8 x 1 + 9000000000000000000");
  ExpectHdu2Fails("negpcount.fits", Hdu(Table("8", "1", "-1"), 8),
                  absl::StatusCode::kInvalidArgument, "PCOUNT = -1 is negative");
  ExpectHdu2Fails("theap.fits", Hdu(With(Table("8", "1", "16"), "THEAP", "1000"), 24),
                  absl::StatusCode::kInvalidArgument,
                  "THEAP = 1000 lies outside the table's 24 bytes of data");
  // A compressed image's heap of 1 TB in a small file: truncated, said
  // before any tile is read, by the own decoder and by CFITSIO's.
  const std::string path =
      Write("heap.fits",
            Primary() + Hdu(With(Compressed("32", "100", "10", "10"), "PCOUNT", "1000000000000"),
                            80));
  for (bool own : {true, false}) {
    auto f = FitsFile::Open(path);
    ASSERT_TRUE(f.ok() && f->MoveToHdu(2).ok());
    f->set_own_rice_decoder(own);
    std::vector<float> px(1000);
    absl::Status read = f->ReadRows(0, 10, px.data());
    EXPECT_EQ(read.code(), absl::StatusCode::kDataLoss) << read;
    EXPECT_THAT(std::string(read.message()),
                HasSubstr(path + " HDU 2 (DET1): truncated: the tile table and heap"));
  }
}

TEST_F(FitsLimitsTest, TileDescriptorsOutsideTheHeap) {
  // Ten one-row tiles of a 100 x 10 image; tile 1's descriptor claims 2^24
  // bytes of a 16-byte heap: CFITSIO would allocate that much before
  // reading it.
  std::string data(80 + 16, '\0');
  data[0] = 1;  // length 2^24 (big-endian)
  std::string table = Hdu(With(Compressed("32", "100", "10", "10"), "PCOUNT", "16"));
  table += data;
  table.resize((table.size() + 2879) / 2880 * 2880, '\0');
  const std::string path = Write("descriptor.fits", Primary() + table);
  for (bool own : {true, false}) {
    auto f = FitsFile::Open(path);
    ASSERT_TRUE(f.ok() && f->MoveToHdu(2).ok());
    f->set_own_rice_decoder(own);
    std::vector<float> px(1000);
    absl::Status read = f->ReadRows(0, 10, px.data());
    EXPECT_EQ(read.code(), absl::StatusCode::kDataLoss) << read;
    EXPECT_THAT(std::string(read.message()), AllOf(HasSubstr(path + " HDU 2 (DET1): tile 1"),
                                                   HasSubstr("outside the heap")));
  }
}

TEST_F(FitsLimitsTest, GarbageXtension) {
  // A well-formed card with a value that is no extension type: CFITSIO
  // reads it as an image of unknown kind.
  std::vector<Kv> garbage = With(Image("-32", {"10", "10"}), "XTENSION", "'Q#7%!zz'");
  ExpectHdu2Fails("xtension.fits", Hdu(garbage, 400), absl::StatusCode::kInvalidArgument,
                  "XTENSION = 'Q#7%!zz' is not a FITS extension type");
  // The card itself damaged: not a header at all.
  std::vector<Kv> damaged = Image("-32", {"10", "10"});
  damaged[0] = {"RAW", std::string("X\x01TEN\x7fION= 'IMAGE'").append(61, ' ')};
  const std::string message = ExpectHdu2Fails("card.fits", Hdu(damaged, 400),
                                               absl::StatusCode::kDataLoss, "not XTENSION");
  EXPECT_THAT(message, HasSubstr("these bytes are not a FITS header"));
  // A structural keyword that is not a number.
  ExpectHdu2Fails("naxis.fits", Hdu(With(Image("-32", {"10", "10"}), "NAXIS2", "'ten'"), 400),
                  absl::StatusCode::kInvalidArgument,
                  "keyword 'NAXIS2' is 'ten', expected an integer");
}

TEST_F(FitsLimitsTest, DataPastTheEndIsTruncatedMissingPaddingIsNot) {
  // 10 x 20 float pixels (800 bytes) and a table of 3 x 8 bytes, the file
  // ending right after the table's last byte: complete, unpadded.
  std::string bytes = Primary() + Hdu(Image("-32", {"10", "20"}), 800) + Hdu(Table("8", "3"), 24);
  bytes.resize(bytes.size() - 2880 + 24);
  const std::string path = Write("unpadded.fits", bytes);
  auto f = FitsFile::Open(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(*f->MoveToNextHdu());
  ASSERT_TRUE(*f->MoveToNextHdu());
  EXPECT_TRUE(f->CheckCurrentHduComplete().ok());
  EXPECT_EQ(*f->CurrentHduDataEnd(), static_cast<int64_t>(bytes.size()));
  EXPECT_FALSE(*f->MoveToNextHdu());
  EXPECT_EQ(*f->NumHdus(), 3);
  // One byte fewer: the table's data are cut.
  bytes.pop_back();
  const std::string cut = Write("cut.fits", bytes);
  f = FitsFile::Open(cut);
  ASSERT_TRUE(f->MoveToHdu(3).ok());
  absl::Status complete = f->CheckCurrentHduComplete();
  EXPECT_EQ(complete.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(complete.message()),
              HasSubstr(cut + " HDU 3 (CAT): truncated: the file has 11543 bytes but this HDU's "
                        "data ends at byte 11544"));
  auto next = f->MoveToNextHdu();
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(next.status().message()),
              HasSubstr("truncated: the file has 11543 bytes but HDU 3's data ends at byte 11544"));
  EXPECT_EQ(*f->NumHdus(), 3);  // as CFITSIO counts: three headers
}

TEST_F(FitsLimitsTest, BadPrimaryFailsAtOpen) {
  const std::string path =
      Write("primary.fits", Hdu({{"SIMPLE", "T"}, {"BITPIX", "-32"}, {"NAXIS", "2"},
                                 {"NAXIS1", "2000000000"}, {"NAXIS2", "2000000000"}}));
  auto f = FitsFile::Open(path);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr(path + " HDU 1: NAXIS1 x NAXIS2 = 2000000000 x 2000000000"));
}

}  // namespace
}  // namespace curator::fits
