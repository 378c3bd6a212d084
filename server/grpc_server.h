// Building Curator's gRPC servers and channels, the same way for all three
// daemons: every server serves grpc.health.v1 and server reflection (so
// grpcurl works) beside its own services; servers and channels keep their
// links alive with HTTP/2 pings, so a dead peer, a frozen process or a cut
// link is noticed within seconds (the kernel's TCP retransmission backoff
// alone takes minutes), and channels reconnect within two seconds of a
// peer coming back.
#ifndef CURATOR_SERVER_GRPC_SERVER_H_
#define CURATOR_SERVER_GRPC_SERVER_H_

#include <grpcpp/channel.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/rpc_security.h"

namespace curator {

// Listens on `address` ("host:port", port 0 = any free port, then in
// *port) with `credentials`, serving `services` (not owned; they must
// outlive the server) plus health and reflection. Unavailable if it cannot
// listen.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& address, const std::shared_ptr<grpc::ServerCredentials>& credentials,
    const std::vector<grpc::Service*>& services, int* port);

// A channel to `address`, secured as `security` says, with keepalives.
// With `own_connection`, the channel does not share gRPC's process-wide
// subchannels: it makes a connection of its own (to replace one a cut
// left in TCP retransmission backoff).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const RpcSecurity& security,
                                           bool own_connection = false);

}  // namespace curator

#endif  // CURATOR_SERVER_GRPC_SERVER_H_
