// curator-worker: the gRPC server of a pixel server,
//
//   curator-worker serve --config F
//
// (Worker service, health, reflection; until SIGTERM), and the one-shot
// command that runs a task by hand, without the daemon:
//
//   curator-worker run --cu CU --night YYYYMMDD [--config F | --archive DIR --db CONNINFO]
//
// (CU by name or number, e.g. CU3 or 3: `curatorctl cus` lists them).
//
// It reads the night's registered files from the database, records a
// processing event and its log, and writes a batch under staging/.
// Exit codes: 0 batch written (input files that failed are listed);
// 1 bad usage; 3 the task failed (nothing registered, database gone, ...).
#include "worker/worker_main.h"

#include <cstdio>
#include <map>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "archive/batch.h"
#include "archive/cu_registry.h"
#include "archive/file_registry.h"
#include "archive/task_log.h"
#include "base/cli.h"
#include "base/log.h"
#include "base/signals.h"
#include "config/site.h"
#include "db/pg.h"
#include "server/service_manager.h"
#include "worker/cu_handler.h"
#include "worker/server.h"

ABSL_FLAG(std::string, cu, "", "Curation use case to run, by name or number (e.g. CU3 or 3)");
ABSL_FLAG(std::string, night, "", "Night, YYYYMMDD");
ABSL_FLAG(int, threads, 0, "Threads for the task (0: one per core)");
ABSL_FLAG(std::string, jpeg_scale, "zscale", "CU2 display limits: zscale, minmax or percentile");
ABSL_FLAG(int, jpeg_max_size, 0, "CU2: bin down so no side exceeds this (0: full size)");
ABSL_FLAG(int, jpeg_quality, 85, "CU2: JPEG quality, 1..100");
ABSL_FLAG(std::string, worker_id, "", "serve: this worker's name (overrides worker.worker_id)");

namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "curator-worker: %s\n", message.c_str());
  return code;
}

// The gRPC server until SIGTERM or SIGINT.
int Serve(curator::worker::TaskHooks* hooks) {
  auto site = curator::SiteFromFlags();
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  if (!absl::GetFlag(FLAGS_worker_id).empty()) {
    site->config.mutable_worker()->set_worker_id(absl::GetFlag(FLAGS_worker_id));
  }
  curator::BlockTerminationSignals();
  curator::worker::WorkerParts parts;
  parts.hooks = hooks;
  auto server = curator::worker::WorkerServer::Create(site->config, parts);
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

namespace curator::worker {

int WorkerMain(int argc, char** argv, TaskHooks* hooks) {
  InitCommandLine("curator-worker",
                  "curator-worker serve --config F | run --cu CU --night "
                  "YYYYMMDD [--config F | "
                  "--archive DIR --db CONNINFO]\n"
                  "  serve: run the tasks curator-daemon dispatches; run: one "
                  "CU of one night "
                  "here,\n  then exit. See curator-worker(1).");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() == 2 && std::string(args[1]) == "serve") return Serve(hooks);
  if (args.size() != 2 || std::string(args[1]) != "run") {
    return Fail(1, "usage: curator-worker serve --config F | run --cu CU --night YYYYMMDD ...");
  }
  const archive::CuRegistry& registry = archive::CuRegistry::WithSources();
  absl::StatusOr<const archive::CuSpec*> spec = registry.Parse(absl::GetFlag(FLAGS_cu));
  if (!spec.ok()) return Fail(1, absl::StrCat("--cu: ", spec.status().message()));
  const std::string night = absl::GetFlag(FLAGS_night);
  JpegOptions jpeg;
  jpeg.max_size = absl::GetFlag(FLAGS_jpeg_max_size);
  jpeg.quality = absl::GetFlag(FLAGS_jpeg_quality);
  const std::string scaling = absl::GetFlag(FLAGS_jpeg_scale);
  if (scaling == "minmax") {
    jpeg.scaling = JpegOptions::Scaling::kMinMax;
  } else if (scaling == "percentile") {
    jpeg.scaling = JpegOptions::Scaling::kPercentile;
  } else if (scaling != "zscale") {
    return Fail(1, "--jpeg_scale must be zscale, minmax or percentile");
  }
  if (jpeg.quality < 1 || jpeg.quality > 100) return Fail(1, "--jpeg_quality must be in 1..100");
  if (!archive::IsNightName(night)) return Fail(1, "--night must be YYYYMMDD");
  auto site = SiteFromFlags();
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  const HandlerTable handlers =
      DefaultHandlers(jpeg, site->config.cross_match().radius_arcsec());
  auto handler = handlers.find((*spec)->cu);
  if (handler == handlers.end())
    return Fail(1, absl::StrCat("no worker handler for ", (*spec)->name));
  auto conn = pg::Connection::Connect(site->config.database().conninfo());
  if (!conn.ok()) return Fail(3, std::string(conn.status().message()));

  // The night's registered files of the kind this CU reads.
  TaskContext context;
  context.archive_root = site->config.archive_root();
  context.night = night;
  context.threads = absl::GetFlag(FLAGS_threads);
  context.conninfo = site->config.database().conninfo();
  TaskControl control;
  context.control = &control;
  switch ((*spec)->input) {
    case archive::CuInput::kImages: {
      auto images = archive::RegisteredImages(**conn, night);
      if (!images.ok()) return Fail(3, images.status().ToString());
      for (const auto& img : *images) {
        v1::TaskFile* f = &context.files.emplace_back();
        f->set_multiframe_id(img.multiframe_id);
        f->set_path(img.path);
        f->set_file_name(img.file_name);
        f->set_file_time_stamp_us(absl::ToUnixMicros(img.file_time_stamp));
        f->set_cat_name(img.cat_name);
      }
      break;
    }
    case archive::CuInput::kCatalogues: {
      auto cats = archive::RegisteredCatalogues(**conn, night);
      if (!cats.ok()) return Fail(3, cats.status().ToString());
      for (const auto& c : *cats) {
        v1::TaskFile* f = &context.files.emplace_back();
        f->set_multiframe_id(c.multiframe_id);
        f->set_path(c.path);
        f->set_image_path(c.image_path);
      }
      break;
    }
    case archive::CuInput::kDatabase:
      break;
  }
  if (context.files.empty() && (*spec)->input != archive::CuInput::kDatabase) {
    return Fail(3, absl::StrCat("night ", night, " has no registered ",
                                archive::CuInputName((*spec)->input), " (curatorctl register ",
                                night, ")"));
  }
  auto event = tasklog::StartEvent(**conn, (*spec)->cu, "process", night, batch::ProducerName());
  if (!event.ok()) return Fail(3, event.status().ToString());
  context.cu_event_id = *event;
  absl::StatusOr<TaskOutput> out = handler->second->Run(context);
  if (!out.ok()) {
    (void)tasklog::Finish(**conn, *event, {}, true, out.status().ToString());
    return Fail(3, out.status().ToString());
  }
  const auto& m = out->manifest;
  absl::Status logged = tasklog::Finish(
      **conn, *event, out->steps, false,
      absl::StrCat("batch ", m.batch_id(), ": ", m.inputs_size() - m.failures_size(), " of ",
                   m.inputs_size(), " files"));
  if (!logged.ok()) return Fail(3, logged.ToString());
  std::printf("%s %s: batch %s\n  %d files read, %d failed, %d warnings\n",
              (*spec)->name.c_str(), night.c_str(), out->batch_dir.c_str(), m.inputs_size(),
              m.failures_size(), m.warnings_size());
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

}  // namespace curator::worker
