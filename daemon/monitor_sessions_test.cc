#include "daemon/monitor_sessions.h"

#include "gtest/gtest.h"

namespace curator::daemon {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(MonitorSessionsTest, ASessionHasItsOwnCsrfTokenAndExpires) {
  MonitorSessions s(absl::Minutes(60));
  const std::string id = s.Start("token", kStart);
  EXPECT_EQ(id.size(), 64u);
  auto found = s.Find(id, kStart + absl::Minutes(59));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->who, "token");
  EXPECT_EQ(found->csrf.size(), 64u);
  EXPECT_NE(found->csrf, id);
  EXPECT_FALSE(s.Find(id, kStart + absl::Minutes(60)).has_value());
  EXPECT_FALSE(s.Find("", kStart).has_value());
}

TEST(MonitorSessionsTest, SignOutEndsTheSession) {
  MonitorSessions s(absl::Minutes(60));
  const std::string a = s.Start("cert:alice", kStart);
  const std::string b = s.Start("token", kStart);
  EXPECT_NE(a, b);
  s.End(a);
  EXPECT_FALSE(s.Find(a, kStart).has_value());
  EXPECT_TRUE(s.Find(b, kStart).has_value());
}

TEST(MonitorSessionsTest, FailedSignInsAreThrottledPerAddressForAMinute) {
  MonitorSessions s(absl::Minutes(60));
  for (int i = 0; i < MonitorSessions::kMaxFailuresPerMinute; ++i) {
    EXPECT_TRUE(s.MayTry("10.0.0.1", kStart));
    s.Failed("10.0.0.1", kStart);
  }
  EXPECT_FALSE(s.MayTry("10.0.0.1", kStart + absl::Seconds(59)));
  EXPECT_TRUE(s.MayTry("10.0.0.2", kStart));
  EXPECT_TRUE(s.MayTry("10.0.0.1", kStart + absl::Minutes(1)));
}

TEST(MonitorSessionsTest, SecretsCompare) {
  EXPECT_TRUE(MonitorSessions::SameSecret("abc", "abc"));
  EXPECT_FALSE(MonitorSessions::SameSecret("abc", "abd"));
  EXPECT_FALSE(MonitorSessions::SameSecret("abc", "ab"));
  EXPECT_FALSE(MonitorSessions::SameSecret("", ""));
  EXPECT_NE(MonitorSessions::RandomSecret(), MonitorSessions::RandomSecret());
}

}  // namespace
}  // namespace curator::daemon
