// HttpServer as ordinary clients see it, over real loopback sockets.
#include "server/http_server.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/http_test_client.h"

namespace curator {
namespace {

using namespace std::string_literals;
using testing::RawClient;
using testing::RawResponse;

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = HttpServerOptions()) {
    server_ = std::make_unique<HttpServer>(options);
    server_->Get("/hello", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain; charset=utf-8", "hello\n"};
    });
    server_->Get("/api/tasks/(\\d+)/log", [](const HttpRequest& req) {
      return HttpResponse{200, "application/json",
                          absl::StrCat("{\"task\":", req.captures.at(0), "}")};
    });
    server_->Get("/busy", [](const HttpRequest&) {
      return HttpResponse{503, "application/json", "{\"error\":\"busy\"}"};
    });
    server_->Get("/throws", [](const HttpRequest&) -> HttpResponse {
      throw std::runtime_error("boom");
    });
    ASSERT_TRUE(server_->Start("127.0.0.1:0").ok());
    ASSERT_GT(server_->port(), 0);
  }

  std::unique_ptr<RawClient> Connect() {
    absl::StatusOr<std::unique_ptr<RawClient>> c =
        RawClient::Connect(server_->port());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // One request on a fresh connection.
  RawResponse Request(const std::string& request) {
    std::unique_ptr<RawClient> c = Connect();
    if (c == nullptr) return {};
    absl::StatusOr<RawResponse> r = c->RoundTrip(request);
    EXPECT_TRUE(r.ok()) << r.status() << " for " << request;
    return r.ok() ? *r : RawResponse();
  }

  static std::string Get(const std::string& path,
                         const std::string& extra = "") {
    return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: t\r\n", extra,
                        "\r\n");
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesGetWithCapturesAndEveryHeader) {
  StartServer();
  const RawResponse r = Request(Get("/api/tasks/42/log"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"task\":42}");
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(r.Header("Content-Length"), "11");
  EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.Header("Content-Security-Policy"),
            "default-src 'self'; frame-ancestors 'none'");
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");
  EXPECT_FALSE(r.Header("Date").empty());
}

TEST_F(HttpServerTest, PassesHandlerStatusAndContentType) {
  StartServer();
  const RawResponse r = Request(Get("/busy"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, "{\"error\":\"busy\"}");
  EXPECT_EQ(Request(Get("/throws")).status, 500);
}

TEST_F(HttpServerTest, MatchesTheWholeDecodedPathWithoutQuery) {
  StartServer();
  EXPECT_EQ(Request(Get("/hello?x=1&y=2")).body, "hello\n");
  EXPECT_EQ(Request(Get("/api/tasks/%34%32/log")).body, "{\"task\":42}");
  EXPECT_EQ(Request(Get("http://localhost/hello")).body, "hello\n");
  EXPECT_EQ(Request(Get("/hello/x")).status, 404);
  EXPECT_EQ(Request(Get("/xhello")).status, 404);
  EXPECT_EQ(Request(Get("/api/tasks/x/log")).status, 404);
  const RawResponse missing = Request(Get("/nowhere"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Header("X-Content-Type-Options"), "nosniff");
}

TEST_F(HttpServerTest, HeadSendsHeadersOnly) {
  StartServer();
  std::unique_ptr<RawClient> c = Connect();
  absl::StatusOr<RawResponse> head =
      c->RoundTrip("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length"), "6");
  // Had any body followed the head, it would be read as the next status line.
  absl::StatusOr<RawResponse> next = c->RoundTrip(Get("/hello"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "hello\n");
}

TEST_F(HttpServerTest, OtherMethodsGet405WithAllow) {
  StartServer();
  for (const char* method :
       {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"}) {
    const RawResponse r =
        Request(absl::StrCat(method, " /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.Header("Allow"), "GET, HEAD") << method;
  }
  // A body sent with a refused method is not read: the answer comes at once
  // and the connection closes.
  std::unique_ptr<RawClient> c = Connect();
  absl::StatusOr<RawResponse> r = c->RoundTrip(
      "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(c->WaitClosed(absl::Seconds(5)));
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  std::unique_ptr<RawClient> c = Connect();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<RawResponse> r =
        c->RoundTrip(i % 2 ? Get("/hello") : Get("/api/tasks/7/log"));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Header("Connection"), "keep-alive");
  }
  absl::StatusOr<RawResponse> last =
      c->RoundTrip(Get("/hello", "Connection: close\r\n"));
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->Header("Connection"), "close");
  EXPECT_TRUE(c->WaitClosed(absl::Seconds(5)));
}

TEST_F(HttpServerTest, Http10ClosesUnlessAskedToKeepAlive) {
  StartServer();
  std::unique_ptr<RawClient> plain = Connect();
  absl::StatusOr<RawResponse> r =
      plain->RoundTrip("GET /hello HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "hello\n");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(plain->WaitClosed(absl::Seconds(5)));

  std::unique_ptr<RawClient> kept = Connect();
  for (int i = 0; i < 2; ++i) {
    r = kept->RoundTrip(
        "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "hello\n");
    EXPECT_EQ(r->Header("Connection"), "keep-alive");
  }
}

TEST_F(HttpServerTest, AnswersPipelinedRequestsInOrder) {
  StartServer();
  std::unique_ptr<RawClient> c = Connect();
  ASSERT_TRUE(c->Send(Get("/api/tasks/1/log") + "\r\n" +
                      Get("/api/tasks/2/log") + Get("/nowhere") +
                      "POST / HTTP/1.1\r\n\r\n" + Get("/api/tasks/3/log")));
  for (const char* expected :
       {"{\"task\":1}", "{\"task\":2}", "not found\n",
        "read-only: only GET and HEAD are served\n", "{\"task\":3}"}) {
    absl::StatusOr<RawResponse> r = c->Read(absl::Seconds(5));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, expected);
  }
}

TEST_F(HttpServerTest, ReadsAndIgnoresTheBodyOfAGet) {
  StartServer();
  std::unique_ptr<RawClient> c = Connect();
  absl::StatusOr<RawResponse> r =
      c->RoundTrip(Get("/hello", "Content-Length: 5\r\n") + "abcde");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "hello\n");
  r = c->RoundTrip(Get("/api/tasks/9/log"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "{\"task\":9}");
}

TEST_F(HttpServerTest, RefusesLargeOrChunkedBodiesAndCloses) {
  HttpServerOptions options;
  options.max_request_body_bytes = 1000;
  StartServer(options);
  std::unique_ptr<RawClient> large = Connect();
  absl::StatusOr<RawResponse> r =
      large->RoundTrip(Get("/hello", "Content-Length: 1001\r\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(large->WaitClosed(absl::Seconds(5)));
  std::unique_ptr<RawClient> chunked = Connect();
  r = chunked->RoundTrip(Get("/hello", "Transfer-Encoding: chunked\r\n") +
                         "5\r\nabcde\r\n0\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(chunked->WaitClosed(absl::Seconds(5)));
}

TEST_F(HttpServerTest, OversizedHeadsAndLinesAreRefusedAndClosed) {
  HttpServerOptions options;
  // Long deadlines: a prompt answer can only come from the size check.
  options.request_head_timeout = absl::Seconds(60);
  StartServer(options);
  struct Case {
    std::string request;
    int status;
  };
  const Case cases[] = {
      {Get("/hello", "X-Big: " + std::string(20 * 1024, 'a') + "\r\n"), 431},
      // Never finished: refused once over the limit, not at the deadline.
      {"GET /hello HTTP/1.1\r\nX-Big: " + std::string(20 * 1024, 'a'), 431},
      {Get("/" + std::string(10 * 1024, 'a')), 414},
      {"GET /" + std::string(10 * 1024, 'a'), 414},
  };
  for (const Case& c : cases) {
    std::unique_ptr<RawClient> client = Connect();
    absl::StatusOr<RawResponse> r = client->RoundTrip(c.request);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, c.status);
    EXPECT_EQ(r->Header("Connection"), "close");
    EXPECT_TRUE(client->WaitClosed(absl::Seconds(5)));
  }
  std::string many;
  for (int i = 0; i < 150; ++i) absl::StrAppend(&many, "X-", i, ": y\r\n");
  EXPECT_EQ(Request(Get("/hello", many)).status, 431);
  // Just under the limits is served.
  EXPECT_EQ(Request(Get("/hello", "X-Big: " + std::string(15000, 'a') + "\r\n"))
                .status,
            200);
}

TEST_F(HttpServerTest, GarbageGets400AtOnceAndIsClosed) {
  HttpServerOptions options;
  options.request_head_timeout = absl::Seconds(60);
  options.keep_alive_timeout = absl::Seconds(60);
  StartServer(options);
  const std::string cases[] = {
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // TLS
      "HELLO\r\n\r\n",
      "hello world\r\n\r\n",
      "GET /hello\r\n\r\n",
      "GET /hello HTTP/1.1 x\r\n\r\n",
      "GET /hello HTTP/1.1\r\nno colon here\r\n\r\n",
      "GET /hello HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
      "GET /hello HTTP/1.1\r\nX: \0\r\n\r\n"s,
      "\r\n\r\n\r\n   ",
  };
  for (const std::string& garbage : cases) {
    std::unique_ptr<RawClient> c = Connect();
    absl::StatusOr<RawResponse> r = c->RoundTrip(garbage);
    ASSERT_TRUE(r.ok()) << r.status() << " for " << garbage;
    EXPECT_EQ(r->status, 400) << garbage;
    EXPECT_TRUE(c->WaitClosed(absl::Seconds(5))) << garbage;
  }
  EXPECT_EQ(Request("GET /hello HTTP/2.0\r\n\r\n").status, 505);
}

TEST_F(HttpServerTest, ClosesAnIdleKeptAliveConnection) {
  HttpServerOptions options;
  options.keep_alive_timeout = absl::Milliseconds(300);
  StartServer(options);
  std::unique_ptr<RawClient> c = Connect();
  absl::StatusOr<RawResponse> r = c->RoundTrip(Get("/hello"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Header("Connection"), "keep-alive");
  size_t dropped = 1;
  EXPECT_TRUE(c->WaitClosed(absl::Seconds(10), &dropped));
  EXPECT_EQ(dropped, 0u);  // closed quietly, no 408 to an idle client
}

TEST_F(HttpServerTest, StartRejectsBadAddressesAndOptions) {
  HttpServer server;
  EXPECT_EQ(server.Start("no-port").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.Start("127.0.0.1:99999").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.Start("127.0.0.1:x").code(),
            absl::StatusCode::kInvalidArgument);
  StartServer();
  HttpServer second;
  EXPECT_EQ(second.Start(absl::StrCat("127.0.0.1:", server_->port())).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_->Start("127.0.0.1:0").code(),
            absl::StatusCode::kFailedPrecondition);
  HttpServerOptions no_threads;
  no_threads.handler_threads = 0;
  EXPECT_EQ(HttpServer(no_threads).Start("127.0.0.1:0").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, StopIsIdempotentAndRefusesNewConnections) {
  StartServer();
  const int port = server_->port();
  EXPECT_EQ(Request(Get("/hello")).status, 200);
  server_->Stop();
  server_->Stop();
  absl::StatusOr<std::unique_ptr<RawClient>> c = RawClient::Connect(port);
  EXPECT_FALSE(c.ok());
}

}  // namespace
}  // namespace curator
