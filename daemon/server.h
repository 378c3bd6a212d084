// curator-daemon's servers: the Coordinator gRPC service (a thin layer:
// check who may change state, call the daemon's parts, convert the
// status), with grpc.health.v1 and reflection; the Load Monitor over HTTP
// (daemon/monitor.h) when daemon.monitor_address is set, and over HTTPS
// with the operator's actions (daemon/monitor_https.h) when
// daemon.monitor_actions is enabled; and the daemon
// loop (Daemon::Tick every poll interval, or at once when woken).
//
// Lifecycle: Create, Start, Shutdown(deadline), Wait.
#ifndef CURATOR_DAEMON_SERVER_H_
#define CURATOR_DAEMON_SERVER_H_

#include <grpcpp/server.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "archive/cu_registry.h"
#include "base/clock.h"
#include "curator/v1/config.pb.h"
#include "daemon/daemon.h"
#include "daemon/monitor_https.h"
#include "server/http_server.h"
#include "server/rpc_security.h"
#include "server/service_manager.h"

namespace curator::daemon {

class DaemonServer {
 public:
  // `registry` and `clock` must outlive the server; `client` (for tests)
  // replaces the gRPC worker client.
  static absl::StatusOr<std::unique_ptr<DaemonServer>> Create(
      const v1::Config& config, const archive::CuRegistry* registry = nullptr,
      const Clock* clock = Clock::Real(),
      std::unique_ptr<WorkerClient> client = nullptr);
  ~DaemonServer();
  absl::Status Start();
  void Shutdown(absl::Duration deadline);
  void Wait();
  int port() const { return port_; }
  // The Load Monitor's HTTP port; 0 when daemon.monitor_address is empty.
  int monitor_port() const { return monitor_ != nullptr ? monitor_->port() : 0; }
  // The HTTPS Load Monitor's port; 0 when its actions are off.
  int monitor_https_port() const {
    return monitor_https_ != nullptr ? monitor_https_->port() : 0;
  }
  // Whether the daemon loop has finished a pass without error within
  // `limit` (for the systemd watchdog: a daemon that cannot reach its
  // database does not do its work, and says so by not pinging).
  bool LoopRecent(absl::Duration limit) const { return beat_.Recent(limit); }
  Daemon& daemon() { return *daemon_; }

 private:
  DaemonServer() = default;
  void Loop();
  void Wake();

  v1::Config config_;
  std::unique_ptr<Daemon> daemon_;
  RpcSecurity security_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> monitor_;
  std::unique_ptr<MonitorHttps> monitor_https_;
  int port_ = 0;
  absl::Duration interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  bool loop_done_ = false;
  std::thread loop_;
  LoopBeat beat_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_SERVER_H_
