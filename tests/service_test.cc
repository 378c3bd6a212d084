// The three daemons under a service manager: each tells systemd it is
// ready (Type=notify), pings the watchdog while it works, and says it is
// stopping on SIGTERM, then exits 0. The test plays systemd's part with a
// real notification socket (NOTIFY_SOCKET, WATCHDOG_USEC).
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"

namespace curator {
namespace {

using ::testing::HasSubstr;

// A datagram socket like systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path;
  }
  ~NotifySocket() { close(fd_); }
  // Messages until one contains `want` or the deadline; all of them.
  std::vector<std::string> ReceiveUntil(const std::string& want, absl::Duration timeout) {
    std::vector<std::string> got;
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      timeval tv{0, 100000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) continue;
      got.emplace_back(buffer, n);
      if (absl::StrContains(got.back(), want)) break;
    }
    return got;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

class ServiceTest : public testing::ClusterTest {};

TEST_F(ServiceTest, EachDaemonNotifiesReadinessPingsTheWatchdogAndStopsCleanly) {
  WriteConfig(/*auto_approve=*/false);
  struct Case {
    std::string name;
    std::function<testing::Process()> start;
    std::string ready_status;
  };
  const std::vector<Case> cases = {
      {"curator-daemon", [&] { return Daemon(); }, "serving on port"},
      {"curator-worker", [&] { return Worker("w1"); }, "serving on port"},
      {"curator-ingester", [&] { return Ingester(); }, "polling " + archive_ + "/staging"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = archive_dir_.Join(c.name + ".notify");
    NotifySocket socket(path);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    setenv("WATCHDOG_USEC", "400000", 1);  // pings every 0.2 s
    testing::Process p = c.start();
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    std::vector<std::string> ready = socket.ReceiveUntil("READY=1", absl::Seconds(30));
    ASSERT_FALSE(ready.empty()) << p.Log();
    EXPECT_THAT(ready.back(), HasSubstr("READY=1\nSTATUS=" + c.ready_status));
    // Two watchdog pings within a second.
    std::vector<std::string> pings = socket.ReceiveUntil("WATCHDOG=1", absl::Seconds(5));
    ASSERT_FALSE(pings.empty());
    EXPECT_EQ(pings.back(), "WATCHDOG=1");
    pings = socket.ReceiveUntil("WATCHDOG=1", absl::Seconds(5));
    ASSERT_FALSE(pings.empty());
    EXPECT_EQ(pings.back(), "WATCHDOG=1");
    p.Signal(SIGTERM);
    std::vector<std::string> stopping = socket.ReceiveUntil("STOPPING=1", absl::Seconds(30));
    ASSERT_FALSE(stopping.empty());
    EXPECT_THAT(stopping.back(), HasSubstr("STOPPING=1"));
    EXPECT_EQ(p.Wait(absl::Seconds(60)), 0) << p.Log();
  }
}

TEST_F(ServiceTest, TheDaemonWithholdsTheWatchdogWhileItsDatabaseIsAwayAndResumes) {
  WriteConfig(/*auto_approve=*/false);
  const std::string path = archive_dir_.Join("daemon.notify");
  NotifySocket socket(path);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  setenv("WATCHDOG_USEC", "400000", 1);  // pings every 0.2 s while its loop works
  testing::Process daemon = Daemon();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  ASSERT_FALSE(socket.ReceiveUntil("READY=1", absl::Seconds(30)).empty()) << daemon.Log();
  ASSERT_FALSE(socket.ReceiveUntil("WATCHDOG=1", absl::Seconds(5)).empty());
  // The database goes away: the daemon cannot do its work and says so by
  // not pinging (systemd restarts it if this lasts past WatchdogSec).
  ASSERT_TRUE(server().Stop().ok());
  (void)socket.ReceiveUntil("never sent", absl::Seconds(1));  // pings already on their way
  EXPECT_THAT(socket.ReceiveUntil("WATCHDOG=1", absl::Seconds(2)),
              ::testing::Not(::testing::Contains("WATCHDOG=1")));
  // Back, with no restart of the daemon: the pings resume and it answers.
  ASSERT_TRUE(server().Restart().ok()) << server().LogTail();
  ASSERT_FALSE(socket.ReceiveUntil("WATCHDOG=1", absl::Seconds(30)).empty()) << daemon.Log();
  EXPECT_EQ(Ctl("status").exit_code, 0) << daemon.Log();
  EXPECT_THAT(daemon.Log(), HasSubstr("connected to the database again"));
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(absl::Seconds(60)), 0) << daemon.Log();
}

TEST_F(ServiceTest, ADaemonStartedWhileItsDatabaseIsDownWaitsForItThenServes) {
  WriteConfig(/*auto_approve=*/false);
  ASSERT_TRUE(server().Stop().ok());
  const std::string path = archive_dir_.Join("daemon.notify");
  NotifySocket socket(path);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  testing::Process daemon = Daemon();
  unsetenv("NOTIFY_SOCKET");
  // Waiting, not exited, not ready; systemd's status says why.
  std::vector<std::string> said = socket.ReceiveUntil("READY=1", absl::Seconds(2));
  EXPECT_THAT(said, ::testing::Not(::testing::Contains("READY=1")));
  EXPECT_FALSE(daemon.Wait(absl::Milliseconds(10)).has_value()) << daemon.Log();
  EXPECT_THAT(daemon.Log(), HasSubstr("cannot start yet"));
  ASSERT_TRUE(server().Restart().ok()) << server().LogTail();
  ASSERT_FALSE(socket.ReceiveUntil("READY=1", absl::Seconds(30)).empty()) << daemon.Log();
  EXPECT_EQ(Ctl("status").exit_code, 0) << daemon.Log();
  // A signal while it waits stops it cleanly.
  ASSERT_TRUE(server().Stop().ok());
  testing::Process waiting = Daemon("daemon2.log");
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return absl::StrContains(waiting.Log(), "cannot start yet"); }, absl::Seconds(10)));
  waiting.Signal(SIGTERM);
  EXPECT_EQ(waiting.Wait(absl::Seconds(10)), 0) << waiting.Log();
  ASSERT_TRUE(server().Restart().ok()) << server().LogTail();
}

}  // namespace
}  // namespace curator
