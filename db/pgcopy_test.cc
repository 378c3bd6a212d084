#include "db/pgcopy.h"

#include <filesystem>

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

// CU5 reads the night's detections with COPY ... TO STDOUT (FORMAT binary):
// every value comes back as PostgreSQL has it, NULLs included, however the
// stream is cut into chunks.
class CopyOutTest : public testing::PgTest {};

TEST_F(CopyOutTest, ReadsEveryRowAndValueOfABinaryCopyWhateverTheChunks) {
  auto conn = pg::Connection::Connect(conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  constexpr char kCopy[] =
      "COPY (SELECT g::bigint, g::smallint, (g * 1000)::integer, g / "
      "3.0::float8, "
      "CASE WHEN g % 7 = 0 THEN NULL ELSE (g / 7.0)::real END FROM "
      "generate_series(-3, 5000) s(g) "
      "ORDER BY s.g) TO STDOUT (FORMAT binary)";
  std::string stream;
  auto rows = (*conn)->CopyOut(kCopy, [&](absl::string_view chunk) {
    stream.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 5004);
  for (size_t piece : {size_t{1}, size_t{7}, stream.size()}) {
    Reader reader(5);
    int64_t next = -3;
    int nulls = 0;
    for (size_t at = 0; at < stream.size(); at += piece) {
      absl::Status s =
          reader.Feed(absl::string_view(stream).substr(at, piece),
                      [&](const Reader::Row& r) {
                        EXPECT_EQ(r.Int64(0), next);
                        EXPECT_EQ(r.Int16(1), next);
                        EXPECT_EQ(r.Int32(2), next * 1000);
                        EXPECT_DOUBLE_EQ(r.Float64(3), next / 3.0);
                        if (next % 7 == 0) {
                          EXPECT_TRUE(r.IsNull(4));
                          ++nulls;
                        } else {
                          EXPECT_FLOAT_EQ(r.Float32(4), next / 7.0f);
                        }
                        ++next;
                        return absl::OkStatus();
                      });
      ASSERT_TRUE(s.ok()) << s;
    }
    EXPECT_TRUE(reader.Finish().ok()) << "chunks of " << piece;
    EXPECT_EQ(reader.rows(), 5004);
    EXPECT_EQ(next, 5001);
    EXPECT_EQ(nulls, 715);
  }
  // A stream cut short, or of the wrong width, is refused by what is wrong.
  Reader short_reader(5);
  auto ignore = [](const Reader::Row&) { return absl::OkStatus(); };
  ASSERT_TRUE(
      short_reader
          .Feed(absl::string_view(stream).substr(0, stream.size() - 2), ignore)
          .ok());
  EXPECT_THAT(short_reader.Finish().message(),
              HasSubstr("ended after 5004 rows without its trailer"));
  Reader narrow(4);
  EXPECT_THAT(narrow.Feed(stream, ignore).message(),
              HasSubstr("a row of 5 fields, expected 4"));
  EXPECT_THAT(Reader(5).Feed("PGCOPY\n\377\r\nX0000000000", ignore).message(),
              HasSubstr("no PGCOPY signature"));
  // A sink that stops ends the copy with its error; the connection stays
  // usable.
  rows = (*conn)->CopyOut(
      kCopy, [](absl::string_view) { return absl::CancelledError("enough"); });
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE((*conn)->Exec("SELECT 1").ok());
}

}  // namespace
}  // namespace curator::pgcopy
