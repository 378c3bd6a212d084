#include "base/status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace curator {
namespace {

TEST(StatusTest, AnnotateKeepsCodeAndPrefixesContext) {
  absl::Status s = Annotate(absl::NotFoundError("keyword 'MAGZPT'"),
                            "w20071021_00001.fit");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "w20071021_00001.fit: keyword 'MAGZPT'");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

TEST(StatusTest, ErrnoMapsToRetryableOrNot) {
  EXPECT_EQ(ErrnoToStatus(ENOENT, "/a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "/a").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoToStatus(EACCES, "/a").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(ENOENT, "/a/b.fit").message(),
            "/a/b.fit: No such file or directory");
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  CURATOR_ASSIGN_OR_RETURN(int h, Half(x));
  CURATOR_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, MacrosPropagateErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  auto f = [](bool fail) -> absl::Status {
    CURATOR_RETURN_IF_ERROR(fail ? absl::UnavailableError("db gone")
                                 : absl::OkStatus());
    return absl::InternalError("reached");
  };
  EXPECT_EQ(f(true).message(), "db gone");
  EXPECT_EQ(f(false).message(), "reached");
}

}  // namespace
}  // namespace curator
