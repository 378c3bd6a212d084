#include "db/pgcopy.h"

#include <cmath>
#include <filesystem>
#include <random>

#include "base/crc32c.h"
#include "base/files.h"
#include "db/pg.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/pg_test.h"
#include "tests/support/temp_dir.h"

namespace curator::pgcopy {
namespace {

using ::testing::HasSubstr;

TEST(Crc32cTest, KnownAnswers) {
  // The check value of CRC-32C (RFC 3720, appendix B.4).
  EXPECT_EQ(Crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c(0, "", 0), 0u);
  // Extending piece by piece equals one pass.
  EXPECT_EQ(Crc32c(Crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

// A detection-like file: obj_id (temporary), multiframe_id, ext_num, ra,
// dec, a text field, a NULL, and cu_event_id.
std::string MakeFile(const std::string& path, int rows, std::vector<double>* ras) {
  auto w = Writer::Create(path);
  EXPECT_TRUE(w.ok());
  for (int i = 0; i < rows; ++i) {
    (*w)->StartRow(8);
    (*w)->AddInt64(-(i + 1));
    (*w)->AddInt64(100 + i / 50);
    (*w)->AddInt16(static_cast<int16_t>(2 + i % 4));
    const double ra = i == 17 ? 400.0 : 10.0 + i * 0.001;
    ras->push_back(ra);
    (*w)->AddFloat64(ra);
    if (i == 23) {
      (*w)->AddNull();  // a NULL Dec
    } else {
      (*w)->AddFloat64(-5.0);
    }
    (*w)->AddText(std::string(i % 7, 'x'));
    (*w)->AddNull();
    (*w)->AddInt64(0);
  }
  auto summary = (*w)->Finish();
  EXPECT_TRUE(summary.ok());
  EXPECT_EQ(summary->rows, rows);
  int64_t bytes = 0;
  EXPECT_EQ(*FileCrc32(path, &bytes), summary->crc32c);
  EXPECT_EQ(bytes, summary->bytes);
  return *files::ReadToString(path);
}

TEST(IdRewriterTest, RewritesIdsAndTalliesWhateverTheChunking) {
  testing::TempDir dir;
  std::vector<double> ras;
  const int rows = 1000;
  const std::string file = MakeFile(dir.Join("d.pgcopy"), rows, &ras);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 20; ++trial) {
    IdRewriter r(/*base=*/5000, /*count=*/rows, /*event_id=*/77);
    r.WatchDetections(1, 2, 3, 4);
    std::string out;
    size_t pos = 0;
    while (pos < file.size()) {
      // Chunks from 1 byte to a few rows: row boundaries fall anywhere.
      const size_t n = std::min<size_t>(file.size() - pos, 1 + rng() % 300);
      auto ready = r.Feed(absl::string_view(file.data() + pos, n));
      ASSERT_TRUE(ready.ok()) << ready.status();
      out.append(ready->data(), ready->size());
      pos += n;
    }
    ASSERT_TRUE(r.Finish().ok());
    EXPECT_EQ(r.rows(), rows);
    ASSERT_EQ(out.size(), file.size());  // same layout, values changed in place
    // Row i: first field 5000 - (-(i+1)) - 1 = 5000 + i; last field 77.
    size_t p = 19;
    for (int i = 0; i < rows; ++i) {
      p += 2;  // field count
      auto be = [&](size_t at, int bytes) {
        uint64_t v = 0;
        for (int b = 0; b < bytes; ++b) v = (v << 8) | static_cast<unsigned char>(out[at + b]);
        return v;
      };
      ASSERT_EQ(be(p, 4), 8u);
      ASSERT_EQ(static_cast<int64_t>(be(p + 4, 8)), 5000 + i) << "row " << i;
      for (int f = 0; f < 7; ++f) {
        const int32_t len = static_cast<int32_t>(be(p, 4));
        p += 4 + (len > 0 ? len : 0);
      }
      ASSERT_EQ(be(p + 4, 8), 77u);
      p += 12;
    }
    // 20 detectors (50 rows per multiframe, 4 extensions); one bad RA, one
    // NULL Dec.
    int64_t total = 0, bad_ra = 0, bad_dec = 0;
    for (const auto& [key, t] : r.tallies()) {
      total += t.rows;
      bad_ra += t.bad_ra;
      bad_dec += t.bad_dec;
    }
    EXPECT_EQ(r.tallies().size(), 80u);
    EXPECT_EQ(total, rows);
    EXPECT_EQ(bad_ra, 1);
    EXPECT_EQ(bad_dec, 1);
  }
}

TEST(IdRewriterTest, RejectsIdsOutsideTheBlockAndCutStreams) {
  testing::TempDir dir;
  std::vector<double> ras;
  const std::string file = MakeFile(dir.Join("d.pgcopy"), 10, &ras);
  IdRewriter small(1, /*count=*/5, 0);  // the file has ids down to -10
  auto out = small.Feed(file);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("row 6: temporary id -6 is outside [-5, -1]"));

  IdRewriter cut(1, 10, 0);
  ASSERT_TRUE(cut.Feed(absl::string_view(file).substr(0, file.size() - 30)).ok());
  EXPECT_THAT(std::string(cut.Finish().message()), HasSubstr("ends inside row"));

  IdRewriter junk(1, 10, 0);
  EXPECT_FALSE(junk.Feed("PGCOPY but not really, no signature here").ok());
}

// The loader's reader opens batch files as they lie: a symbolic link to the
// same rows elsewhere is refused by name before the COPY starts.
class CopyInFromFileTest : public testing::PgTest {};

TEST_F(CopyInFromFileTest, CopiesARegularFileAndRefusesALink) {
  auto conn = pg::Connection::Connect(conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->ExecScript("CREATE TABLE t (a integer)").ok());
  testing::TempDir dir;
  const std::string file = dir.Join("t.pgcopy");
  {
    auto w = Writer::Create(file);
    ASSERT_TRUE(w.ok()) << w.status();
    (*w)->StartRow(1);
    (*w)->AddInt32(42);
    ASSERT_TRUE((*w)->Finish().ok());
  }
  constexpr char kCopy[] = "COPY t FROM STDIN (FORMAT binary)";
  auto rows = (*conn)->CopyInFromFile(kCopy, file);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 1);
  std::filesystem::create_symlink(file, dir.Join("link.pgcopy"));
  rows = (*conn)->CopyInFromFile(kCopy, dir.Join("link.pgcopy"));
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rows.status().message(),
              HasSubstr("link.pgcopy is a symbolic link; batch files must be regular files"));
  auto count = (*conn)->Exec("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->GetInt(0, 0), 1);
  // The connection is still usable: no COPY was left open.
  EXPECT_TRUE((*conn)->Exec("SELECT 1").ok());
}

}  // namespace
}  // namespace curator::pgcopy
