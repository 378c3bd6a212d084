// Batches on disk as the ingester finds them: a symbolic link anywhere in
// a batch (data file, manifest, batch or night directory) is refused or
// skipped with a message naming it, never followed.
#include "archive/batch.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "db/pgcopy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::batch {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kNight[] = "20071021";
constexpr char kId[] = "b-20071021-cu3-0001";

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Join("archive");
    dir_ = absl::StrCat(root_, "/staging/", kNight, "/", kId);
    fs::create_directories(dir_);
    std::ofstream(dir_ + "/multiframe.pgcopy") << "PGCOPY rows of the batch";
    m_.set_format_version(kFormatVersion);
    m_.set_batch_id(kId);
    m_.set_cu(v1::CU3);
    m_.set_night(kNight);
    v1::BatchFile* f = m_.add_files();
    f->set_name("multiframe.pgcopy");
    f->set_table("multiframe");
    int64_t bytes = 0;
    f->set_crc32c(*pgcopy::FileCrc32(dir_ + "/multiframe.pgcopy", &bytes));
    f->set_bytes(bytes);
    ASSERT_TRUE(WriteManifest(dir_, m_).ok());
  }
  testing::TempDir tmp_;
  std::string root_, dir_;
  v1::Manifest m_;
};

TEST_F(BatchTest, AVerifiedBatchWhoseDataFileBecomesALinkIsRefused) {
  ASSERT_TRUE(Verify(dir_, *ReadManifest(dir_)).ok());
  EXPECT_THAT(StagedBatchDirs(root_), ElementsAre(dir_));
  // The same bytes, elsewhere, linked in: size and CRC would match.
  const std::string copy = tmp_.Join("copy.pgcopy");
  fs::copy_file(dir_ + "/multiframe.pgcopy", copy);
  fs::remove(dir_ + "/multiframe.pgcopy");
  fs::create_symlink(copy, dir_ + "/multiframe.pgcopy");
  absl::Status s = Verify(dir_, m_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(dir_ + "/multiframe.pgcopy is a symbolic link; batch files "
                                            "must be regular files"));
  // The CRC reader and the loader's file reader refuse it the same way.
  int64_t bytes = 0;
  EXPECT_THAT(pgcopy::FileCrc32(dir_ + "/multiframe.pgcopy", &bytes).status().message(),
              HasSubstr("is a symbolic link; batch files must be regular files"));
}

TEST_F(BatchTest, AFifoOrDirectoryAsADataFileIsRefusedWithoutWaiting) {
  fs::remove(dir_ + "/multiframe.pgcopy");
  ASSERT_EQ(mkfifo((dir_ + "/multiframe.pgcopy").c_str(), 0600), 0);
  absl::Status s = Verify(dir_, m_);  // must not block waiting for a writer
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("multiframe.pgcopy is a FIFO; batch files must be regular"));
  fs::remove(dir_ + "/multiframe.pgcopy");
  fs::create_directory(dir_ + "/multiframe.pgcopy");
  EXPECT_THAT(Verify(dir_, m_).message(), HasSubstr("multiframe.pgcopy is a directory"));
}

TEST_F(BatchTest, AManifestThatIsALinkIsNotRead) {
  const std::string elsewhere = tmp_.Join("manifest.json");
  fs::rename(dir_ + "/manifest.json", elsewhere);
  fs::create_symlink(elsewhere, dir_ + "/manifest.json");
  absl::StatusOr<v1::Manifest> m = ReadManifest(dir_);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(),
              HasSubstr("manifest.json is a symbolic link; batch files must be regular files"));
  // Missing stays NotFound: "not ready yet".
  fs::remove(dir_ + "/manifest.json");
  EXPECT_EQ(ReadManifest(dir_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BatchTest, NightAndBatchDirectoriesThatAreLinksAreNotFollowed) {
  // A night of staging that is a link to batches elsewhere, and a batch
  // directory that is a link to one.
  const std::string elsewhere = tmp_.Join("elsewhere");
  fs::create_directories(elsewhere);
  fs::copy(absl::StrCat(root_, "/staging/", kNight), elsewhere + "/20071022",
           fs::copy_options::recursive);
  fs::create_symlink(elsewhere + "/20071022", root_ + "/staging/20071022");
  fs::create_symlink(dir_, absl::StrCat(root_, "/staging/", kNight, "/b-20071021-cu3-0002"));
  EXPECT_THAT(StagedBatchDirs(root_), ElementsAre(dir_));
  // Named directly, through the link: refused by name.
  for (const std::string& linked :
       {absl::StrCat(root_, "/staging/20071022/", kId),
        absl::StrCat(root_, "/staging/", kNight, "/b-20071021-cu3-0002")}) {
    absl::StatusOr<v1::Manifest> m = ReadManifest(linked);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << linked;
    EXPECT_THAT(m.status().message(),
                HasSubstr("is a symbolic link; batch and night directories must be directories"));
    EXPECT_EQ(Verify(linked, m_).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(BatchTest, ManifestFileNamesThatLeaveTheBatchAreRefused) {
  for (const std::string name : {"../x", "/etc/passwd", "..", "manifest.json", ""}) {
    v1::Manifest m = m_;
    m.mutable_files(0)->set_name(name);
    absl::Status s = Verify(dir_, m);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(s.message(), HasSubstr("' is not allowed"));
  }
}

}  // namespace
}  // namespace curator::batch
