// Adding a CU is a registry entry, a worker handler, a loader, a migration
// and tests; nothing else changes. This test does it with a CU that exists
// only here, "CU9", which counts each night's detections per detector
// from the database once the night's CU4 is ingested, and runs it through
// a real daemon, worker and ingester (in this process, on loopback, over a
// real PostgreSQL).
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "archive/cu_registry.h"
#include "base/status.h"
#include "daemon/server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingester/server.h"
#include "ingester/table_loader.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/process.h"
#include "worker/batch_writer.h"
#include "worker/server.h"

namespace curator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr v1::Cu kCu9 = static_cast<v1::Cu>(9);

// 1. The registry entry: reads the database, processed once the night's
//    CU4 is in the archive.
archive::CuRegistry WithCu9() {
  return *archive::CuRegistry::Default().With(
      {kCu9, "CU9", "detections per detector", archive::CuInput::kDatabase,
       {{v1::CU4, archive::Stage::kIngested}}, {}, 3});
}

// 2. Its migration: the table it fills.
constexpr char kMigration[] =
    "CREATE TABLE detector_count (multiframe_id bigint NOT NULL, ext_num smallint NOT NULL, "
    "detections bigint NOT NULL CHECK (detections > 0), cu_event_id bigint NOT NULL, PRIMARY "
    "KEY (multiframe_id, ext_num))";

// 3. Its worker handler: a batch of (multiframe_id, ext_num, detections).
class CountDetections : public worker::CuHandler {
 public:
  absl::StatusOr<worker::TaskOutput> Run(const worker::TaskContext& c) const override {
    CURATOR_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(c.conninfo));
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn->Exec("SELECT d.multiframe_id, d.ext_num, count(*) FROM detection d JOIN multiframe "
                   "m USING (multiframe_id) WHERE m.night = $1::date GROUP BY 1, 2 ORDER BY 1, 2",
                   {c.night}));
    CURATOR_ASSIGN_OR_RETURN(
        auto batch, worker::BatchWriter::Create(c.archive_root, c.night, kCu9,
                                                worker::MakeBatchId(c.night, kCu9, {"counts"}),
                                                c.cu_event_id));
    CURATOR_ASSIGN_OR_RETURN(
        pgcopy::Writer * file,
        batch->AddFile("detector_count.pgcopy", "detector_count",
                       {"multiframe_id", "ext_num", "detections", "cu_event_id"}));
    for (int i = 0; i < r.rows(); ++i) {
      file->StartRow(4);
      file->AddInt64(r.GetInt(i, 0));
      file->AddInt16(static_cast<int16_t>(r.GetInt(i, 1)));
      file->AddInt64(r.GetInt(i, 2));
      file->AddInt64(c.cu_event_id);
    }
    worker::TaskOutput out;
    CURATOR_ASSIGN_OR_RETURN(out.batch_dir, batch->Commit());
    out.manifest = batch->manifest();
    return out;
  }
};

// 4. Its loader: the generic table loader, with one rule.
std::unique_ptr<ingester::BatchLoader> CountLoader() {
  return std::make_unique<ingester::TableLoader>(
      std::vector<ingester::TableRule>{{"detector_count", {"multiframe_id", "ext_num"}, {}, {}}});
}

class CustomCuTest : public testing::PipelineTest {};

TEST_F(CustomCuTest, ACuDeclaredInATestRunsAfterItsPrerequisiteThroughEveryProcess) {
  const archive::CuRegistry registry = WithCu9();
  ASSERT_TRUE(conn_->Exec(kMigration).ok());
  Generate(Survey(1, 2, 15, 64));

  v1::Config config;
  config.set_archive_root(archive_);
  config.mutable_database()->set_conninfo(conninfo());
  config.mutable_daemon()->set_listen_address("127.0.0.1:0");
  config.mutable_daemon()->set_poll_interval_ms(100);
  config.mutable_daemon()->set_max_load_per_core(1000);
  config.mutable_ingester()->set_poll_interval_ms(100);
  const std::string token = archive_dir_.Join("token");
  std::ofstream(token) << "custom-cu-test-token-0123456789\n";
  config.mutable_security()->set_plaintext(true);
  config.mutable_security()->set_token_file(token);

  auto daemon = daemon::DaemonServer::Create(config, &registry);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  ASSERT_TRUE((*daemon)->Start().ok());
  const std::string worker_address = absl::StrCat("127.0.0.1:", testing::FreePort());
  config.mutable_worker()->set_listen_address(worker_address);
  config.mutable_worker()->set_advertise_address(worker_address);
  config.mutable_worker()->set_daemon_address(absl::StrCat("127.0.0.1:", (*daemon)->port()));
  config.mutable_worker()->set_slots(2);
  config.mutable_worker()->set_heartbeat_interval_ms(100);
  config.mutable_worker()->set_worker_id("w1");
  worker::HandlerTable handlers = worker::DefaultHandlers();
  handlers[kCu9] = std::make_unique<CountDetections>();
  // A worker or ingester without the new CU's code refuses to start.
  EXPECT_EQ(worker::WorkerServer::Create(config, {&registry}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto worker = worker::WorkerServer::Create(config, {&registry, &handlers});
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE((*worker)->Start().ok());
  ingester::LoaderTable loaders = ingester::DefaultLoaders();
  loaders[kCu9] = CountLoader();
  EXPECT_EQ(ingester::IngesterServer::Create(config, {&registry}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto ingester = ingester::IngesterServer::Create(config, {&registry, &loaders});
  ASSERT_TRUE(ingester.ok()) << ingester.status();
  ASSERT_TRUE((*ingester)->Start().ok());

  // The night's graph has the new CU, waiting for CU4's ingest.
  daemon::Daemon& d = (*daemon)->daemon();
  ASSERT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM curation.task") == 4; },
                                 absl::Seconds(30)));
  const int64_t cu4 = Count("SELECT task_id FROM curation.task WHERE cu = 4");
  const int64_t cu9 = Count("SELECT task_id FROM curation.task WHERE cu = 9");
  auto tasks = d.queries().ListTasks("");
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  for (const v1::TaskInfo& t : tasks->tasks()) {
    if (t.task_id() == cu9) {
      EXPECT_THAT(t.waiting_for(), ElementsAre(absl::StrCat("CU4 of 20071021 ingested (task ", cu4,
                                                            " is pending)")));
    }
  }
  auto cus = d.queries().ListCus();
  ASSERT_EQ(cus.cus_size(), 4);
  EXPECT_EQ(cus.cus(3).name(), "CU9");
  EXPECT_THAT(cus.cus(3).before_processing(), ElementsAre("CU4 ingested"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu WHERE cu = 9 AND input = 'database'"), 1);
  // Approved with the rest, it is planned but does not start while CU4 is
  // not in, whatever the free slots.
  ASSERT_TRUE(d.commands().SetPaused(true).ok());
  v1::ApproveRequest all;
  all.set_all(true);
  ASSERT_EQ(d.commands().Approve(all)->approved_size(), 4);
  auto plan = d.queries().GetPlan();
  ASSERT_TRUE(plan.ok()) << plan.status();
  int start_now = 0;
  for (const v1::PlanEntryInfo& e : plan->entries()) {
    if (e.cu() == kCu9) {
      EXPECT_FALSE(e.starts_now());
    }
    start_now += e.starts_now();
  }
  EXPECT_EQ(start_now, 2);  // the worker's two slots, for CU3 and CU4
  ASSERT_TRUE(d.commands().SetPaused(false).ok());

  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task WHERE state = 'ingested'") == 4; },
      absl::Seconds(60)));
  // Its rows: every detector's count, as the archive has them.
  EXPECT_EQ(Count("SELECT count(*) FROM detector_count"), 2 * 4);
  EXPECT_EQ(Count("SELECT sum(detections) FROM detector_count"), 2 * 4 * 15);
  EXPECT_EQ(Count("SELECT count(*) FROM detector_count c JOIN (SELECT multiframe_id, ext_num, "
                  "count(*) n FROM detection GROUP BY 1, 2) d USING (multiframe_id, ext_num) "
                  "WHERE c.detections = d.n"),
            2 * 4);
  // It started only after CU4's batch was in.
  EXPECT_EQ(Count(absl::StrCat(
                "SELECT count(*) FROM curation.task_attempt a, curation.batch b WHERE a.task_id = ",
                cu9, " AND b.cu = 4 AND b.state = 'ingested' AND a.started_at > "
                     "b.ingest_finished_at")),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 9 AND state = 'ingested' AND "
                  "rows_per_table = '{\"detector_count\": 8}'"),
            1);

  (*ingester)->Shutdown(absl::Seconds(5));
  (*worker)->Shutdown(absl::Seconds(5));
  (*daemon)->Shutdown(absl::Seconds(5));
  (*ingester)->Wait();
  (*worker)->Wait();
  (*daemon)->Wait();
}

}  // namespace
}  // namespace curator
