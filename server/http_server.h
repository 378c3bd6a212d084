// A small read-only HTTP/1.1 server for the Load Monitor and /metrics,
// over cpp-httplib (Debian's libcpp-httplib). Only GET (and HEAD) are
// served; any other method gets 405, so nothing reached over HTTP can
// change state.
//
// Lifecycle: add routes, Start (binds, serves on its own threads), Stop.
// Handlers run on the server's threads and must be thread-safe.
#ifndef CURATOR_SERVER_HTTP_SERVER_H_
#define CURATOR_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace curator {

struct HttpRequest {
  std::string path;
  // Capture groups of the route's pattern: captures[0] is the first group.
  std::vector<std::string> captures;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer();
  ~HttpServer();  // stops

  // `pattern` is an ECMAScript regular expression matched against the
  // whole path, e.g. "/api/tasks/(\\d+)/log". Call before Start.
  void Get(const std::string& pattern, Handler handler);

  // Binds "host:port" (port 0: any free port) and starts serving.
  // InvalidArgument: a malformed address; Unavailable: cannot bind.
  absl::Status Start(const std::string& address);
  void Stop();
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  int port_ = 0;
};

// Prometheus text exposition format (version 0.0.4), built one sample at a
// time; HELP and TYPE are written once per metric name, before its first
// sample. Samples of one metric must be added together.
class MetricsText {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  void Add(const std::string& name, const std::string& type, const std::string& help,
           const Labels& labels, double value);
  const std::string& str() const { return out_; }

 private:
  std::string out_;
  std::string last_name_;
};

// Content type of MetricsText.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace curator

#endif  // CURATOR_SERVER_HTTP_SERVER_H_
