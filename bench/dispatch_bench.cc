// Time from an operator's approval to the tasks accepted by a worker:
// curator-daemon and curator-worker servers in this process, on loopback,
// with a private PostgreSQL. The daemon's poll interval is a full second,
// so the figure shows what approval's wake-up saves. Prints figures;
// asserts nothing.
#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "server/rpc_security.h"
#include "curator/v1/services.grpc.pb.h"
#include "daemon/server.h"
#include "synth/survey_generator.h"
#include "tests/support/pg_server.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "worker/server.h"

int main() {
  using namespace curator;
  testing::TempDir dir("curator-dispatch-bench-");
  synth::Options o;
  o.out_dir = dir.path();
  o.nights = 7;
  o.frames_per_night = 2;
  o.image_size = 64;
  o.sources_per_detector = 5;
  if (!synth::GenerateSurvey(o).ok()) return 1;
  auto pg = testing::PgServer::Start();
  if (!pg.ok()) return 1;
  v1::Config config;
  config.set_archive_root(dir.path());
  config.mutable_database()->set_conninfo((*pg)->ConnInfo());
  config.mutable_daemon()->set_listen_address("127.0.0.1:0");
  config.mutable_daemon()->set_poll_interval_ms(1000);
  // Plaintext on loopback, with the operator token.
  std::ofstream(dir.path() + "/token") << "dispatch-bench-token-0123456789\n";
  config.mutable_security()->set_plaintext(true);
  config.mutable_security()->set_token_file(dir.path() + "/token");
  auto security = RpcSecurity::FromConfig(config);
  if (!security.ok()) return 1;
  auto daemon = daemon::DaemonServer::Create(config);
  if (!daemon.ok() || !(*daemon)->Start().ok()) return 1;
  const std::string daemon_address = absl::StrCat("127.0.0.1:", (*daemon)->port());
  const std::string worker_address = absl::StrCat("127.0.0.1:", testing::FreePort());
  config.mutable_worker()->set_listen_address(worker_address);
  config.mutable_worker()->set_advertise_address(worker_address);
  config.mutable_worker()->set_daemon_address(daemon_address);
  config.mutable_worker()->set_slots(3);
  config.mutable_worker()->set_heartbeat_interval_ms(20);
  config.mutable_worker()->set_worker_id("bench");
  auto w2 = worker::WorkerServer::Create(config);
  if (!w2.ok() || !(*w2)->Start().ok()) return 1;
  auto coordinator = v1::Coordinator::NewStub(
      grpc::CreateChannel(daemon_address, grpc::InsecureChannelCredentials()));
  auto conn = pg::Connection::Connect((*pg)->ConnInfo());
  // Wait for the daemon to find the nights and hear the worker.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    auto r = (*conn)->Exec("SELECT (SELECT count(*) FROM curation.task), (SELECT count(*) FROM "
                           "curation.worker WHERE last_heartbeat > now() - interval '1 second')");
    if (r.ok() && r->GetInt(0, 0) == 3 * o.nights && r->GetInt(0, 1) == 1) break;
  }
  std::vector<double> ms;
  for (int night = 0; night < o.nights; ++night) {
    v1::ApproveRequest approve;
    auto ids = (*conn)->Exec("SELECT task_id FROM curation.task WHERE night = $1::date",
                             {synth::NightName(o, night)});
    for (int i = 0; i < ids->rows(); ++i) approve.add_task_ids(ids->GetInt(i, 0));
    const absl::Time t0 = absl::Now();
    grpc::ClientContext ctx;
    security->Authorize(&ctx);
    v1::ApproveResponse ar;
    if (!coordinator->Approve(&ctx, approve, &ar).ok()) return 1;
    // Until the worker has accepted all three of the night's tasks (the
    // daemon records who accepted each attempt; a finished task may be
    // forgotten by the worker before anyone looks at it).
    int seen = 0;
    while (seen < 3 && absl::Now() - t0 < absl::Seconds(10)) {
      auto accepted = (*conn)->Exec(
          "SELECT count(*) FROM curation.task WHERE night = $1::date AND (worker_boot IS NOT NULL "
          "OR state IN ('running', 'done', 'ingested'))",
          {synth::NightName(o, night)});
      seen = accepted.ok() ? static_cast<int>(accepted->GetInt(0, 0)) : 0;
    }
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    // The night done before the next approval: measure approval alone.
    while (absl::Now() - t0 < absl::Seconds(30)) {
      auto left = (*conn)->Exec("SELECT count(*) FROM curation.task WHERE state <> 'done' AND "
                                "night = $1::date",
                                {synth::NightName(o, night)});
      if (left.ok() && left->GetInt(0, 0) == 0) break;
    }
  }
  std::sort(ms.begin(), ms.end());
  std::printf("approval to all 3 tasks of a night accepted by the worker (daemon poll interval 1 "
              "s): median "
              "%.1f ms, best %.1f ms, worst %.1f ms over %d nights\n",
              ms[ms.size() / 2], ms.front(), ms.back(), o.nights);
  (*w2)->Shutdown(absl::Seconds(5));
  (*daemon)->Shutdown(absl::Seconds(5));
  return 0;
}
