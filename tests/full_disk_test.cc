// A full disk never makes a task done with output missing: the task fails
// (a systematic error, to be retried), leaves nothing behind, and once
// there is room again its rerun lands everything. The staging area is a
// small tmpfs mounted for the test (needs root, as CI has; skipped with
// the reason otherwise), so the previews also cross file systems when the
// ingest publishes them.
#include <sys/mount.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "archive/file_registry.h"
#include "archive/task_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/pipeline_test.h"
#include "worker/cu2_task.h"
#include "worker/cu4_task.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FullDiskTest : public testing::PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    staging_ = archive_ + "/staging";
    fs::create_directories(staging_);
    if (mount("tmpfs", staging_.c_str(), "tmpfs", 0, "size=256k") != 0) {
      GTEST_SKIP() << "cannot mount a small tmpfs for staging (" << std::strerror(errno)
                   << "): needs root";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(staging_.c_str(), MNT_DETACH);
    PipelineTest::TearDown();
  }
  void Resize(const char* size) {
    ASSERT_EQ(mount("tmpfs", staging_.c_str(), "tmpfs", MS_REMOUNT, size), 0)
        << std::strerror(errno);
  }
  std::vector<worker::ImageInput> Images() {
    std::vector<worker::ImageInput> out;
    const std::vector<archive::ImageFile> images = *archive::RegisteredImages(*conn_, "20071021");
    for (const auto& i : images) {
      out.push_back({i.multiframe_id, i.path, i.file_name, i.file_time_stamp, i.cat_name});
    }
    return out;
  }
  // Everything under staging/, hidden files included.
  std::vector<std::string> Staged() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(staging_)) out.push_back(e.path());
    return out;
  }

  std::string staging_;
  bool mounted_ = false;
};

TEST_F(FullDiskTest, ATaskThatCannotWriteItsOutputFailsLeavesNothingAndItsRerunLands) {
  Generate(Survey(1, 8, 200, 256));
  Register("20071021");
  // CU2: 32 previews of 256 x 256 do not fit in 256 kB.
  const int64_t event = *tasklog::StartEvent(*conn_, 2, "process", "20071021", "test");
  absl::StatusOr<worker::TaskOutput> cu2 = worker::RunCu2(
      {archive_, "20071021", event, Images(), 2, {}, nullptr, {}});
  ASSERT_FALSE(cu2.ok());
  EXPECT_EQ(cu2.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(cu2.status().message()),
              HasSubstr("CU2 of 20071021: writing the previews"));
  EXPECT_THAT(std::string(cu2.status().message()), HasSubstr("No space left on device"));
  // Nothing left behind: no partial batch, no temporary file, no preview.
  EXPECT_THAT(Staged(), ::testing::Each(::testing::Not(HasSubstr(".partial-"))));
  EXPECT_THAT(Staged(), ::testing::Each(::testing::Not(HasSubstr(".tmp"))));
  EXPECT_TRUE(fs::is_empty(archive_ + "/jpeg/20071021"));

  // CU4: its detection files do not fit either.
  auto cats = *archive::RegisteredCatalogues(*conn_, "20071021");
  worker::Cu4Input in{archive_, "20071021", event, {}, 2, nullptr, {}};
  for (const auto& c : cats) in.catalogues.push_back({c.multiframe_id, c.path, c.image_path});
  Resize("size=32k");
  absl::StatusOr<worker::TaskOutput> cu4 = worker::RunCu4(in);
  ASSERT_FALSE(cu4.ok());
  EXPECT_EQ(cu4.status().code(), absl::StatusCode::kUnavailable) << cu4.status();
  EXPECT_THAT(Staged(), ::testing::Each(::testing::Not(HasSubstr(".partial-"))));

  // Room again: the same tasks run again and everything lands.
  Resize("size=64m");
  worker::TaskOutput cu3 = Cu3("20071021");
  ASSERT_FALSE(cu3.batch_dir.empty());
  cu2 = worker::RunCu2(
      {archive_, "20071021", event, Images(), 2, {}, nullptr, {}});
  ASSERT_TRUE(cu2.ok()) << cu2.status();
  EXPECT_EQ(cu2->manifest.assets_size(), 8 * 4);
  cu4 = worker::RunCu4(in);
  ASSERT_TRUE(cu4.ok()) << cu4.status();
  for (const ingester::IngestOutcome& o : IngestAll()) {
    EXPECT_EQ(o.kind, ingester::IngestOutcome::Kind::kIngested) << o.batch_id << " " << o.report;
  }
  // The previews, published from the tmpfs to the archive's disk (a copy,
  // not a link, across file systems), each where its row says.
  int jpegs = 0;
  for (const auto& e : fs::directory_iterator(archive_ + "/jpeg/20071021")) {
    EXPECT_EQ(e.path().extension(), ".jpg") << e.path();
    ++jpegs;
  }
  EXPECT_EQ(jpegs, 8 * 4);
  EXPECT_EQ(Count("SELECT count(comp_file) FROM multiframe_detector"), 8 * 4);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 8 * 4 * 200);
}

}  // namespace
}  // namespace curator
