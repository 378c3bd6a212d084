// Retention of ingested/: old batches go, then the oldest while they take
// too much; the newest and every quarantined batch stay.
#include "ingester/retention.h"

#include <filesystem>
#include <fstream>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::ingester {
namespace {

namespace fs = std::filesystem;

void Batch(const std::string& dir, int kb) {
  fs::create_directories(dir);
  std::ofstream(dir + "/data.pgcopy") << std::string(kb * 1024, 'x');
  std::ofstream(dir + "/manifest.json") << "{}";
}

TEST(RetentionTest, OldBatchesThenTheOldestOverTheSizeLimitAreRemoved) {
  testing::TempDir root("curator-retention-");
  const std::string a = root.Join("ingested/20071021/20071021-cu3-a");
  const std::string b = root.Join("ingested/20071021/20071021-cu4-b");
  const std::string c = root.Join("ingested/20071022/20071022-cu3-c");
  Batch(a, 100);
  Batch(b, 100);
  Batch(c, 100);
  Batch(root.Join("quarantine/20071021/20071021-cu2-q"), 100);
  // Within both limits: nothing goes.
  Pruned p = PruneIngested(root.path(), {absl::Hours(1), 1 << 20}, absl::Now());
  EXPECT_EQ(p.batches, 0);
  // Over 250 kB: the oldest go until the rest fits.
  p = PruneIngested(root.path(), {absl::Hours(1), 250 * 1024}, absl::Now());
  EXPECT_EQ(p.batches, 1);
  EXPECT_GE(p.bytes, 100 * 1024);
  EXPECT_FALSE(fs::exists(a));
  EXPECT_TRUE(fs::exists(b));
  // Older than the age limit (seen from two hours on): all of them, and
  // their night directories; quarantine/ is never touched.
  p = PruneIngested(root.path(), {absl::Hours(1), 0}, absl::Now() + absl::Hours(2));
  EXPECT_EQ(p.batches, 2);
  EXPECT_FALSE(fs::exists(root.Join("ingested/20071021")));
  EXPECT_FALSE(fs::exists(root.Join("ingested/20071022")));
  EXPECT_TRUE(fs::exists(root.Join("quarantine/20071021/20071021-cu2-q/data.pgcopy")));
}

}  // namespace
}  // namespace curator::ingester
