#include "ingester/detection_stream.h"

#include <random>

#include "base/files.h"
#include "db/pgcopy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::ingester {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using Problem = DetectionStream::Problem;

// obj_id, multiframe_id, ext_num, ra, dec, x (real, nullable), cu_event_id.
DetectionFile Spec(int64_t rows) {
  DetectionFile f;
  f.name = "detection_000000000007.pgcopy";
  f.columns = {{"obj_id", 8, true},     {"multiframe_id", 8, true}, {"ext_num", 2, true},
               {"ra", 8, true},         {"dec", 8, true},           {"x", 4, false},
               {"cu_event_id", 8, true}};
  f.multiframe_field = 1;
  f.ext_field = 2;
  f.ra_field = 3;
  f.dec_field = 4;
  f.multiframe_id = 7;
  f.detectors = {2, 3, 4, 5};
  f.rows = rows;
  return f;
}

struct Row {
  int64_t temp;
  int64_t multiframe_id = 7;
  int ext = 2;
  double ra = 10, dec = -5;
  bool null_x = false;
};

// `rows` detections, 10 a detector, numbered from -(first + 1) down.
std::vector<Row> Rows(int rows, int64_t first = 0) {
  std::vector<Row> out;
  for (int i = 0; i < rows; ++i) {
    Row r{-(first + i + 1)};
    r.ext = 2 + i / 10;
    r.ra = 10 + i * 0.01;
    r.null_x = i % 3 == 0;
    out.push_back(r);
  }
  return out;
}

std::string Write(const std::vector<Row>& rows) {
  testing::TempDir dir;
  auto w = pgcopy::Writer::Create(dir.Join("f.pgcopy"));
  EXPECT_TRUE(w.ok());
  for (const Row& r : rows) {
    (*w)->StartRow(7);
    (*w)->AddInt64(r.temp);
    (*w)->AddInt64(r.multiframe_id);
    (*w)->AddInt16(static_cast<int16_t>(r.ext));
    (*w)->AddFloat64(r.ra);
    (*w)->AddFloat64(r.dec);
    if (r.null_x) {
      (*w)->AddNull();
    } else {
      (*w)->AddFloat32(1.5f);
    }
    (*w)->AddInt64(0);
  }
  EXPECT_TRUE((*w)->Finish().ok());
  return *files::ReadToString(dir.Join("f.pgcopy"));
}

uint64_t Be(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int b = 0; b < bytes; ++b) v = (v << 8) | static_cast<unsigned char>(s[at + b]);
  return v;
}

// What PostgreSQL would read from the stream sent: obj_id and cu_event_id
// of each row. Fails the test unless it is a complete, valid stream.
std::vector<std::pair<int64_t, int64_t>> Parse(const std::string& s) {
  std::vector<std::pair<int64_t, int64_t>> rows;
  EXPECT_GE(s.size(), 21u);
  EXPECT_EQ(s.substr(0, 11), std::string("PGCOPY\n\377\r\n\0", 11));
  EXPECT_EQ(Be(s, 11, 4), 0u);
  EXPECT_EQ(Be(s, 15, 4), 0u);
  size_t p = 19;
  while (p + 2 <= s.size()) {
    const int16_t fields = static_cast<int16_t>(Be(s, p, 2));
    p += 2;
    if (fields == -1) {
      EXPECT_EQ(p, s.size()) << "bytes after the trailer";
      return rows;
    }
    EXPECT_EQ(fields, 7);
    int64_t first = 0, last = 0;
    for (int f = 0; f < 7; ++f) {
      const int32_t len = static_cast<int32_t>(Be(s, p, 4));
      if (f == 0) first = static_cast<int64_t>(Be(s, p + 4, 8));
      if (f == 6) last = static_cast<int64_t>(Be(s, p + 4, 8));
      p += 4 + (len > 0 ? len : 0);
    }
    rows.push_back({first, last});
  }
  ADD_FAILURE() << "no trailer";
  return rows;
}

// Streams `file` in chunks of 1 to `max_chunk` bytes.
std::string Stream(DetectionStream& s, const std::string& file, size_t max_chunk = 300,
                   uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::string out;
  for (size_t pos = 0; pos < file.size();) {
    const size_t n = std::min<size_t>(file.size() - pos, 1 + rng() % max_chunk);
    absl::string_view ready = s.Feed(absl::string_view(file).substr(pos, n));
    out.append(ready.data(), ready.size());
    pos += n;
  }
  s.Finish();
  return out;
}

TEST(DetectionStreamTest, RewritesIdsWhateverTheChunking) {
  const std::string file = Write(Rows(40, 100));
  const DetectionFile spec = Spec(40);
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    IdRanges ids(200);
    DetectionStream s(spec, /*base=*/5000, /*event_id=*/77, &ids);
    const std::string out = Stream(s, file, seed == 1 ? file.size() : 200, seed);
    EXPECT_FALSE(s.rejected());
    EXPECT_TRUE(s.problems().empty());
    EXPECT_EQ(s.rows_sent(), 40);
    EXPECT_EQ(s.first_obj_id(), 5100);
    ASSERT_EQ(out.size(), file.size());  // same layout, ids set in place
    auto rows = Parse(out);
    ASSERT_EQ(rows.size(), 40u);
    for (int i = 0; i < 40; ++i) {
      EXPECT_EQ(rows[i].first, 5100 + i);  // 5000 - (-(100 + i + 1)) - 1
      EXPECT_EQ(rows[i].second, 77);
    }
    EXPECT_TRUE(ids.Taken(100));
    EXPECT_TRUE(ids.Taken(139));
    EXPECT_FALSE(ids.Taken(140));
  }
}

TEST(DetectionStreamTest, RowsOutOfRangeRejectTheFileAndAreNamedByHduAndRow) {
  std::vector<Row> rows = Rows(40);
  for (int i = 4; i <= 8; ++i) rows[10 + i - 1].ra = 1e6;  // HDU 3, its rows 4..8
  rows[35].dec = std::nan("");                             // HDU 5, its row 6
  IdRanges ids(40);
  const DetectionFile spec = Spec(40);
  DetectionStream s(spec, 1, 0, &ids);
  auto sent = Parse(Stream(s, Write(rows)));
  EXPECT_TRUE(s.rejected());
  // Sent: the rows before the first bad one (HDU 2 whole, HDU 3's first
  // three rows), then a trailer.
  EXPECT_EQ(s.rows_sent(), 13);
  EXPECT_EQ(sent.size(), 13u);
  EXPECT_EQ(s.rows_read(), 40);
  EXPECT_THAT(
      s.problems(),
      ElementsAre(
          AllOf(Field(&Problem::hdu, 3), Field(&Problem::item, "ra"),
                Field(&Problem::message, "5 detections with RA outside [0, 360) (rows 4..8)")),
          AllOf(Field(&Problem::hdu, 5), Field(&Problem::item, "dec"),
                Field(&Problem::message, "1 detections with Dec outside [-90, 90] (row 6)"))));
  // The ids sent are taken; those after them are not.
  EXPECT_TRUE(ids.Taken(12));
  EXPECT_FALSE(ids.Taken(13));
}

TEST(DetectionStreamTest, ADetectorWithoutItsRowIsNamed) {
  DetectionFile spec = Spec(40);
  spec.detectors = {2, 3, 5};  // no ext_num 4
  IdRanges ids(40);
  DetectionStream s(spec, 1, 0, &ids);
  auto sent = Parse(Stream(s, Write(Rows(40))));
  EXPECT_EQ(sent.size(), 20u);
  ASSERT_EQ(s.problems().size(), 1u);
  EXPECT_EQ(s.problems()[0].hdu, 4);
  EXPECT_EQ(s.problems()[0].message,
            "10 detections of a detector multiframe_detector does not have (multiframe 7, "
            "ext_num 4)");
}

TEST(DetectionStreamTest, ARowCountOtherThanTheManifestsRejectsTheFile) {
  {  // fewer rows than the manifest says: all sent, then rejected
    IdRanges ids(45);
    const DetectionFile spec = Spec(45);
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40)))).size(), 40u);
    EXPECT_TRUE(s.rejected());
    ASSERT_EQ(s.problems().size(), 1u);
    EXPECT_EQ(s.problems()[0].message,
              "detection_000000000007.pgcopy holds 40 detections, but the manifest says 45");
  }
  {  // more: what the manifest promised goes, then no more
    IdRanges ids(40);
    const DetectionFile spec = Spec(35);
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40)))).size(), 35u);
    ASSERT_EQ(s.problems().size(), 1u);
    EXPECT_EQ(s.problems()[0].message,
              "detection_000000000007.pgcopy holds 40 detections, but the manifest says 35");
  }
}

TEST(DetectionStreamTest, IdsMustRunOnAndStayTheFilesOwn) {
  const DetectionFile spec = Spec(40);
  IdRanges ids(100);
  ids.Take(50, 60);  // another file's
  {                  // runs into the other file's ids at its row 11
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40, 40)))).size(), 10u);
    ASSERT_FALSE(s.problems().empty());
    EXPECT_EQ(s.problems()[0].message,
              "row 11 of detection_000000000007.pgcopy: temporary id -51 is another file's of the "
              "batch");
    EXPECT_EQ(s.problems()[0].item, "obj_id");
  }
  {  // starts inside them
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40, 55)))).size(), 0u);
    EXPECT_THAT(s.problems()[0].message, HasSubstr("row 1 of detection_000000000007.pgcopy: "
                                                   "temporary id -56 is another file's"));
  }
  {  // leaves the block
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40, 70)))).size(), 30u);
    EXPECT_THAT(s.problems()[0].message, HasSubstr("row 31 of detection_000000000007.pgcopy: "
                                                   "temporary id -101 is outside the batch's "
                                                   "[-100, -1]"));
  }
  {  // skips one
    std::vector<Row> rows = Rows(40);
    rows[7].temp = -20;
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(rows))).size(), 7u);
    EXPECT_THAT(s.problems()[0].message,
                HasSubstr("row 8 of detection_000000000007.pgcopy: temporary id -20 where -8 "
                          "follows"));
  }
}

TEST(DetectionStreamTest, RowsThePostgresqlWouldRefuseAreNeverSent) {
  {  // another multiframe's row
    IdRanges ids(40);
    std::vector<Row> rows = Rows(40);
    rows[3].multiframe_id = 8;
    const DetectionFile spec = Spec(40);
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(rows))).size(), 3u);
    EXPECT_THAT(s.problems()[0].message,
                HasSubstr("row 4 of detection_000000000007.pgcopy: multiframe_id 8, but the "
                          "manifest says the file is multiframe 7's"));
  }
  {  // NULL where the column is NOT NULL
    IdRanges ids(40);
    DetectionFile spec = Spec(40);
    spec.columns[5].not_null = true;
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40)))).size(), 0u);
    EXPECT_EQ(s.problems()[0].message,
              "row 1 of detection_000000000007.pgcopy: column 'x' is NULL, but NOT NULL in "
              "detection");
    EXPECT_FALSE(s.read_to_end());
  }
  {  // a field of the wrong size for its type
    IdRanges ids(40);
    DetectionFile spec = Spec(40);
    spec.columns[5].length = 8;
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40)))).size(), 1u);  // row 1's x is NULL
    EXPECT_EQ(s.problems()[0].message,
              "row 2 of detection_000000000007.pgcopy: column 'x' has 4 bytes, its type 8");
  }
  {  // fewer columns than the manifest lists
    IdRanges ids(40);
    DetectionFile spec = Spec(40);
    spec.columns.insert(spec.columns.begin() + 5, {"y", 4, false});
    spec.ra_field = 3;
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, Write(Rows(40)))).size(), 0u);
    EXPECT_EQ(s.problems()[0].message,
              "row 1 of detection_000000000007.pgcopy has 7 fields, but the manifest lists 8 "
              "columns");
  }
}

TEST(DetectionStreamTest, BrokenFilesStillGiveAValidStream) {
  const DetectionFile spec = Spec(40);
  const std::string file = Write(Rows(40));
  {
    IdRanges ids(40);
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, "PGCOPY but not really, no signature here")).size(), 0u);
    EXPECT_THAT(s.problems()[0].message, HasSubstr("not a PostgreSQL binary COPY file"));
  }
  {  // cut inside a row: the whole rows before go, then the file is rejected
    IdRanges ids(40);
    DetectionStream s(spec, 1, 0, &ids);
    const std::string out = Stream(s, file.substr(0, file.size() - 30));
    EXPECT_TRUE(s.rejected());
    EXPECT_EQ(s.rows_sent(), 39);
    EXPECT_THAT(s.problems()[0].message, HasSubstr("ends inside row 40"));
    // No trailer can follow the last whole row once the file has ended:
    // PostgreSQL takes the end of the data as the end of the rows.
    EXPECT_NE(out.substr(out.size() - 2), "\xff\xff");
  }
  {  // bytes after the trailer
    IdRanges ids(40);
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Parse(Stream(s, file + "junk", file.size() + 4)).size(), 40u);
    EXPECT_THAT(s.problems()[0].message, HasSubstr("has bytes after its trailer"));
  }
  {  // a file of nothing
    IdRanges ids(40);
    DetectionStream s(spec, 1, 0, &ids);
    EXPECT_EQ(Stream(s, "PGCO"), std::string("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19));
    EXPECT_THAT(s.problems()[0].message, HasSubstr("ends within its header"));
  }
}

}  // namespace
}  // namespace curator::ingester
