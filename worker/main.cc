// curator-worker: the gRPC server of a pixel server,
//
//   curator-worker serve --config F
//
// (Worker service, health, reflection; until SIGTERM), and the one-shot
// command that runs a task by hand, without the daemon:
//
//   curator-worker run --cu 2|3|4 --night YYYYMMDD [--config F | --archive DIR --db CONNINFO]
//
// It reads the night's registered files from the database, records a
// processing event and its log, and writes a batch under staging/.
// Exit codes: 0 batch written (input files that failed are listed);
// 1 bad usage; 3 the task failed (nothing registered, database gone, ...).
#include <cstdio>
#include <map>
#include <thread>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "archive/batch.h"
#include "db/pg.h"
#include "config/site.h"
#include "archive/task_log.h"
#include "archive/file_registry.h"
#include "base/log.h"
#include "server/service_manager.h"
#include "base/signals.h"
#include "worker/cu2_task.h"
#include "worker/cu3_task.h"
#include "worker/cu4_task.h"
#include "worker/server.h"

ABSL_FLAG(int, cu, 0, "Curation use case to run: 2, 3 or 4");
ABSL_FLAG(std::string, night, "", "Night, YYYYMMDD");
ABSL_FLAG(int, threads, 0, "Threads for the task (0: one per core)");
ABSL_FLAG(std::string, jpeg_scale, "zscale", "CU2 display limits: zscale, minmax or percentile");
ABSL_FLAG(int, jpeg_max_size, 0, "CU2: bin down so no side exceeds this (0: full size)");
ABSL_FLAG(int, jpeg_quality, 85, "CU2: JPEG quality, 1..100");
ABSL_FLAG(std::string, worker_id, "", "serve: this worker's name (overrides worker.worker_id)");
ABSL_FLAG(std::string, pause_before_task, "",
          "Testing only: before running a task, create this file and wait until the "
          "task is cancelled or the worker killed");

namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "curator-worker: %s\n", message.c_str());
  return code;
}

// The gRPC server until SIGTERM or SIGINT.
int Serve() {
  auto site = curator::SiteFromFlags();
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  if (!absl::GetFlag(FLAGS_worker_id).empty()) {
    site->config.mutable_worker()->set_worker_id(absl::GetFlag(FLAGS_worker_id));
  }
  curator::BlockTerminationSignals();
  auto server = curator::worker::WorkerServer::Create(site->config,
                                                      absl::GetFlag(FLAGS_pause_before_task));
  if (!server.ok()) return Fail(1, std::string(server.status().message()));
  if (absl::Status s = (*server)->Start(); !s.ok()) return Fail(3, s.ToString());
  curator::NotifyReady(absl::StrCat("serving on port ", (*server)->port()));
  // The gRPC server's own threads serve; a task may run for minutes, so
  // the watchdog guards against a wedged process, not a long task.
  curator::Watchdog watchdog([] { return true; });
  watchdog.Start();
  std::thread signals([&] {
    const int sig = curator::WaitForTerminationSignal();
    CURATOR_LOG(INFO) << "signal " << sig << ": cancelling running tasks and stopping";
    curator::NotifyStopping();
    (*server)->Shutdown(absl::Seconds(30));
  });
  (*server)->Wait();
  signals.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "curator-worker run --cu 3 --night YYYYMMDD [--config F | --archive DIR --db CONNINFO]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() == 2 && std::string(args[1]) == "serve") return Serve();
  if (args.size() != 2 || std::string(args[1]) != "run") {
    return Fail(1, "usage: curator-worker serve --config F | run --cu 2|3|4 --night YYYYMMDD ...");
  }
  const int cu = absl::GetFlag(FLAGS_cu);
  const std::string night = absl::GetFlag(FLAGS_night);
  if (cu < 2 || cu > 4) return Fail(1, "--cu must be 2, 3 or 4");
  curator::worker::JpegOptions jpeg;
  jpeg.max_size = absl::GetFlag(FLAGS_jpeg_max_size);
  jpeg.quality = absl::GetFlag(FLAGS_jpeg_quality);
  const std::string scaling = absl::GetFlag(FLAGS_jpeg_scale);
  if (scaling == "minmax") {
    jpeg.scaling = curator::worker::JpegOptions::Scaling::kMinMax;
  } else if (scaling == "percentile") {
    jpeg.scaling = curator::worker::JpegOptions::Scaling::kPercentile;
  } else if (scaling != "zscale") {
    return Fail(1, "--jpeg_scale must be zscale, minmax or percentile");
  }
  if (jpeg.quality < 1 || jpeg.quality > 100) return Fail(1, "--jpeg_quality must be in 1..100");
  if (!curator::archive::IsNightName(night)) return Fail(1, "--night must be YYYYMMDD");
  auto site = curator::SiteFromFlags();
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  auto conn = curator::pg::Connection::Connect(site->config.database().conninfo());
  if (!conn.ok()) return Fail(3, std::string(conn.status().message()));

  absl::StatusOr<curator::worker::TaskOutput> out;
  int64_t event_id = 0;
  auto start_event = [&]() -> absl::Status {
    auto event = curator::tasklog::StartEvent(**conn, cu, "process", night,
                                              curator::batch::ProducerName());
    if (!event.ok()) return event.status();
    event_id = *event;
    return absl::OkStatus();
  };
  if (cu == 2 || cu == 3) {
    auto images = curator::archive::RegisteredImages(**conn, night);
    if (!images.ok()) return Fail(3, images.status().ToString());
    if (images->empty()) {
      return Fail(3, absl::StrCat("night ", night, " has no registered images (curatorctl register ",
                                  night, ")"));
    }
    if (absl::Status s = start_event(); !s.ok()) return Fail(3, s.ToString());
    curator::worker::TaskInput input;
    input.archive_root = site->config.archive_root();
    input.night = night;
    input.cu_event_id = event_id;
    input.threads = absl::GetFlag(FLAGS_threads);
    for (const auto& img : *images) {
      input.images.push_back(
          {img.multiframe_id, img.path, img.file_name, img.file_time_stamp, img.cat_name});
    }
    if (cu == 3) {
      out = curator::worker::RunCu3(input);
    } else {
      out = curator::worker::RunCu2({input.archive_root, night, event_id, input.images,
                                     input.threads, jpeg});
    }
  } else {
    auto cats = curator::archive::RegisteredCatalogues(**conn, night);
    if (!cats.ok()) return Fail(3, cats.status().ToString());
    if (cats->empty()) {
      return Fail(3, absl::StrCat("night ", night, " has no registered catalogues (curatorctl "
                                  "register ", night, ")"));
    }
    if (absl::Status s = start_event(); !s.ok()) return Fail(3, s.ToString());
    curator::worker::Cu4Input input;
    input.archive_root = site->config.archive_root();
    input.night = night;
    input.cu_event_id = event_id;
    input.threads = absl::GetFlag(FLAGS_threads);
    for (const auto& c : *cats) input.catalogues.push_back({c.multiframe_id, c.path, c.image_path});
    out = curator::worker::RunCu4(input);
  }
  if (!out.ok()) {
    (void)curator::tasklog::Finish(**conn, event_id, {}, true, out.status().ToString());
    return Fail(3, out.status().ToString());
  }
  const auto& m = out->manifest;
  absl::Status logged = curator::tasklog::Finish(
      **conn, event_id, out->steps, false,
      absl::StrCat("batch ", m.batch_id(), ": ", m.inputs_size() - m.failures_size(), " of ",
                   m.inputs_size(), " files"));
  if (!logged.ok()) return Fail(3, logged.ToString());
  std::printf("CU%d %s: batch %s\n  %d files read, %d failed, %d warnings\n", cu, night.c_str(),
              out->batch_dir.c_str(), m.inputs_size(), m.failures_size(), m.warnings_size());
  std::map<std::string, std::pair<int64_t, int64_t>> per_table;
  for (const auto& f : m.files()) {
    per_table[f.table()].first += f.rows();
    per_table[f.table()].second += f.bytes();
  }
  for (const auto& [table, rb] : per_table) {
    std::printf("  %-30s %8lld rows %10lld bytes\n", table.c_str(),
                static_cast<long long>(rb.first), static_cast<long long>(rb.second));
  }
  for (const auto& f : m.failures()) std::printf("  failed: %s\n", f.message().c_str());
  return 0;
}
