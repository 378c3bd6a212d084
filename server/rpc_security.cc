#include "server/rpc_security.h"

#include <grpcpp/security/auth_context.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "base/status.h"

namespace curator {
namespace {

constexpr char kAuthorization[] = "authorization";
constexpr char kBearer[] = "Bearer ";

// Equal in constant time for equal lengths.
bool SameSecret(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<RpcSecurity> RpcSecurity::FromConfig(const v1::Config& config) {
  const v1::SecurityConfig& s = config.security();
  RpcSecurity out;
  if (!s.plaintext()) {
    if (s.ca_file().empty()) {
      return absl::FailedPreconditionError(
          "the config has no TLS settings: give security { ca_file cert_file key_file }, or "
          "security { plaintext: true } to run without TLS on a private network");
    }
    CURATOR_ASSIGN_OR_RETURN(out.ca_pem_, files::ReadToString(s.ca_file()));
    if (!s.cert_file().empty()) {
      CURATOR_ASSIGN_OR_RETURN(out.cert_pem_, files::ReadToString(s.cert_file()));
    }
    if (!s.key_file().empty()) {
      CURATOR_ASSIGN_OR_RETURN(out.key_pem_, files::ReadToString(s.key_file()));
    }
  }
  if (!s.token_file().empty()) {
    CURATOR_ASSIGN_OR_RETURN(std::string token, files::ReadToString(s.token_file()));
    token = token.substr(0, token.find('\n'));
    out.token_ = std::string(absl::StripAsciiWhitespace(token));
    if (out.token_.size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "security.token_file ", s.token_file(), ": the token must have at least 16 characters"));
    }
  }
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> RpcSecurity::ServerCredentials() const {
  if (!tls()) return grpc::InsecureServerCredentials();
  if (cert_pem_.empty() || key_pem_.empty()) {
    return absl::InvalidArgumentError(
        "a TLS server needs security.cert_file and security.key_file");
  }
  // Clients without a certificate may connect (curatorctl with the token,
  // health checks, listings); MayChangeState decides per call.
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca_pem_;
  options.pem_key_cert_pairs.push_back({key_pem_, cert_pem_});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> RpcSecurity::ChannelCredentials() const {
  if (!tls()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_private_key = key_pem_;
  options.pem_cert_chain = cert_pem_;
  return grpc::SslCredentials(options);
}

void RpcSecurity::Authorize(grpc::ClientContext* context) const {
  if (!token_.empty()) context->AddMetadata(kAuthorization, absl::StrCat(kBearer, token_));
}

grpc::Status RpcSecurity::MayChangeState(const grpc::ServerContext* context) const {
  if (tls()) {
    std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
    if (auth != nullptr && auth->IsPeerAuthenticated()) return grpc::Status::OK;
  }
  if (!token_.empty()) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find(kAuthorization);
    if (it != metadata.end()) {
      const absl::string_view value(it->second.data(), it->second.size());
      if (SameSecret(value, absl::StrCat(kBearer, token_))) return grpc::Status::OK;
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the token is wrong");
    }
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      tls() ? "changing state needs a client certificate signed by the "
                              "Curator CA, or the operator token"
                            : "changing state needs the operator token (security.token_file)");
}

bool RpcSecurity::IsToken(absl::string_view candidate) const {
  if (token_.empty()) return false;
  unsigned char diff = candidate.size() != token_.size() ? 1 : 0;
  for (size_t i = 0; i < candidate.size(); ++i) {
    diff |=
        static_cast<unsigned char>(candidate[i] ^ token_[i % token_.size()]);
  }
  return diff == 0;
}

std::string RpcSecurity::Caller(const grpc::ServerContext* context) const {
  if (tls()) {
    std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
    if (auth != nullptr && auth->IsPeerAuthenticated()) {
      for (const grpc::string_ref& cn :
           auth->FindPropertyValues("x509_common_name")) {
        return absl::StrCat("cert:", absl::string_view(cn.data(), cn.size()));
      }
      return "cert";
    }
  }
  return "token";
}

}  // namespace curator
