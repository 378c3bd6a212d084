// curator-daemon: the data daemon. Finds complete nights, registers them
// and their tasks, plans, dispatches approved tasks to the workers and
// tracks them by heartbeat; serves the Coordinator gRPC service.
//
//   curator-daemon --config /etc/curator/curator.conf
//
// Under systemd (Type=notify) it reports readiness, its status and
// stopping, and pings the watchdog while its loop keeps passing.
// Waits for its database if it is away at start. Runs until SIGTERM or
// SIGINT; exit 0. 1: bad config; 3: cannot start.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "base/cli.h"
#include "base/log.h"
#include "base/signals.h"
#include "config/site.h"
#include "daemon/server.h"
#include "server/service_manager.h"

int main(int argc, char** argv) {
  curator::InitCommandLine(
      "curator-daemon",
      "curator-daemon --config FILE\n"
      "  Registers nights, keeps their task graphs, proposes and dispatches\n"
      "  tasks to curator-worker servers, serves the operator's API "
      "(curatorctl)\n"
      "  and the Load Monitor. See curator-daemon(1).");
  absl::ParseCommandLine(argc, argv);
  auto site = curator::SiteFromFlags();
  if (!site.ok()) {
    std::fprintf(stderr, "curator-daemon: %s\n", std::string(site.status().message()).c_str());
    return 1;
  }
  curator::BlockTerminationSignals();
  // A database that is away (restarting, not up yet after a reboot) is
  // waited for, with backoff, as the rest of the run waits for it; a
  // signal meanwhile stops it cleanly.
  auto server = curator::daemon::DaemonServer::Create(site->config);
  for (int backoff_ms = 100;
       !server.ok() && server.status().code() == absl::StatusCode::kUnavailable;
       backoff_ms = std::min(2 * backoff_ms, 10000)) {
    CURATOR_LOG(WARNING) << "cannot start yet: " << server.status() << "; retrying in "
                         << backoff_ms << " ms";
    curator::NotifyStatus(absl::StrCat("waiting for the database: ", server.status().message()));
    if (const int sig = curator::WaitForTerminationSignalFor(backoff_ms); sig != 0) {
      CURATOR_LOG(INFO) << "signal " << sig << " while waiting for the database: stopping";
      return 0;
    }
    server = curator::daemon::DaemonServer::Create(site->config);
  }
  if (!server.ok()) {
    std::fprintf(stderr, "curator-daemon: %s\n", server.status().ToString().c_str());
    return server.status().code() == absl::StatusCode::kInvalidArgument ? 1 : 3;
  }
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    std::fprintf(stderr, "curator-daemon: %s\n", s.ToString().c_str());
    return 3;
  }
  curator::NotifyReady(absl::StrCat("serving on port ", (*server)->port(),
                                    (*server)->monitor_port()
                                        ? absl::StrCat(", Load Monitor on port ",
                                                       (*server)->monitor_port())
                                        : ""));
  // Pinged while the daemon loop keeps passing (it passes every poll
  // interval; one pass plans and dispatches in well under a second).
  curator::Watchdog watchdog([&] { return (*server)->LoopRecent(curator::Watchdog::Interval()); });
  watchdog.Start();
  std::thread signals([&] {
    const int sig = curator::WaitForTerminationSignal();
    CURATOR_LOG(INFO) << "signal " << sig << ": stopping";
    curator::NotifyStopping();
    (*server)->Shutdown(absl::Seconds(10));
  });
  (*server)->Wait();
  signals.join();
  return 0;
}
