// How the daemon calls its workers: an interface, so the dispatcher and
// the operator commands are tested with a fake (no processes, no
// network), and one gRPC implementation (GrpcWorkerClient) for the real
// thing. Implementations are thread-safe and bound every call by a
// deadline; callers never hold a lock across a call.
#ifndef CURATOR_DAEMON_WORKER_CLIENT_H_
#define CURATOR_DAEMON_WORKER_CLIENT_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "curator/v1/services.grpc.pb.h"
#include "server/rpc_security.h"

namespace curator::daemon {

class WorkerClient {
 public:
  virtual ~WorkerClient() = default;
  // Hands an attempt to the worker at `address`. Unavailable: it could
  // not be reached (it never got the task); DeadlineExceeded: no answer in
  // time (it may or may not have it); InvalidArgument: it refused the
  // request.
  virtual absl::StatusOr<v1::RunTaskResponse> RunTask(const std::string& address,
                                                      const v1::RunTaskRequest& request) = 0;
  // Asks the worker to stop an attempt and remove what it wrote.
  virtual absl::Status CancelTask(const std::string& address, const std::string& attempt_id) = 0;
  // True when the link to `address` is known to be down now (connection
  // refused, or keepalive pings unanswered); never blocks.
  virtual bool LooksDown(const std::string& address) = 0;
};

// Over gRPC, one channel per address (with keepalives, so a dead or
// frozen worker is noticed in seconds), authorised as the config says.
class GrpcWorkerClient : public WorkerClient {
 public:
  GrpcWorkerClient(RpcSecurity security, absl::Duration deadline)
      : security_(std::move(security)), deadline_(deadline) {}
  absl::StatusOr<v1::RunTaskResponse> RunTask(const std::string& address,
                                              const v1::RunTaskRequest& request) override;
  absl::Status CancelTask(const std::string& address, const std::string& attempt_id) override;
  bool LooksDown(const std::string& address) override;

 private:
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& address);
  const RpcSecurity security_;
  const absl::Duration deadline_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_WORKER_CLIENT_H_
