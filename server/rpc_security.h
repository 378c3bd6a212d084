// The security of Curator's gRPC links, from the config's `security`
// section (see SecurityConfig in proto/curator/v1/config.proto): TLS with
// client certificates, or plaintext only when the config says so; and
// which calls may change state (a verified client certificate, or the
// operator token).
//
// Every gRPC server and channel of Curator is made here, so no link can be
// plaintext by accident.
#ifndef CURATOR_SERVER_RPC_SECURITY_H_
#define CURATOR_SERVER_RPC_SECURITY_H_

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "curator/v1/config.pb.h"

namespace curator {

class RpcSecurity {
 public:
  // Reads the files the section names. FailedPrecondition when the config
  // has neither TLS nor `plaintext: true`; NotFound/PermissionDenied
  // naming a file that cannot be read.
  static absl::StatusOr<RpcSecurity> FromConfig(const v1::Config& config);

  bool tls() const { return !ca_pem_.empty(); }

  // For a server. InvalidArgument under TLS without this machine's
  // certificate and key.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials() const;
  // For a client: TLS (with this machine's certificate when it has one),
  // or plaintext.
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;
  // Adds the token, when there is one, to an outgoing call.
  void Authorize(grpc::ClientContext* context) const;

  // For a server, on a call that changes state: OK if the peer presented
  // a certificate the CA signed, or the call carries the token.
  // Unauthenticated otherwise, saying what is missing.
  grpc::Status MayChangeState(const grpc::ServerContext* context) const;
  // Who made a call MayChangeState let through, for the record:
  // "cert:<common name>" for a client certificate, else "token".
  std::string Caller(const grpc::ServerContext* context) const;

  // Whether `candidate` is the operator token (false when there is none),
  // in a time that depends on the candidate's length only. For the Load
  // Monitor's sign-in.
  bool IsToken(absl::string_view candidate) const;
  bool has_token() const { return !token_.empty(); }
  // The CA's certificates (PEM); empty without TLS.
  const std::string& ca_pem() const { return ca_pem_; }

 private:
  std::string ca_pem_, cert_pem_, key_pem_, token_;
};

}  // namespace curator

#endif  // CURATOR_SERVER_RPC_SECURITY_H_
