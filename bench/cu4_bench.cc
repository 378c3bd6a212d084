// CU4 speed, all in one run on the same data (prints figures; asserts
// nothing):
//  (a) the worker's conversion rate on one core, and its peak RSS for the
//      whole night (curator-worker run --cu 4 --threads 1, as a child);
//  (b) end-to-end ingest: ready batch to committed, attached partition;
//  (c) the reference: the same binary COPY files loaded by plain
//      COPY ... FROM STDIN (FORMAT binary) into an identical empty table
//      (with its primary key and Q3C index), and into a bare one;
//  and (b)/(c).
//
//   cu4_bench [--frames 100] [--sources 7500]   (100 x 4 x 7500 = 3M detections)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "archive/batch.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "db/pgcopy.h"
#include "archive/file_registry.h"
#include "ingester/ingest.h"
#include "synth/survey_generator.h"
#include "tests/support/pg_server.h"
#include "tests/support/temp_dir.h"
#include "worker/cu3_task.h"
#include "worker/cu4_task.h"

ABSL_FLAG(int, frames, 100, "Multiframes in the night");
ABSL_FLAG(int, sources, 7500, "Detections per detector");

namespace {

int Die(const absl::Status& s) {
  std::fprintf(stderr, "cu4_bench: %s\n", s.ToString().c_str());
  return 1;
}

double Seconds(absl::Time since) { return absl::ToDoubleSeconds(absl::Now() - since); }

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace curator;
  testing::TempDir temp("curator-cu4-bench-");
  const std::string archive = temp.path();
  synth::Options o;
  o.out_dir = archive;
  o.frames_per_night = absl::GetFlag(FLAGS_frames);
  o.sources_per_detector = absl::GetFlag(FLAGS_sources);
  o.image_size = 256;
  auto survey = synth::GenerateSurvey(o);
  if (!survey.ok()) return Die(survey.status());
  const std::string night = survey->nights[0].night;
  std::printf("night: %d multiframes, %lld detections in CASU catalogues (%.0f MB), made in %.1f s\n",
              o.frames_per_night, static_cast<long long>(survey->nights[0].sources),
              survey->nights[0].bytes / 1e6, survey->seconds);

  auto server = testing::PgServer::Start();
  if (!server.ok()) return Die(server.status());
  const std::string conninfo = (*server)->ConnInfo();
  auto conn = pg::Connection::Connect(conninfo);
  if (!conn.ok()) return Die(conn.status());
  pg::Connection& db = **conn;
  if (auto m = migrations::Migrate(db); !m.ok()) return Die(m.status());
  if (auto r = archive::RegisterNight(db, archive, night); !r.ok()) return Die(r.status());
  {  // CU3 first: the detections' foreign keys.
    auto images = archive::RegisteredImages(db, night);
    worker::TaskInput in{archive, night, 0, {}, 2, nullptr, {}};
    for (const auto& i : *images) in.images.push_back({i.multiframe_id, i.path, i.file_name, i.file_time_stamp, i.cat_name});
    (void)db.Exec("INSERT INTO curation.cu_event (cu, kind, producer) VALUES (3, 'process', 'bench')");
    in.cu_event_id = 1;
    auto out = worker::RunCu3(in);
    if (!out.ok()) return Die(out.status());
    ingester::Ingester loader(&db, ingester::DefaultIngestOptions(archive));
    auto done = loader.IngestReady();
    if (!done.ok()) return Die(done.status());
  }

  // (a) The worker as it runs in production, one thread, as a child: its
  // wall time and peak RSS.
  const absl::Time a0 = absl::Now();
  pid_t pid = fork();
  if (pid == 0) {
    const std::string bin = std::string(CURATOR_BIN_DIR) + "/worker/curator-worker";
    execl(bin.c_str(), bin.c_str(), "run", "--cu", "4", "--night", night.c_str(), "--threads", "1",
          "--archive", archive.c_str(), "--db", conninfo.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int wstatus = 0;
  struct rusage usage;
  wait4(pid, &wstatus, 0, &usage);
  const double worker_s = Seconds(a0);
  (void)worker_s;
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Die(absl::InternalError("curator-worker run --cu 4 failed"));
  }
  const std::string staging = archive + "/staging/" + night;
  std::string batch_dir;
  for (const auto& e : std::filesystem::directory_iterator(staging)) {
    if (e.path().filename().string().find("-cu4-") != std::string::npos) batch_dir = e.path();
  }
  auto manifest = batch::ReadManifest(batch_dir);
  if (!manifest.ok()) return Die(manifest.status());
  int64_t rows = 0, bytes = 0;
  for (const auto& f : manifest->files()) rows += f.rows(), bytes += f.bytes();
  // The conversion step alone, from the task's own log.
  auto step = db.Exec("SELECT extract(epoch from finished_at - started_at) FROM curation.step_log "
                      "WHERE step = 'convert' ORDER BY step_id DESC LIMIT 1");
  const double convert_s = step.ok() && step->rows() ? step->GetDouble(0, 0) : worker_s;
  const double user_s = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6;
  const double sys_s = usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  std::printf("(a) conversion, 1 thread: %lld detections; %.2f M detections/s per core of user "
              "CPU (%.2f s), %.2f M/s counting the kernel's time writing the files too (%.2f s "
              "sys); %.2f M/s by the wall clock of the convert step (%.2f s, with fsync of %.0f MB "
              "of batch files); worker peak RSS %.0f MiB\n",
              static_cast<long long>(rows), rows / user_s / 1e6, user_s,
              rows / (user_s + sys_s) / 1e6, sys_s, rows / convert_s / 1e6, convert_s,
              bytes / 1e6, usage.ru_maxrss / 1024.0);

  // (c) The reference, first: plain binary COPY of the same files.
  auto copy_all = [&](const std::string& table) -> absl::StatusOr<double> {
    const absl::Time t0 = absl::Now();
    std::string columns;
    for (int i = 0; i < manifest->files(0).columns_size(); ++i) {
      absl::StrAppend(&columns, i ? ", " : "", manifest->files(0).columns(i));
    }
    for (const auto& f : manifest->files()) {
      auto n = db.CopyInFromFile(absl::StrCat("COPY ", table, " (", columns, ") FROM STDIN (FORMAT binary)"),
                                 batch_dir + "/" + f.name());
      if (!n.ok()) return n.status();
    }
    return Seconds(t0);
  };
  if (auto s = db.ExecScript("CREATE TABLE ref_indexed (LIKE detection INCLUDING ALL);"
                             "CREATE TABLE ref_bare (LIKE detection);");
      !s.ok()) {
    return Die(s);
  }
  auto indexed_s = copy_all("ref_indexed");
  if (!indexed_s.ok()) return Die(indexed_s.status());
  auto bare_s = copy_all("ref_bare");
  if (!bare_s.ok()) return Die(bare_s.status());
  (void)db.ExecScript("DROP TABLE ref_indexed; DROP TABLE ref_bare; CHECKPOINT;");

  // (b) End to end.
  ingester::Ingester loader(&db, ingester::DefaultIngestOptions(archive));
  const absl::Time b0 = absl::Now();
  auto outcome = loader.IngestBatch(batch_dir);
  const double ingest_s = Seconds(b0);
  if (!outcome.ok()) return Die(outcome.status());
  if (outcome->kind != ingester::IngestOutcome::Kind::kIngested) {
    return Die(absl::InternalError(absl::StrCat("ingest: ", outcome->report)));
  }
  auto timing = db.Exec("SELECT verify_ms, copy_ms, validate_ms, publish_ms FROM curation.batch "
                        "WHERE cu = 4");
  std::printf("(b) end-to-end ingest: %lld rows in %.2f s = %.0f rows/s (verify %.1f s, copy %.1f s, "
              "validate %.1f s, index + attach %.1f s)\n",
              static_cast<long long>(outcome->rows), ingest_s, outcome->rows / ingest_s,
              timing->GetDouble(0, 0) / 1e3, timing->GetDouble(0, 1) / 1e3,
              timing->GetDouble(0, 2) / 1e3, timing->GetDouble(0, 3) / 1e3);
  std::printf("(c) plain binary COPY of the same files: into an identical table (primary key + "
              "Q3C index) %.0f rows/s; into a bare table %.0f rows/s\n",
              rows / *indexed_s, rows / *bare_s);
  std::printf("(b)/(c): %.2f against the identical table, %.2f against the bare one\n",
              (outcome->rows / ingest_s) / (rows / *indexed_s),
              (outcome->rows / ingest_s) / (rows / *bare_s));
  return 0;
}
