// curator-daemon's gRPC server: the Coordinator service (a thin layer over
// daemon::Coordinator), grpc.health.v1 and server reflection, and the
// daemon loop (Coordinator::Tick every poll interval), and the Load
// Monitor over HTTP (daemon/monitor.h) when daemon.monitor_address is set.
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
#include "server/http_server.h"
#include "server/service_manager.h"
#include "curator/v1/config.pb.h"
#include "daemon/coordinator.h"

namespace curator::daemon {

class DaemonServer {
 public:
  static absl::StatusOr<std::unique_ptr<DaemonServer>> Create(const v1::Config& config);
  ~DaemonServer();
  absl::Status Start();
  void Shutdown(absl::Duration deadline);
  void Wait();
  int port() const { return port_; }
  // The Load Monitor's HTTP port; 0 when daemon.monitor_address is empty.
  // Whether the daemon loop has finished a pass within `limit` (for the
  // systemd watchdog).
  bool LoopRecent(absl::Duration limit) const { return beat_.Recent(limit); }
  int monitor_port() const { return monitor_ != nullptr ? monitor_->port() : 0; }

 private:
  DaemonServer() = default;
  void Loop();

  v1::Config config_;
  std::unique_ptr<Coordinator> coordinator_;
  RpcSecurity security_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> monitor_;
  int port_ = 0;
  absl::Duration interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread loop_;
  LoopBeat beat_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_SERVER_H_
