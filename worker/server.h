// curator-worker's gRPC server: the Worker service (a thin layer over
// TaskRunner), the standard grpc.health.v1 service and server reflection
// (so grpcurl works), and /metrics over HTTP when worker.metrics_address
// is set.
//
// Lifecycle: Create, Start, Shutdown(deadline), Wait.
#ifndef CURATOR_WORKER_SERVER_H_
#define CURATOR_WORKER_SERVER_H_

#include <grpcpp/server.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "curator/v1/config.pb.h"
#include "curator/v1/services.grpc.pb.h"
#include "db/probe.h"
#include "server/http_server.h"
#include "server/rpc_security.h"
#include "worker/task_runner.h"

namespace curator::worker {

class WorkerService final : public v1::Worker::Service {
 public:
  // RunTask and CancelTask need a client certificate or the token.
  WorkerService(TaskRunner* runner, const RpcSecurity* security)
      : runner_(runner), security_(security) {}
  grpc::Status RunTask(grpc::ServerContext*, const v1::RunTaskRequest* request,
                       v1::RunTaskResponse* response) override;
  grpc::Status CancelTask(grpc::ServerContext*, const v1::CancelTaskRequest* request,
                          v1::CancelTaskResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  TaskRunner* runner_;
  const RpcSecurity* security_;
};

// What a worker runs, for tests to replace: the CU registry, the
// handlers (default: DefaultHandlers(), owned by the server) and test
// hooks.
struct WorkerParts {
  const archive::CuRegistry* registry = &archive::CuRegistry::WithSources();
  const HandlerTable* handlers = nullptr;
  TaskHooks* hooks = nullptr;
};

class WorkerServer {
 public:
  // Needs config.archive_root and the worker section; database.conninfo,
  // if set, receives the tasks' logs; worker.daemon_address, if set, gets
  // a heartbeat every worker.heartbeat_interval_ms with the load and the
  // tasks' status. Port 0 in listen_address picks a free port (port()).
  // FailedPrecondition if a CU of the registry has no handler.
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Create(const v1::Config& config,
                                                              WorkerParts parts = {});
  ~WorkerServer();

  absl::Status Start();
  // Stops taking calls, cancels running tasks (their partial output is
  // removed) and waits for them, until `deadline` at most.
  void Shutdown(absl::Duration deadline);
  void Wait();
  int port() const { return port_; }
  // The /metrics port; 0 when worker.metrics_address is empty.
  int metrics_port() const { return metrics_ != nullptr ? metrics_->port() : 0; }
  // Prometheus text: tasks by state and outcome, the durations of the
  // tasks done by CU, files processed and failed, load, whether the
  // database is reachable (with database.conninfo) and the build.
  std::string Metrics() const;

 private:
  explicit WorkerServer(const v1::Config& config);
  // Reports to the daemon (worker.daemon_address) every interval, and does
  // what the answer says: forget acknowledged tasks, cancel unexpected ones.
  void HeartbeatLoop();
  // worker.heartbeat_interval_ms, 1 s if unset.
  absl::Duration HeartbeatInterval() const;
  void ReportFinished(const v1::TaskStatus& status);
  v1::HeartbeatRequest Report();
  // The link to the daemon: replaced by a new connection after a failed
  // heartbeat (see HeartbeatLoop). Guarded by stub_mu_.
  std::shared_ptr<v1::Coordinator::Stub> DaemonStub();
  void ReconnectToDaemon();
  std::mutex stub_mu_;
  std::shared_ptr<v1::Coordinator::Stub> daemon_;
  std::string id_, address_;
  v1::Config config_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
  HandlerTable own_handlers_;
  std::unique_ptr<TaskRunner> runner_;
  std::unique_ptr<WorkerService> service_;
  RpcSecurity security_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> metrics_;
  // With metrics_ and database.conninfo: curator_database_up.
  std::unique_ptr<pg::DatabaseProbe> database_;
  const archive::CuRegistry* registry_ = nullptr;
  int port_ = 0;
};

}  // namespace curator::worker

#endif  // CURATOR_WORKER_SERVER_H_
