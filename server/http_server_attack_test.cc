// HttpServer under hostile clients, over real loopback sockets: slowloris
// tricklers, clients that connect and send nothing, floods, clients that
// never read. Ordinary clients connect from another address (127.0.0.2;
// Linux routes all of 127/8 to loopback) and must still be answered.
//
// Bounds on time here only tell "answered" from "hung" (seconds against a
// deadline that would never come) or follow from the server's own clock
// (a connection cannot be cut off before its deadline).
#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/http_server.h"
#include "server/http_test_client.h"

namespace curator {
namespace {

using testing::CountMembers;
using testing::HostileCrowd;
using testing::RawClient;
using testing::RawResponse;
using Member = HostileCrowd::Member;
using Clock = std::chrono::steady_clock;

constexpr char kGetHello[] = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
// "Answered" against "timed out": generous for a loaded machine, far below
// any deadline a hung server would hit.
constexpr absl::Duration kAnswered = absl::Seconds(2);

std::unique_ptr<HttpServer> StartServer(const HttpServerOptions& options) {
  auto server = std::make_unique<HttpServer>(options);
  server->Get("/hello", [](const HttpRequest&) {
    return HttpResponse{200, "text/plain; charset=utf-8", "hello\n"};
  });
  server->Get("/big", [](const HttpRequest&) {
    return HttpResponse{200, "application/octet-stream",
                        std::string(32 << 20, 'x')};
  });
  EXPECT_TRUE(server->Start("127.0.0.1:0").ok());
  return server;
}

// A fresh client from `from` gets /hello answered within kAnswered.
void ExpectServed(int port, const std::string& from) {
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<RawClient>> c =
      RawClient::Connect(port, from, kAnswered);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<RawResponse> r = (*c)->RoundTrip(kGetHello, kAnswered);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello\n");
  EXPECT_LT(Clock::now() - start, absl::ToChronoNanoseconds(kAnswered));
}

bool Refused(const Member& m) { return m.closed && m.status == 503; }

TEST(HttpServerAttackTest, ClientOverItsConnectionCapIsRefusedOthersServed) {
  HttpServerOptions options;
  options.max_connections_per_client = 16;
  // Long deadlines: whatever closes here is the cap, not a timeout.
  options.request_head_timeout = absl::Seconds(60);
  options.keep_alive_timeout = absl::Seconds(60);
  std::unique_ptr<HttpServer> server = StartServer(options);
  HostileCrowd crowd(std::chrono::milliseconds(200));
  ASSERT_TRUE(
      crowd.Add(server->port(), "127.0.0.1", HostileCrowd::Kind::kTrickle, 200)
          .ok());
  ASSERT_TRUE(
      crowd.Add(server->port(), "127.0.0.1", HostileCrowd::Kind::kSilent, 100)
          .ok());
  crowd.Start();

  for (int i = 0; i < 5; ++i) ExpectServed(server->port(), "127.0.0.2");

  // All but 16 are answered 503 and closed promptly; the 16 stay open.
  ASSERT_TRUE(crowd.WaitFor(
      [](const std::vector<Member>& m) {
        return CountMembers(m, Refused) >= 284;
      },
      absl::Seconds(10)));
  std::vector<Member> members = crowd.Snapshot();
  EXPECT_EQ(CountMembers(members, Refused), 284);
  EXPECT_EQ(CountMembers(members, [](const Member& m) { return !m.closed; }),
            16);
  // The address at its cap is refused; another is not.
  absl::StatusOr<std::unique_ptr<RawClient>> one_more =
      RawClient::Connect(server->port(), "127.0.0.1");
  ASSERT_TRUE(one_more.ok());
  absl::StatusOr<RawResponse> r = (*one_more)->Read(kAnswered);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  ExpectServed(server->port(), "127.0.0.3");

  // Stop closes the rest at once.
  const Clock::time_point stop = Clock::now();
  server->Stop();
  EXPECT_LT(Clock::now() - stop, std::chrono::seconds(2));
  EXPECT_TRUE(crowd.WaitFor(
      [](const std::vector<Member>& m) {
        return CountMembers(m, [](const Member& x) { return !x.closed; }) == 0;
      },
      absl::Seconds(5)));
}

TEST(HttpServerAttackTest, TricklersAndSilentClientsDoNotDelayOthers) {
  HttpServerOptions options;
  options.request_head_timeout = absl::Seconds(1);
  options.keep_alive_timeout = absl::Seconds(1);
  std::unique_ptr<HttpServer> server = StartServer(options);
  // 300 connections from 30 addresses, each under the per-client cap: only
  // the event loop, not the cap, keeps them off the handler threads.
  HostileCrowd crowd(std::chrono::milliseconds(100));
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(crowd
                    .Add(server->port(), absl::StrCat("127.0.1.", i),
                         HostileCrowd::Kind::kTrickle, 10)
                    .ok());
  }
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(crowd
                    .Add(server->port(), absl::StrCat("127.0.2.", i),
                         HostileCrowd::Kind::kSilent, 10)
                    .ok());
  }
  const Clock::time_point connected = Clock::now();
  crowd.Start();

  for (int i = 0; i < 10; ++i) ExpectServed(server->port(), "127.0.0.2");
  // Nobody is cut off before the deadline, which runs from each accept.
  if (Clock::now() - connected < std::chrono::milliseconds(500)) {
    EXPECT_EQ(CountMembers(crowd.Snapshot(),
                           [](const Member& m) { return m.closed; }),
              0);
  }

  // Then every one is: trickling does not extend a total deadline.
  ASSERT_TRUE(crowd.WaitFor(
      [](const std::vector<Member>& m) {
        return CountMembers(m, [](const Member& x) { return !x.closed; }) == 0;
      },
      absl::Seconds(10)));
  for (const Member& m : crowd.Snapshot()) {
    EXPECT_GE(m.open_for, std::chrono::seconds(1));
    EXPECT_LT(m.open_for, std::chrono::seconds(5));
    // A partial head is told why; a silent client just closed.
    EXPECT_EQ(m.status, m.kind == HostileCrowd::Kind::kTrickle ? 408 : 0);
  }
  ExpectServed(server->port(), "127.0.0.2");
}

TEST(HttpServerAttackTest, TricklingAfterAResponseIsCutOffToo) {
  HttpServerOptions options;
  options.request_head_timeout = absl::Milliseconds(500);
  options.keep_alive_timeout = absl::Seconds(60);
  std::unique_ptr<HttpServer> server = StartServer(options);
  absl::StatusOr<std::unique_ptr<RawClient>> c =
      RawClient::Connect(server->port());
  ASSERT_TRUE(c.ok());
  // The deadline runs from the end of the response, which is after this.
  const Clock::time_point asked = Clock::now();
  absl::StatusOr<RawResponse> r = (*c)->RoundTrip(kGetHello);
  ASSERT_TRUE(r.ok()) << r.status();
  // One byte of the next head every 100 ms (waiting for the server to close
  // meanwhile): the server must end this by itself.
  const std::string next =
      "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa";
  bool closed = false;
  for (size_t sent = 0; !closed && sent < next.size(); ++sent) {
    closed = !(*c)->Send(next.substr(sent, 1)) ||
             (*c)->WaitClosed(absl::Milliseconds(100));
  }
  EXPECT_TRUE(closed) << "still open after the whole trickle";
  EXPECT_GE(Clock::now() - asked, std::chrono::milliseconds(500));
}

TEST(HttpServerAttackTest, ClientThatNeverReadsIsCutOffOthersServed) {
  HttpServerOptions options;
  options.send_timeout = absl::Milliseconds(500);
  std::unique_ptr<HttpServer> server = StartServer(options);
  absl::StatusOr<std::unique_ptr<RawClient>> reader =
      RawClient::Connect(server->port(), "127.0.0.1", absl::Seconds(5),
                         /*receive_buffer=*/4096);
  ASSERT_TRUE(reader.ok());
  const Clock::time_point asked = Clock::now();
  ASSERT_TRUE((*reader)->Send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  // While 32 MiB wait for a client that does not read, others are served
  // (the write is the event loop's, not a thread's).
  for (int i = 0; i < 3; ++i) ExpectServed(server->port(), "127.0.0.2");
  // Without reading a byte, the client sees the server give up on it: a
  // reset, not before the send deadline.
  EXPECT_TRUE((*reader)->WaitHangUp(absl::Seconds(10)));
  EXPECT_GE(Clock::now() - asked, std::chrono::milliseconds(500));
}

TEST(HttpServerAttackTest, FloodOverTheServerCapIsRefusedThenRecovers) {
  HttpServerOptions options;
  options.max_connections = 64;
  options.max_connections_per_client = 1000;
  options.request_head_timeout = absl::Seconds(60);
  options.keep_alive_timeout = absl::Seconds(60);
  std::unique_ptr<HttpServer> server = StartServer(options);
  {
    HostileCrowd crowd(std::chrono::milliseconds(200));
    ASSERT_TRUE(
        crowd.Add(server->port(), "127.0.3.1", HostileCrowd::Kind::kSilent, 200)
            .ok());
    crowd.Start();
    ASSERT_TRUE(crowd.WaitFor(
        [](const std::vector<Member>& m) {
          return CountMembers(m, Refused) >= 136;
        },
        absl::Seconds(10)));
    EXPECT_EQ(CountMembers(crowd.Snapshot(),
                           [](const Member& m) { return !m.closed; }),
              64);
  }  // the crowd hangs up
  // Once its connections are gone, the server takes new ones again.
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (status != 200 && Clock::now() < deadline) {
    absl::StatusOr<std::unique_ptr<RawClient>> c =
        RawClient::Connect(server->port(), "127.0.0.2");
    ASSERT_TRUE(c.ok());
    absl::StatusOr<RawResponse> r = (*c)->RoundTrip(kGetHello, kAnswered);
    ASSERT_TRUE(r.ok()) << r.status();
    status = r->status;
    if (status != 200) (*c)->WaitClosed(absl::Milliseconds(50));
  }
  EXPECT_EQ(status, 200);
}

TEST(HttpServerAttackTest, StopReturnsPromptlyWithHundredsOfHungConnections) {
  HttpServerOptions options;
  options.max_connections_per_client = 1000;
  options.request_head_timeout = absl::Seconds(60);
  options.keep_alive_timeout = absl::Seconds(60);
  options.send_timeout = absl::Seconds(60);
  std::unique_ptr<HttpServer> server = StartServer(options);
  HostileCrowd crowd(std::chrono::milliseconds(100));
  ASSERT_TRUE(
      crowd.Add(server->port(), "127.0.4.1", HostileCrowd::Kind::kTrickle, 200)
          .ok());
  ASSERT_TRUE(
      crowd.Add(server->port(), "127.0.4.2", HostileCrowd::Kind::kSilent, 200)
          .ok());
  // And one that never reads a 32 MiB answer.
  absl::StatusOr<std::unique_ptr<RawClient>> stuck = RawClient::Connect(
      server->port(), "127.0.4.3", absl::Seconds(5), /*receive_buffer=*/4096);
  ASSERT_TRUE(stuck.ok());
  ASSERT_TRUE((*stuck)->Send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  crowd.Start();
  ExpectServed(server->port(), "127.0.0.2");
  ASSERT_EQ(
      CountMembers(crowd.Snapshot(), [](const Member& m) { return !m.closed; }),
      400);

  const Clock::time_point start = Clock::now();
  server->Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(crowd.WaitFor(
      [](const std::vector<Member>& m) {
        return CountMembers(m, [](const Member& x) { return !x.closed; }) == 0;
      },
      absl::Seconds(5)));
  EXPECT_TRUE((*stuck)->WaitClosed(absl::Seconds(10)));
}

}  // namespace
}  // namespace curator
