// Reruns (curatorctl rerun), with real processes on loopback: a task run
// again makes a new batch that replaces the one it loaded before, in the
// ingest's one transaction. The archive of a night rerun is the archive it
// had; the replaced batches say by which batch; no detection is held
// twice; and a batch that claims to replace another CU's is refused.
#include <filesystem>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/archive_digest.h"
#include "tests/support/cluster_test.h"

namespace curator {
namespace {

using ::testing::HasSubstr;

class RerunTest : public testing::ClusterTest {
 protected:
  // task_id -> batch_id of every task.
  std::map<std::string, std::string> TaskBatches() {
    auto r = conn_->Exec(
        "SELECT task_id, coalesce(batch_id, '') FROM curation.task");
    EXPECT_TRUE(r.ok()) << r.status();
    std::map<std::string, std::string> out;
    for (int i = 0; r.ok() && i < r->rows(); ++i)
      out[r->Get(i, 0)] = r->Get(i, 1);
    return out;
  }
  std::vector<std::string> DetectionPartitions() {
    auto r = conn_->Exec(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = "
        "i.inhrelid WHERE "
        "i.inhparent = 'detection'::regclass ORDER BY 1");
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    for (int i = 0; r.ok() && i < r->rows(); ++i) out.push_back(r->Get(i, 0));
    return out;
  }
  // Every table named detection_* (attached or not).
  int64_t DetectionTables() {
    return Count(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'detection\\_2%' AND "
        "relkind = 'r'");
  }
};

TEST_F(RerunTest, ANightRerunReplacesEveryBatchAndMakesTheSameArchive) {
  Generate(Survey(1, 4, 60, 256));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60)))
      << daemon.Log() << ingester.Log();
  const std::map<std::string, std::string> before =
      testing::ArchiveDigests(conninfo());
  const std::map<std::string, std::string> first = TaskBatches();
  const std::vector<std::string> first_partitions = DetectionPartitions();
  ASSERT_EQ(first_partitions.size(), 1u);
  const int64_t detections = Count("SELECT count(*) FROM detection");
  ASSERT_GT(detections, 0);

  // Every task of the night, at once: CU2's and CU4's ingests wait for
  // CU3's again.
  std::vector<std::string> ids;
  for (const auto& [task, batch] : first) ids.push_back(task);
  testing::CommandResult rerun =
      Ctl(absl::StrCat("rerun ", absl::StrJoin(ids, " ")));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_THAT(rerun.output, HasSubstr("rerun"));
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM curation.batch WHERE state = "
                   "'replaced'") == 3 &&
               Count(
                   "SELECT count(*) FROM curation.task WHERE state = "
                   "'ingested'") == 3;
      },
      absl::Seconds(60)))
      << daemon.Log() << ingester.Log() << worker.Log()
      << Ctl("batches").output;

  // Each task's new batch is its second generation, and replaced its first.
  const std::map<std::string, std::string> second = TaskBatches();
  for (const auto& [task, batch] : second) {
    EXPECT_EQ(batch, first.at(task) + "-r1") << "task " << task;
    auto old = conn_->Exec(
        "SELECT state, replaced_by FROM curation.batch WHERE batch_id = $1",
        {first.at(task)});
    ASSERT_TRUE(old.ok() && old->rows() == 1) << first.at(task);
    EXPECT_EQ(old->Get(0, 0), "replaced");
    EXPECT_EQ(old->Get(0, 1), batch);
  }
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.batch WHERE state = 'ingested'"), 3);

  // The same archive: no detection twice, the old partition gone, every
  // preview still named (CU3's rerun kept CU2's comp_file).
  const std::map<std::string, std::string> after =
      testing::ArchiveDigests(conninfo());
  for (const auto& [table, digest] : before)
    EXPECT_EQ(after.at(table), digest) << table;
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
  const std::vector<std::string> partitions = DetectionPartitions();
  ASSERT_EQ(partitions.size(), 1u);
  EXPECT_NE(partitions[0], first_partitions[0]);
  EXPECT_EQ(DetectionTables(), 1);
  EXPECT_EQ(
      Count("SELECT count(*) FROM multiframe_detector WHERE comp_file IS NULL"),
      0);

  // The operator sees it: the replaced batches and by what.
  const std::string batches = Ctl("batches").output;
  EXPECT_THAT(batches, HasSubstr("replaced"));

  // A second rerun of CU4 alone: generation 2 replaces generation 1.
  const std::string cu4_task =
      std::to_string(Count("SELECT task_id FROM curation.task WHERE cu = 4"));
  ASSERT_EQ(Ctl("rerun " + cu4_task).exit_code, 0);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM curation.batch WHERE state = "
                   "'replaced'") == 4 &&
               Count(
                   "SELECT count(*) FROM curation.task WHERE state = "
                   "'ingested'") == 3;
      },
      absl::Seconds(60)))
      << daemon.Log() << ingester.Log() << worker.Log();
  EXPECT_EQ(TaskBatches().at(cu4_task), first.at(cu4_task) + "-r2");
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
  EXPECT_EQ(DetectionTables(), 1);
  EXPECT_EQ(testing::ArchiveDigests(conninfo()).at("detection"),
            before.at("detection"));
}

// The ingest's side, in-process: what a batch may replace, and a replaced
// batch that is still staged.
class ReplaceIngestTest : public testing::PipelineTest {
 protected:
  using IK = ingester::IngestOutcome::Kind;
  std::string BatchOf(int cu) {
    auto r = conn_->Exec(
        "SELECT batch_id FROM curation.batch WHERE cu = $1 AND state = "
        "'ingested'",
        {std::to_string(cu)});
    EXPECT_TRUE(r.ok() && r->rows() == 1);
    return r.ok() && r->rows() == 1 ? r->Get(0, 0) : "";
  }
};

TEST_F(ReplaceIngestTest,
       ABatchThatClaimsToReplaceAnotherCusBatchIsQuarantined) {
  Generate(Survey(1, 2));
  Register("20071021");
  Cu3("20071021");
  for (const auto& o : IngestAll())
    ASSERT_EQ(o.kind, IK::kIngested) << o.report;
  const std::string cu3_batch = BatchOf(3);
  const int64_t multiframes = Count("SELECT count(*) FROM multiframe");
  worker::TaskOutput cu4 = Cu4("20071021", worker::Rerun{1, {cu3_batch}});
  EXPECT_TRUE(absl::EndsWith(cu4.manifest.batch_id(), "-r1"))
      << cu4.manifest.batch_id();
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kQuarantined);
  EXPECT_THAT(
      outcomes[0].report,
      HasSubstr(absl::StrCat("(CU4, night 20071021) cannot replace batch ",
                             cu3_batch, ", which is of CU3, night 20071021")));
  // The CU3 batch and its rows are untouched.
  EXPECT_EQ(BatchOf(3), cu3_batch);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), multiframes);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 0);
}

TEST_F(ReplaceIngestTest, AReplacedBatchStillStagedIsMovedOutUnloaded) {
  Generate(Survey(1, 2));
  Register("20071021");
  Cu3("20071021");
  for (const auto& o : IngestAll())
    ASSERT_EQ(o.kind, IK::kIngested) << o.report;
  // The first run's batch is staged but not loaded when the rerun's
  // arrives (the ingester was away); the rerun's loads first.
  worker::TaskOutput first = Cu4("20071021");
  const std::string parked = archive_dir_.Join("parked");
  std::filesystem::rename(first.batch_dir, parked);
  worker::TaskOutput second =
      Cu4("20071021", worker::Rerun{1, {first.manifest.batch_id()}});
  ASSERT_EQ(second.manifest.batch_id(), first.manifest.batch_id() + "-r1");
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  const int64_t detections = Count("SELECT count(*) FROM detection");
  EXPECT_EQ(detections, 2 * 4 * 40);
  // (The ingest took the night's emptied staging directory away.)
  std::filesystem::create_directories(
      std::filesystem::path(first.batch_dir).parent_path());
  std::filesystem::rename(parked, first.batch_dir);
  outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kReplaced);
  EXPECT_EQ(outcomes[0].batch_id, first.manifest.batch_id());
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
  EXPECT_FALSE(std::filesystem::exists(first.batch_dir));
  auto row = conn_->Exec(
      "SELECT state, replaced_by FROM curation.batch WHERE batch_id = $1",
      {first.manifest.batch_id()});
  ASSERT_TRUE(row.ok() && row->rows() == 1);
  EXPECT_EQ(row->Get(0, 0), "replaced");
  EXPECT_EQ(row->Get(0, 1), second.manifest.batch_id());
}

TEST_F(ReplaceIngestTest, ARerunReplacesEveryEarlierRunEvenOneTheDaemonNeverNamed) {
  Generate(Survey(1, 2));
  Register("20071021");
  Cu3("20071021");
  Cu4("20071021");
  for (const auto& o : IngestAll()) ASSERT_EQ(o.kind, IK::kIngested) << o.report;
  const std::string run0 = BatchOf(4);
  const int64_t detections = Count("SELECT count(*) FROM detection");
  // Generation 1 names nothing (its task was cancelled after its worker
  // wrote the batch, say): it still replaces generation 0.
  worker::TaskOutput run1 = Cu4("20071021", worker::Rerun{1, {}});
  for (const auto& o : IngestAll()) EXPECT_EQ(o.kind, IK::kIngested) << o.report;
  EXPECT_EQ(BatchOf(4), run1.manifest.batch_id());
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
  // Generation 2 names only generation 0: it replaces generation 1 too.
  worker::TaskOutput run2 = Cu4("20071021", worker::Rerun{2, {run0}});
  for (const auto& o : IngestAll()) EXPECT_EQ(o.kind, IK::kIngested) << o.report;
  EXPECT_EQ(BatchOf(4), run2.manifest.batch_id());
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'detection'::regclass"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND state = 'replaced'"), 2);
  // Generation 1 again, late (a worker that was cut off): not loaded.
  worker::TaskOutput late = Cu4("20071021", worker::Rerun{1, {}});
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kReplaced);
  EXPECT_EQ(BatchOf(4), run2.manifest.batch_id());
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
}

TEST_F(ReplaceIngestTest, ACu3RerunKeepsTheRowsOfAnImageItLeftOutForItsDetections) {
  Generate(Survey(1, 3));
  Register("20071021");
  Cu3("20071021");
  Cu4("20071021");
  for (const auto& o : IngestAll()) ASSERT_EQ(o.kind, IK::kIngested) << o.report;
  const int64_t detectors = Count("SELECT count(*) FROM multiframe_detector");
  const int64_t cards = Count("SELECT count(*) FROM multiframe_header_card");
  const std::string first = BatchOf(3);
  // The third image cannot be read when CU3 runs again.
  const std::string image = archive_ + "/incoming/20071021/w20071021_00003.fit";
  const std::string saved = archive_dir_.Join("saved.fit");
  std::filesystem::copy_file(image, saved);
  std::filesystem::resize_file(image, 5000);
  worker::TaskOutput rerun = Cu3("20071021", worker::Rerun{1, {first}});
  ASSERT_EQ(rerun.manifest.failures_size(), 1);
  for (const auto& o : IngestAll()) EXPECT_EQ(o.kind, IK::kIngested) << o.report;
  EXPECT_EQ(BatchOf(3), rerun.manifest.batch_id());
  // Every detection still has its detector's row; nothing was doubled.
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector"), detectors);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_header_card"), cards);
  EXPECT_EQ(Count("SELECT count(*) FROM detection d WHERE NOT EXISTS (SELECT 1 FROM "
                  "multiframe_detector m WHERE m.multiframe_id = d.multiframe_id AND "
                  "m.ext_num = d.ext_num)"),
            0);
  // The two readable images' rows are the rerun's; the third keeps its.
  EXPECT_EQ(Count(absl::StrCat("SELECT count(DISTINCT cu_event_id) FROM multiframe")), 2);
  std::filesystem::copy_file(saved, image, std::filesystem::copy_options::overwrite_existing);
}

TEST_F(ReplaceIngestTest, ACu4RerunSwapsTheNightOnceAReaderIsDoneWithIt) {
  Generate(Survey(1, 2));
  Register("20071021");
  Cu3("20071021");
  Cu4("20071021");
  for (const auto& o : IngestAll()) ASSERT_EQ(o.kind, IK::kIngested) << o.report;
  const int64_t detections = Count("SELECT count(*) FROM detection");
  const auto tables = [&] {
    return Count("SELECT count(*) FROM pg_class WHERE relname LIKE 'detection\\_2%' AND "
                 "relkind = 'r'");
  };
  worker::TaskOutput run1 = Cu4("20071021", worker::Rerun{1, {}});
  // An astronomer's query holds detection open: the rerun's swap waits
  // for it (a reader planned before the swap must not run after it and
  // see neither night), then goes on.
  std::vector<ingester::IngestOutcome> outcomes;
  {
    pqxx::connection reader(conninfo());
    pqxx::work query(reader);
    EXPECT_EQ(query.exec1("SELECT count(*) FROM detection")[0].as<int64_t>(),
              detections);
    std::thread ingest([&] { outcomes = IngestAll(); });
    absl::SleepFor(absl::Milliseconds(500));
    EXPECT_EQ(query.exec1("SELECT count(*) FROM detection")[0].as<int64_t>(),
              detections);
    query.commit();
    ingest.join();
  }
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
  EXPECT_EQ(tables(), 1);  // the emptied one dropped after the commit
}

}  // namespace
}  // namespace curator
