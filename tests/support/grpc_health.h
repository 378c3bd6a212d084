// Asks a server's grpc.health.v1.Health/Check, as grpc_health_probe or a
// load balancer would, without the generated health stubs.
#ifndef CURATOR_TESTS_SUPPORT_GRPC_HEALTH_H_
#define CURATOR_TESTS_SUPPORT_GRPC_HEALTH_H_

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

namespace curator::testing {

// The overall status at `address` (host:port): 1 SERVING, 2 NOT_SERVING,
// 0 UNKNOWN, or -1 when the call itself failed (nothing listening, no
// health service).
// `credentials`: how to connect (default plaintext; TLS for a server
// configured with it).
int HealthStatus(const std::string& address,
                 std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_GRPC_HEALTH_H_
