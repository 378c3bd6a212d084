// The one place that converts between absl::Status and grpc::Status. Both
// use the canonical codes, so the code and the message pass through as they
// are; an OK status stays OK.
#ifndef CURATOR_SERVER_GRPC_STATUS_H_
#define CURATOR_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace curator {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace curator

#endif  // CURATOR_SERVER_GRPC_STATUS_H_
