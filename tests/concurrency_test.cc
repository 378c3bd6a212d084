// Two attempts of one task at once (a task taken over while its first
// worker still runs it) never damage each other's output: two concurrent
// `curator-worker run` of each of a night's CUs, many times over, then the
// ingest; every preview, row and detection must be in place each time.
#include <filesystem>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "archive/file_registry.h"
#include "gtest/gtest.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/process.h"

namespace curator {
namespace {

namespace fs = std::filesystem;

class ConcurrencyTest : public testing::PipelineTest {};

TEST_F(ConcurrencyTest, TwoRunsOfEachCuAtOnceLeaveEveryOutputInPlace) {
  constexpr int kRounds = 5, kFrames = 12, kSources = 10;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    // A fresh archive and database each round: each round is a first run.
    const std::string db = absl::StrCat(dbname(), "_r", round);
    ASSERT_TRUE(server().CreateDatabase(db).ok());
    const std::string conninfo = server().ConnInfo(db);
    const std::string archive = archive_dir_.Join(absl::StrCat("round", round));
    synth::Options o = Survey(1, kFrames, kSources, 64);
    o.out_dir = archive;
    ASSERT_TRUE(synth::GenerateSurvey(o).ok());
    ASSERT_EQ(testing::RunCommand(absl::StrCat(Bin("daemon/curatorctl"), " migrate --db '",
                                               conninfo, "' 2>&1"))
                  .exit_code,
              0);
    ASSERT_EQ(testing::RunCommand(absl::StrCat(Bin("daemon/curatorctl"),
                                               " register 20071021 --archive ", archive,
                                               " --db '", conninfo, "' 2>&1"))
                  .exit_code,
              0);
    std::vector<testing::Process> runs;
    for (const char* cu : {"CU2", "CU3", "CU4", "CU2", "CU3", "CU4"}) {
      auto p = testing::Process::Start(
          {Bin("worker/curator-worker"), "run", "--cu", cu, "--night", "20071021", "--threads",
           "2", "--archive", archive, "--db", conninfo},
          absl::StrCat(archive, "/run-", runs.size(), ".log"));
      ASSERT_TRUE(p.ok()) << p.status();
      runs.push_back(*std::move(p));
    }
    for (testing::Process& p : runs) EXPECT_EQ(p.Wait(absl::Seconds(120)), 0) << p.Log();
    // One batch per CU, and nothing of the losing attempts left.
    int batches = 0;
    for (const auto& e : fs::directory_iterator(archive + "/staging/20071021")) {
      EXPECT_NE(e.path().filename().string()[0], '.') << "left behind: " << e.path();
      ++batches;
    }
    EXPECT_EQ(batches, 3);
    testing::CommandResult ingest = testing::RunCommand(absl::StrCat(
        Bin("ingester/curator-ingester"), " --once --archive ", archive, " --db '", conninfo,
        "' 2>&1"));
    EXPECT_EQ(ingest.exit_code, 0) << ingest.output;
    // Every preview on disk and named in the archive, every row once.
    int jpegs = 0;
    for (const auto& e : fs::directory_iterator(archive + "/jpeg/20071021")) {
      EXPECT_EQ(e.path().extension(), ".jpg") << "left behind: " << e.path();
      EXPECT_GT(fs::file_size(e.path()), 0u);
      ++jpegs;
    }
    EXPECT_EQ(jpegs, kFrames * 4);
    const auto count = [&](const std::string& sql) {
      pqxx::connection c(conninfo);
      pqxx::work tx(c);
      return tx.exec1(sql)[0].as<std::string>();
    };
    EXPECT_EQ(count("SELECT count(*) FROM multiframe"), std::to_string(kFrames));
    EXPECT_EQ(count("SELECT count(comp_file) FROM multiframe_detector"),
              std::to_string(kFrames * 4));
    EXPECT_EQ(count("SELECT count(*) FROM multiframe_detector d WHERE comp_file IS NOT NULL AND "
                    "NOT EXISTS (SELECT 1 FROM multiframe m WHERE m.multiframe_id = "
                    "d.multiframe_id)"),
              "0");
    EXPECT_EQ(count("SELECT count(*) || ' ' || count(DISTINCT obj_id) FROM detection"),
              absl::StrCat(kFrames * 4 * kSources, " ", kFrames * 4 * kSources));
    ASSERT_TRUE(server().DropDatabase(db).ok());
  }
}

}  // namespace
}  // namespace curator
