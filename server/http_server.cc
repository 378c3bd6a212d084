#include "server/http_server.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <regex>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "server/http_event_loop.h"
#include "server/http_wire.h"

namespace curator {
namespace {

struct Route {
  std::regex pattern;
  HttpServer::Handler handler;
};

struct Job {
  uint64_t connection;
  http_internal::RequestHead head;
};

absl::Status ValidateOptions(const HttpServerOptions& o) {
  if (o.max_connections_per_client < 1 || o.max_connections < 1 ||
      o.handler_threads < 1 || o.max_request_head_bytes < 64 ||
      o.max_request_line_bytes < 16 || o.max_header_count < 1 ||
      o.request_head_timeout <= absl::ZeroDuration() ||
      o.keep_alive_timeout <= absl::ZeroDuration() ||
      o.send_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "HTTP server options: caps, sizes, timeouts and threads must be "
        "positive");
  }
  return absl::OkStatus();
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string QueryValue(const std::string& query, const std::string& name) {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    if (eq == absl::string_view::npos) return "";
    std::string out;
    for (size_t i = eq + 1; i < pair.size(); ++i) {
      if (pair[i] == '+') {
        out += ' ';
      } else if (pair[i] != '%') {
        out += pair[i];
      } else {
        const int hi = i + 2 < pair.size() ? Hex(pair[i + 1]) : -1;
        const int lo = hi >= 0 ? Hex(pair[i + 2]) : -1;
        if (lo < 0) return "";
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    return out;
  }
  return "";
}

// Pool threads take complete requests from `jobs`, run the route's handler
// and hand the serialized response back to the loop. Routes are fixed
// before Start, so the pool reads them without a lock.
struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o) : options(std::move(o)) {}

  void Enqueue(uint64_t connection, http_internal::RequestHead head) {
    {
      std::lock_guard<std::mutex> lock(mu);
      jobs.push_back({connection, std::move(head)});
    }
    cv.notify_one();
  }

  void Work() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [this] { return stopping || !jobs.empty(); });
      if (stopping) return;
      Job job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      const bool close = !job.head.keep_alive;
      loop->Respond(job.connection, Answer(job.head), close);
      lock.lock();
    }
  }

  std::string Answer(const http_internal::RequestHead& head) const {
    http_internal::ResponseParts parts;
    parts.head_only = head.method == "HEAD";
    parts.close = !head.keep_alive;
    HttpResponse response{404, "text/plain; charset=utf-8", "not found\n"};
    try {
      for (const Route& route : routes) {
        std::smatch match;
        if (!std::regex_match(head.path, match, route.pattern)) continue;
        HttpRequest request;
        request.path = head.path;
        request.query = head.query;
        for (size_t i = 1; i < match.size(); ++i) {
          request.captures.push_back(match[i]);
        }
        response = route.handler(request);
        break;
      }
    } catch (const std::exception& e) {
      // std::regex can throw on a pathological path; a handler should not,
      // but a thrown exception must not end the process from a pool thread.
      CURATOR_LOG(ERROR) << "HTTP handler for " << head.path
                         << " threw: " << e.what();
      response = {500, "text/plain; charset=utf-8", "internal error\n"};
    }
    if (response.status < 200 || response.status > 599) {
      CURATOR_LOG(ERROR) << "HTTP handler for " << head.path
                         << " returned status " << response.status;
      response = {500, "text/plain; charset=utf-8", "internal error\n"};
    }
    parts.status = response.status;
    parts.content_type = response.content_type;
    parts.body = response.body;
    return http_internal::SerializeResponse(parts);
  }

  const HttpServerOptions options;
  std::vector<Route> routes;
  std::unique_ptr<http_internal::EventLoop> loop;
  std::thread loop_thread;
  std::vector<std::thread> pool;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;   // guarded by mu
  bool stopping = false;  // guarded by mu
};

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, Handler handler) {
  CURATOR_CHECK(impl_->loop == nullptr) << "HttpServer::Get after Start";
  impl_->routes.push_back({std::regex(pattern), std::move(handler)});
}

absl::Status HttpServer::Start(const std::string& address) {
  if (impl_->loop != nullptr) {
    return absl::FailedPreconditionError("HTTP server already started");
  }
  if (absl::Status s = ValidateOptions(impl_->options); !s.ok()) return s;
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  Impl* impl = impl_.get();
  auto loop = std::make_unique<http_internal::EventLoop>(
      impl->options,
      [impl](uint64_t connection, http_internal::RequestHead head) {
        impl->Enqueue(connection, std::move(head));
      });
  absl::StatusOr<int> bound = loop->Listen(host, port);
  if (!bound.ok()) return bound.status();
  port_ = *bound;
  impl->loop = std::move(loop);
  impl->stopping = false;
  for (int i = 0; i < impl->options.handler_threads; ++i) {
    impl->pool.emplace_back([impl] { impl->Work(); });
  }
  impl->loop_thread = std::thread([impl] { impl->loop->Run(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (impl_->loop == nullptr) return;
  // The loop first: it closes every connection at once, however many hang.
  impl_->loop->Stop();
  impl_->loop_thread.join();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    impl_->jobs.clear();
  }
  impl_->cv.notify_all();
  for (std::thread& t : impl_->pool) t.join();
  impl_->pool.clear();
  impl_->loop.reset();
}

}  // namespace curator
