#include "base/files.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::files {
namespace {

namespace fs = std::filesystem;

TEST(FilesTest, MoveDirMovesReplacesAndReportsAMissingSource) {
  testing::TempDir dir;
  const std::string from = dir.Join("staging/b1"), to = dir.Join("ingested/night/b1");
  fs::create_directories(from);
  std::ofstream(from + "/new.pgcopy") << "new";
  ASSERT_TRUE(MoveDir(from, to).ok());  // makes the parent
  EXPECT_TRUE(fs::exists(to + "/new.pgcopy"));
  EXPECT_FALSE(fs::exists(from));
  // Again over an existing copy: replaced, the old content gone, nothing
  // left aside.
  fs::create_directories(from);
  std::ofstream(from + "/newer.pgcopy") << "newer";
  ASSERT_TRUE(MoveDir(from, to).ok());
  EXPECT_TRUE(fs::exists(to + "/newer.pgcopy"));
  EXPECT_FALSE(fs::exists(to + "/new.pgcopy"));
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.Join("ingested/night"))) entries += !e.path().empty();
  EXPECT_EQ(entries, 1);
  // The source gone (another process moved it): NotFound, the target kept.
  EXPECT_EQ(MoveDir(from, to).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(fs::exists(to + "/newer.pgcopy"));
}

TEST(FilesTest, WriteAtomicallyReplacesWholeFiles) {
  testing::TempDir dir;
  const std::string path = dir.Join("manifest.json");
  ASSERT_TRUE(WriteAtomically(path, "first").ok());
  ASSERT_TRUE(WriteAtomically(path, "second").ok());
  EXPECT_EQ(*ReadToString(path), "second");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_EQ(ReadToString(dir.Join("nope")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace curator::files
