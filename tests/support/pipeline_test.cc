#include "tests/support/pipeline_test.h"

#include <signal.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "archive/cu_registry.h"
#include "archive/file_registry.h"
#include "archive/task_log.h"
#include "synth/survey_generator.h"
#include "tests/support/process.h"
#include "worker/cu4_task.h"
#include "worker/cu5_task.h"

namespace curator::testing {

void PipelineTest::SetUp() {
  PgTest::SetUp();
  auto c = pg::Connection::Connect(conninfo());
  ASSERT_TRUE(c.ok()) << c.status();
  conn_ = *std::move(c);
  absl::Status migrated = archive::MigrateArchive(*conn_, archive::CuRegistry::Default());
  ASSERT_TRUE(migrated.ok()) << migrated;
  archive_ = archive_dir_.path();
}

synth::Options PipelineTest::Survey(int nights, int frames, int sources, int size) {
  synth::Options o;
  o.out_dir = archive_;
  o.nights = nights;
  o.frames_per_night = frames;
  o.image_size = size;
  o.sources_per_detector = sources;
  return o;
}

void PipelineTest::Generate(const synth::Options& o) {
  auto s = synth::GenerateSurvey(o);
  ASSERT_TRUE(s.ok()) << s.status();
}

void PipelineTest::Register(const std::string& night) {
  auto reg = archive::RegisterNight(*conn_, archive_, night);
  ASSERT_TRUE(reg.ok()) << reg.status();
}

std::vector<worker::ImageInput> PipelineTest::Images(const std::string& night) {
  auto images = archive::RegisteredImages(*conn_, night);
  EXPECT_TRUE(images.ok()) << images.status();
  std::vector<worker::ImageInput> out;
  for (const auto& i : *images) {
    out.push_back({i.multiframe_id, i.path, i.file_name, i.file_time_stamp, i.cat_name});
  }
  return out;
}

worker::TaskOutput PipelineTest::Finish(int64_t event, absl::StatusOr<worker::TaskOutput> out) {
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  EXPECT_TRUE(tasklog::Finish(*conn_, event, out->steps, false, "test").ok());
  return *std::move(out);
}

worker::TaskOutput PipelineTest::Cu2(const std::string& night) {
  const int64_t event = *tasklog::StartEvent(*conn_, 2, "process", night, "test");
  return Finish(
      event, worker::RunCu2(
                 {archive_, night, event, Images(night), 2, {}, nullptr, {}}));
}

worker::TaskOutput PipelineTest::Cu3(const std::string& night, const worker::Rerun& rerun) {
  const int64_t event = *tasklog::StartEvent(*conn_, 3, "process", night, "test");
  return Finish(
      event,
      worker::RunCu3({archive_, night, event, Images(night), 2, nullptr, rerun}));
}

worker::TaskOutput PipelineTest::Cu4(const std::string& night,
                                     const worker::Rerun& rerun) {
  auto cats = archive::RegisteredCatalogues(*conn_, night);
  EXPECT_TRUE(cats.ok()) << cats.status();
  const int64_t event = *tasklog::StartEvent(*conn_, 4, "process", night, "test");
  worker::Cu4Input in{archive_, night, event, {}, 2, nullptr, rerun};
  for (const auto& c : *cats) in.catalogues.push_back({c.multiframe_id, c.path, c.image_path});
  return Finish(event, worker::RunCu4(in));
}

worker::TaskOutput PipelineTest::Cu5(const std::string& night,
                                     double radius_arcsec, int threads,
                                     const worker::Rerun& rerun) {
  const int64_t event =
      *tasklog::StartEvent(*conn_, 5, "process", night, "test");
  return Finish(
      event, worker::RunCu5({archive_, night, event,
                             db_override_.empty() ? conninfo() : db_override_,
                             radius_arcsec, threads, nullptr, rerun}));
}

std::vector<ingester::IngestOutcome> PipelineTest::IngestAll() {
  ingester::IngestOptions options = ingester::DefaultIngestOptions(archive_);
  if (shards_ != nullptr) {
    options.shards = shards_;
    auto resolved = archive::shards::ResolvePrepared(*conn_, *shards_);
    EXPECT_TRUE(resolved.ok()) << resolved.status();
  }
  ingester::Ingester ingester(conn_.get(), options);
  auto outcomes = ingester.IngestReady();
  EXPECT_TRUE(outcomes.ok()) << outcomes.status();
  return outcomes.ok() ? *outcomes : std::vector<ingester::IngestOutcome>{};
}

std::vector<std::string> PipelineTest::BatchFailuresOf(int cu, const std::string& night,
                                                       const std::string& name) {
  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params(
           "SELECT f->>'hdu', f->>'item', f->>'message' FROM curation.batch b, "
           "jsonb_array_elements(b.failures) f WHERE b.cu = $1 AND f->>'path' = $2",
           cu, archive_ + "/incoming/" + night + "/" + name)) {
    out.push_back(absl::StrCat(r[0].c_str(), "|", r[1].c_str(), "|", r[2].c_str()));
  }
  return out;
}

int64_t PipelineTest::Count(const std::string& sql) {
  pqxx::connection c(db_override_.empty() ? conninfo() : db_override_);
  pqxx::work tx(c);
  return tx.exec1(sql)[0].as<int64_t>();
}

void PipelineTest::KillIngesterBeforeCommit() {
  const std::string paused = archive_dir_.Join("ingester-paused");
  auto victim = Process::Start({Bin("tests/curator-ingester-hooked"), "--once", "--archive", archive_,
                                "--db", conninfo(), "--pause_before_commit", paused},
                               archive_dir_.Join("victim.log"));
  ASSERT_TRUE(victim.ok()) << victim.status();
  ASSERT_TRUE(WaitForFile(paused, absl::Seconds(60))) << victim->Log();
  victim->Signal(SIGKILL);
  EXPECT_EQ(victim->Wait(absl::Seconds(30)), 128 + SIGKILL);
  ASSERT_TRUE(WaitUntil(
      [&] { return Count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0; },
      absl::Seconds(30)));
}

std::string PipelineTest::Bin(const std::string& name) const {
  return absl::StrCat(CURATOR_BIN_DIR, "/", name);
}

}  // namespace curator::testing
