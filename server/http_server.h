// A small read-only HTTP/1.1 server for the Load Monitor and /metrics.
// Only GET (and HEAD) are served; any other method gets 405, so nothing
// reached over HTTP can change state.
//
// Built to stay up for everybody while some clients are slow or hostile
// (slowloris, connect-and-wait, floods, oversized or garbage heads): one
// event-loop thread does all socket I/O without blocking, under the limits
// of HttpServerOptions, and only complete requests reach a small fixed pool
// of handler threads. A client can hold a socket and a few kilobytes, never
// a thread. Linux only (epoll, eventfd).
//
// Lifecycle: add routes, Start (binds, serves on its own threads), Stop.
// Handlers run on the pool threads and must be thread-safe.
#ifndef CURATOR_SERVER_HTTP_SERVER_H_
#define CURATOR_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace curator {

struct HttpRequest {
  std::string path;  // percent-decoded, without the query string
  std::string query;  // after '?', as sent: read it with QueryValue
  // Capture groups of the route's pattern: captures[0] is the first group.
  std::vector<std::string> captures;
};

// The value of `name` in a query string "a=1&b=x%20y", percent-decoded
// ('+' as a space); "" when absent or malformed.
std::string QueryValue(const std::string& query, const std::string& name);

struct HttpResponse {
  int status = 200;  // 200-599; anything else is sent as 500
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Limits on what one client, and all clients together, can make the server
// hold. The defaults suit an operator's Load Monitor reached directly by a
// few browsers and a Prometheus; behind a reverse proxy every client shares
// the proxy's address, so raise max_connections_per_client there.
struct HttpServerOptions {
  // Connections open at once from one IP address, and in all. A connection
  // over either cap is answered 503 and closed at once.
  int max_connections_per_client = 16;
  int max_connections = 512;
  // The whole request head (and any body sent with a GET) must arrive within
  // this time of the connection's start, or of the end of the previous
  // response on a kept-alive connection: a total, so trickling bytes does
  // not extend it. A partial head is then answered 408 and closed.
  absl::Duration request_head_timeout = absl::Seconds(5);
  // A connection with no byte of a next request for this long is closed
  // (also a new connection that sends nothing).
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // Writing one response must finish within this time, or the connection is
  // reset: a client that does not read costs a socket for this long.
  absl::Duration send_timeout = absl::Seconds(10);
  // Request line + headers (431 when over), the request line alone (414),
  // the number of header fields (431).
  size_t max_request_head_bytes = 16 * 1024;
  size_t max_request_line_bytes = 8 * 1024;
  size_t max_header_count = 100;
  // A GET may carry a body of at most this size, read and ignored (413 and
  // close when larger); other methods get 405 without it being read.
  size_t max_request_body_bytes = 64 * 1024;
  // Threads that run handlers.
  int handler_threads = 4;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(HttpServerOptions options = HttpServerOptions());
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `pattern` is an ECMAScript regular expression matched against the
  // whole path, e.g. "/api/tasks/(\\d+)/log"; the first match in the order
  // added wins, none gives 404. A handler that throws gives 500. Call
  // before Start (checked).
  void Get(const std::string& pattern, Handler handler);

  // Binds "host:port" (port 0: any free port; host a name, an IPv4 address
  // or a bracketed IPv6 one, empty for every interface) and starts serving.
  // InvalidArgument: a malformed address or options; Unavailable: cannot
  // resolve or bind; FailedPrecondition: already started.
  absl::Status Start(const std::string& address);
  // Closes every connection at once, lets handlers already running finish
  // (their answers are dropped), and joins the threads. Returns promptly
  // however many clients hang; idempotent. Start and Stop are not
  // thread-safe: call them from one thread.
  void Stop();
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace curator

#endif  // CURATOR_SERVER_HTTP_SERVER_H_
