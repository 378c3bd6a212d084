// curator-ingester: loads ready batches from <archive>/staging into
// PostgreSQL, verified, validated and published one transaction each.
//
//   curator-ingester [--config F | --archive DIR --db CONNINFO] [--once]
//
// Without --once it polls until SIGTERM or SIGINT, then finishes the batch
// in hand and exits 0. With --once it loads what is ready and exits:
// 0 all ready batches handled (ingested, already ingested or waiting);
// 2 at least one was quarantined; 3 a systematic error (database gone);
// 1 bad usage. With ingester { listen_address } in the config it serves
// grpc.health.v1 and reflection there while it polls.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "server/http_server.h"
#include "base/log.h"
#include "db/pg.h"
#include "server/rpc_security.h"
#include "server/service_manager.h"
#include "base/signals.h"
#include "config/site.h"
#include "ingester/loader.h"
#include "ingester/poller.h"

ABSL_FLAG(bool, once, false, "Load what is ready now, then exit");
ABSL_FLAG(std::string, pause_before_commit, "",
          "Testing only: before COMMIT, create this file and wait to be killed");

namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "curator-ingester: %s\n", message.c_str());
  return code;
}

int RunOnce(const curator::v1::Config& config, curator::ingester::LoaderOptions options) {
  auto conn = curator::pg::Connection::Connect(config.database().conninfo());
  if (!conn.ok()) return Fail(3, std::string(conn.status().message()));
  options.archive_root = config.archive_root();
  curator::ingester::Loader loader(conn->get(), options);
  auto outcomes = loader.IngestReady();
  if (!outcomes.ok()) return Fail(3, outcomes.status().ToString());
  bool quarantined = false;
  for (const auto& o : *outcomes) {
    std::printf("%-32s %-16s %8lld rows %7.3f s  %s\n", o.batch_id.c_str(),
                curator::ingester::OutcomeName(o.kind), static_cast<long long>(o.rows),
                o.seconds, o.report.c_str());
    quarantined |= o.kind == curator::ingester::IngestOutcome::Kind::kQuarantined;
  }
  if (outcomes->empty()) std::printf("no batches ready\n");
  return quarantined ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "curator-ingester [--config F | --archive DIR --db CONNINFO] [--once]");
  absl::ParseCommandLine(argc, argv);
  auto site = curator::SiteFromFlags();
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  curator::ingester::LoaderOptions options;
  options.pause_before_commit_file = absl::GetFlag(FLAGS_pause_before_commit);
  if (absl::GetFlag(FLAGS_once)) return RunOnce(site->config, options);

  curator::BlockTerminationSignals();
  auto poller = curator::ingester::Poller::Create(site->config, options);
  if (!poller.ok()) return Fail(1, std::string(poller.status().message()));
  std::unique_ptr<grpc::Server> health;
  if (const std::string& listen = site->config.ingester().listen_address(); !listen.empty()) {
    absl::StatusOr<curator::RpcSecurity> security = curator::RpcSecurity::FromConfig(site->config);
    if (!security.ok()) return Fail(1, std::string(security.status().message()));
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        security->ServerCredentials();
    if (!credentials.ok()) return Fail(1, std::string(credentials.status().message()));
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(listen, *credentials, &port);
    health = builder.BuildAndStart();
    if (health == nullptr || port == 0) return Fail(1, "cannot listen on " + listen);
    CURATOR_LOG(INFO) << "curator-ingester serving health on port " << port;
  }
  curator::HttpServer metrics;
  if (const std::string& address = site->config.ingester().metrics_address(); !address.empty()) {
    metrics.Get("/metrics", [&](const curator::HttpRequest&) {
      return curator::HttpResponse{200, curator::kMetricsContentType, (*poller)->Metrics()};
    });
    if (absl::Status s = metrics.Start(address); !s.ok()) return Fail(1, s.ToString());
    CURATOR_LOG(INFO) << "curator-ingester serving /metrics on port " << metrics.port();
  }
  (*poller)->Start();
  CURATOR_LOG(INFO) << "curator-ingester polling " << site->config.archive_root() << "/staging";
  curator::NotifyReady("polling " + site->config.archive_root() + "/staging");
  // One batch may load for minutes: the watchdog guards against a wedged
  // process, not a long load.
  curator::Watchdog watchdog([] { return true; });
  watchdog.Start();
  std::thread signals([&] {
    int sig = curator::WaitForTerminationSignal();
    CURATOR_LOG(INFO) << "signal " << sig << ": finishing the batch in hand, then exiting";
    curator::NotifyStopping();
    if (health != nullptr) health->GetHealthCheckService()->SetServingStatus(false);
    (*poller)->Shutdown();
  });
  (*poller)->Wait();
  signals.join();
  metrics.Stop();
  if (health != nullptr) health->Shutdown();
  CURATOR_LOG(INFO) << "curator-ingester stopped after " << (*poller)->batches_ingested()
                    << " batches";
  return 0;
}
