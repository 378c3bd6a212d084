#include "base/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::files {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

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

TEST(FilesTest, ReadRegularFileReadsOnlyRegularFilesWithinALimit) {
  testing::TempDir dir;
  const std::string path = dir.Join("manifest.json");
  std::ofstream(path) << "{}";
  EXPECT_EQ(*ReadRegularFile(path, "batch files", 100), "{}");
  auto big = ReadRegularFile(path, "batch files", 1);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("2 bytes, more than the 1 allowed"));
  EXPECT_EQ(ReadRegularFile(dir.Join("nope"), "batch files", 100).status().code(),
            absl::StatusCode::kNotFound);
  // A link is not followed, a FIFO not waited on, a directory not read.
  fs::create_symlink(path, dir.Join("link.json"));
  ASSERT_EQ(mkfifo(dir.Join("fifo").c_str(), 0600), 0);
  const std::pair<std::string, std::string> refused[] = {
      {"link.json", "link.json is a symbolic link; batch files must be regular files"},
      {"fifo", "fifo is a FIFO; batch files must be regular files"},
      {"", " is a directory; batch files must be regular files"},
  };
  for (const auto& [name, message] : refused) {
    auto r = ReadRegularFile(dir.Join(name), "batch files", 100);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(r.status().message(), HasSubstr(message));
  }
  // A descriptor for a regular file reads like any other.
  auto fd = OpenRegularFile(path, "batch files");
  ASSERT_TRUE(fd.ok()) << fd.status();
  char c[2];
  EXPECT_EQ(read(*fd, c, 2), 2);
  close(*fd);
}

}  // namespace
}  // namespace curator::files
