#include "server/http_wire.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/http_server.h"

namespace curator::http_internal {
namespace {

// Scans `bytes` fed one at a time, as a slow client would send them.
HeadScanner::Result ScanByteByByte(const std::string& bytes,
                                   const HeadLimits& limits = {}) {
  HeadScanner scanner(limits);
  HeadScanner::Result r;
  for (size_t i = 1; i <= bytes.size(); ++i) {
    r = scanner.Scan(absl::string_view(bytes).substr(0, i));
    if (r.end > 0 || !r.error.ok()) return r;
  }
  return r;
}

HeadError Parse(const std::string& head, RequestHead* out,
                const HeadLimits& limits = {}) {
  return ParseHead(head, limits, out);
}

TEST(HeadScannerTest, FindsTheEndOfAHeadWithCrlfOrBareLf) {
  const std::string crlf = "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
  EXPECT_EQ(ScanByteByByte(crlf).end, crlf.size() - 4);
  const std::string lf = "GET / HTTP/1.1\nHost: a\n\nNEXT";
  EXPECT_EQ(ScanByteByByte(lf).end, lf.size() - 4);
  HeadScanner whole{HeadLimits()};
  EXPECT_EQ(whole.Scan(crlf).end, crlf.size() - 4);
}

TEST(HeadScannerTest, WaitsForAnIncompleteHead) {
  const HeadScanner::Result r = ScanByteByByte("GET / HTTP/1.1\r\nHost: a\r\n");
  EXPECT_EQ(r.end, 0u);
  EXPECT_TRUE(r.error.ok());
}

TEST(HeadScannerTest, RefusesGarbageAtItsFirstBadByte) {
  // A TLS ClientHello, a line with no method, a NUL: each refused as soon
  // as it shows, long before any deadline.
  EXPECT_EQ(ScanByteByByte("\x16\x03\x01\x02\x00").error.status, 400);
  EXPECT_EQ(ScanByteByByte("HELLO\r\n").error.status, 400);
  EXPECT_EQ(ScanByteByByte(" GET / HTTP/1.1").error.status, 400);
  EXPECT_EQ(
      ScanByteByByte(std::string("GET / HTTP/1.1\r\nX: a\0b", 22)).error.status,
      400);
  EXPECT_EQ(ScanByteByByte(std::string(40, 'A')).error.status, 400);
}

TEST(HeadScannerTest, RefusesOverlongLinesAndHeads) {
  HeadLimits limits;
  limits.max_request_line_bytes = 32;
  limits.max_head_bytes = 128;
  limits.max_header_count = 3;
  EXPECT_EQ(ScanByteByByte("GET /" + std::string(40, 'a'), limits).error.status,
            414);
  // Exactly at the limit, with its CRLF, is fine.
  const std::string line = "GET /" + std::string(18, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 32u);
  EXPECT_GT(ScanByteByByte(line + "\r\n\r\n", limits).end, 0u);
  EXPECT_EQ(
      ScanByteByByte("GET / HTTP/1.1\r\nX: " + std::string(200, 'a'), limits)
          .error.status,
      431);
  EXPECT_EQ(ScanByteByByte("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n",
                           limits)
                .error.status,
            431);
}

TEST(ParseHeadTest, ParsesAnOrdinaryRequest) {
  RequestHead head;
  ASSERT_TRUE(Parse("GET /api/tasks/7/log?x=1 HTTP/1.1\r\nHost: h\r\n"
                    "Accept: */*\r\n\r\n",
                    &head)
                  .ok());
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.path, "/api/tasks/7/log");
  EXPECT_EQ(head.query, "x=1");
  EXPECT_EQ(head.minor_version, 1);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(head.content_length, 0u);
}

TEST(QueryValueTest, DecodesOneParameter) {
  EXPECT_EQ(QueryValue("limit=50&q=a%20b+c", "q"), "a b c");
  EXPECT_EQ(QueryValue("limit=50&q=x", "limit"), "50");
  EXPECT_EQ(QueryValue("limit=50", "offset"), "");
  EXPECT_EQ(QueryValue("q=%4", "q"), "");
}

TEST(ParseHeadTest, DecidesKeepAliveByVersionAndConnection) {
  RequestHead head;
  ASSERT_TRUE(Parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", &head).ok());
  EXPECT_FALSE(head.keep_alive);
  ASSERT_TRUE(Parse("GET / HTTP/1.0\r\n\r\n", &head).ok());
  EXPECT_FALSE(head.keep_alive);
  ASSERT_TRUE(
      Parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &head).ok());
  EXPECT_TRUE(head.keep_alive);
  ASSERT_TRUE(
      Parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &head).ok());
  EXPECT_FALSE(head.keep_alive);
}

TEST(ParseHeadTest, DecodesThePathAndAcceptsAbsoluteForm) {
  RequestHead head;
  ASSERT_TRUE(Parse("GET /a%20b/%41 HTTP/1.1\r\n\r\n", &head).ok());
  EXPECT_EQ(head.path, "/a b/A");
  ASSERT_TRUE(Parse("GET http://host:80/x?y HTTP/1.1\r\n\r\n", &head).ok());
  EXPECT_EQ(head.path, "/x");
  EXPECT_EQ(head.query, "y");
  ASSERT_TRUE(Parse("GET /x?a=%41#frag HTTP/1.1\r\n\r\n", &head).ok());
  EXPECT_EQ(head.query, "a=%41");
  ASSERT_TRUE(Parse("GET http://host HTTP/1.1\r\n\r\n", &head).ok());
  EXPECT_EQ(head.path, "/");
  EXPECT_EQ(Parse("GET /a%2 HTTP/1.1\r\n\r\n", &head).status, 400);
  EXPECT_EQ(Parse("GET /a%00 HTTP/1.1\r\n\r\n", &head).status, 400);
  EXPECT_EQ(Parse("GET * HTTP/1.1\r\n\r\n", &head).status, 400);
}

TEST(ParseHeadTest, RefusesMalformedHeads) {
  RequestHead head;
  for (const char* bad : {
           "GET /\r\n\r\n",                          // HTTP/0.9
           "GET  / HTTP/1.1\r\n\r\n",                // two spaces
           "GET / HTTP/1.1 x\r\n\r\n",               // trailing junk
           "GET / FTP/1.1\r\n\r\n",                  // not HTTP
           "GET / HTTP/1\r\n\r\n",                   // short version
           "G(T / HTTP/1.1\r\n\r\n",                 // not a token
           "GET / HTTP/1.1\r\nNoColon\r\n\r\n",      // no colon
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",  // space in a name
           "GET / HTTP/1.1\r\nX : y\r\n\r\n",        // space before colon
           "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
           "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",  // bare CR
           "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 1\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
       }) {
    EXPECT_EQ(Parse(bad, &head).status, 400) << bad;
  }
  EXPECT_EQ(Parse("GET / HTTP/2.0\r\n\r\n", &head).status, 505);
  EXPECT_EQ(Parse("GET / HTTP/0.9\r\n\r\n", &head).status, 505);
}

TEST(ParseHeadTest, AcceptsARepeatedEqualContentLength) {
  RequestHead head;
  ASSERT_TRUE(Parse("GET / HTTP/1.1\r\nContent-Length: 5, 5\r\n"
                    "Content-Length: 5\r\n\r\n",
                    &head)
                  .ok());
  EXPECT_EQ(head.content_length, 5u);
}

TEST(SerializeResponseTest, WritesLengthDefaultsAndConnection) {
  ResponseParts parts;
  parts.status = 404;
  parts.body = "nope\n";
  const std::string wire = SerializeResponse(parts);
  EXPECT_EQ(wire.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_NE(wire.find("\r\nContent-Length: 5\r\n"), std::string::npos);
  EXPECT_NE(wire.find("\r\nX-Content-Type-Options: nosniff\r\n"),
            std::string::npos);
  EXPECT_NE(wire.find("\r\nConnection: keep-alive\r\n\r\nnope\n"),
            std::string::npos);
  parts.head_only = true;
  parts.close = true;
  const std::string head = SerializeResponse(parts);
  EXPECT_NE(head.find("\r\nContent-Length: 5\r\n"), std::string::npos);
  EXPECT_TRUE(absl::EndsWith(head, "\r\nConnection: close\r\n\r\n"));
}

TEST(SerializeResponseTest, ContentTypeCannotAddHeaders) {
  ResponseParts parts;
  parts.content_type = "text/plain\r\nSet-Cookie: x=1";
  const std::string wire = SerializeResponse(parts);
  EXPECT_EQ(wire.find("\r\nSet-Cookie"), std::string::npos);
}

}  // namespace
}  // namespace curator::http_internal
