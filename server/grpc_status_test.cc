#include "server/grpc_status.h"

#include "gtest/gtest.h"

namespace curator {
namespace {

TEST(GrpcStatusTest, EveryCodeAndMessageRoundTrips) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status s(static_cast<absl::StatusCode>(code),
                   code == 0 ? "" : "worker w1 is gone");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(FromGrpcStatus(g), s);
  }
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("retry")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace curator
