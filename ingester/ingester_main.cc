// curator-ingester: loads ready batches from <archive>/staging into
// PostgreSQL, verified, validated and published one transaction each.
//
//   curator-ingester [--config F | --archive DIR --db CONNINFO] [--once]
//
// Without --once it polls until SIGTERM or SIGINT, then finishes the batch
// in hand (for at most 30 s) and exits 0. With --once it loads what is
// ready and exits: 0 all ready batches handled (ingested, already
// ingested or waiting); 2 at least one was quarantined; 3 a systematic
// error (database gone); 1 bad usage. With ingester { listen_address } in
// the config it serves grpc.health.v1 and reflection there while it polls.
#include "ingester/ingester_main.h"

#include <cstdio>
#include <memory>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "base/cli.h"
#include "base/log.h"
#include "base/signals.h"
#include "config/site.h"
#include "db/pg.h"
#include "ingester/server.h"
#include "server/service_manager.h"

ABSL_FLAG(bool, once, false, "Load what is ready now, then exit");

namespace curator::ingester {
namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "curator-ingester: %s\n", message.c_str());
  return code;
}

int RunOnce(const v1::Config& config, IngestHooks* hooks) {
  auto conn = pg::Connection::Connect(config.database().conninfo());
  if (!conn.ok()) return Fail(3, std::string(conn.status().message()));
  const LoaderTable loaders = DefaultLoaders();
  IngestOptions options;
  options.archive_root = config.archive_root();
  options.loaders = &loaders;
  options.hooks = hooks;
  archive::shards::ShardSet shards(
      archive::shards::FromConfig(config.database()));
  if (!shards.empty()) {
    options.shards = &shards;
    auto resolved = archive::shards::ResolvePrepared(**conn, shards);
    if (!resolved.ok()) return Fail(3, resolved.status().ToString());
  }
  Ingester ingester(conn->get(), options);
  auto outcomes = ingester.IngestReady();
  if (!outcomes.ok()) return Fail(3, outcomes.status().ToString());
  bool quarantined = false;
  for (const auto& o : *outcomes) {
    std::printf("%-32s %-16s %8lld rows %7.3f s  %s\n", o.batch_id.c_str(), OutcomeName(o.kind),
                static_cast<long long>(o.rows), o.seconds, o.report.c_str());
    quarantined |= o.kind == IngestOutcome::Kind::kQuarantined;
  }
  if (outcomes->empty()) std::printf("no batches ready\n");
  return quarantined ? 2 : 0;
}

}  // namespace

int IngesterMain(int argc, char** argv, IngestHooks* hooks) {
  InitCommandLine(
      "curator-ingester",
      "curator-ingester [--config F | --archive DIR --db CONNINFO] [--once]\n"
      "  Loads ready batches from staging/ into PostgreSQL, each verified,\n"
      "  validated and published in one transaction. See curator-ingester(1).");
  curator::ParseCommandLine(argc, argv);
  auto site = SiteFromFlags();
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  if (absl::GetFlag(FLAGS_once)) return RunOnce(site->config, hooks);

  BlockTerminationSignals();
  IngesterParts parts;
  parts.hooks = hooks;
  auto server = IngesterServer::Create(site->config, parts);
  if (!server.ok()) return Fail(1, std::string(server.status().message()));
  if (absl::Status s = (*server)->Start(); !s.ok()) return Fail(1, s.ToString());
  NotifyReady("polling " + site->config.archive_root() + "/staging");
  // One batch may load for minutes: the watchdog guards against a wedged
  // process, not a long load.
  Watchdog watchdog([] { return true; });
  watchdog.Start();
  std::thread signals([&] {
    int sig = WaitForTerminationSignal();
    CURATOR_LOG(INFO) << "signal " << sig << ": finishing the batch in hand, then exiting";
    NotifyStopping();
    (*server)->Shutdown(absl::Seconds(30));
  });
  (*server)->Wait();
  signals.join();
  CURATOR_LOG(INFO) << "curator-ingester stopped after " << (*server)->batches_ingested()
                    << " batches";
  return 0;
}

}  // namespace curator::ingester
