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

}  // namespace
}  // namespace curator::pgcopy
