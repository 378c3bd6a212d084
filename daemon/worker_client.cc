#include "daemon/worker_client.h"

#include "server/grpc_server.h"
#include "server/grpc_status.h"

namespace curator::daemon {

std::shared_ptr<grpc::Channel> GrpcWorkerClient::ChannelFor(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[address];
  if (channel == nullptr) channel = MakeChannel(address, security_);
  return channel;
}

absl::StatusOr<v1::RunTaskResponse> GrpcWorkerClient::RunTask(const std::string& address,
                                                              const v1::RunTaskRequest& request) {
  auto stub = v1::Worker::NewStub(ChannelFor(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  security_.Authorize(&ctx);
  v1::RunTaskResponse response;
  grpc::Status st = stub->RunTask(&ctx, request, &response);
  if (!st.ok()) return FromGrpcStatus(st);
  return response;
}

absl::Status GrpcWorkerClient::CancelTask(const std::string& address,
                                          const std::string& attempt_id) {
  auto stub = v1::Worker::NewStub(ChannelFor(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  security_.Authorize(&ctx);
  v1::CancelTaskRequest request;
  request.set_task_id(attempt_id);
  v1::CancelTaskResponse response;
  return FromGrpcStatus(stub->CancelTask(&ctx, request, &response));
}

bool GrpcWorkerClient::LooksDown(const std::string& address) {
  // try_to_connect: an idle channel (its connection dropped when the
  // worker died) tries again at once; refused, it reports
  // TRANSIENT_FAILURE by the next pass.
  return ChannelFor(address)->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_TRANSIENT_FAILURE;
}

}  // namespace curator::daemon
